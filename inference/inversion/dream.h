// Preferred inputs: the input that most excites a unit (a class score, a channel of any tap, one neuron of a
// channel, or a direction in a tap's space).
//
// Parametrisations (image_param.h):
//  - generator: with a generator prior (Nguyen et al. 2016, DGN-AM): optimise the code z of a learned inverter so
//    that the unit fires on Dec(z), keeping z inside the per-dimension range seen on training data (default models
//    with a learned inverter at a vector layer: the Fashion-MNIST model's relu4).
//  - pixels: the pixels through a sigmoid, with a total-variation penalty and a random shift each step.
//  - fourier: the lucid recipe: a 1/frequency-scaled spectrum, decorrelated colours, sigmoid, and transformation
//    robustness (padding, jitter, scale, rotation) every step.
//  - maco: Fel et al. 2023: only the Fourier phase is optimised, the magnitude is the natural images' average
//    spectrum (assets/spectra); random crops each step.
// Every run also accumulates the gradient's magnitude on the image (the transparency map: where the unit looks).
// Feature accentuation (Hamblin et al. 2024): start from an image and raise the unit while an L2 penalty keeps the
// result near it. Many units at once: dreamUnits() renders a batch, one image per unit (the atlas).
// Torch-free API; one thread at a time.
#pragma once

#include "inference/engine.h"

#include <limits>
#include <memory>
#include <optional>

namespace preimage {

enum class DreamParametrisation { Generator, Pixels, Fourier, Maco };
const char* parametrisationName(DreamParametrisation p);  // "generator", "pixels", "fourier", "maco"
// Parses a name (as above); throws Error listing the valid ones.
DreamParametrisation parseParametrisation(const std::string& name);

// The transformations applied to the image every step before the network sees it (transformation robustness).
// Each is one affine resampling to the network's input size; a batch of images shares the step's draws. Amounts in
// pixels (pad, jitter) are for a 224-px image, scaled to the image's side (lucid's values, whatever the input size).
struct DreamTransforms {
    int pad = 0;                // border added around the image (constant 0.5, lucid's) before the others
    int jitter = 0;             // random translation of up to this many pixels (integer steps)
    std::vector<float> scales;  // a scale drawn from these each step (1.05: the content 5% larger); empty = 1
    float rotate = 0;           // a rotation drawn uniformly from [-rotate, rotate] degrees (integer steps)
    int jitter2 = 0;            // a second, smaller translation after scale and rotation (lucid's last jitter)
    int crops = 1;              // samples per step (MACO's crops), each with its own draws; their activations averaged
    float cropMin = 1.f, cropMax = 1.f;  // each sample is a crop of this fraction of the side, zoomed to the input
    float noise = 0;            // Gaussian + uniform noise of this size added to each sample (Horama's)
    float blur = 0;             // a Gaussian blur of a standard deviation drawn from [0, blur] pixels each step
    bool any() const { return pad > 0 || jitter > 0 || !scales.empty() || rotate > 0 || jitter2 > 0 || crops > 1 ||
                              cropMin < 1.f || noise > 0 || blur > 0; }
    // lucid's standard_transforms (pad 12, jitter 8, scale 0.95-1.05, rotation +-5 degrees, jitter 4), MACO's crops.
    static DreamTransforms standard();
    static DreamTransforms macoCrops();
    static DreamTransforms none() { return {}; }
};

// The defaults of a parametrisation: what `preimage dream`, the atlas and the app run when not told otherwise.
struct DreamDefaults {
    int iterations;
    float learningRate;
    DreamTransforms transforms;
    // Class units raise their score less the mean of all scores: a second network agrees more often (README, Fourier:
    // the judge's top-1 33% -> 46%). Off for pixels, which keep the recipe they had.
    bool contrastive;
    // Weight noise (ghost networks, Li et al. 2020): each step the network's weights are multiplied by 1 + N(0, s^2), a
    // nearby network each step, so that the image fits what they share, not one network's quirks: a second network
    // agrees far more often (README, "Preferred inputs"). Fourier only: 0 for pixels and MACO (their recipes as they were).
    float weightNoise;
    // The weight of the feature-statistics prior (DreamParams::featurePrior) where it applies; Fourier only.
    float featurePrior;
};
DreamDefaults dreamDefaults(DreamParametrisation p);
// The feature-statistics prior (DeepInversion, Yin et al. 2020, with photographs in place of batch-norm statistics):
// the image's per-channel mean and variance at a few early layers are kept near those of natural photographs, so that
// its colours and textures stay photographic while the class rises (class units only by default: DreamParams). Its
// reference is the sample photographs (assets/samples/photo_*.png), each with its mirror and random crops, so it
// applies by default only to networks that take photographs' statistics: 3 channels and a side of at least 64 px (not
// the 28-px Fashion-MNIST model, nor the shapes model).
bool featurePriorApplies(const InputSpec& input);
// Its layers when not told: the network's top-level layers that hold weights (a block, a convolution) with a 3-d
// output, in the first half of its weight layers (SqueezeNet: conv1, fire2 ... fire5); where fewer than two qualify,
// the same one level down inside the layer holding the most weights (MobileNet V2: features.Conv,
// features.expanded_conv, ...), and failing that every convolution of that half.
std::vector<std::string> defaultPriorLayers(const Model& model);
// The parametrisation of images where no generator prior is used (the one a second network agrees with most).
constexpr DreamParametrisation kDefaultImageParametrisation = DreamParametrisation::Fourier;
// What a model gets when not told: the generator prior where the model has one (a learned inverter at `generator`,
// the Fashion-MNIST default model's relu4), else the parametrisation whose class images a second network agrees
// with most (README, "Preferred inputs": measured on the shipped SqueezeNet).
DreamParametrisation defaultParametrisation(const Model& model, const std::string& generator = "relu4");

struct DreamParams {
    // "3" or a class name: that class's score; "LAYER:C": the mean of channel C of a tap; "LAYER:C@X,Y" (or
    // "LAYER:C@center"): one neuron of the channel; "LAYER:dir=v0,v1,..." or "LAYER:dir=FILE.npy": the mean over
    // positions of the tap's value projected on that direction (unit length).
    std::string unit;
    // Which parametrisation; with `Generator`, `generator` names the layer whose learned inverter generates.
    DreamParametrisation param = DreamParametrisation::Generator;
    std::string generator = "relu4";
    int iterations = 0;              // 0: the parametrisation's default (dreamDefaults)
    float learningRate = 0;          // 0: the parametrisation's default (Adam's rate; generator: in code-range units)
    uint64_t seed = 0;
    int dataImages = 5000;           // generator: training images for the code range and the activation statistics
    float tv = 0.05f;                // pixels: total-variation weight, relative to the unit's activation scale
    int jitter = -1;                 // pixels: random shift each step, up to this many pixels (-1: 1/16 of the side)
    bool defaultTransforms = true;   // true: the parametrisation's default transforms; false: `transforms`
    DreamTransforms transforms;
    float decay = 1.f;               // fourier: the spectrum's scale 1/f^decay
    // Class units (pixels, Fourier, MACO): true: raise the class's score less the mean of all class scores, so that
    // features raising every score gain nothing (the activation reported stays the score); false: the score itself;
    // unset: the parametrisation's default (DreamDefaults::contrastive).
    std::optional<bool> contrastive;
    // The standard deviation of the multiplicative weight noise each step (DreamDefaults::weightNoise; 0: the network
    // as it is). Unset: the parametrisation's default, except for accentuation (0: its penalty's bound is for the
    // network itself). The draw depends only on the seed and the step (a unit in a batch sees what it sees alone); the
    // weights are restored when the run ends.
    std::optional<float> weightNoise;
    // The feature-statistics prior's weight (featurePriorApplies): adds weight x s x the mean over `priorLayers` of
    // |mean - mean_ref| / |mean_ref| + |var - var_ref| / |var_ref| (per-channel mean and variance over the image's
    // positions and the step's samples, against the photographs'), s being the spread of the unit's layer over the
    // photographs (for classes: of the scores less each image's mean score), so that one weight fits any network.
    // Unset: the parametrisation's default (DreamDefaults::featurePrior) for class units where it applies, else 0 (on
    // channels it makes every unit of a tap the same photographic texture); 0 when accentuating. Set: any unit.
    std::optional<float> featurePrior;
    std::vector<std::string> priorLayers;  // empty: defaultPriorLayers() before the unit's layer (none left: no prior)
    // Feature accentuation: start from this image (any size; prepared to the model's input) and add
    // accentLambda * mean((x - x0)^2) to the loss. Pixels and Fourier only. Empty: start from noise.
    std::shared_ptr<const ImageF> accentuate;
    float accentLambda = 0;          // 0: 10 x the unit's activation scale on x0 (said in the result)
    int renderSide = 0;              // > 0: render at this side instead of the model's input (fully convolutional nets)
    int robustnessCrops = 16;        // measureDream: random crops and scales of the result
};

struct DreamResult {
    ImageF image;
    std::string unit;                // as asked
    std::string layer;
    int channel = 0;
    bool classUnit = false;          // the unit is a class score (channel = the class index)
    std::string param;               // the parametrisation that ran
    float activation = 0;            // the unit's activation on the final image (no transformation)
    float trainMax = 0, trainMean = 0;  // generator: the unit's activation over training images (NaN otherwise)
    float startActivation = 0;       // on the start image (the mean code, the noise, or the accentuated image)
    std::vector<float> history;      // activation per iteration (over the step's transformed samples)
    double seconds = 0;
    int iterations = 0;
    float learningRate = 0;
    float weightNoise = 0;           // as run (DreamParams::weightNoise)
    float featurePrior = 0;          // as run (DreamParams::featurePrior; 0: none)
    std::vector<std::string> priorLayers;
    // The final image's distance to the photographs' statistics (the mean over the prior's layers, as minimised, on the
    // image itself); NaN without the prior.
    float priorDistance = std::numeric_limits<float>::quiet_NaN();
    bool cancelled = false;
    // Where the unit looks: the gradient's magnitude on the image accumulated over the run, summed over channels,
    // scaled by its 99th percentile to [0,1] (1 channel). Empty for the generator.
    ImageF transparency;
    // Accentuation: the start (prepared), |x - x0| summed over channels (scaled as the transparency) and its maximum,
    // the RMS distance to the start, lambda, and the distance the penalty allows: sqrt(gain / lambda), the gain being
    // the activation's rise (for the optimum of -a + lambda d^2 from x0: lambda d^2 <= a(x) - a(x0)).
    ImageF start, difference;
    float differenceMax = 0;
    float distance = std::numeric_limits<float>::quiet_NaN();
    float accentLambda = 0, penaltyBound = std::numeric_limits<float>::quiet_NaN();
    // The numbers (measureDream): the network's softmax probability of the intended class on the image (class units),
    // its mean over random crops and scales (robustness) and the unit's mean activation over them; a second
    // network's rank of the class (1 = its first choice; transfer), its probability and its top-5.
    float probability = std::numeric_limits<float>::quiet_NaN();
    float robustProbability = std::numeric_limits<float>::quiet_NaN();
    float robustActivation = std::numeric_limits<float>::quiet_NaN();
    int robustCrops = 0;
    std::string judge;
    int judgeRank = 0;
    float judgeProbability = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::pair<int, float>> judgeTop5;
};

struct DreamProgress {
    int iteration = 0, iterations = 0;
    float activation = 0;            // the current chunk's mean
    ImageF preview;                  // every 10th iteration and the last (the chunk's first unit)
    int firstUnit = 0, unitCount = 1, totalUnits = 1;  // dreamUnits: the chunk being optimised
    std::vector<std::shared_ptr<const DreamResult>> finished;  // dreamUnits: the units this chunk finished (its last event)
};
using DreamProgressFn = std::function<void(const DreamProgress&)>;

DreamResult dream(Model& classifier, const DreamParams& params, const DreamProgressFn& progress = {},
                  const std::atomic<bool>* cancel = nullptr);

// Many units of one layer at once (pixels, Fourier, MACO): `batch` units per batch (each its own image and loss,
// summed), so that unit i's image is what dream() gives it alone, up to the last bits of batched kernels. Unit i
// starts from the seed params.seed + i. Returns one result per unit (fewer when cancelled).
std::vector<DreamResult> dreamUnits(Model& classifier, const DreamParams& params, const std::vector<std::string>& units,
                                    int batch, const DreamProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr);
// The units of a layer: "LAYER:0" ... "LAYER:C-1" (the class indices for the output layer); `limit` > 0: the first.
std::vector<std::string> layerUnits(const Model& classifier, int layerIndex, int limit = 0);

// Fills the numbers of a result: probability and robustness (class units; the robust activation for every unit),
// and, with a judge, the judge's rank, probability and top-5 of the class. The judge must be a classifier with the
// classifier's class count (Error otherwise, and for a channel unit).
void measureDream(Model& classifier, DreamResult& result, Model* judge, int crops = 16, uint64_t seed = 0);
// Whether the network runs the tap on a side x side input (fully convolutional up to it): the atlas's small images.
bool takesSide(Model& model, int layerIndex, int side);
// Throws Error unless `judge` can judge `classifier`'s classes.
void checkJudge(const Model& classifier, const Model& judge, const std::string& judgePath);

}  // namespace preimage
