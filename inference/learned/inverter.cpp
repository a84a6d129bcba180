// Learned inverters: per-layer decoders trained on Fashion-MNIST (Dosovitskiy & Brox 2016).
#include "inference/learned/inverter.h"
#include "inference/runtime/distributed.h"
#include "inference/json_text.h"

#include "inference/model/model_impl.h"
#include "inference/learned/training_util.h"

#include <torch/nn.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>
#include <torch/version.h>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;

namespace preimage {

nlohmann::json decoderArchitecture(const std::vector<int64_t>& shape, const InputSpec& image) {
    using nlohmann::json;
    json layers = json::array();
    int n = 0;
    auto name = [&](const char* kind) { return std::string(kind) + std::to_string(++n); };
    // Width by resolution: 64 channels at 7x7, 32 at 14x14, 16 from 28x28 up (cost stays ~constant per level).
    auto width = [&](int64_t side) { return int64_t(std::max<int64_t>(16, 64 * 7 / std::max<int64_t>(1, side))); };
    int64_t channels, height, width2;
    auto fromVector = [&](int64_t features) {  // a vector: a linear map to a small grid
        height = width2 = std::max<int64_t>(1, std::min<int64_t>(7, image.height / 4));
        const int64_t c = width(height);
        layers.push_back({{"name", name("fc")}, {"type", "linear"}, {"in", features}, {"out", c * height * width2}});
        layers.push_back({{"name", name("relu")}, {"type", "relu"}});
        layers.push_back({{"name", "unflatten"}, {"type", "unflatten"}, {"shape", {c, height, width2}}});
        channels = c;
    };
    if (shape.size() == 3) {
        channels = shape[0], height = shape[1], width2 = shape[2];
    } else if (shape.size() == 1) {
        fromVector(shape[0]);
    } else if (shape.size() == 2) {
        // Tokens [N, D]: a square grid of patches (after a class token, if any) is a map; else a vector.
        const int64_t tokens = shape[0], dims = shape[1];
        int64_t side = int64_t(std::lround(std::sqrt(double(tokens))));
        int64_t drop = 0;
        if (side * side != tokens) {
            side = int64_t(std::lround(std::sqrt(double(tokens - 1))));
            drop = 1;
        }
        if (side > 0 && side * side + drop == tokens) {
            layers.push_back({{"name", "tokens"}, {"type", "tokens_to_map"}, {"drop", drop}, {"side", side}});
            channels = dims, height = width2 = side;
        } else {
            layers.push_back({{"name", "flatten"}, {"type", "flatten"}});
            fromVector(tokens * dims);
        }
    } else {
        throw Error("learned inverters need a feature map [C,H,W], tokens [N,D] or a vector [D]");
    }
    auto conv = [&](int64_t in, int64_t out) {
        layers.push_back({{"name", name("conv")}, {"type", "conv"}, {"in", in}, {"out", out}, {"kernel", 3}, {"pad", 1}});
    };
    conv(channels, width(height));
    layers.push_back({{"name", name("relu")}, {"type", "relu"}});
    channels = width(height);
    while (height < image.height) {
        layers.push_back({{"name", name("up")}, {"type", "upsample"}, {"scale", 2}});
        height *= 2, width2 *= 2;
        conv(channels, width(height));
        layers.push_back({{"name", name("relu")}, {"type", "relu"}});
        channels = width(height);
    }
    if (height != image.height || width2 != image.width)  // e.g. 7 -> 224 for 227 px, or a non-square map
        layers.push_back({{"name", "resize"}, {"type", "resize"}, {"height", image.height}, {"width", image.width}});
    conv(channels, image.channels);
    layers.push_back({{"name", "out"}, {"type", "sigmoid"}});
    return layers;
}

torch::nn::Sequential loadDecoder(const std::string& directory, const std::string& layer) {
    const fs::path json = fs::path(directory) / (layer + ".json"), weights = fs::path(directory) / (layer + ".pt");
    std::ifstream in(json);
    if (!in) throw Error("no learned inverter for layer '" + layer + "' in " + directory);
    auto manifest = nlohmann::json::parse(in);
    auto net = buildSequential(manifest.at("architecture"));
    torch::load(net, weights.string());
    net->eval();
    for (auto& p : net->parameters()) p.set_requires_grad(false);
    return net;
}

namespace {

fs::path inverterDir(const Model::Impl& m) { return fs::path(m.inverterDirectory); }

// The summed loss of a batch, backpropagated (the decoder's gradients then hold the sum over its images): per
// image the pixel MSE of the decoded image, plus `featureWeight` x the relative squared feature error
// ||Phi(dec(z)) - z||^2 / ||z||^2 (the model's weights are frozen: its gradient reaches the decoder only).
// `normalise` maps [0,1] images to the model's input. Returns the summed loss.
double backwardSum(Model::Impl& M, torch::nn::Sequential& net, const torch::Tensor& images,
                   const std::function<torch::Tensor(const torch::Tensor&)>& normalise, int layer, double featureWeight) {
    torch::Tensor z;
    {
        torch::NoGradGuard noGrad;
        z = M.forwardTo(normalise(images), layer);
    }
    auto decoded = net->forward(z);
    auto loss = (decoded - images).pow(2).flatten(1).mean(1).sum();
    if (featureWeight > 0) {
        auto z2 = M.forwardTo(normalise(decoded), layer);
        auto relative = (z2 - z).flatten(1).pow(2).sum(1) / z.flatten(1).pow(2).sum(1).clamp_min(1e-12);
        loss = loss + featureWeight * relative.sum();
    }
    loss.backward();
    return loss.item<double>();
}

// The feature loss is ramped in over the first half of training: the pixel loss shapes the decoder first (a
// full weight from the first step sends the decoder to images the layer maps close to z but that look like
// nothing).
double rampedFeatureWeight(float weight, int step, int totalSteps) {
    return weight * std::min(1.0, 2.0 * step / std::max(1, totalSteps));
}

// One training step of a decoder: the gradients of the batch's summed loss divided by its image count, Adam at
// the cosine-decayed rate. In a distributed job (`group`) `images` is this rank's slice of the global batch
// (possibly undefined: none), and the gradients, the count and the loss are added over the ranks in one
// all-reduce of a flat buffer before the division, so every rank takes the step one process would. Returns
// the batch's mean loss and sets `count` to its images (0: nothing readable on any rank; no step taken).
float trainStep(Model::Impl& M, torch::nn::Sequential& net, torch::optim::Adam& optim, const torch::Tensor& images,
                const std::function<torch::Tensor(const torch::Tensor&)>& normalise, int layer, double rate, int step,
                int totalSteps, double featureWeight, dist::Group* group, double& count) {
    setCosineRate(optim, rate, step, totalSteps);
    optim.zero_grad();
    const double n = images.defined() ? double(images.size(0)) : 0.0;
    double sum = n > 0 ? backwardSum(M, net, images, normalise, layer, featureWeight) : 0.0;
    auto params = net->parameters();
    std::vector<float> extra{float(n), float(sum)};
    allReduceGradients(params, group, extra);
    count = extra[0];
    sum = extra[1];
    if (count <= 0) return 0.f;
    divideGradients(params, count);
    optim.step();
    return float(sum / count);
}



}  // namespace

// Model's learned-inverter methods (engine.h) live here, beside the decoders they load and cache.
bool Model::hasLearnedInverter(int layerIndex) const {
    if (m_impl->inverterDirectory.empty() || layerIndex < 0 || layerIndex >= int(m_impl->layers.size())) return false;
    const auto& name = m_impl->layers[size_t(layerIndex)].name;
    const fs::path json = inverterDir(*m_impl) / (name + ".json");
    if (!fs::exists(inverterDir(*m_impl) / (name + ".pt")) || !fs::exists(json)) return false;
    // A decoder trained for another input size (--size) or feature shape does not fit this model.
    std::ifstream in(json);
    const auto m = nlohmann::json::parse(in, nullptr, false);
    if (m.is_discarded()) return false;
    if (m.contains("feature_shape") && m["feature_shape"] != m_impl->layers[size_t(layerIndex)].shape) return false;
    if (m.contains("input") && (m["input"].value("height", 0) != m_impl->input.height ||
                                m["input"].value("width", 0) != m_impl->input.width ||
                                m["input"].value("channels", 0) != m_impl->input.channels))
        return false;
    return true;
}

torch::Tensor decodeLearned(Model::Impl& M, int layerIndex, const torch::Tensor& features) {
    auto it = M.decoders.find(layerIndex);
    if (it == M.decoders.end())
        it = M.decoders.emplace(layerIndex, loadDecoder(inverterDir(M).string(), M.layers[size_t(layerIndex)].name)).first;
    it->second->to(M.device);
    torch::NoGradGuard noGrad;
    return it->second->forward(features);
}

torch::Tensor normalisedInput(const Model::Impl& M, const torch::Tensor& pixels) {
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(pixels.device());
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(pixels.device());
    return (pixels - mean) / std;
}

Model::LearnedPreimage Model::learnedPreimage(const ImageF& image, int layerIndex) {
    auto& M = *m_impl;
    if (!hasLearnedInverter(layerIndex)) throw Error("no learned inverter for this layer");
    torch::InferenceMode guard;
    const ImageF target = prepare(image);
    auto x0 = M.toInput({target});
    auto z = M.forwardTo(x0, layerIndex);
    auto decoded = decodeLearned(M, layerIndex, z);  // [1,C,H,W] in [0,1]
    auto z2 = M.forwardTo(normalisedInput(M, decoded), layerIndex);
    LearnedPreimage out;
    out.image = tensorToImage(decoded[0]);
    out.featureError = ((z2 - z).norm() / z.norm().clamp_min(1e-12)).item<float>();
    out.pixelRmse = (decoded[0].cpu() - imageToTensor(target)).pow(2).mean().sqrt().item<float>();
    return out;
}

namespace {

// Held-out sums of one batch x [B,C,H,W] in [0,1]: squared pixel error, values, relative feature error, images.
struct EvalSums {
    double squaredError = 0, values = 0, featureError = 0, images = 0;
    InverterMetrics metrics() const {
        InverterMetrics m;
        m.testRmse = float(std::sqrt(squaredError / values));
        m.testFeatureError = float(featureError / images);
        return m;
    }
};

void addBatch(Model::Impl& M, torch::nn::Sequential& decoder, int layer, const torch::Tensor& x, const torch::Tensor& mean,
              const torch::Tensor& std, EvalSums& sums) {
    auto z = M.forwardTo((x - mean) / std, layer);
    auto d = decoder->forward(z);
    sums.squaredError += (d - x).pow(2).sum().item<double>();
    sums.values += double(x.numel());
    auto z2 = M.forwardTo((d - mean) / std, layer);
    sums.featureError += ((z2 - z).flatten(1).norm(2, 1) / z.flatten(1).norm(2, 1).clamp_min(1e-12)).sum().item<double>();
    sums.images += double(x.size(0));
}

// A dataset in memory as a stream (Fashion-MNIST for the default models): the one training loop below takes it like
// a folder. Each epoch's order is at::randperm from one generator seeded once and advanced epoch by epoch, the
// order the committed default decoders were trained in.
class DatasetStream : public ImageStream {
public:
    explicit DatasetStream(const Dataset& data) : m_data(data) {}
    int size() const override { return m_data.count; }
    void start(uint64_t seed, int epoch, bool shuffle, int batch, int rank, int ranks) override {
        if (ranks != 1 || rank != 0) throw Error("Fashion-MNIST in memory is trained in one process");
        if (shuffle) {
            auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
            for (int e = 1; e <= epoch; ++e) m_order = at::randperm(m_data.count, gen, torch::kLong);
        } else {
            m_order = torch::arange(m_data.count, torch::kLong);
        }
        m_batch = batch;
        m_next = 0;
    }
    bool next(std::vector<ImageF>& prepared) override {
        prepared.clear();
        if (m_next >= m_data.count) return false;
        const int end = std::min(m_data.count, m_next + m_batch);
        const int64_t* order = m_order.data_ptr<int64_t>();
        for (int k = m_next; k < end; ++k) prepared.push_back(m_data.image(int(order[k])));
        m_next = end;
        return true;
    }

private:
    const Dataset& m_data;
    torch::Tensor m_order;
    int m_batch = 1, m_next = 0;
};

}  // namespace

InverterMetrics evaluateInverter(Model& classifier, int layerIndex, const Dataset& test) {
    DatasetStream stream(test);
    return evaluateInverter(classifier, classifier.inverterDirectory(), layerIndex, stream);
}

InverterMetrics trainInverter(Model& classifier, const TrainInverterOptions& o, const TrainProgressFn& progress) {
    auto& M = classifier.impl();
    if (M.directory.empty() || M.input.channels != 1 || M.input.width != 28)
        throw Error("learned inverters are trained for the default Fashion-MNIST models");
    const auto train = loadFashionMnist(true, o.trainLimit);
    const auto test = loadFashionMnist(false, o.testLimit);
    DatasetStream trainStream(train), testStream(test);
    return trainInverter(classifier, o, trainStream, testStream, false, progress);
}

namespace {

torch::Tensor stackImages(const std::vector<ImageF>& images, const torch::Device& device) {
    std::vector<torch::Tensor> xs;
    for (const auto& im : images) xs.push_back(imageToTensor(im));
    return torch::stack(xs).to(device);
}

// Held-out metrics over a stream; in a distributed job each rank takes its slices and the sums are added.
InverterMetrics evaluateOn(Model::Impl& M, torch::nn::Sequential& decoder, int layer, ImageStream& data, int batch,
                           const torch::Tensor& meanImage, float* meanImageRmse, int* count, dist::Group* group = nullptr) {
    torch::InferenceMode guard;
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    EvalSums sums;
    double meanImageError = 0;
    data.start(0, 0, false, batch, group ? group->rank() : 0, group ? group->size() : 1);
    std::vector<ImageF> images;
    while (data.next(images)) {
        if (images.empty()) continue;
        auto x = stackImages(images, M.device);
        addBatch(M, decoder, layer, x, mean, std, sums);
        if (meanImage.defined()) meanImageError += (meanImage.to(M.device).unsqueeze(0) - x).pow(2).sum().item<double>();
    }
    double all[5] = {sums.squaredError, sums.values, sums.featureError, sums.images, meanImageError};
    if (group) group->allReduceSum(all, 5);
    sums = {all[0], all[1], all[2], all[3]};
    if (sums.images == 0) throw Error("no readable images to evaluate the inverter on");
    InverterMetrics m = sums.metrics();
    if (meanImageRmse) *meanImageRmse = float(std::sqrt(all[4] / sums.values));
    if (count) *count = int(sums.images);
    return m;
}

}  // namespace

StreamInverterMetrics trainInverter(Model& model, const TrainInverterOptions& o, ImageStream& train, ImageStream& test,
                                    bool resume, const TrainProgressFn& progress, dist::Group* group) {
    auto& M = model.impl();
    const int layer = model.layerIndex(o.layer);
    if (o.epochs < 1 || o.batch < 1) throw Error("train inverter: --epochs and --batch must be at least 1");
    if (train.size() < 1) throw Error("train inverter: no training images");
    ensureDirectory(o.outDir);
    const std::string name = M.layers[size_t(layer)].name;
    const fs::path out(o.outDir);
    const fs::path ckptNet = out / (name + ".ckpt.pt"), ckptOpt = out / (name + ".ckpt.optim.pt"),
                   ckptState = out / (name + ".ckpt.json");
    const auto arch = decoderArchitecture(M.layers[size_t(layer)].shape, M.input);
    torch::manual_seed(o.seed);
    auto net = buildSequential(arch);
    net->to(M.device);
    torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(o.learningRate));
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    StreamInverterMetrics metrics;
    int globalStep = 0;
    torch::Tensor meanImage;  // the last complete epoch's mean training image
    const bool writer = !group || group->rank() == 0;  // checkpoints and the decoder: rank 0's
    bool haveCheckpoint = resume && fs::exists(ckptState);
    if (group && resume) {
        double seen = haveCheckpoint ? 1.0 : 0.0;
        group->allReduceSum(&seen, 1);
        if (seen > 0 && seen < group->size())
            throw Error("--resume: the checkpoint " + ckptState.string() + " is not visible to every rank (rank 0 writes it: " +
                        "resuming needs --out on a folder all ranks share)");
    }
    if (haveCheckpoint) {
        std::ifstream stateFile(ckptState);
        auto st = nlohmann::json::parse(stateFile);
        if (st.at("architecture") != arch || st.at("seed") != o.seed || st.at("batch") != o.batch ||
            st.value("feature_weight", 0.0) != double(o.featureWeight))
            throw Error("the checkpoint in " + o.outDir +
                        " is of another decoder, seed, batch size or feature weight; start without --resume");
        torch::load(net, ckptNet.string());
        torch::load(optim, ckptOpt.string());
        torch::serialize::InputArchive a;
        a.load_from(ckptNet.string() + ".mean");
        a.read("mean", meanImage);
        metrics.firstEpoch = int(st.at("epoch")) + 1;
        globalStep = int(st.at("step"));
        metrics.firstLoss = float(st.at("first_loss"));
    } else if (resume) {
        throw Error("--resume: no checkpoint for layer '" + name + "' in " + o.outDir);
    }
    broadcastParameters(net->parameters(), group);
    const int steps = (train.size() + o.batch - 1) / o.batch;
    const int64_t imageValues = int64_t(M.input.channels) * M.input.height * M.input.width;
    const auto start = std::chrono::steady_clock::now();
    std::vector<ImageF> images;
    auto normalise = [&](const torch::Tensor& t) { return (t - mean) / std; };
    for (int epoch = metrics.firstEpoch; epoch <= o.epochs; ++epoch) {
        net->train();
        train.start(o.seed, epoch, true, o.batch, group ? group->rank() : 0, group ? group->size() : 1);
        double sum = 0, seen = 0;
        int s = 0;
        torch::Tensor imageSum = torch::zeros({imageValues}, torch::kFloat64);  // for the mean-image baseline
        const auto epochStart = std::chrono::steady_clock::now();
        while (train.next(images)) {
            torch::Tensor x;
            if (!images.empty()) {
                x = stackImages(images, M.device);
                imageSum += x.sum(0).flatten().to(torch::kCPU, torch::kFloat64);
            }
            double count = 0;
            const float l = trainStep(M, net, optim, x, normalise, layer, o.learningRate, globalStep, steps * o.epochs,
                                      rampedFeatureWeight(o.featureWeight, globalStep, steps * o.epochs), group, count);
            ++globalStep;
            if (count <= 0) continue;  // every file of this batch unreadable
            if (s == 0 && epoch == 1) metrics.firstLoss = l;
            seen += count;
            sum += l;
            ++s;
            if (progress) {
                const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
                progress({epoch, o.epochs, s, steps, float(sum / s), el > 0 ? float(seen / el) : 0.f, -1.f});
            }
        }
        if (s == 0) throw Error("train inverter: no readable training images");
        if (group) group->allReduceSum(imageSum.data_ptr<double>(), size_t(imageValues));
        metrics.lastLoss = float(sum / s);
        metrics.trainImages = int(seen);
        meanImage = (imageSum / seen).to(torch::kFloat32).view({M.input.channels, M.input.height, M.input.width});
        if (!writer) continue;
        // The checkpoint: weights, optimiser and the epoch, each file replaced atomically, the state last.
        net->eval();
        saveAtomically(net, ckptNet);
        {
            saveAtomically(optim, ckptOpt);
            torch::serialize::OutputArchive a;
            a.write("mean", meanImage);
            saveAtomically(a, ckptNet.string() + ".mean");
        }
        writeTextAtomically(ckptState, jsonText({{"epoch", epoch}, {"step", globalStep}, {"first_loss", metrics.firstLoss},
                                                 {"seed", o.seed}, {"batch", o.batch}, {"feature_weight", o.featureWeight},
                                                 {"architecture", arch}}));
    }
    metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    net->eval();
    auto eval = evaluateOn(M, net, layer, test, o.batch, meanImage, &metrics.meanImageRmse, &metrics.testImages, group);
    metrics.testRmse = eval.testRmse;
    metrics.testFeatureError = eval.testFeatureError;
    if (!writer) return metrics;
    saveAtomically(net, out / (name + ".pt"));
    nlohmann::json m{{"kind", "learned inverter"},
                     {"classifier", M.name},
                     {"layer", name},
                     {"feature_shape", M.layers[size_t(layer)].shape},
                     {"input", {{"channels", M.input.channels}, {"height", M.input.height}, {"width", M.input.width}}},
                     {"architecture", arch},
                     {"training",
                      {{"command", o.command},
                       {"seed", o.seed},
                       {"epochs", o.epochs},
                       {"batch", o.batch},
                       {"loss", o.featureWeight > 0 ? "pixel MSE in [0,1] + " + std::to_string(o.featureWeight) +
                                                     " x relative squared feature error"
                                               : std::string("pixel MSE in [0,1]")},
                       {"feature_weight", o.featureWeight},
                       {"optimizer", "Adam, lr " + std::to_string(o.learningRate) + ", cosine decay"},
                       {"train_images", metrics.trainImages},
                       {"ranks", group ? group->size() : 1},
                       {"seconds", std::round(metrics.seconds)},
                       {"libtorch", TORCH_VERSION}}},
                     {"metrics",
                      {{"test_pixel_rmse", metrics.testRmse},
                       {"test_feature_error", metrics.testFeatureError},
                       {"mean_image_pixel_rmse", metrics.meanImageRmse},
                       {"test_images", metrics.testImages}}}};
    writeTextAtomically(out / (name + ".json"), jsonText(m));
    std::error_code ec;
    for (const auto& f : {ckptNet, ckptOpt, ckptState, fs::path(ckptNet.string() + ".mean")}) fs::remove(f, ec);
    if (fs::path(M.inverterDirectory) == out) M.decoders.clear();
    return metrics;
}

InverterMetrics evaluateInverter(Model& model, const std::string& directory, int layerIndex, ImageStream& data) {
    auto& M = model.impl();
    auto decoder = loadDecoder(directory, M.layers.at(size_t(layerIndex)).name);
    decoder->to(M.device);
    return evaluateOn(M, decoder, layerIndex, data, 64, {}, nullptr, nullptr);
}

}  // namespace preimage
