// The learned start (learned_start.h): the decoder's pre-image fitted to the objective, and a batch split by whether
// each image keeps it.
#include "inference/inversion/learned_start.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace preimage::inversion {

namespace {

// The decoder's pre-images of the targets' features, each scaled towards black by
// the brightness factor in [0.05, 1.15] with the lowest objective, found by a golden-section search of
// kBrightnessEvaluations forward passes (to within 0.1 where the objective has one minimum in it). The decoder is
// trained for the pixels, not for this objective: the TV term (lambda_tv 100 at the Fashion model's last taps) wants a
// dimmer image than the photograph-like decoding. The t-shirt's relu4 takes 0.31;
// with a warm start's schedule (3x) a run from the decoding at 1 ended at 0.081, from 0.3 at 0.049 (the protocol:
// 0.059); scaled about the input's mean instead of black the best factor was 0.7 and the run ended at 0.068.
// The first taps take about 1. The survey of kLearnedRateScale's note: 323 of 330 runs reached; with a grid of ten
// factors instead (0.1, ..., 1, ten passes) 325, of five (0.2, ..., 1) 326, but the t-shirt's relu4 missed on seed 1
// (0.2 or 0.4, not 0.3).
constexpr int kBrightnessEvaluations = 6;
// A learned start is kept only where it explains the target: its fitted objective under kLearnedStartShare of the
// blank (black) image's, one more forward pass. A decoder trained on other data can offer a start whose structure
// the objective does not want, which the fit dims almost to black and whose basin is poor: ResNet-20 for CIFAR-10 at
// layer3, with a decoder trained on 3,000 shapes sprites (held-out feature error 0.96), the cat: 0.96 of the blank
// image's objective (brightness 0.15), the run ended at 0.27 against 0.098 from noise and the protocol's 0.075; at
// layer2 (0.87) at 0.158 against 0.167 from noise and the protocol's 0.170. The Fashion model's own decoders: 0.01-0.75
// over its ten sample images and 11 taps.
constexpr double kLearnedStartShare = 0.9;

}  // namespace

void fitLearnedStart(Model::Impl& M, int layerIndex, Problem& P, const InversionParams& params) {
    torch::NoGradGuard noGrad;
    // Image by image, so that a batch's starts are its singles' (a convolution's sums may differ with the batch size).
    std::vector<torch::Tensor> parts;
    for (int b = 0; b < P.N; ++b) parts.push_back(decodeLearned(M, layerIndex, P.phi0.slice(0, b, b + 1)));
    auto decoded = torch::cat(parts).to(P.x0.scalar_type());
    const size_t n = size_t(P.N);
    auto scaled = [&](const std::vector<double>& c) {
        return normalisedInput(M, decoded * torch::tensor(std::vector<float>(c.begin(), c.end())).view({-1, 1, 1, 1}).to(decoded.device()));
    };
    auto objectives = [&](const std::vector<double>& c) {
        const RowObjective o = objectiveRows(M, layerIndex, P, scaled(c), params);
        P.startEvaluations++;
        std::vector<double> v(n);
        for (size_t b = 0; b < n; ++b) v[b] = o.total(b);
        return v;
    };
    // Golden section, per image: [lo, hi] holds the minimum; c1 < c2 are probed, the worse side is dropped.
    const double g = 0.5 * (std::sqrt(5.0) - 1.0);
    std::vector<double> lo(n, 0.05), hi(n, 1.15), c1(n), c2(n);
    for (size_t b = 0; b < n; ++b) c1[b] = hi[b] - g * (hi[b] - lo[b]), c2[b] = lo[b] + g * (hi[b] - lo[b]);
    auto f1 = objectives(c1), f2 = objectives(c2);
    for (int k = 2; k < kBrightnessEvaluations; ++k) {
        std::vector<char> left(n);
        std::vector<double> probe(n);
        for (size_t b = 0; b < n; ++b) {
            left[b] = f1[b] < f2[b];
            if (left[b]) hi[b] = c2[b], c2[b] = c1[b], f2[b] = f1[b], c1[b] = hi[b] - g * (hi[b] - lo[b]);
            else lo[b] = c1[b], c1[b] = c2[b], f1[b] = f2[b], c2[b] = lo[b] + g * (hi[b] - lo[b]);
            probe[b] = left[b] ? c1[b] : c2[b];
        }
        const auto f = objectives(probe);
        for (size_t b = 0; b < n; ++b) (left[b] ? f1[b] : f2[b]) = f[b];
    }
    P.startBrightness.resize(n);
    for (size_t b = 0; b < n; ++b) P.startBrightness[b] = f1[b] < f2[b] ? c1[b] : c2[b];
    P.warm = scaled(P.startBrightness);
    const auto blank = objectives(std::vector<double>(n, 0.0));
    P.startKept.resize(n);
    for (size_t b = 0; b < n; ++b) P.startKept[b] = std::min(f1[b], f2[b]) < kLearnedStartShare * blank[b];
}

std::vector<InversionResult> withoutWeakStarts(Model& model, const std::vector<ImageF>& images, int layerIndex,
                                               const InversionParams& params, const std::vector<uint64_t>& seeds,
                                               const ProgressFn& progress, const std::atomic<bool>* cancel, const Problem& P) {
    std::array<std::vector<ImageF>, 2> group;  // [0]: from noise, [1]: kept
    std::array<std::vector<uint64_t>, 2> groupSeeds;
    for (size_t b = 0; b < images.size(); ++b) {
        group[P.startKept[b] ? 1 : 0].push_back(images[b]);
        groupSeeds[P.startKept[b] ? 1 : 0].push_back(seeds[b]);
    }
    InversionParams noise = params;
    noise.learnedStart = false;
    auto fromNoise = invertBatch(model, group[0], layerIndex, noise, groupSeeds[0], progress, cancel);
    auto kept = group[1].empty() ? std::vector<InversionResult>{}
                                 : invertBatch(model, group[1], layerIndex, params, groupSeeds[1], progress, cancel);
    std::vector<InversionResult> out;
    for (size_t b = 0, k = 0, j = 0; b < images.size(); ++b) {
        if (P.startKept[b]) {
            out.push_back(std::move(kept[k++]));
            continue;
        }
        out.push_back(std::move(fromNoise[j++]));
        out.back().evaluations += P.startEvaluations;
        for (auto& h : out.back().history) h.evaluations += P.startEvaluations;
    }
    return out;
}

}  // namespace preimage::inversion
