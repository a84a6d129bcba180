#include "inference/inversion/feature_prior.h"

#include "inference/data/convert.h"
#include "inference/inversion/image_param.h"
#include "inference/model/model_impl.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <filesystem>

namespace preimage {

bool featurePriorApplies(const InputSpec& in) {
    return in.channels == 3 && std::min(in.width, in.height) >= 64;
}

std::vector<std::string> defaultPriorLayers(const Model& model) {
    const auto& layers = model.layers();
    int total = 0;
    for (const auto& l : layers) total = std::max(total, l.weightDepth);
    auto early = [&](const LayerInfo& l) { return l.shape.size() == 3 && l.weightDepth > 0 && 2 * l.weightDepth <= total; };
    // The children of `parent` that hold weights (their weight depth above the previous child's), in the first half;
    // `largest`: the child holding the most weights (where to look one level down).
    std::string parent;
    for (int level = 0; level < 8; ++level) {
        std::vector<std::string> chosen;
        std::string largest;
        int depth = 0, most = 0;
        for (const auto& l : layers) {
            if (l.parent != parent) continue;
            if (early(l) && l.weightDepth > depth) chosen.push_back(l.name);
            if (l.weightDepth - depth > most && !l.module.empty()) most = l.weightDepth - depth, largest = l.module;
            depth = std::max(depth, l.weightDepth);
        }
        if (chosen.size() >= 2) return chosen;
        if (largest.empty() || largest == parent) break;
        parent = largest;
    }
    std::vector<std::string> convs;
    for (const auto& l : layers)
        if (early(l) && l.kind.find("Conv") != std::string::npos) convs.push_back(l.name);
    return convs;
}

std::optional<FeaturePrior> makeFeaturePrior(Model& model, const DreamParams& p, const DreamUnit& unit, int H, int W) {
    auto& M = model.impl();
    FeaturePrior prior;
    if (p.priorLayers.empty()) {
        for (const auto& n : defaultPriorLayers(model))
            if (unit.classUnit || model.layerIndex(n) < unit.layer) prior.names.push_back(n);
        if (prior.names.empty()) return std::nullopt;
    } else {
        prior.names = p.priorLayers;
    }
    for (const auto& n : prior.names) {
        const int l = model.layerIndex(n);
        if (M.layers[size_t(l)].shape.size() != 3)
            throw Error("feature prior: layer '" + n + "' has no channels and positions (a C x H x W output is needed)");
        prior.layers.push_back(l);
    }
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    const fs::path dir = fs::path(assetsDir()) / "samples";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.rfind("photo_", 0) == 0 && e.path().extension() == ".png") files.push_back(e.path().string());
    }
    if (files.empty()) throw Error("feature prior: no photographs (photo_*.png) in " + dir.string());
    std::sort(files.begin(), files.end());
    InputSpec spec = M.input;
    spec.width = W, spec.height = H;
    std::vector<torch::Tensor> photos;
    for (const auto& f : files) {
        auto x = imageToTensor(prepareImage(loadImageF(f), spec));
        photos.push_back(x), photos.push_back(x.flip(2));
    }
    torch::NoGradGuard noGrad;
    auto batch = torch::stack(photos).to(M.device);
    DreamTransforms crops;
    crops.crops = 4, crops.cropMin = 0.5f, crops.cropMax = 1.f;
    auto gen = at::detail::createCPUGenerator(7);
    auto images = torch::cat({batch, fv::transformBatch(batch, crops, H, W, gen)});
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    std::vector<int> collect = prior.layers;
    collect.push_back(unit.layer);
    std::vector<torch::Tensor> values;
    auto out = M.forwardCollect((images - mean) / std, collect, values);
    for (size_t k = 0; k < prior.layers.size(); ++k) {
        auto c = FeaturePrior::channels(values[k], 0, images.size(0));
        prior.mean.push_back(c.mean(1)), prior.var.push_back(c.var(1, false));
    }
    auto f = unit.classUnit ? out.flatten(1) : values.back().flatten(1);
    if (unit.classUnit) f = f - f.mean(1, true);  // the scores as the contrastive objective moves them
    prior.scale = std::max(f.std().item<float>(), 1e-6f);
    return prior;
}

}  // namespace preimage
