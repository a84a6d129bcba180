// HyperNet decoders ("Inverting discriminative representations with HyperNets"): the classifier's
// features z = Phi_l(x) are the decoder's input, while a small extra encoder n = e(x) (a few dims) feeds a
// control network that modulates the decoder's weights (per output channel, FiLM-style: scaling a conv's
// output channel is scaling that channel's weights). Compared on one layer against the plain decoder from
// z and the plain decoder from [z, n], and ablated with z = 0. Torch-free API; one thread at a time.
#pragma once

#include "inference/learned/training.h"

namespace preimage {

enum class DecoderVariant { Plain, Concat, HyperNet };
const char* variantName(DecoderVariant v);  // "plain", "concat", "hypernet"

struct TrainHyperNetOptions {
    std::string layer = "relu4";
    std::string outDir;          // receives <layer>.<variant>.pt and <layer>.json (all variants' metrics)
    int codeDims = 4;            // size of n = e(x)
    int epochs = 2, batch = 128;
    float learningRate = 1e-3f;
    uint64_t seed = 1;
    int trainLimit = 0, testLimit = 0;
    std::string command;
};

struct HyperNetReport {
    // Test pixel RMSE of each variant, and of the HyperNet with z replaced by zeros (the ablation).
    float plainRmse = 0, concatRmse = 0, hyperRmse = 0, hyperZeroZRmse = 0;
    float firstLoss = 0, lastLoss = 0;  // the HyperNet's first batch and last epoch
    double seconds = 0;
};

HyperNetReport trainHyperNets(Model& classifier, const TrainHyperNetOptions& options, const TrainProgressFn& progress = {});

// Re-evaluates the saved decoders of `layer` on the test set (first/lastLoss unset).
// `progress(done, total, stage)` after each of the four decoders' test passes.
HyperNetReport evaluateHyperNets(Model& classifier, const std::string& layer, const Dataset& test,
                                 const std::function<void(int, int, const std::string&)>& progress = {});

// Decodes `image` with a trained variant (from <model dir>/hypernet/): the pre-image and its pixel RMSE.
struct HyperNetPreimage {
    ImageF image;
    float pixelRmse = 0;
    float featureError = 0;  // ||Phi(decoded) - Phi(x)|| / ||Phi(x)|| (against the true features, also when ablated)
};
bool hasHyperNet(const Model& classifier, const std::string& layer);
HyperNetPreimage hyperNetPreimage(Model& classifier, const std::string& layer, DecoderVariant variant, const ImageF& image,
                                  bool zeroFeatures = false);

}  // namespace preimage
