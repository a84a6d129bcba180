// Public, torch-free API of the inference engine.
//
// Everything here is plain C++ so that app/ translation units that include it compile fast; the
// LibTorch types live behind Model's pimpl in inference/*.cpp. Thread contract: a Model may be used
// by one thread at a time (in the app, the Worker thread owns it); the free functions are reentrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "inference/runtime/threads.h"

namespace preimage {

// A user-facing error (bad input, missing file, unknown layer...). The CLI prints what() on one line
// and exits with exitCode(); the app shows it in the UI. Anything else escaping is a bug.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what, int exitCode = 2) : std::runtime_error(what), m_exitCode(exitCode) {}
    int exitCode() const { return m_exitCode; }

private:
    int m_exitCode;
};

// An image in [0,1], row-major height x width x channels (1 or 3). The exchange format between
// inference/ (tensors) and render/ (bytes), converted by app/.
struct ImageF {
    int width = 0, height = 0, channels = 0;
    std::vector<float> pixels;
    bool empty() const { return pixels.empty(); }
    float at(int y, int x, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

// What a model expects as input: size, channels and the per-channel normalisation applied to [0,1]
// pixels (x - mean) / std.
struct InputSpec {
    int width = 224, height = 224, channels = 3;
    std::vector<float> mean{0.485f, 0.456f, 0.406f};

    std::vector<float> std{0.229f, 0.224f, 0.225f};
    // Average Frobenius norm of normalised training images (the paper's sigma); 0 = unknown, in which
    // case the target image's own norm is used.
    float imageNorm = 0.f;
};

// Converts an arbitrary image to `input`'s channels and size in [0,1] (grey <-> RGB, the shorter side resized,
// then centre-cropped: torchvision's Resize + CenterCrop), no normalisation. Any thread.
ImageF prepareImage(const ImageF& image, const InputSpec& input);


// A layer (tap): the output of one call of one module. For TorchScript files, any submodule of the
// network (inference/graph_taps.h); for the default models, each layer of their chain.
struct LayerInfo {
    std::string name;            // what to pass as --layer: "features.3", "layer1.0.relu#2", "inception[0]"
    std::string kind;            // Conv2d, ReLU, BasicBlock, EncoderBlock, ...
    std::vector<int64_t> shape;  // output shape for one image, without the batch dimension
    int weightDepth = 0;         // number of weight layers (conv/linear) up to and including this one
    std::string module;          // module path as in PyTorch's named_modules() ("" for none)
    std::string parent;          // the parent module's path ("" = the network itself)
};

struct ModelOptions {
    // Overrides for TorchScript models (the default models carry these in their manifest).
    int size = 0;                 // square input side; 0 = manifest or 224
    bool gray = false;            // one input channel
    std::vector<float> mean, std; // empty = manifest or ImageNet statistics
    std::string device = "auto";  // cpu | cuda | auto
    std::string inverters;        // learned inverters' folder; empty = the model's own (Model::inverterDirectory)
};

class Model {
public:
    // nameOrPath: a default model name ("fashion": assets/models/fashion) or a TorchScript file.
    // Throws Error when the file is missing, is not TorchScript, or cannot be walked layer by layer.
    static std::shared_ptr<Model> load(const std::string& nameOrPath, const ModelOptions& options = {});
    ~Model();

    const std::string& name() const;
    const InputSpec& input() const;
    const std::vector<LayerInfo>& layers() const;  // the invertible layers, in forward order
    // The network's output for one image (forward's result, without the batch dimension), and the number of
    // classes when it is a vector of class scores of any layout ([K], [K,1,1], [1,K]); 0 when it is not.
    const std::vector<int64_t>& outputShape() const;
    int classCount() const;
    // Index into layers(); throws Error naming the layer and listing a few valid ones.
    int layerIndex(const std::string& layer) const;
    // Paper lambda_tv for a layer by its depth (see inversion.cpp).
    float defaultLambdaTv(int layerIndex) const;
    std::string deviceName() const;
    // Free-form manifest text (JSON) for default models; empty for TorchScript files.
    const std::string& manifestJson() const;
    // The class names of a default model's manifest or a TorchScript file's preimage.json (may be empty).
    const std::vector<std::string>& classNames() const;
    // The value of a layer for one prepared image, shape [1, ...] flattened row-major, and its shape.
    std::vector<float> features(const ImageF& prepared, int layerIndex, std::vector<int64_t>& shape);

    // Converts an arbitrary image to this model's input (channels, size) in [0,1], no normalisation.
    ImageF prepare(const ImageF& image) const;
    // Class scores for prepared images (batch); used by eval and tests.
    std::vector<std::vector<float>> logits(const std::vector<ImageF>& prepared);

    // Learned inverters (inference/learned/inverter.h; these two are implemented there): whether a trained
    // decoder exists for the layer, and its pre-image of an image with feature error and pixel RMSE (no optimisation).
    struct LearnedPreimage {
        ImageF image;
        float featureError = 0, pixelRmse = 0;
    };
    bool hasLearnedInverter(int layerIndex) const;
    LearnedPreimage learnedPreimage(const ImageF& image, int layerIndex);
    const std::string& directory() const;  // a default model's folder; empty for TorchScript files
    // Where hasLearnedInverter looks: a default model's inverters/ folder, or FILE.inverters beside a
    // TorchScript FILE.pt (what `preimage train inverter --model FILE.pt` writes by default).
    const std::string& inverterDirectory() const;
    void setInverterDirectory(const std::string& directory);

    struct Impl;
    Impl& impl() { return *m_impl; }

private:
    explicit Model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// ---- Inversion (Mahendran & Vedaldi 2015) ----------------------------------------------------------

struct FeatureMask {
    // Spatial window in feature-map coordinates, [x, x+w) x [y, y+h); w = 0 means the whole map.
    int x = 0, y = 0, w = 0, h = 0;
    // Channel group [first, last]; last < 0 means all channels.
    int firstChannel = 0, lastChannel = -1;
    bool active() const { return w > 0 || lastChannel >= 0 || firstChannel > 0; }
};

struct InversionParams {
    int iterations = 0;            // 0: the optimiser's own (paper: 400, the AlexNet runs; sobolev: 130)
    int restarts = 1;              // random restarts, run as one batch
    uint64_t seed = 0;
    float learningRate = 0.004f;   // base rate; schedule 1 / 0.1 / 0.01 over 25% / 50% / 25% of iterations
                                   // (the Sobolev optimiser steps kSobolevRateScale times it: inversion.cpp)
    float momentum = 0.9f;
    float alpha = 6.f, beta = 2.f;
    float lambdaAlpha = 1e-5f;
    float lambdaTv = -1.f;         // < 0: the paper's value for the layer's depth (1, 10, 100)
    int jitter = 0;                // random shift of up to this many pixels each iteration
    FeatureMask mask;
    int maxDivergenceRetries = 3;  // on NaN/divergence: restart with learningRate / 10, up to this often
    // "sobolev" (the default): the same momentum SGD on the gradient smoothed by (I + tau L)^-1 (an H1
    // preconditioner), at 10x the rate for the first quarter, the base rate to nine tenths and a tenth of it for the
    // last tenth (from noise; warm starts keep the schedule's shape), in a third of the iterations (README "Time to
    // quality": where it reaches the paper's 400-iteration objective, and where it does not); an image whose objective
    // after the first phase is not below its start is run again with "paper" (its result then says optimizer "paper"
    // and warns).
    // "paper": the authors' momentum SGD under the 1 / 0.1 / 0.01 schedule, exactly (--optimizer paper).
    std::string optimizer = "sobolev";
    // The Sobolev optimiser from noise on a layer with a learned inverter (Model::hasLearnedInverter): start instead
    // from the inverter's pre-image of the target's features, its brightness fitted to the objective (README "Time to
    // quality": the learned start). Not for one image's restarts (they show what the layer is invariant to, from
    // noise, as the paper's) nor for a feature mask (the decoder sees every feature); false: from noise.
    bool learnedStart = true;
    int previewEveryMs = 0;        // > 0: attach current pre-images to progress events this often
    // Previews as device RGBA8 images (DeviceRgba) instead of host images, when the model runs on a CUDA device
    // (CUDA builds; the app's CUDA-GL interop path). Ignored on the CPU.
    bool previewOnDevice = false;
};

// An RGBA8 image in device memory (rows of width * 4 bytes, `pitch` apart), ready once `readyEvent` (a
// cudaEvent_t recorded on `stream`, a cudaStream_t) has completed. `owner` keeps the memory and the event alive:
// the image may be used from any thread while a copy of this struct exists. Torch-free.
struct DeviceRgba {
    std::shared_ptr<const void> owner;
    const void* pixels = nullptr;
    int width = 0, height = 0;
    size_t pitch = 0;
    void* readyEvent = nullptr;
    void* stream = nullptr;
};

struct ProgressEvent {
    int iteration = 0, iterations = 0;
    float loss = 0, featureLoss = 0, alphaLoss = 0, tvLoss = 0;  // means over restarts, weighted terms
    float itersPerSecond = 0;
    int64_t evaluations = 0;  // forward + backward passes of the network so far (per image), divergence restarts included
    double seconds = 0;       // since the inversion began
    float learningRate = 0;
    std::vector<ImageF> previews;  // one per restart, when due (see previewEveryMs)
    std::vector<DeviceRgba> devicePreviews;  // the same on the device, instead, with previewOnDevice on a GPU
};
using ProgressFn = std::function<void(const ProgressEvent&)>;

struct InversionResult {
    std::string layer;
    int layerIndex = -1;
    std::vector<ImageF> preimages;           // one per restart, model input size, [0,1]
    std::vector<float> featureErrorPerRestart; // ||Phi(x*) - Phi0|| / ||Phi0|| (masked)
    int best = 0;
    float featureError = 0, pixelRmse = 0;   // of the best restart; pixelRmse against the prepared target
    ImageF target;                           // the prepared input
    ImageF variance;                         // per-pixel variance across restarts (1 channel), normalised to [0,1]
    float varianceMax = 0;                   // the raw maximum behind that normalisation
    int iterations = 0;
    double seconds = 0, itersPerSecond = 0;
    int threads = 1;                         // intra-op threads of most iterations (threads.h)
    float lambdaTv = 0, lambdaAlpha = 0, learningRate = 0, sigma = 0;
    // Raw-pixel models: the model input that sigma and the alpha norm are measured from (the natural images' mean
    // colour, per channel); empty where the input's zero is the training images' mean (inversion/problem.h).
    std::vector<float> inputCentre;
    bool cancelled = false;
    int implicitTvSteps = 0;                 // iterations whose TV term was stepped implicitly (inversion.cpp)
    std::vector<std::string> warnings;       // e.g. divergence restarts
    std::vector<ProgressEvent> history;      // loss terms per iteration (previews stripped)
    // The objective as minimised, at the best restart's final image, term by term: the feature term normalised by
    // ||Phi0||^2, the weighted alpha-norm and TV terms (the 227-px frame), and their sum.
    struct Objective {
        double total = 0, feature = 0, alpha = 0, tv = 0;
    } objective;
    int64_t evaluations = 0;                 // forward + backward passes of the network (per image), all attempts
    std::string optimizer;                   // which optimiser ran ("sobolev", "paper")
    std::string start = "noise";             // where it started: "noise" (the paper's), "learned" (learnedStart) or
                                             // the warm start's `from`
    float startBrightness = 0;               // the learned start's brightness factor (0: not a learned start)
};

// A warm start: the optimisation begins at this image (any size; prepared to the model's input) instead of noise,
// e.g. a neighbouring tap's pre-image of the same image (the app when it steps along the taps). Restarts add the
// usual starting noise to it (a hundredth of it). The Sobolev optimiser then runs at 3x the paper's rates instead of
// 10x, which would throw the start away (README "Time to quality": from the previous tap's pre-image the shipped
// SqueezeNet's taps reach the protocol's objective in a fraction of the evaluations that noise takes). `from` names it
// in the result. paperRate: 1x instead of 3x, for a network that did not take the Sobolev rate at the start's own
// tap (its guard ran the protocol there: MobileNet V2, whose expanded_conv_3 from expanded_conv_2's pre-image ends at
// 0.106 at 3x, 0.035 at 1x, against the protocol's 0.067 from noise). The starts of one batch agree on it.
struct WarmStart {
    ImageF image;
    std::string from;
    bool paperRate = false;
};
// The warm start a finished result offers the taps next to it (the app's steps, `sweep --warm`, `bench --warm`): its
// best pre-image, at the paper's rate where its Sobolev run fell back to the protocol. None from a cancelled or
// empty result, nor from one that was itself warm-started (chains of warm starts drift: README "Warm starts") or
// started from the learned inverter (the next tap has its own).
std::optional<WarmStart> warmStartFrom(const InversionResult& r);

// Runs the optimisation on `image` (any size; prepared to the model's input). `cancel` is polled
// between iterations; on cancellation the current state is returned with cancelled = true.
InversionResult invert(Model& model, const ImageF& image, int layerIndex, const InversionParams& params,
                       const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr,
                       const WarmStart* start = nullptr);

// Several images inverted as one batch (as restarts are), each with its own target, normalisation, seed
// (seeds[i] replaces params.seed) and loss: image i's result is what invert() gives it alone with seed
// seeds[i], up to the last bits of batched kernels. When one image diverges, each is run on its own.
// Progress events carry the batch's mean losses. `starts`: empty (noise) or one warm start per image.
std::vector<InversionResult> invertBatch(Model& model, const std::vector<ImageF>& images, int layerIndex,
                                         const InversionParams& params, const std::vector<uint64_t>& seeds,
                                         const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr,
                                         const std::vector<WarmStart>& starts = {});

// Where the default models and samples live: $PREIMAGE_ASSETS, next to the executable, or the source tree.
std::string assetsDir();

}  // namespace preimage
