// `preimage train`, `preimage eval`, `preimage samples` and `preimage bench`.
#include "cli.h"
#include "convert.h"
#include "report.h"
#include "progress_bar.h"

#include "inference/training.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <ostream>

namespace preimage::app {
namespace {


std::string joinArgs(const std::vector<std::string>& argv) {
    std::string s = "preimage";
    for (size_t i = 1; i < argv.size(); ++i) s += " " + argv[i];
    return s;
}

std::string datasetDir(const std::string& data) {
    if (data == "fashion-mnist") return "";
    if (std::filesystem::is_directory(data)) return data;
    throw Error("--data must be 'fashion-mnist' or a directory with its IDX files, got '" + data + "'");
}

}  // namespace

int cmdTrain(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    if (first >= argv.size()) throw Error("usage: preimage train classifier --data fashion-mnist --out DIR");
    const std::string what = argv[first];
    if (what != "classifier") throw Error("unknown model kind to train: '" + what + "' (expected: classifier)");
    Args a(argv, first + 1, {"data", "out", "epochs", "batch", "lr", "seed", "limit", "threads"}, {}, "train classifier");
    const std::string dir = datasetDir(a.str("data", "fashion-mnist"));
    if (!dir.empty()) setenv("PREIMAGE_FASHION_MNIST", dir.c_str(), 1);
    TrainClassifierOptions o;
    o.outDir = a.required("out");
    o.epochs = a.integer("epochs", o.epochs);
    o.batch = a.integer("batch", o.batch);
    o.learningRate = a.number("lr", o.learningRate);
    o.seed = uint64_t(std::max(0, a.integer("seed", int(o.seed))));
    o.trainLimit = a.integer("limit", 0);
    o.command = joinArgs(argv);
    std::unique_ptr<ProgressBar> bar;  // one per epoch
    auto m = trainClassifier(o, [&](const TrainProgress& p) {
        if (p.testAccuracy >= 0) {  // end of an epoch
            const std::string summary = "loss " + fmt("%.4f", p.loss) + "  test accuracy " + fmt("%.2f%%", 100 * p.testAccuracy);
            if (bar) bar->finish(summary);
            bar.reset();
            if (!ProgressBar::enabledByDefault()) out << "epoch " << p.epoch << "/" << p.epochs << ": " << summary << std::endl;
            return;
        }
        if (!bar) bar = std::make_unique<ProgressBar>("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
        bar->update(p.step, p.steps, "loss " + fmt("%.4f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
    });
    out << "test accuracy " << fmt("%.2f%%", 100 * m.testAccuracy) << " after " << o.epochs << " epochs in "
        << fmt("%.0f", m.seconds) << " s; wrote " << o.outDir << "/weights.pt and manifest.json\n";
    return 0;
}

int cmdEval(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    if (first >= argv.size() || argv[first] != "classifier")
        throw Error("usage: preimage eval classifier --model M [--limit N]");
    Args a(argv, first + 1, unite({kModelOptions, {"limit", "data"}}), {"gray"}, "eval classifier");
    const std::string dir = datasetDir(a.str("data", "fashion-mnist"));
    if (!dir.empty()) setenv("PREIMAGE_FASHION_MNIST", dir.c_str(), 1);
    auto model = Model::load(a.required("model"), modelOptions(a));
    auto test = loadFashionMnist(false, a.integer("limit", 0));
    const float acc = evaluateAccuracy(*model, test);
    out << model->name() << ": test accuracy " << fmt("%.2f%%", 100 * acc) << " on " << test.count
        << " Fashion-MNIST test images";
    if (!model->manifestJson().empty()) {
        auto m = nlohmann::json::parse(model->manifestJson());
        if (m.contains("metrics") && m["metrics"].contains("test_accuracy"))
            out << " (manifest: " << fmt("%.2f%%", 100 * m["metrics"]["test_accuracy"].get<double>()) << ")";
    }
    out << "\n";
    return 0;
}

}  // namespace preimage::app
