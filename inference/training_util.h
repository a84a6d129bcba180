// Pieces shared by the trainers (training.cpp, inverter.cpp, hypernet.cpp). Torch header: inference/
// only.
#pragma once

#include "dataset.h"

#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace preimage {

// Dataset images as a float tensor [N, 1, H, W] in [0, 1].
inline torch::Tensor datasetPixels(const Dataset& d) {
    return torch::from_blob(const_cast<uint8_t*>(d.images.data()), {d.count, 1, d.height, d.width}, torch::kUInt8)
        .to(torch::kFloat)
        .div_(255.f);
}

// Cosine decay from `base` to zero over `totalSteps`, applied to every parameter group.
inline void setCosineRate(torch::optim::Adam& optim, double base, int step, int totalSteps) {
    const double lr = 0.5 * base * (1.0 + std::cos(M_PI * double(step) / double(std::max(1, totalSteps))));
    for (auto& g : optim.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

// Creates an output directory (and its parents); Error when that fails.
inline void ensureDirectory(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!std::filesystem::is_directory(dir)) throw Error("cannot create output directory '" + dir + "'");
}

// Manifests and weights are written to a temporary file and renamed, so a reader never sees half a file.
inline void writeTextAtomically(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::path tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error("cannot write '" + tmp.string() + "'");
        out << text;
        if (!out.flush()) throw Error("cannot write '" + tmp.string() + "'");
    }
    std::filesystem::rename(tmp, path);
}

template <typename ModuleHolder>
void saveAtomically(const ModuleHolder& module, const std::filesystem::path& path) {
    const std::string tmp = path.string() + ".tmp";
    torch::save(module, tmp);
    std::filesystem::rename(tmp, path);
}

}  // namespace preimage
