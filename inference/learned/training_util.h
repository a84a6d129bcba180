// Pieces shared by the trainers (training.cpp, inverter.cpp, hypernet.cpp). Torch header: inference/
// only. The trainer's thread; the collective helpers are called by every rank of a group in the same order.
#pragma once

#include "inference/data/dataset.h"
#include "inference/runtime/distributed.h"
#include "render/image.h"

#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace preimage {

// Dataset images as a float tensor [N, C, H, W] in [0, 1].
inline torch::Tensor datasetPixels(const Dataset& d) {
    return torch::from_blob(const_cast<uint8_t*>(d.images.data()), {d.count, d.channels, d.height, d.width}, torch::kUInt8)
        .to(torch::kFloat)
        .div_(255.f);
}

// Dataset labels as a long tensor [N].
inline torch::Tensor datasetLabels(const Dataset& d) {
    return torch::from_blob(const_cast<uint8_t*>(d.labels.data()), {d.count}, torch::kUInt8).to(torch::kLong);
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

// Manifests, checkpoints and weights go through render's one atomic writer (render/image.h); its IoError
// becomes an Error (exit code 2) naming the file and the cause.
inline void writeTextAtomically(const std::filesystem::path& path, const std::string& bytes) {
    try {
        render::writeFileAtomically(path.string(), bytes);
    } catch (const render::IoError& e) {
        throw Error(e.what());
    }
}

// Anything torch::save takes (a module, an optimiser): serialised in memory, then written as above (torch's own
// file writer aborts the process on a full disk).
template <typename Saveable>
void saveAtomically(const Saveable& what, const std::filesystem::path& path) {
    std::ostringstream bytes(std::ios::binary);
    torch::save(what, bytes);
    writeTextAtomically(path, bytes.str());
}

// A torch archive (a generator's state, a tensor), serialised in memory and written as above.
inline void saveAtomically(torch::serialize::OutputArchive& archive, const std::filesystem::path& path) {
    std::ostringstream bytes(std::ios::binary);
    archive.save_to(bytes);
    writeTextAtomically(path, bytes.str());
}

// Data-parallel training (a distributed job): the gradients of `params` (those of this rank's summed loss)
// are added over the ranks in one all-reduce of a flat buffer, with `extra` (image counts, loss sums) appended
// and summed too. Without a group nothing changes. The caller divides by the summed count.
// On a GPU with device collectives (NCCL, CUDA builds) the buffer stays on the device; else it goes through
// the host (Gloo).
inline void allReduceGradients(const std::vector<torch::Tensor>& params, dist::Group* group, std::vector<float>& extra) {
    if (!group) return;
    const bool onDevice = group->deviceCollectives() && !params.empty() && params[0].is_cuda() &&
                          params[0].device().index() == group->cudaDevice();
    const torch::Device where = onDevice ? params[0].device() : torch::Device(torch::kCPU);
    std::vector<torch::Tensor> parts;
    for (const auto& p : params)
        parts.push_back(p.grad().defined() ? p.grad().detach().flatten().to(where)
                                           : torch::zeros({p.numel()}, torch::TensorOptions().device(where)));
    parts.push_back(torch::tensor(extra).to(where));
    auto flat = torch::cat(parts).contiguous();
    if (onDevice) group->allReduceSumOnDevice(flat.data_ptr<float>(), size_t(flat.numel()));
    else group->allReduceSum(flat.data_ptr<float>(), size_t(flat.numel()));
    int64_t offset = 0;
    for (auto p : params) {
        auto g = flat.slice(0, offset, offset + p.numel()).view(p.sizes()).to(p.device());
        if (p.grad().defined()) p.mutable_grad().copy_(g);
        else p.mutable_grad() = g.clone();
        offset += p.numel();
    }
    auto sums = flat.slice(0, offset).to(torch::kCPU);  // the image counts and loss sums, read on the host
    for (size_t k = 0; k < extra.size(); ++k) extra[k] = sums[int64_t(k)].item<float>();
}

// Divides every gradient of `params` by `count` (a summed loss's gradients into a mean's).
inline void divideGradients(const std::vector<torch::Tensor>& params, double count) {
    for (auto p : params)
        if (p.grad().defined()) p.mutable_grad().div_(count);
}

// Every rank starts from rank 0's weights.
inline void broadcastParameters(const std::vector<torch::Tensor>& params, dist::Group* group) {
    if (!group) return;
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> parts;
    for (const auto& p : params) parts.push_back(p.detach().flatten().to(torch::kCPU));
    auto flat = torch::cat(parts).contiguous();
    group->broadcast(flat.data_ptr<float>(), size_t(flat.numel()), 0);
    int64_t offset = 0;
    for (auto p : params) {
        p.copy_(flat.slice(0, offset, offset + p.numel()).view(p.sizes()));
        offset += p.numel();
    }
}

// This rank's rows [first, last) of a global batch of `count`: slice `rank` of `ranks` contiguous ones.
inline std::pair<int64_t, int64_t> rankSlice(int64_t count, dist::Group* group) {
    if (!group) return {0, count};
    return {count * group->rank() / group->size(), count * (group->rank() + 1) / group->size()};
}

}  // namespace preimage
