#include "inference/inversion/dream.h"

#include "inference/data/dataset.h"
#include "inference/model/model_impl.h"
#include "inference/learned/training_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>

namespace preimage {
namespace {

struct Unit {
    int layer = -1, channel = 0;
};

Unit parseUnit(Model& model, const std::string& spec) {
    const auto& layers = model.layers();
    Unit u;
    std::string channel = spec;
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
        u.layer = model.layerIndex(spec.substr(0, colon));
        channel = spec.substr(colon + 1);
    } else {
        u.layer = int(layers.size()) - 1;  // the class scores
    }
    const auto& shape = layers[size_t(u.layer)].shape;
    try {
        size_t used = 0;
        u.channel = std::stoi(channel, &used);
        if (used != channel.size()) throw std::invalid_argument(channel);
    } catch (const std::exception&) {
        // A class name from the manifest ("sneaker", "Ankle boot"), case-insensitive.
        auto lower = [](std::string s) {
            std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
            return s;
        };
        u.channel = -1;
        if (u.layer == int(layers.size()) - 1) {
            const auto& classes = model.classNames();
            for (size_t i = 0; i < classes.size(); ++i)
                if (lower(classes[i]) == lower(channel)) u.channel = int(i);
        }
        if (u.channel < 0) throw Error("--unit '" + spec + "': expected a class index or name, or LAYER:CHANNEL");
    }
    if (u.channel < 0 || u.channel >= shape[0])
        throw Error("--unit '" + spec + "': layer '" + layers[size_t(u.layer)].name + "' has channels 0-" +
                    std::to_string(shape[0] - 1));
    return u;
}

// The unit's activation for a batch of network inputs: a class score, a vector element, or the mean of a
// feature map's channel.
torch::Tensor activation(Model::Impl& M, const torch::Tensor& x, const Unit& u) {
    auto f = M.forwardTo(x, u.layer).select(1, u.channel);
    return f.dim() > 1 ? f.flatten(1).mean(1) : f;
}

// The loop both parametrisations share: `step` computes the image, the activation to raise and the loss to
// minimise (with its penalties); `afterStep` projects the parameters (or does nothing). Fills r.history and
// r.cancelled, publishes progress with a preview every 10th iteration.
void maximise(DreamResult& r, const DreamParams& p, torch::optim::Optimizer& optim,
              const std::function<std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>()>& step,
              const std::function<void()>& afterStep, const std::function<void(const DreamProgress&)>& progress,
              const std::atomic<bool>* cancel) {
    ThreadTuner tuner;
    for (int it = 0; it < p.iterations; ++it) {
        if (cancel && cancel->load()) {
            r.cancelled = true;
            break;
        }
        optim.zero_grad();
        auto [img, a, loss] = step();
        loss.backward();
        optim.step();
        afterStep();
        const float value = a.item<float>();
        if (!std::isfinite(value)) throw Error("preferred input of '" + p.unit + "': the activation became NaN");
        r.history.push_back(value);
        tuner.step();
        if (progress) {
            DreamProgress ev{it + 1, p.iterations, value, {}};
            if ((it + 1) % 10 == 0 || it + 1 == p.iterations) ev.preview = tensorToImage(img.detach()[0].cpu());
            progress(ev);
        }
    }
}

// Activation maximisation in pixel space (any network): x = sigmoid(u), Adam on u; the objective is the unit's
// activation less a total-variation penalty scaled by the activation's own size at the start, on a randomly
// shifted copy of the image each step (the shift makes the picture robust to where the network looks).
DreamResult dreamPixels(Model& model, const DreamParams& p, const std::function<void(const DreamProgress&)>& progress,
                        const std::atomic<bool>* cancel) {
    auto& M = model.impl();
    const Unit unit = parseUnit(model, p.unit);
    DreamResult r;
    r.layer = M.layers[size_t(unit.layer)].name;
    r.channel = unit.channel;
    r.trainMax = r.trainMean = std::numeric_limits<float>::quiet_NaN();
    const auto start = std::chrono::steady_clock::now();
    auto gen = at::detail::createCPUGenerator(p.seed);  // its own: the result is a function of the seed alone
    const auto& in = M.input;
    auto mean = torch::tensor(in.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(in.std).view({1, -1, 1, 1}).to(M.device);
    auto u = (0.1 * at::randn({1, in.channels, in.height, in.width}, gen)).to(M.device).set_requires_grad(true);
    torch::optim::Adam optim({u}, torch::optim::AdamOptions(p.learningRate));
    const int jitter = p.jitter >= 0 ? p.jitter : std::max(1, std::min(in.width, in.height) / 16);
    auto tvOf = [](const torch::Tensor& x) {
        auto dx = x.slice(3, 1) - x.slice(3, 0, -1);
        auto dy = x.slice(2, 1) - x.slice(2, 0, -1);
        return dx.square().mean() + dy.square().mean();
    };
    float scale = 1.f;
    {
        torch::NoGradGuard noGrad;
        r.startActivation = activation(M, (torch::sigmoid(u) - mean) / std, unit).item<float>();
        scale = std::max(1e-3f, std::abs(r.startActivation));
    }
    maximise(r, p, optim, [&] {
        auto img = torch::sigmoid(u);
        auto shifted = img;
        if (jitter > 0) {
            const auto d = at::randint(-jitter, jitter + 1, {2}, gen, torch::kLong);
            shifted = torch::roll(img, {d[0].item<int64_t>(), d[1].item<int64_t>()}, {2, 3});
        }
        auto a = activation(M, (shifted - mean) / std, unit).sum();
        // The penalty is on the scale of the activation at the start: one weight suits a logit and a channel mean.
        return std::make_tuple(img, a, -a + (p.tv * scale * 100.f) * tvOf(img));
    }, [] {}, progress, cancel);
    torch::NoGradGuard noGrad;
    auto img = torch::sigmoid(u);
    r.activation = activation(M, (img - mean) / std, unit).item<float>();
    r.image = tensorToImage(img[0].cpu());
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace

DreamResult dream(Model& classifier, const DreamParams& p, const std::function<void(const DreamProgress&)>& progress,
                  const std::atomic<bool>* cancel) {
    auto& M = classifier.impl();
    if (p.iterations < 1 || !(p.learningRate > 0)) throw Error("dream: bad iterations or learning rate");
    if (p.generator.empty()) return dreamPixels(classifier, p, progress, cancel);
    if (M.directory.empty())
        throw Error("a generator prior needs a default model with learned inverters (--generator none: in pixel space)");
    const Unit unit = parseUnit(classifier, p.unit);
    const int gen = classifier.layerIndex(p.generator);
    if (!classifier.hasLearnedInverter(gen))
        throw Error("no learned inverter for generator layer '" + p.generator + "' (preimage train inverter --layer " +
                    p.generator + ")");
    auto decoder = loadDecoder(M.directory + "/inverters", p.generator);
    decoder->to(M.device);
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);

    DreamResult r;
    r.layer = M.layers[size_t(unit.layer)].name;
    r.channel = unit.channel;
    torch::Tensor lo, hi, z0;
    {  // Code range and the unit's activations on training data.
        torch::NoGradGuard noGrad;
        auto data = loadFashionMnist(true, p.dataImages);
        auto x = datasetPixels(data).to(M.device);
        auto xn = (x - mean) / std;
        auto codes = M.forwardTo(xn, gen);
        lo = std::get<0>(codes.min(0, true));
        hi = std::get<0>(codes.max(0, true));
        z0 = codes.mean(0, true);
        auto acts = activation(M, xn, unit);
        r.trainMax = acts.max().item<float>();
        r.trainMean = acts.mean().item<float>();
    }
    const auto start = std::chrono::steady_clock::now();
    auto rng = at::detail::createCPUGenerator(p.seed);  // its own: the result is a function of the seed alone
    auto range = (hi - lo).clamp_min(1e-6);
    // Optimise u = (z - lo) / range in [0,1]: one learning rate fits every code dimension.
    auto noise = at::randn(z0.sizes(), rng).to(z0.device());
    auto u = ((z0 - lo) / range + 0.01 * noise).clamp(0, 1).detach().set_requires_grad(true);
    torch::optim::Adam optim({u}, torch::optim::AdamOptions(p.learningRate));
    auto generate = [&](const torch::Tensor& code) { return decoder->forward(lo + code * range); };
    {
        torch::NoGradGuard noGrad;
        r.startActivation = activation(M, (generate(u) - mean) / std, unit).item<float>();
    }
    maximise(r, p, optim, [&] {
        auto img = generate(u);
        auto a = activation(M, (img - mean) / std, unit).sum();
        return std::make_tuple(img, a, -a);
    }, [&] {
        torch::NoGradGuard noGrad;
        u.clamp_(0, 1);  // DGN-AM: the code stays in the range seen on data
    }, progress, cancel);
    torch::NoGradGuard noGrad;
    auto img = generate(u);
    r.activation = activation(M, (img - mean) / std, unit).item<float>();
    r.image = tensorToImage(img[0]);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace preimage
