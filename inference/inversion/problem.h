// The problem an inversion batch poses (inversion.cpp), fixed before the first iteration: the targets' features, the
// mask, each image's scale (sigma, B, V), the TV term's curvature bound, and the optimiser's rates and preconditioner
// (the Sobolev optimiser's constants live here: they decide the problem's step, not the loop). Torch header:
// inference/inversion only.
#pragma once

#include "inference/engine.h"
#include "inference/inversion/regularizers.h"
#include "inference/model/model_impl.h"

#include <string>
#include <vector>

namespace preimage::inversion {

// From noise at lambda_tv <= 1 (the first, almost linear taps), the Sobolev optimiser's last three quarters: the plain
// gradient at the middle phase's rate (which is the paper's first-phase rate), no smoothing, no rate drop for the last
// quarter; the smoothing's fast first quarter brings the picture, the plain steps the high frequencies that a
// stride-2/4 first convolution still sees. And throughout, a row whose objective rose since the last iteration has its
// velocity halved (kRiseKeep; the function-value restart of O'Donoghue & Candes, "Adaptive restart for accelerated
// gradient schemes", 2015, damped rather than zeroed): on these nearly quadratic objectives momentum's overshoot is
// what the last iterations spend their time on. Measured at 130 iterations (cat photograph, seed 0; evaluations to the
// protocol's objective, before -> after: the plain second half without the damping): ResNet-50 conv1 124 -> 60, relu
// 119 -> 64, AlexNet features.0 105 -> 73, SqueezeNet conv1 79 -> 39, fire3 56 -> 47; the Fashion model's conv1 and relu1
// (ankle boot, seeds 0-5) from not reaching it to 62-64 and 96-97. Plain from a half or a fifth, velocity zeroed or kept
// at 0.3 / 0.7, the damping in the plain part only, or restarts on the gradient's sign (g . v > 0): each worse
// somewhere (README, "Time to quality"). At lambda_tv 10 and 100 the plain step is ruinous (fire4 0.94, fire7 1.29: the
// TV and feature terms' stiff directions oscillate at that rate) and the damping mixed (fire6 +5%, AlexNet features.10
// +13%), so neither runs there.
constexpr double kPlainFrom = 0.25;
constexpr double kRiseKeep = 0.5;
// In the plain part, a row whose objective climbs more than kClimbMargin above the lowest it reached there steps on the
// smoothed gradient from then on (Run::rowSmoothed): the plain rate is past what that row's high frequencies take on
// that image and network (it oscillates), and the smoothing is what steadies them, where cutting the rate slowed every
// frequency. On the networks of README "Time to quality" most rows never climb (the cat: the evaluations to the
// protocol's value unchanged at every lambda-1 tap); SqueezeNet on the rocket photograph, fire3 / pool3, from 1.26x /
// 1.46x the protocol's objective after 130 iterations (steps cut to 0.7 on each climb) to reached after 104 / 108
// evaluations; MobileNet V2 (raw pixels) on the coffee photograph, expanded_conv_1 oscillated with a growing amplitude
// from iteration 55 (0.073, 0.094, 0.076, 0.112, ... 0.188) unadapted, reached it after 110 evaluations with the cut,
// 85 now, and expanded_conv_3 from 1.25x to 1.07x. Cutting and smoothing both (the cut on each climb after the first)
// froze the rocket's fire3 at 6.3x: a row smoothed late sits above its lowest for a while. A margin of 0.1 left
// expanded_conv_3 at 1.64x the protocol with the cut (1.29x with 0.02); acting on every rise (no margin) slowed the
// Fashion model's relu1 from 96-97 evaluations to 106-109.
constexpr double kClimbMargin = 0.02;

// The Sobolev optimiser's last drop (to a hundredth of its base rate for the last tenth) damps what the stiff TV term's
// directions still oscillate at the end. Where the TV term is far from stiff at the paper's rate (eta k below
// kStiffTv, a fifth of where the protocol steps it implicitly: a 28-px or 32-px input at lambda_tv 10-100, eta k
// 0.01-0.13; at 224-227 px only lambda_tv 1, 0.06, whose first taps keep the middle rate anyway), there is nothing to
// damp and the drop only stops a descent: the middle rate runs to the end. The Fashion model over its ten sample
// images and seeds 0-2 (runs reaching the protocol's objective within a third of its evaluations, out of 30): relu2
// 29 -> 30, relu3 24 -> 26, fc5 27 -> 28, the others unchanged (relu4 24) and every tap's mean objective lower.
constexpr double kStiffTv = 0.2;

// The problem a batch poses, fixed before the first iteration: the targets' features and their norms, the mask,
// each image's scale (sigma, B, V) and the TV term's curvature bound. Rows are image-major: image b's restarts
// are rows b R ... b R + R - 1 (contiguous slices).
struct Problem {
    int N = 0, R = 0;
    int64_t C = 0, H = 0, W = 0;
    float lambdaTv = 0;
    torch::Tensor x0, phi0, phi0Rows, mask, rowWeight;
    // Raw-pixel models (inputCentre): the natural images' mean colour, [1, C, 1, 1] model input, which sigma, the
    // alpha norm and the noise start are measured from; undefined for the rest (their input's zero is the data's mean).
    torch::Tensor centre;
    std::vector<double> sigma, Bn, V, tvBound;
    bool masked = false;
    bool sobolev = false;  // the Sobolev optimiser: smoothed gradients, TV explicit
    float rateScale = 1.f;  // the optimiser's rates, relative to params.learningRate (rateScaleFor)
    torch::Tensor warm;     // warm starts, [N, C, H, W] model input (undefined: noise)
    // The warm starts are the learned inverter's (InversionParams::learnedStart): run with the schedule from noise
    // (sobolevRate, firstTaps, plainLater, the lowest iterate) at kLearnedRateScale and checked at the end as a warm
    // start is; startEvaluations: the forward passes that fitted their brightness (startBrightness, per image).
    bool learned = false;
    int64_t startEvaluations = 0;
    std::vector<double> startBrightness;
    std::vector<char> startKept;  // per image: the start explains the target (kLearnedStartShare); else from noise
    SobolevPreconditioner smooth;  // its preconditioner (tau in pixels of this input)
    // From noise at lambda_tv <= 1: unsmoothed from kPlainFrom on, and a rise damps the row's velocity (kRiseKeep).
    bool firstTaps = false;
    bool lastDrop = true;  // the Sobolev optimiser's drop for its last tenth (kStiffTv): not for the first taps
    // Plain steps from kPlainFrom on: the first taps, and the learned start wherever the TV term is not stiff (no
    // last drop): from there the smoothing only slows the decay of what the fast quarter left in the high
    // frequencies (the Fashion model's ten images, seeds 0-2, brightness from a grid of ten: 325 of 330 runs reached
    // against 323 smoothed; from noise the same was worse, 291 against 315: README "Time to quality").
    bool plainLater = false;
    // A start that keeps the protocol's schedule at kWarmRateScale: a neighbouring tap's pre-image, a file.
    bool warmSchedule() const { return warm.defined() && !learned; }
    // The Sobolev optimiser's step at iteration `it`: false for its plain part (and for the paper's protocol).
    bool smoothed(int it, int iterations) const { return sobolev && !(plainLater && it >= kPlainFrom * iterations); }
    torch::Tensor centred(const torch::Tensor& x) const { return centre.defined() ? x - centre : x; }
    torch::Tensor rows(const torch::Tensor& t, int b) const { return t.slice(0, int64_t(b) * R, int64_t(b + 1) * R); }
};

// Where the model's input has its zero: undefined where that is the training images' mean (a declared normalisation,
// or a training-set norm, as for the paper's mean-subtracted images); for a model that takes raw pixels (mean 0 and
// std 1 declared: its normalisation, if any, inside), the natural images' mean colour (assets/spectra), [1, C, 1, 1].
// Measured from zero, sigma counts the pixels' offset from black as content: on the raw-pixel MobileNet V2 (the judge)
// sigma was 3.4x the centred norm (about 1.2x on normalised inputs), so every rate (which scales with sigma^2) was ~10x
// what the same network gets with its normalisation outside, TV (normalised by sigma) ~10x weaker, and the alpha norm
// pulled the image to black.
torch::Tensor inputCentre(const Model::Impl& M, int channels);

// `learned` (no `starts`, R = 1, no mask): each image starts from the learned inverter's pre-image of its features,
// scaled towards black by the factor that gives the lowest objective (a few forward passes: startEvaluations).
Problem prepareProblem(Model& model, std::vector<InversionResult>& results, const InversionParams& params,
                       const std::vector<WarmStart>& starts, bool learned = false);

// Each row's objective terms at x, as minimised (a forward pass, no gradient): the feature term (the squared feature
// error, in float as the loop has it), the weighted alpha and TV terms (the TV term's beta and frame included).
struct RowObjective {
    std::vector<float> feature;
    std::vector<double> alpha, tv;
    double total(size_t row) const { return double(feature[row]) + alpha[row] + tv[row]; }
};
RowObjective objectiveRows(Model::Impl& M, int layerIndex, const Problem& P, const torch::Tensor& x,
                           const InversionParams& params);

}  // namespace preimage::inversion
