#include "inference/inversion/dream.h"

#include "inference/data/dataset.h"
#include "inference/data/splitmix.h"
#include "inference/inversion/dream_unit.h"
#include "inference/inversion/feature_prior.h"
#include "inference/inversion/image_param.h"
#include "inference/inversion/weight_noise.h"
#include "inference/learned/training_util.h"
#include "inference/model/model_impl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>

namespace preimage {

const char* parametrisationName(DreamParametrisation p) {
    switch (p) {
        case DreamParametrisation::Generator: return "generator";
        case DreamParametrisation::Pixels: return "pixels";
        case DreamParametrisation::Fourier: return "fourier";
        case DreamParametrisation::Maco: return "maco";
    }
    return "?";
}

DreamParametrisation parseParametrisation(const std::string& name) {
    for (auto p : {DreamParametrisation::Generator, DreamParametrisation::Pixels, DreamParametrisation::Fourier,
                   DreamParametrisation::Maco})
        if (name == parametrisationName(p)) return p;
    throw Error("unknown parametrisation '" + name + "' (expected generator, pixels, fourier or maco)");
}

DreamTransforms DreamTransforms::standard() {
    DreamTransforms t;
    t.pad = 12;
    t.jitter = 8;
    t.scales = {1.f, 0.975f, 1.025f, 0.95f, 1.05f};
    t.rotate = 5.f;
    t.jitter2 = 4;
    return t;
}

DreamTransforms DreamTransforms::macoCrops() {
    DreamTransforms t;
    t.crops = 4;
    t.cropMin = 0.5f;
    t.cropMax = 0.9f;
    t.noise = 0.05f;
    return t;
}

// The weight noise of Fourier images: measured on the shipped SqueezeNet's 24 class images with MobileNet V2 as the
// judge (README, "Preferred inputs"): the judge's top-1 / top-5 46% / 58% without, 71% / 75% at 0.2 (62-75% / 83% with
// two earlier ways of drawing the noise), 50% / 75% at 0.15, 62% / 75% at 0.25, 62% / 79% at 0.3. MACO keeps none:
// 33% / 58% at 0.2, as without, and on the Fashion-MNIST model its 60-step Sneaker no longer reaches the class at 0.2.
constexpr float kWeightNoise = 0.2f;
// The feature-statistics prior's weight for Fourier class images (README, "Preferred inputs": with weight noise 0.2,
// the judge's top-1 / top-5 on the 24 classes 62% / 96%, 62% / 96% and 71% / 96% at seeds 0, 1 and 2, against
// 71% / 75% and 54% / 79% at seeds 0 and 1 without).
constexpr float kFeaturePrior = 15.f;

DreamDefaults dreamDefaults(DreamParametrisation p) {
    switch (p) {
        case DreamParametrisation::Generator: return {200, 0.05f, DreamTransforms::none(), false, 0.f, 0.f};
        case DreamParametrisation::Pixels: return {200, 0.05f, DreamTransforms::none(), false, 0.f, 0.f};
        case DreamParametrisation::Fourier: return {256, 0.05f, DreamTransforms::standard(), true, kWeightNoise, kFeaturePrior};
        case DreamParametrisation::Maco: return {128, 0.3f, DreamTransforms::macoCrops(), true, 0.f, 0.f};
    }
    return {200, 0.05f, {}, false, 0.f, 0.f};
}

DreamParametrisation defaultParametrisation(const Model& model, const std::string& generator) {
    if (!model.directory().empty() && !generator.empty())
        for (size_t i = 0; i < model.layers().size(); ++i)
            if (model.layers()[i].name == generator && model.hasLearnedInverter(int(i))) return DreamParametrisation::Generator;
    return kDefaultImageParametrisation;
}

bool takesSide(Model& model, int layerIndex, int side) {
    auto& M = model.impl();
    if (side == M.input.width && side == M.input.height) return true;
    try {
        torch::NoGradGuard noGrad;
        M.forwardTo(torch::zeros({1, M.input.channels, side, side}, torch::TensorOptions().device(M.device)), layerIndex);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The same unit starts from the same noise whatever else is in its batch: the seed mixes in the unit's name.
uint64_t unitSeed(uint64_t seed, const std::string& unit) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : unit) h = (h ^ c) * 1099511628211ull;
    return splitmix64(seed ^ h);
}

// Sums the per-image total variation (mean squared differences), so that each image's penalty is its own.
torch::Tensor tvPerImage(const torch::Tensor& x) {
    auto dx = (x.slice(3, 1) - x.slice(3, 0, -1)).square().flatten(1).mean(1);
    auto dy = (x.slice(2, 1) - x.slice(2, 0, -1)).square().flatten(1).mean(1);
    return dx + dy;  // [B]
}

// [H, W] >= 0 -> [1, H, W] in [0,1]: divided by its 99th percentile (a few bright pixels do not darken the rest),
// clipped. maxOut: the largest value.
ImageF normalisedMap(const torch::Tensor& map, float* maxOut = nullptr) {
    if (maxOut) *maxOut = map.max().item<float>();
    auto sorted = std::get<0>(map.flatten().sort());
    const float top = sorted[int64_t(double(sorted.numel() - 1) * 0.99)].item<float>();
    return tensorToImage((map / std::max(top, 1e-12f)).clamp(0, 1).unsqueeze(0));
}

struct Resolved {
    DreamParametrisation param;
    int iterations;
    float learningRate;
    DreamTransforms transforms;
    bool contrastive;
    float weightNoise;
    float featurePrior;
};

Resolved resolve(const DreamParams& p, const Model& model) {
    Resolved r;
    r.param = p.param == DreamParametrisation::Generator && p.generator.empty() ? DreamParametrisation::Pixels : p.param;
    const DreamDefaults d = dreamDefaults(r.param);
    r.iterations = p.iterations > 0 ? p.iterations : d.iterations;
    r.learningRate = p.learningRate > 0 ? p.learningRate : d.learningRate;
    r.transforms = p.defaultTransforms ? d.transforms : p.transforms;
    r.contrastive = p.contrastive.value_or(d.contrastive);
    r.weightNoise = p.weightNoise.value_or(p.accentuate ? 0.f : d.weightNoise);
    if (!(r.weightNoise >= 0.f && r.weightNoise <= 1.f)) throw Error("dream: the weight noise must be between 0 and 1");
    r.featurePrior = p.featurePrior.value_or(p.accentuate || !featurePriorApplies(model.input()) ? 0.f : d.featurePrior);
    if (!(r.featurePrior >= 0.f && r.featurePrior <= 1000.f)) throw Error("dream: the feature prior's weight must be 0 to 1000");
    if (r.featurePrior > 0 && r.param == DreamParametrisation::Generator)
        throw Error("the feature prior is for images optimised through the network (pixels, fourier, maco), not the generator prior");
    if (p.iterations < 0 || !(r.learningRate > 0) || !std::isfinite(r.learningRate))
        throw Error("dream: bad iterations or learning rate");
    if (r.transforms.crops < 1 || r.transforms.crops > 64 || !(r.transforms.cropMin > 0.f) ||
        r.transforms.cropMax < r.transforms.cropMin || r.transforms.cropMax > 1.f)
        throw Error("dream: crops must be 1-64 samples of a fraction 0-1 of the side (min <= max)");
    return r;
}

// One batch of units of the same layer, optimised together (pixels, Fourier, MACO).
std::vector<DreamResult> runChunk(Model& model, const DreamParams& p, const Resolved& rs, const std::vector<std::string>& names,
                                  const std::vector<DreamUnit>& units, const FeaturePrior* prior, int firstUnit,
                                  int totalUnits, const DreamProgressFn& progress, const std::atomic<bool>* cancel) {
    auto& M = model.impl();
    const auto start = Clock::now();
    const int64_t B = int64_t(units.size());
    const int layer = units.front().layer;
    const auto& in = M.input;
    const int H = p.renderSide > 0 ? p.renderSide : in.height, W = p.renderSide > 0 ? p.renderSide : in.width;
    const int C = in.channels;
    auto mean = torch::tensor(in.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(in.std).view({1, -1, 1, 1}).to(M.device);
    // The unit's activation; with `objective` and contrastive class scores, what is raised: the class's score less the
    // mean of all classes' (generic features that raise every score gain nothing). [B * samples] images -> [B].
    // (One forward for the batch: its units are all classes, reading the network's output, or none: unitFeatures.)
    // With `priorDistance` (and a prior), each image's distance to the photographs' statistics as well ([B]).
    auto evaluate = [&](const torch::Tensor& images, int64_t samples, bool objective, torch::Tensor* priorDistance = nullptr) {
        torch::Tensor f;
        std::vector<torch::Tensor> values;
        if (prior && priorDistance) {
            std::vector<int> collect = prior->layers;
            if (!units.front().classUnit) collect.push_back(layer);
            auto out = M.forwardCollect((images - mean) / std, collect, values);
            f = units.front().classUnit ? out.flatten(1) : values.back();
        } else {
            f = unitFeatures(M, (images - mean) / std, units.front());
        }
        std::vector<torch::Tensor> per, distances;
        for (int64_t b = 0; b < B; ++b) {
            const DreamUnit& u = units[size_t(b)];
            auto rows = f.narrow(0, b * samples, samples);
            auto a = unitActivation(rows, u);
            if (objective && rs.contrastive && u.classUnit) a = a - rows.flatten(1).mean(1);
            per.push_back(a.mean());
            if (prior && priorDistance) distances.push_back(prior->distance(values, b * samples, samples));
        }
        if (prior && priorDistance) *priorDistance = torch::stack(distances);
        return torch::stack(per);
    };
    auto activations = [&](const torch::Tensor& images, int64_t samples) { return evaluate(images, samples, false); };

    torch::Tensor x0;  // accentuation: the start image, [B, C, H, W]
    if (p.accentuate) {
        if (p.accentuate->empty()) throw Error("accentuation: the image is empty");
        InputSpec spec = in;
        spec.width = W, spec.height = H;
        x0 = imageToTensor(prepareImage(*p.accentuate, spec)).unsqueeze(0).expand({B, C, H, W}).contiguous().to(M.device);
    }
    std::vector<uint64_t> seeds;
    for (const auto& n : names) seeds.push_back(unitSeed(p.seed, n));
    auto param = fv::makeParam(rs.param, C, H, W, seeds, x0.defined() ? x0 : torch::Tensor(), M.device, p.decay);
    auto gen = at::detail::createCPUGenerator(p.seed);  // the steps' draws: a function of the seed alone
    torch::optim::Adam optim(param->parameters(), torch::optim::AdamOptions(rs.learningRate));
    const int roll = rs.param == DreamParametrisation::Pixels ? (p.jitter >= 0 ? p.jitter : std::max(1, std::min(H, W) / 16)) : 0;

    torch::Tensor startAct, startObjective, scale, lambda;
    {
        torch::NoGradGuard noGrad;
        startAct = activations(param->image(), 1);
        startObjective = evaluate(param->image(), 1, true).cpu();
        scale = startAct.abs().clamp_min(1e-3);  // penalties on the activation's own scale: one weight fits all units
        // Accentuation: lambda * mean((x - x0)^2); by default 100 x the scale, i.e. doubling the activation may cost
        // an RMS change of 0.1.
        lambda = p.accentLambda > 0 ? torch::full({B}, p.accentLambda) : (100.f * scale).cpu();
        lambda = lambda.to(M.device);
    }
    std::vector<DreamResult> results(static_cast<size_t>(B));
    auto transparency = torch::zeros({B, H, W}, torch::TensorOptions().device(M.device));
    bool cancelled = false;
    ThreadTuner tuner;
    WeightNoise noise(M, rs.weightNoise, p.seed);
    for (int it = 0; it < rs.iterations; ++it) {
        if (cancel && cancel->load()) {
            cancelled = true;
            break;
        }
        noise.perturb(it);
        optim.zero_grad();
        auto img = param->image();
        img.retain_grad();
        auto x = img;
        if (roll > 0) {
            const auto d = at::randint(-roll, roll + 1, {2}, gen, torch::kLong);
            x = torch::roll(x, {d[0].item<int64_t>(), d[1].item<int64_t>()}, {2, 3});
        }
        x = fv::transformBatch(x, rs.transforms, H, W, gen);
        torch::Tensor distance;
        auto a = evaluate(x, x.size(0) / B, true, &distance);
        auto loss = -a.sum();
        if (prior) loss = loss + rs.featurePrior * prior->scale * distance.sum();
        if (rs.param == DreamParametrisation::Pixels && p.tv > 0) loss = loss + (p.tv * 100.f * scale * tvPerImage(img)).sum();
        if (x0.defined()) loss = loss + (lambda * (img - x0).square().flatten(1).mean(1)).sum();
        loss.backward();
        transparency += img.grad().detach().abs().sum(1);
        optim.step();
        auto values = a.detach().cpu();
        for (int64_t b = 0; b < B; ++b) {
            const float v = values[b].item<float>();
            if (!std::isfinite(v)) throw Error("preferred input of '" + names[size_t(b)] + "': the activation became NaN");
            results[size_t(b)].history.push_back(v);
        }
        tuner.step();
        if (progress) {
            DreamProgress ev;
            ev.iteration = it + 1, ev.iterations = rs.iterations;
            ev.activation = values.mean().item<float>();
            ev.firstUnit = firstUnit, ev.unitCount = int(B), ev.totalUnits = totalUnits;
            if ((it + 1) % 10 == 0 || it + 1 == rs.iterations) ev.preview = tensorToImage(img.detach()[0].cpu());
            progress(ev);
        }
    }
    torch::NoGradGuard noGrad;
    noise.restore();  // the numbers are the network's own
    auto img = param->image();
    auto final = activations(img, 1).cpu();
    torch::Tensor finalDistance;
    auto finalObjective = evaluate(img, 1, true, &finalDistance).cpu();  // accentuation's bound is on what was raised
    auto startCpu = startAct.cpu();
    for (int64_t b = 0; b < B; ++b) {
        auto& r = results[size_t(b)];
        const DreamUnit& u = units[size_t(b)];
        r.unit = names[size_t(b)];
        r.layer = M.layers[size_t(layer)].name;
        r.channel = u.channel;
        r.classUnit = u.classUnit;
        r.param = parametrisationName(rs.param);
        r.trainMax = r.trainMean = std::numeric_limits<float>::quiet_NaN();
        r.startActivation = startCpu[b].item<float>();
        r.activation = final[b].item<float>();
        r.image = tensorToImage(img[b].cpu());
        r.transparency = normalisedMap(transparency[b].cpu());
        r.iterations = int(r.history.size());
        r.learningRate = rs.learningRate;
        r.weightNoise = noise.tensors() > 0 ? rs.weightNoise : 0.f;
        if (prior) {
            r.featurePrior = rs.featurePrior;
            r.priorLayers = prior->names;
            r.priorDistance = finalDistance[b].item<float>();
        }
        r.cancelled = cancelled;
        if (x0.defined()) {
            r.start = tensorToImage(x0[b].cpu());
            r.difference = normalisedMap((img[b] - x0[b]).abs().sum(0).cpu(), &r.differenceMax);
            r.distance = std::sqrt((img[b] - x0[b]).square().mean().item<float>());
            r.accentLambda = lambda[b].item<float>();
            const float gain = finalObjective[b].item<float>() - startObjective[b].item<float>();
            r.penaltyBound = std::sqrt(std::max(0.f, gain) / r.accentLambda);
        }
        r.seconds = since(start);
    }
    return results;
}

// The generator prior (DGN-AM): the code of a learned inverter, kept in the range seen on data.
DreamResult dreamGenerator(Model& classifier, const DreamParams& p, const Resolved& rs, const DreamProgressFn& progress,
                           const std::atomic<bool>* cancel) {
    auto& M = classifier.impl();
    if (M.directory.empty())
        throw Error("a generator prior needs a default model with learned inverters (--param pixels, fourier or maco: any model)");
    if (p.accentuate) throw Error("accentuation starts from an image: use the fourier or pixels parametrisation");
    if (p.weightNoise.value_or(0.f) > 0)
        throw Error("weight noise is for images optimised through the network (pixels, fourier, maco), not the generator prior");
    const DreamUnit unit = parseDreamUnit(classifier, p.unit);
    const int gen = classifier.layerIndex(p.generator);
    if (!classifier.hasLearnedInverter(gen))
        throw Error("no learned inverter for generator layer '" + p.generator + "' (preimage train inverter --layer " +
                    p.generator + ")");
    auto decoder = loadDecoder(M.directory + "/inverters", p.generator);
    decoder->to(M.device);
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    auto activation = [&](const torch::Tensor& x) { return unitActivation(unitFeatures(M, (x - mean) / std, unit), unit); };

    DreamResult r;
    r.unit = p.unit;
    r.layer = M.layers[size_t(unit.layer)].name;
    r.channel = unit.channel;
    r.classUnit = unit.classUnit;
    r.param = parametrisationName(DreamParametrisation::Generator);
    r.learningRate = rs.learningRate;
    torch::Tensor lo, hi, z0;
    {  // Code range and the unit's activations on training data.
        torch::NoGradGuard noGrad;
        auto data = loadFashionMnist(true, p.dataImages);
        auto x = datasetPixels(data).to(M.device);
        auto codes = M.forwardTo((x - mean) / std, gen);
        lo = std::get<0>(codes.min(0, true));
        hi = std::get<0>(codes.max(0, true));
        z0 = codes.mean(0, true);
        auto acts = activation(x);
        r.trainMax = acts.max().item<float>();
        r.trainMean = acts.mean().item<float>();
    }
    const auto start = Clock::now();
    auto rng = at::detail::createCPUGenerator(p.seed);  // its own: the result is a function of the seed alone
    auto range = (hi - lo).clamp_min(1e-6);
    // Optimise u = (z - lo) / range in [0,1]: one learning rate fits every code dimension.
    auto noise = at::randn(z0.sizes(), rng).to(z0.device());
    auto u = ((z0 - lo) / range + 0.01 * noise).clamp(0, 1).detach().set_requires_grad(true);
    torch::optim::Adam optim({u}, torch::optim::AdamOptions(rs.learningRate));
    auto generate = [&](const torch::Tensor& code) { return decoder->forward(lo + code * range); };
    {
        torch::NoGradGuard noGrad;
        r.startActivation = activation(generate(u)).item<float>();
    }
    ThreadTuner tuner;
    for (int it = 0; it < rs.iterations; ++it) {
        if (cancel && cancel->load()) {
            r.cancelled = true;
            break;
        }
        optim.zero_grad();
        auto img = generate(u);
        auto a = activation(img).sum();
        (-a).backward();
        optim.step();
        {
            torch::NoGradGuard noGrad;
            u.clamp_(0, 1);  // DGN-AM: the code stays in the range seen on data
        }
        const float value = a.item<float>();
        if (!std::isfinite(value)) throw Error("preferred input of '" + p.unit + "': the activation became NaN");
        r.history.push_back(value);
        tuner.step();
        if (progress) {
            DreamProgress ev;
            ev.iteration = it + 1, ev.iterations = rs.iterations, ev.activation = value;
            if ((it + 1) % 10 == 0 || it + 1 == rs.iterations) ev.preview = tensorToImage(img.detach()[0].cpu());
            progress(ev);
        }
    }
    torch::NoGradGuard noGrad;
    auto img = generate(u);
    r.activation = activation(img).item<float>();
    r.image = tensorToImage(img[0]);
    r.iterations = int(r.history.size());
    r.seconds = since(start);
    return r;
}

}  // namespace

std::vector<std::string> layerUnits(const Model& classifier, int layerIndex, int limit) {
    if (layerIndex < 0 || layerIndex >= int(classifier.layers().size())) throw Error("no layer " + std::to_string(layerIndex));
    const auto& l = classifier.layers()[size_t(layerIndex)];
    if (l.shape.empty()) throw Error("layer '" + l.name + "' has no channels");
    const bool output = layerIndex == int(classifier.layers().size()) - 1 && classifier.classCount() > 0;
    const int count = output ? classifier.classCount() : int(l.shape[0]);  // the classes: the network's output (dream_unit.cpp)
    const int n = limit > 0 ? std::min(limit, count) : count;
    std::vector<std::string> units;
    for (int c = 0; c < n; ++c) units.push_back(output ? std::to_string(c) : l.name + ":" + std::to_string(c));
    return units;
}

std::vector<DreamResult> dreamUnits(Model& classifier, const DreamParams& p, const std::vector<std::string>& names, int batch,
                                    const DreamProgressFn& progress, const std::atomic<bool>* cancel) {
    Resolved rs = resolve(p, classifier);
    if (rs.param == DreamParametrisation::Generator) throw Error("the generator prior renders one unit at a time (dream)");
    if (names.empty()) throw Error("no units to render");
    if (p.renderSide < 0 || p.renderSide > 2048) throw Error("the render side must be 0 (the model's) to 2048");
    std::vector<DreamUnit> units;
    for (const auto& n : names) {
        units.push_back(parseDreamUnit(classifier, n));
        if (units.back().layer != units.front().layer || units.back().classUnit != units.front().classUnit)
            throw Error("units rendered together must be of one layer, all classes or none ('" + names.front() + "', '" + n + "')");
    }
    // By default the feature prior is for class images: on channels it makes every unit of a tap the same photographic
    // texture (SqueezeNet fire4 at 112 px: 16 channels of one orange pattern, their activations a third to a half).
    if (!p.featurePrior && !units.front().classUnit) rs.featurePrior = 0.f;
    batch = std::max(1, batch);
    std::optional<FeaturePrior> prior;
    if (rs.featurePrior > 0) {
        const int side = p.renderSide;
        prior = makeFeaturePrior(classifier, p, units.front(), side > 0 ? side : classifier.input().height,
                                 side > 0 ? side : classifier.input().width);
    }
    std::vector<DreamResult> out;
    for (size_t first = 0; first < names.size(); first += size_t(batch)) {
        const size_t end = std::min(names.size(), first + size_t(batch));
        std::vector<std::string> chunkNames(names.begin() + long(first), names.begin() + long(end));
        std::vector<DreamUnit> chunkUnits(units.begin() + long(first), units.begin() + long(end));
        auto done = runChunk(classifier, p, rs, chunkNames, chunkUnits, prior ? &*prior : nullptr, int(first),
                             int(names.size()), progress, cancel);
        const bool cancelled = !done.empty() && done.front().cancelled;
        if (cancelled && !out.empty()) break;  // what finished stays; a cut chunk is dropped
        if (progress && !cancelled) {
            DreamProgress ev;
            ev.iteration = ev.iterations = done.front().iterations;
            ev.firstUnit = int(first), ev.unitCount = int(end - first), ev.totalUnits = int(names.size());
            for (const auto& r : done) ev.finished.push_back(std::make_shared<const DreamResult>(r));
            progress(ev);
        }
        for (auto& r : done) out.push_back(std::move(r));
        if (cancelled) break;
    }
    return out;
}

DreamResult dream(Model& classifier, const DreamParams& p, const DreamProgressFn& progress, const std::atomic<bool>* cancel) {
    const Resolved rs = resolve(p, classifier);
    if (rs.param == DreamParametrisation::Generator) return dreamGenerator(classifier, p, rs, progress, cancel);
    auto results = dreamUnits(classifier, p, {p.unit}, 1, [&](const DreamProgress& e) {
        if (progress && e.finished.empty()) progress(e);
    }, cancel);
    return std::move(results.front());
}

}  // namespace preimage
