// `preimage train`, `preimage eval`, `preimage samples` and `preimage bench`.
#include "app/cli/cli.h"
#include "inference/data/convert.h"
#include "app/cli/report.h"
#include "app/cli/progress_bar.h"
#include "inference/data/image_set.h"
#include "inference/json_text.h"

#include "inference/learned/hypernet.h"
#include "inference/runtime/distributed.h"
#include "inference/learned/inverter.h"
#include "inference/learned/training.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <ostream>

namespace preimage::app {
namespace {


std::string datasetDir(const std::string& data) {
    if (data == "fashion-mnist") return "";
    if (std::filesystem::is_directory(data)) return data;
    throw Error("--data must be 'fashion-mnist' or a directory with its IDX files, got '" + data + "'");
}

}  // namespace

namespace {

// The options every trainer shares: --epochs --batch --lr --seed --limit, and the command line itself.
template <typename Options>
void readTrainingOptions(const Args& a, const std::vector<std::string>& argv, Options& o) {
    o.epochs = a.integer("epochs", o.epochs);
    o.batch = a.integer("batch", o.batch);
    o.learningRate = a.number("lr", o.learningRate);
    o.seed = uint64_t(std::max(0, a.integer("seed", int(o.seed))));
    o.trainLimit = a.limit("limit");
    o.command = commandLine(argv);
}

// Every 10th image of a dataset (positions 9, 19, ...) is held out for the test metrics; the rest trains.
void splitHeldOut(int count, std::vector<int>& train, std::vector<int>& test) {
    for (int i = 0; i < count; ++i) (i % 10 == 9 ? test : train).push_back(i);
}

// `preimage train inverter --model M --data D --layer L|all [--out DIR] [--epochs E] [--batch B] [--resume]`:
// any model, images streamed from a folder (or Fashion-MNIST), checkpointed every epoch.
int trainInvertersOnData(Model& loaded, const Args& a, const std::vector<std::string>& argv, std::ostream& out) {
    Model* model = &loaded;
    auto data = openImageSet(a.required("data"), a.limit("limit"), "train");
    std::vector<int> trainIdx, testIdx;
    splitHeldOut(data->size(), trainIdx, testIdx);
    if (testIdx.empty()) throw Error("train inverter: --data needs at least 10 images (every 10th is held out for testing)");
    ImageSetStream train(*data, trainIdx, *model), test(*data, testIdx, *model);
    std::vector<std::string> layers;
    if (a.required("layer") == "all")
        for (const auto& l : model->layers()) layers.push_back(l.name);
    else
        layers.push_back(model->layers()[size_t(model->layerIndex(a.str("layer")))].name);
    const std::string dir = a.str("out", model->inverterDirectory());
    for (const auto& layer : layers) {
        TrainInverterOptions o;
        o.layer = layer;
        o.outDir = dir;
        o.batch = 64;
        readTrainingOptions(a, argv, o);
        o.featureWeight = float(a.number("feature-weight", 0));
        if (!(o.featureWeight >= 0 && o.featureWeight <= 1000))
            throw Error("--feature-weight must be between 0 (pixel loss only) and 1000");
        std::unique_ptr<ProgressBar> bar;
        dist::Group* group = job();
        const bool lead = leadRank();
        checkGlobalBatch(o.batch);
        const double commBefore = group ? group->collectiveSeconds() : 0;
        const long collectivesBefore = group ? group->collectives() : 0;
        auto m = trainInverter(*model, o, train, test, a.has("resume"), [&](const TrainProgress& p) {
            if (!lead) return;
            if (!bar) bar = std::make_unique<ProgressBar>(layer + " " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
            bar->update(p.step, p.steps,
                        (o.featureWeight > 0 ? "loss " : "mse ") + fmt("%.4f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
        }, group);
        if (bar) bar->finish();
        if (!lead) continue;
        if (group) {
            // Time in collectives (the per-step all-reduce, mostly): communication and waiting for the slowest rank.
            const double comm = group->collectiveSeconds() - commBefore;
            const long calls = group->collectives() - collectivesBefore;
            out << layer << ": " << group->size() << " ranks; " << calls << " collectives took " << fmt("%.2f", comm) << " s ("
                << fmt("%.2f", 1000.0 * comm / std::max(1L, calls)) << " ms each, " << fmt("%.1f", 100.0 * comm / std::max(1e-9, m.seconds))
                << "% of the training time)\n";
        }
        if (m.firstEpoch > 1) out << layer << ": resumed at epoch " << m.firstEpoch << "\n";
        out << layer << ": held-out pixel RMSE " << fmt("%.4f", m.testRmse) << " (the mean training image: "
            << fmt("%.4f", m.meanImageRmse) << "), feature error " << fmt("%.4f", m.testFeatureError) << "; "
            << m.trainImages << " training and " << m.testImages << " held-out images, " << fmt("%.0f", m.seconds) << " s ("
            << fmt("%.0f", m.trainImages * (o.epochs - m.firstEpoch + 1) / std::max(1e-9, m.seconds)) << " img/s)"
            << std::endl;
    }
    const int skipped = train.skipped() + test.skipped();
    if (skipped) out << "skipped " << skipped << " unreadable file(s) (counted once per pass" << (job() ? ", on this rank" : "") << ")\n";
    if (leadRank()) out << "wrote " << dir << "\n";
    return 0;
}

// `preimage train inverter --model fashion --layer L|all [--out DIR] [--epochs E] [--seed S]`
int trainInverters(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first,
           unite({kModelOptions, {"layer", "out", "epochs", "batch", "lr", "seed", "limit", "data", "feature-weight"}}), {"gray", "resume"},
           "train inverter");
    auto model = Model::load(a.str("model", "fashion"), modelOptions(a));
    // A TorchScript file (no default model's folder), or any model with --data: the streaming trainer.
    if (a.has("data") || a.has("resume") || a.has("feature-weight") || model->directory().empty())
        return trainInvertersOnData(*model, a, argv, out);
    std::vector<std::string> layers;
    if (a.required("layer") == "all")
        for (const auto& l : model->layers()) layers.push_back(l.name);
    else
        layers.push_back(model->layers()[size_t(model->layerIndex(a.str("layer")))].name);
    for (const auto& layer : layers) {
        TrainInverterOptions o;
        o.layer = layer;
        o.outDir = a.str("out", model->directory() + "/inverters");
        readTrainingOptions(a, argv, o);
        std::unique_ptr<ProgressBar> bar;
        auto m = trainInverter(*model, o, [&](const TrainProgress& p) {
            if (!bar) bar = std::make_unique<ProgressBar>(layer + " " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
            bar->update(p.step, p.steps, "mse " + fmt("%.4f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
            if (p.step == p.steps) {
                bar->finish("mse " + fmt("%.4f", p.loss));
                bar.reset();
            }
        });
        out << layer << ": test pixel RMSE " << fmt("%.4f", m.testRmse) << ", feature error " << fmt("%.4f", m.testFeatureError)
            << " (" << fmt("%.0f", m.seconds) << " s)" << std::endl;
    }
    return 0;
}

void printHyperNet(std::ostream& out, const std::string& layer, const HyperNetReport& r) {
    out << "layer " << layer << ", test pixel RMSE:\n"
        << "  plain decoder from z          " << fmt("%.4f", r.plainRmse) << "\n"
        << "  plain decoder from [z, n]     " << fmt("%.4f", r.concatRmse) << "\n"
        << "  HyperNet (n modulates)        " << fmt("%.4f", r.hyperRmse) << "\n"
        << "  HyperNet, z set to zero       " << fmt("%.4f", r.hyperZeroZRmse) << "  (ablation)\n";
}

// `preimage train hypernet --model fashion --layer L [--code-dims 4] [--epochs E] [--seed S]`
int trainHyperNet(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"model", "layer", "out", "epochs", "batch", "lr", "seed", "limit", "code-dims", "threads"}, {},
           "train hypernet");
    auto model = Model::load(a.str("model", "fashion"));
    TrainHyperNetOptions o;
    o.layer = a.str("layer", o.layer);
    model->layerIndex(o.layer);  // validates the name
    o.outDir = a.str("out", model->directory() + "/hypernet");
    o.codeDims = a.integer("code-dims", o.codeDims);
    if (o.codeDims < 1 || o.codeDims > 64) throw Error("--code-dims must be between 1 and 64");
    readTrainingOptions(a, argv, o);
    ProgressBar bar("hypernet");
    int variant = 0, lastStep = 0;
    auto r = trainHyperNets(*model, o, [&](const TrainProgress& p) {
        if (p.step < lastStep) ++variant;
        lastStep = p.step;
        const long total = 3L * p.epochs * p.steps, done = (long(variant) * p.epochs + (p.epoch - 1)) * p.steps + p.step;
        bar.update(done, total, "mse " + fmt("%.4f", p.loss));
    });
    bar.finish();
    printHyperNet(out, o.layer, r);
    return 0;
}

}  // namespace

int cmdTrain(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    if (first >= argv.size()) throw Error("usage: preimage train classifier|inverter|hypernet|mixer ...");
    const std::string what = argv[first];
    if (what == "inverter") return trainInverters(argv, first + 1, out);
    if (what == "hypernet") return trainHyperNet(argv, first + 1, out);
    if (what == "mixer") return cmdTrainMixer(argv, first + 1, out);
    if (what != "classifier")
        throw Error("unknown model kind to train: '" + what + "' (expected: classifier, inverter, hypernet or mixer)");
    Args a(argv, first + 1, {"data", "out", "epochs", "batch", "lr", "seed", "limit", "size", "threads"}, {"gray"}, "train classifier");
    const std::string data = a.str("data", "fashion-mnist");
    TrainClassifierOptions o;
    o.outDir = a.required("out");
    readTrainingOptions(a, argv, o);
    // An image folder (ImageFolder layout: the first-level subfolder is the class), or Fashion-MNIST's IDX files.
    Dataset train, test;
    const bool idx = data == "fashion-mnist" || std::filesystem::exists(std::filesystem::path(data) / "train-images-idx3-ubyte.gz");
    if (idx) {
        o.fashionDir = datasetDir(data);  // passed down, never through the environment
    } else {
        if (!std::filesystem::is_directory(data)) throw Error("--data must be 'fashion-mnist', an IDX folder or an image folder, got '" + data + "'");
        auto set = openImageSet(data, o.trainLimit, "train");
        if (set->classNames().size() < 2)
            throw Error("train classifier: '" + data + "' needs at least two class subfolders (ImageFolder layout)");
        const InputSpec input = folderInputSpec(*set, a.integer("size", 0), a.has("gray"));
        train = imagesInMemory(*set, input, true, false, out);
        test = imagesInMemory(*set, input, true, true, out);
        o.train = &train;
        o.test = &test;
        o.trainLimit = 0;
        o.data = set->spec() + " (" + std::to_string(input.channels) + "x" + std::to_string(input.height) + "x" +
                 std::to_string(input.width) + ", every 10th image held out for the test accuracy)";
        std::string classes;
        for (const auto& c : set->classNames()) classes += (classes.empty() ? "" : ", ") + c;
        o.description = "CNN classifier of " + classes + " trained on " + set->spec();
    }
    std::unique_ptr<ProgressBar> bar;  // one per epoch
    const bool lead = leadRank();
    checkGlobalBatch(o.batch);
    auto m = trainClassifier(o, [&](const TrainProgress& p) {
        if (!lead) return;
        if (p.testAccuracy >= 0) {  // end of an epoch
            const std::string summary = "loss " + fmt("%.4f", p.loss) + "  test accuracy " + fmt("%.2f%%", 100 * p.testAccuracy);
            if (bar) bar->finish(summary);
            bar.reset();
            if (!ProgressBar::enabledByDefault()) out << "epoch " << p.epoch << "/" << p.epochs << ": " << summary << std::endl;
            return;
        }
        if (!bar) bar = std::make_unique<ProgressBar>("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
        bar->update(p.step, p.steps, "loss " + fmt("%.4f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
    }, job());
    if (!lead) return 0;
    out << "test accuracy " << fmt("%.2f%%", 100 * m.testAccuracy) << " after " << o.epochs << " epochs in "
        << fmt("%.0f", m.seconds) << " s; wrote " << o.outDir << "/weights.pt and manifest.json\n";
    return 0;
}

// `preimage eval inverter --model M --inverters DIR --data D [--json F]`: every decoder in DIR on the data.
int evalInvertersOnData(const Args& a, std::ostream& out) {
    checkOutputs(a, {{"json", ".json"}});
    auto model = Model::load(a.required("model"), modelOptions(a));
    const std::string dir = a.str("inverters", model->inverterDirectory());
    model->setInverterDirectory(dir);
    auto data = openImageSet(a.required("data"), a.limit("limit"), "test");
    std::vector<int> all(size_t(data->size()));
    for (int i = 0; i < data->size(); ++i) all[size_t(i)] = i;
    ImageSetStream stream(*data, all, *model);
    nlohmann::json rows = nlohmann::json::array();
    out << "layer                     pixel_rmse  feature_error   (" << data->size() << " images of " << data->spec() << ")\n";
    for (int i = 0; i < int(model->layers().size()); ++i) {
        if (!model->hasLearnedInverter(i)) continue;
        auto m = evaluateInverter(*model, dir, i, stream);
        char line[160];
        std::snprintf(line, sizeof line, "%-24s %11.4f  %13.4f\n", model->layers()[size_t(i)].name.c_str(), m.testRmse,
                      m.testFeatureError);
        out << line;
        rows.push_back({{"layer", model->layers()[size_t(i)].name}, {"pixel_rmse", m.testRmse}, {"feature_error", m.testFeatureError}});
    }
    if (rows.empty()) throw Error("no learned inverters for '" + model->name() + "' in " + dir);
    if (stream.skipped()) out << "skipped " << stream.skipped() << " unreadable file(s) per pass\n";
    if (a.has("json"))
        render::writeFileAtomically(a.str("json"), jsonText({{"model", model->name()}, {"inverters", dir}, {"data", data->spec()},
                                                             {"images", data->size()}, {"layers", rows}}));
    return 0;
}

int cmdEval(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    if (first < argv.size() && argv[first] == "mixer") return cmdEvalMixer(argv, first + 1, out);
    if (first < argv.size() && argv[first] == "hypernet") {
        Args a(argv, first + 1, {"model", "layer", "limit", "threads"}, {}, "eval hypernet");
        auto model = Model::load(a.str("model", "fashion"));
        const std::string layer = a.str("layer", "relu4");
        ProgressBar bar("eval hypernet " + layer);
        auto report = evaluateHyperNets(*model, layer, loadFashionMnist(false, a.limit("limit")),
                                        [&](int done, int total, const std::string& stage) { bar.update(done, total, stage); });
        bar.finish();
        printHyperNet(out, layer, report);
        return 0;
    }
    if (first < argv.size() && argv[first] == "inverter") {
        Args a(argv, first + 1, unite({kModelOptions, {"limit", "inverters", "data", "json"}}), {"gray"}, "eval inverter");
        if (a.has("data") || a.has("inverters")) return evalInvertersOnData(a, out);
        auto model = Model::load(a.str("model", "fashion"));
        auto test = loadFashionMnist(false, a.limit("limit"));
        out << "layer        pixel_rmse  feature_error   (" << test.count << " Fashion-MNIST test images)\n";
        int found = 0, total = 0;
        for (int i = 0; i < int(model->layers().size()); ++i) total += model->hasLearnedInverter(i);
        ProgressBar bar("eval inverter");
        for (int i = 0; i < int(model->layers().size()); ++i) {
            if (!model->hasLearnedInverter(i)) continue;
            bar.update(found, total, model->layers()[size_t(i)].name);
            auto m = evaluateInverter(*model, i, test);
            char line[128];
            std::snprintf(line, sizeof line, "%-12s %10.4f  %13.4f\n", model->layers()[size_t(i)].name.c_str(), m.testRmse,
                          m.testFeatureError);
            out << line;
            ++found;
        }
        bar.finish();
        if (!found) throw Error("model '" + model->name() + "' has no learned inverters (preimage train inverter --layer all)");
        return 0;
    }
    if (first >= argv.size() || argv[first] != "classifier")
        throw Error("usage: preimage eval classifier|inverter|hypernet|mixer --model M [--limit N]");
    Args a(argv, first + 1, unite({kModelOptions, {"limit", "data"}}), {"gray"}, "eval classifier");
    const std::string dir = datasetDir(a.str("data", "fashion-mnist"));
    auto model = Model::load(a.required("model"), modelOptions(a));
    auto test = loadFashionMnist(false, a.limit("limit"), dir);
    // A network that is not a 10-class classifier is refused before the pass over the test set.
    const auto probe = model->logits({model->prepare(test.image(0))});
    if (probe.at(0).size() != size_t(test.classes))
        throw Error("eval classifier: '" + a.str("model") + "' gives " + std::to_string(probe.at(0).size()) +
                    " outputs per image; a Fashion-MNIST classifier gives " + std::to_string(test.classes) +
                    " (one score per class)");
    ProgressBar bar("eval classifier");
    const float acc = evaluateAccuracy(*model, test, 500, [&](int done, int total) { bar.update(done, total); });
    bar.finish();
    out << model->name() << ": test accuracy " << fmt("%.2f%%", 100 * acc) << " on " << test.count
        << " Fashion-MNIST test images";
    if (acc < 0.2f) out << " (chance is 10%: is this network trained on Fashion-MNIST?)";
    if (!model->manifestJson().empty()) {
        auto m = nlohmann::json::parse(model->manifestJson());
        if (m.contains("metrics") && m["metrics"].contains("test_accuracy"))
            out << " (manifest: " << fmt("%.2f%%", 100 * m["metrics"]["test_accuracy"].get<double>()) << ")";
    }
    out << "\n";
    return 0;
}

}  // namespace preimage::app
