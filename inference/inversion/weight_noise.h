// Weight noise for preferred inputs (dream.h's DreamParams::weightNoise; ghost networks, Li et al. 2020): a nearby
// network each step. Torch side: inference/inversion/dream.cpp only; one thread at a time (it writes the weights).
#pragma once

#include "inference/data/splitmix.h"
#include "inference/model/model_impl.h"

#include <ATen/CPUGeneratorImpl.h>

#include <vector>

namespace preimage {

// Weight noise (DreamDefaults::weightNoise): perturb(step) multiplies every parameter by 1 + sigma n, n read from one
// bank of N(0, 1) draws (twice the parameters' count, drawn once per run from the seed) at an offset drawn from the seed
// and the step: each weight gets another draw each step for the price of a copy (drawing 1.2 M normals each step took
// a third of SqueezeNet's 112-px atlas time), and a unit sees the same networks in a batch as alone. The weights as they
// were come back at restore() and at the end of the scope, however the run ends (a NaN, a cancel, a throw).
class WeightNoise {
public:
    WeightNoise(Model::Impl& M, float sigma, uint64_t seed) : m_sigma(sigma), m_seed(seed) {
        if (!(sigma > 0)) return;
        torch::NoGradGuard noGrad;
        if (M.native) {
            for (const auto& t : M.native->parameters()) m_params.push_back(t);
        } else {
            for (const auto& t : M.script.parameters()) m_params.push_back(t);
        }
        for (const auto& t : m_params) m_saved.push_back(t.detach().clone()), m_count += t.numel();
        if (m_params.empty()) return;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(splitmix64(seed ^ 0x67686f7374ull));
        m_bank = at::randn({2 * m_count}, gen, torch::kFloat).to(m_saved.front().device());
    }
    ~WeightNoise() { restore(); }
    WeightNoise(const WeightNoise&) = delete;
    WeightNoise& operator=(const WeightNoise&) = delete;
    void perturb(int step) {
        if (m_params.empty()) return;
        torch::NoGradGuard noGrad;
        int64_t at = int64_t(splitmix64(m_seed ^ (uint64_t(step + 1) * 0x9E3779B97F4A7C15ull)) % uint64_t(m_count + 1));
        for (size_t k = 0; k < m_params.size(); ++k) {
            const int64_t n = m_saved[k].numel();
            auto draws = m_bank.narrow(0, at, n).view(m_saved[k].sizes()).to(m_saved[k].scalar_type());
            m_params[k].copy_(m_saved[k]).addcmul_(m_saved[k], draws, m_sigma);
            at += n;
        }
    }
    void restore() {
        torch::NoGradGuard noGrad;
        for (size_t k = 0; k < m_params.size(); ++k) m_params[k].copy_(m_saved[k]);
    }
    size_t tensors() const { return m_params.size(); }

private:
    float m_sigma;
    uint64_t m_seed;
    int64_t m_count = 0;
    std::vector<torch::Tensor> m_params, m_saved;
    torch::Tensor m_bank;  // [2 x the parameters' count] N(0, 1), on their device
};

}  // namespace preimage
