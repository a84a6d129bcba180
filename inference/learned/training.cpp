// Training the default classifier on Fashion-MNIST.
#include "inference/learned/training.h"
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
#include <ctime>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace preimage {
namespace {

// Fashion-MNIST statistics of the training pixels in [0,1].
constexpr float kMean = 0.2860f, kStd = 0.3530f;

float accuracy(torch::nn::Sequential& net, const torch::Tensor& x, const torch::Tensor& y, int batch) {
    torch::InferenceMode guard;
    net->eval();
    int64_t correct = 0;
    for (int64_t i = 0; i < x.size(0); i += batch) {
        auto out = net->forward(x.slice(0, i, i + batch));
        correct += out.argmax(1).eq(y.slice(0, i, i + batch)).sum().item<int64_t>();
    }
    net->train();
    return float(double(correct) / double(x.size(0)));
}

// The training forward pass of a plain chain whose dropout masks are drawn from `gen` for the whole global
// batch (`rows`) and sliced to this rank's rows [first, last): every rank draws the same masks, and the ranks'
// slices together see the masks one process would, so data-parallel training equals one process's.
torch::Tensor forwardWithDropout(torch::nn::Sequential& net, torch::Tensor x, at::Generator& gen, int64_t rows, int64_t first,
                                 int64_t last) {
    for (auto& layer : *net) {
        if (auto* d = layer.ptr()->as<torch::nn::DropoutImpl>()) {
            const double p = d->options.p();
            auto shape = x.sizes().vec();
            shape[0] = rows;
            auto keep = at::bernoulli(torch::full(shape, 1.0 - p), gen).slice(0, first, last);
            x = x * keep / (1.0 - p);
        } else {
            x = layer.forward(x);
        }
    }
    return x;
}

std::string today() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
    return buf;
}

}  // namespace

ClassifierMetrics trainClassifier(const TrainClassifierOptions& o, const TrainProgressFn& progress, dist::Group* group) {
    if (o.outDir.empty()) throw Error("train classifier: --out is required");
    if (o.epochs < 1 || o.batch < 1 || !(o.learningRate > 0)) throw Error("train classifier: bad epochs/batch/lr");
    ensureDirectory(o.outDir);

    if (!o.train != !o.test) throw Error("train classifier: give both the training and the test data, or neither");
    const bool fashion = !o.train;
    const Dataset train = fashion ? loadFashionMnist(true, o.trainLimit, o.fashionDir) : *o.train;
    const Dataset test = fashion ? loadFashionMnist(false, o.testLimit, o.fashionDir) : *o.test;
    if (train.count < 1 || test.count < 1) throw Error("train classifier: no training or no test images");
    if (test.channels != train.channels || test.width != train.width || test.height != train.height || train.width != train.height ||
        train.width % 4 != 0)
        throw Error("train classifier: the images must be square, of one size (a multiple of 4) and one channel count");
    // Per-channel statistics of the training pixels (Fashion-MNIST's, as published, for the default model).
    std::vector<float> mean, stdev;
    {
        auto x = datasetPixels(train);
        for (int c = 0; c < train.channels; ++c) {
            mean.push_back(fashion ? kMean : x.select(1, c).mean().item<float>());
            stdev.push_back(fashion ? kStd : std::max(1e-3f, x.select(1, c).std().item<float>()));
        }
    }
    auto toTensor = [&](const Dataset& d) {
        return (datasetPixels(d) - torch::tensor(mean).view({1, -1, 1, 1})) / torch::tensor(stdev).view({1, -1, 1, 1});
    };
    auto xTrain = toTensor(train), yTrain = datasetLabels(train);
    auto xTest = toTensor(test), yTest = datasetLabels(test);
    const float imageNorm = xTrain.flatten(1).norm(2, 1).mean().item<float>();

    torch::manual_seed(o.seed);
    auto arch = classifierArchitecture(train.channels, train.width, std::max(2, train.classes));
    auto net = buildSequential(arch);
    net->train();
    broadcastParameters(net->parameters(), group);
    torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(o.learningRate));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);

    ClassifierMetrics metrics;
    const auto start = std::chrono::steady_clock::now();
    const int64_t n = xTrain.size(0);
    const int steps = int((n + o.batch - 1) / o.batch);
    const int totalSteps = steps * o.epochs;
    int globalStep = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        auto perm = at::randperm(n, gen, torch::kLong);
        double lossSum = 0;
        auto epochStart = std::chrono::steady_clock::now();
        for (int s = 0; s < steps; ++s, ++globalStep) {
            // The global batch and its flips are drawn alike on every rank; each rank takes its slice of it.
            auto idx = perm.slice(0, int64_t(s) * o.batch, int64_t(s + 1) * o.batch);
            // Augmentation: horizontal flips (garments are left-right symmetric classes).
            auto flip = at::rand({idx.size(0), 1, 1, 1}, gen) < 0.5;
            const int64_t rows = idx.size(0);
            const auto [first, last] = rankSlice(rows, group);
            idx = idx.slice(0, first, last);
            auto x = xTrain.index_select(0, idx);
            auto y = yTrain.index_select(0, idx);
            x = torch::where(flip.slice(0, first, last), x.flip({3}), x);
            // Cosine learning-rate decay over the whole run.
            setCosineRate(optim, o.learningRate, globalStep, totalSteps);
            optim.zero_grad();
            // The summed loss's gradients, added over the ranks, divided by the batch's count.
            auto loss = torch::nn::functional::cross_entropy(forwardWithDropout(net, x, gen, rows, first, last), y,
                                                             torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
            loss.backward();
            std::vector<float> extra{float(x.size(0)), loss.item<float>()};
            allReduceGradients(net->parameters(), group, extra);
            divideGradients(net->parameters(), extra[0]);
            optim.step();
            float l = extra[1] / extra[0];
            if (globalStep == 0) metrics.firstLoss = l;
            lossSum += l;
            if (progress) {
                double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
                progress({epoch, o.epochs, s + 1, steps, float(lossSum / (s + 1)),
                          el > 0 ? float(double(s + 1) * double(o.batch) / el) : 0.f, -1.f});
            }
        }
        metrics.lastLoss = float(lossSum / steps);
        metrics.testAccuracy = accuracy(net, xTest, yTest, 1000);
        if (progress) progress({epoch, o.epochs, steps, steps, metrics.lastLoss, 0.f, metrics.testAccuracy});
    }
    metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    net->eval();
    if (group && group->rank() != 0) return metrics;  // rank 0 writes the model
    fs::path out(o.outDir);
    saveAtomically(net, out / "weights.pt");

    nlohmann::json m;
    m["name"] = out.filename().string();
    m["kind"] = "classifier";
    m["description"] = o.description.empty() ? "CNN classifier for Fashion-MNIST: the embedded default model whose layers Preimage inverts"
                                             : o.description;
    m["architecture"] = arch;
    m["input"] = {{"width", train.width}, {"height", train.height}, {"channels", train.channels}, {"mean", mean}, {"std", stdev},
                  {"image_norm", imageNorm}};
    m["classes"] = train.classNames;
    m["weights"] = "weights.pt";
    m["metrics"] = {{"test_accuracy", metrics.testAccuracy},
                    {"train_loss_last_epoch", metrics.lastLoss},
                    {"test_images", test.count}};
    m["training"] = {{"command", o.command},
                     {"data", (fashion ? std::string("Fashion-MNIST (Debian package dataset-fashion-mnist)") : o.data) + ", " +
                                  std::to_string(train.count) + " training images"},
                     {"seed", o.seed},
                     {"epochs", o.epochs},
                     {"batch", o.batch},
                     {"ranks", group ? group->size() : 1},
                     {"optimizer", "Adam, lr " + std::to_string(o.learningRate) + ", cosine decay"},
                     {"augmentation", "random horizontal flip"},
                     {"seconds", std::round(metrics.seconds)},
                     {"threads", at::get_num_threads()},
                     {"libtorch", TORCH_VERSION},
                     {"date", today()}};
    writeTextAtomically(out / "manifest.json", jsonText(m));
    return metrics;
}

float evaluateAccuracy(Model& model, const Dataset& data, int batch, const std::function<void(int, int)>& progress) {
    int64_t correct = 0;
    for (int i = 0; i < data.count; i += batch) {
        std::vector<ImageF> items;
        for (int k = i; k < std::min(data.count, i + batch); ++k) items.push_back(model.prepare(data.image(k)));
        auto rows = model.logits(items);
        for (size_t k = 0; k < rows.size(); ++k) {
            auto best = std::max_element(rows[k].begin(), rows[k].end()) - rows[k].begin();
            correct += best == data.labels[size_t(i) + k];
        }
        if (progress) progress(std::min(data.count, i + batch), data.count);
    }
    return data.count ? float(double(correct) / data.count) : 0.f;
}

}  // namespace preimage
