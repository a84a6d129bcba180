// The feature-statistics prior of preferred inputs (dream.h's DreamParams::featurePrior; DeepInversion, Yin et al.
// 2020, with photographs' statistics in place of batch-norm statistics): the reference statistics from the sample
// photographs, and each image's distance to them. featurePriorApplies and defaultPriorLayers (dream.h) are defined in
// feature_prior.cpp too. Torch side: inference/inversion/dream.cpp only; any thread (no state).
#pragma once

#include "inference/inversion/dream.h"
#include "inference/inversion/dream_unit.h"

#include <optional>
#include <string>
#include <vector>

namespace preimage {

// The feature-statistics prior (DreamParams::featurePrior): the photographs' per-channel mean and variance at its
// layers, and the spread of the units' layer over them (its scale).
struct FeaturePrior {
    std::vector<int> layers;
    std::vector<std::string> names;
    std::vector<torch::Tensor> mean, var;  // [C] per layer
    float scale = 1.f;

    // [C, N * h * w] of a layer's value for rows [first, first + n).
    static torch::Tensor channels(const torch::Tensor& v, int64_t first, int64_t n) {
        return v.narrow(0, first, n).transpose(0, 1).flatten(1);
    }
    // The mean over layers of the relative distance of rows [first, first + n)'s statistics (all of them: one image's
    // samples) to the photographs'. A scalar.
    torch::Tensor distance(const std::vector<torch::Tensor>& values, int64_t first, int64_t n) const {
        torch::Tensor d;
        for (size_t k = 0; k < layers.size(); ++k) {
            auto c = channels(values[k], first, n);
            auto dk = (c.mean(1) - mean[k]).norm() / mean[k].norm().clamp_min(1e-12) +
                      (c.var(1, false) - var[k]).norm() / var[k].norm().clamp_min(1e-12);
            d = d.defined() ? d + dk : dk;
        }
        return d / double(layers.size());
    }
};

// The reference statistics from the sample photographs (assets/samples/photo_*.png), each prepared to the render
// size, its mirror, and four random crops of 50-100% of the side of each (seed 7): 40 images for the four samples.
// Without chosen layers, the default ones before the unit's own layer (a channel's statistics are what it raises), and
// none (no prior) where none are left.
std::optional<FeaturePrior> makeFeaturePrior(Model& model, const DreamParams& p, const DreamUnit& unit, int H, int W);

}  // namespace preimage
