#include "inference/learned/hypernet.h"
#include "inference/json_text.h"

#include "inference/model/model_impl.h"
#include "inference/learned/training_util.h"

#include <torch/nn.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace preimage {

const char* variantName(DecoderVariant v) {
    return v == DecoderVariant::Plain ? "plain" : v == DecoderVariant::Concat ? "concat" : "hypernet";
}

namespace {

int64_t widthAt(int64_t side) { return std::max<int64_t>(16, 64 * 7 / std::max<int64_t>(1, side)); }

// One module for the three variants; the layout follows decoderArchitecture (inverter.cpp).
struct HyperDecoderImpl : torch::nn::Module {
    HyperDecoderImpl(const std::vector<int64_t>& shape, const InputSpec& image, int codeDims, DecoderVariant variant)
        : variant(variant), codeDims(variant == DecoderVariant::Plain ? 0 : codeDims), outSide(image.height) {
        if (variant != DecoderVariant::Plain) {
            // Extra encoder n = e(x): two strided convs and a linear layer to a few dims.
            encoder = register_module("encoder", torch::nn::Sequential(
                torch::nn::Conv2d(torch::nn::Conv2dOptions(image.channels, 16, 4).stride(2).padding(1)), torch::nn::ReLU(),
                torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 4).stride(2).padding(1)), torch::nn::ReLU(),
                torch::nn::Flatten(), torch::nn::Linear(32 * (image.height / 4) * (image.width / 4), codeDims)));
        }
        const int64_t extra = variant == DecoderVariant::Concat ? codeDims : 0;
        if (shape.size() == 1) {
            side = std::max<int64_t>(1, image.height / 4);
            channels = widthAt(side);
            fc = register_module("fc", torch::nn::Linear(shape[0] + extra, channels * side * side));
        } else {
            side = shape[1];
            channels = shape[0] + extra;
        }
        int64_t in = channels, s = side;
        for (int i = 0;; ++i) {
            const int64_t out = widthAt(s);
            convs->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
            widths.push_back(out);
            in = out;
            if (s >= outSide) break;
            s *= 2;
        }
        register_module("convs", convs);
        final = register_module("final", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, image.channels, 3).padding(1)));
        if (variant == DecoderVariant::HyperNet) {
            int64_t total = 0;
            for (auto w : widths) total += 2 * w;
            control = register_module("control", torch::nn::Sequential(torch::nn::Linear(codeDims, 64), torch::nn::ReLU(),
                                                                       torch::nn::Linear(64, total)));
            // Start as the identity modulation: the control network's output layer is zero.
            auto last = control[2]->as<torch::nn::Linear>();
            torch::NoGradGuard g;
            last->weight.zero_();
            last->bias.zero_();
        }
    }

    torch::Tensor forward(torch::Tensor z, const torch::Tensor& x) {
        torch::Tensor n;
        if (encoder) n = encoder->forward(x);
        if (variant == DecoderVariant::Concat) {
            z = z.dim() == 2 ? torch::cat({z, n}, 1)
                             : torch::cat({z, n.view({n.size(0), -1, 1, 1}).expand({-1, -1, z.size(2), z.size(3)})}, 1);
        }
        torch::Tensor h = fc ? torch::relu(fc->forward(z)).view({z.size(0), channels, side, side}) : z;
        torch::Tensor film = control ? control->forward(n) : torch::Tensor();
        int64_t offset = 0;
        for (size_t i = 0; i < convs->size(); ++i) {
            if (i > 0) h = torch::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
            h = convs[i]->as<torch::nn::Conv2d>()->forward(h);
            if (film.defined()) {
                const int64_t w = widths[i];
                auto gamma = film.slice(1, offset, offset + w).view({-1, w, 1, 1});
                auto beta = film.slice(1, offset + w, offset + 2 * w).view({-1, w, 1, 1});
                h = h * (1 + gamma) + beta;
                offset += 2 * w;
            }
            h = torch::relu(h);
        }
        return torch::sigmoid(final->forward(h));
    }

    DecoderVariant variant;
    int codeDims;
    int64_t outSide, side = 0, channels = 0;
    std::vector<int64_t> widths;
    torch::nn::Sequential encoder{nullptr}, control{nullptr};
    torch::nn::Linear fc{nullptr};
    torch::nn::ModuleList convs;
    torch::nn::Conv2d final{nullptr};
};
TORCH_MODULE(HyperDecoder);

float testRmse(Model::Impl& M, HyperDecoder& net, int layer, const torch::Tensor& x, bool zeroZ) {
    torch::InferenceMode guard;
    net->eval();
    double se = 0;
    for (int64_t i = 0; i < x.size(0); i += 500) {
        auto xb = x.slice(0, i, i + 500);
        auto z = M.forwardTo((xb - M.input.mean[0]) / M.input.std[0], layer);
        if (zeroZ) z = torch::zeros_like(z);
        se += (net->forward(z, xb) - xb).pow(2).sum().item<double>();
    }
    return float(std::sqrt(se / double(x.numel())));
}

fs::path hyperDir(const Model::Impl& M) { return fs::path(M.directory) / "hypernet"; }

}  // namespace

HyperNetReport trainHyperNets(Model& classifier, const TrainHyperNetOptions& o, const TrainProgressFn& progress) {
    auto& M = classifier.impl();
    if (M.directory.empty() || M.input.channels != 1) throw Error("HyperNet decoders are trained for the default Fashion-MNIST models");
    const int layer = classifier.layerIndex(o.layer);
    ensureDirectory(o.outDir);
    auto train = loadFashionMnist(true, o.trainLimit);
    auto x = datasetPixels(train);
    auto xTest = datasetPixels(loadFashionMnist(false, o.testLimit));
    const auto& shape = M.layers[size_t(layer)].shape;
    HyperNetReport report;
    const auto start = std::chrono::steady_clock::now();
    nlohmann::json variants;
    for (DecoderVariant v : {DecoderVariant::Plain, DecoderVariant::Concat, DecoderVariant::HyperNet}) {
        torch::manual_seed(o.seed);
        HyperDecoder net(shape, M.input, o.codeDims, v);
        net->train();
        torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(o.learningRate));
        auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
        const int steps = int((x.size(0) + o.batch - 1) / o.batch);
        int step = 0;
        float first = 0, last = 0;
        for (int epoch = 1; epoch <= o.epochs; ++epoch) {
            auto perm = at::randperm(x.size(0), gen, torch::kLong);
            double sum = 0;
            for (int s = 0; s < steps; ++s, ++step) {
                auto xb = x.index_select(0, perm.slice(0, int64_t(s) * o.batch, int64_t(s + 1) * o.batch));
                torch::Tensor z;
                {
                    torch::NoGradGuard g;
                    z = M.forwardTo((xb - M.input.mean[0]) / M.input.std[0], layer);
                }
                setCosineRate(optim, o.learningRate, step, steps * o.epochs);
                optim.zero_grad();
                auto loss = torch::mse_loss(net->forward(z, xb), xb);
                loss.backward();
                optim.step();
                const float l = loss.item<float>();
                if (step == 0) first = l;
                sum += l;
                if (progress) progress({epoch, o.epochs, s + 1, steps, float(sum / (s + 1)), 0.f, -1.f});
            }
            last = float(sum / steps);
        }
        const float rmse = testRmse(M, net, layer, xTest, false);
        nlohmann::json entry{{"test_pixel_rmse", rmse}, {"weights", o.layer + "." + variantName(v) + ".pt"}};
        if (v == DecoderVariant::Plain) report.plainRmse = rmse;
        if (v == DecoderVariant::Concat) report.concatRmse = rmse;
        if (v == DecoderVariant::HyperNet) {
            report.hyperRmse = rmse;
            report.hyperZeroZRmse = testRmse(M, net, layer, xTest, true);
            report.firstLoss = first;
            report.lastLoss = last;
            entry["test_pixel_rmse_zero_features"] = report.hyperZeroZRmse;
        }
        const fs::path weights = fs::path(o.outDir) / (o.layer + "." + variantName(v) + ".pt");
        saveAtomically(net, weights);
        variants[variantName(v)] = entry;
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json m{{"kind", "HyperNet decoder comparison"},
                     {"classifier", M.name},
                     {"layer", o.layer},
                     {"feature_shape", shape},
                     {"code_dims", o.codeDims},
                     {"variants", variants},
                     {"training",
                      {{"command", o.command},
                       {"seed", o.seed},
                       {"epochs", o.epochs},
                       {"batch", o.batch},
                       {"loss", "pixel MSE in [0,1]"},
                       {"train_images", train.count},
                       {"seconds", std::round(report.seconds)}}}};
    writeTextAtomically(fs::path(o.outDir) / (o.layer + ".json"), jsonText(m));
    return report;
}

bool hasHyperNet(const Model& classifier, const std::string& layer) {
    return !classifier.directory().empty() && fs::exists(fs::path(classifier.directory()) / "hypernet" / (layer + ".json"));
}

namespace {

HyperDecoder loadVariant(Model::Impl& M, const std::string& layerName, int layer, DecoderVariant v) {
    std::ifstream in(hyperDir(M) / (layerName + ".json"));
    if (!in) throw Error("no HyperNet decoders for layer '" + layerName + "' (preimage train hypernet --layer " + layerName + ")");
    const auto manifest = nlohmann::json::parse(in);
    HyperDecoder net(M.layers[size_t(layer)].shape, M.input, manifest.value("code_dims", 4), v);
    torch::load(net, (hyperDir(M) / (layerName + "." + variantName(v) + ".pt")).string());
    net->eval();
    net->to(M.device);
    return net;
}

}  // namespace

HyperNetReport evaluateHyperNets(Model& classifier, const std::string& layerName, const Dataset& test,
                                 const std::function<void(int, int, const std::string&)>& progress) {
    auto step = [&](int k, const char* what) {
        if (progress) progress(k, 4, what);
    };
    auto& M = classifier.impl();
    const int layer = classifier.layerIndex(layerName);
    auto x = datasetPixels(test);
    HyperNetReport r;
    auto plain = loadVariant(M, layerName, layer, DecoderVariant::Plain);
    auto concat = loadVariant(M, layerName, layer, DecoderVariant::Concat);
    auto hyper = loadVariant(M, layerName, layer, DecoderVariant::HyperNet);
    r.plainRmse = testRmse(M, plain, layer, x, false);
    step(1, "plain decoder");
    r.concatRmse = testRmse(M, concat, layer, x, false);
    step(2, "concat decoder");
    r.hyperRmse = testRmse(M, hyper, layer, x, false);
    step(3, "HyperNet decoder");
    r.hyperZeroZRmse = testRmse(M, hyper, layer, x, true);
    step(4, "HyperNet, z = 0");
    return r;
}

HyperNetPreimage hyperNetPreimage(Model& classifier, const std::string& layerName, DecoderVariant v, const ImageF& image,
                                  bool zeroFeatures) {
    auto& M = classifier.impl();
    const int layer = classifier.layerIndex(layerName);
    auto net = loadVariant(M, layerName, layer, v);
    torch::InferenceMode guard;
    const ImageF target = classifier.prepare(image);
    auto x = imageToTensor(target).unsqueeze(0).to(M.device);
    auto z = M.forwardTo((x - M.input.mean[0]) / M.input.std[0], layer);
    auto d = net->forward(zeroFeatures ? torch::zeros_like(z) : z, x);
    auto z2 = M.forwardTo((d - M.input.mean[0]) / M.input.std[0], layer);
    HyperNetPreimage out;
    out.featureError = ((z2 - z).norm() / z.norm().clamp_min(1e-12)).item<float>();
    out.image = tensorToImage(d[0]);
    out.pixelRmse = (d - x).pow(2).mean().sqrt().item<float>();
    return out;
}

}  // namespace preimage
