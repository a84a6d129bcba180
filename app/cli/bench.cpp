// `preimage bench` (inversion throughput: batch 1, restarts batched vs one after another) and
// `preimage samples` (sample images from the Fashion-MNIST test set).
#include "app/cli/cli.h"
#include "app/cli/bench_quality.h"
#include "inference/json_text.h"
#include "inference/data/convert.h"
#include "app/cli/report.h"

#include "inference/data/dataset.h"
#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <ostream>

namespace preimage::app {
namespace {

std::string defaultSample() {
    namespace fs = std::filesystem;
    fs::path dir = fs::path(assetsDir()) / "samples";
    std::vector<std::string> files;
    if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().extension() == ".png") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error("no sample images in " + dir.string() + ": pass --image");
    return files.front();
}

}  // namespace

int cmdBench(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, {"layer", "layers", "optimizers", "seed", "iters", "restarts", "image", "json", "repeat"}}),
           {"gray", "quality", "warm"}, "bench");
    checkOutputs(a, {{"json", ".json"}});
    auto model = Model::load(a.str("model", "fashion"), modelOptions(a));
    if (a.has("quality")) {
        const std::string path = a.has("image") ? a.str("image") : defaultSample();
        return benchQuality(a, *model, loadImageF(path), path, out);
    }
    const int layer = a.has("layer") ? model->layerIndex(a.str("layer")) : int(model->layers().size() / 2);
    const std::string imagePath = a.has("image") ? a.str("image") : defaultSample();
    const ImageF image = loadImageF(imagePath);
    InversionParams p;
    p.iterations = a.integer("iters", 200);
    const int restarts = a.integer("restarts", 4);
    const int repeat = std::max(1, a.integer("repeat", 3));
    float featureError = 0;
    auto timeRun = [&](int r) {
        InversionParams q = p;
        q.restarts = r;
        double best = 1e30;
        for (int k = 0; k < repeat; ++k) {
            auto t0 = std::chrono::steady_clock::now();
            auto result = invert(*model, image, layer, q);
            best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            if (r == 1) featureError = result.featureError;
        }
        return best;
    };
    {  // warm-up: first-touch allocations, thread pools
        InversionParams w = p;
        w.iterations = 20;
        invert(*model, image, layer, w);
    }
    const double single = timeRun(1);
    const double batched = timeRun(restarts);
    double sequential = 0;
    for (int r = 0; r < restarts; ++r) sequential += timeRun(1) / 1.0;
    nlohmann::json j{{"model", model->name()},
                     {"layer", model->layers()[size_t(layer)].name},
                     {"image", imagePath},
                     {"iters", p.iterations},
                     {"restarts", restarts},
                     {"threads", autoThreads() ? std::string("auto") : std::to_string(threads())},
                     {"device", model->deviceName()},
                     {"lambda_tv", model->defaultLambdaTv(layer)},
                     {"batch1_feature_error", featureError},
                     {"batch1_seconds", single},
                     {"batch1_iters_per_second", p.iterations / single},
                     {"batched_restarts_seconds", batched},
                     {"sequential_restarts_seconds", sequential},
                     {"batched_speedup", sequential / batched}};
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s/%s, %d iterations: batch 1 %.1f it/s; %d restarts batched %.3f s vs one after another %.3f s "
                  "(%.2fx)\n",
                  model->name().c_str(), j["layer"].get<std::string>().c_str(), p.iterations, p.iterations / single,
                  restarts, batched, sequential, sequential / batched);
    out << line;
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    return 0;
}

int cmdSamples(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"out", "per-class"}, {}, "samples");
    const std::string dir = a.required("out");
    const int perClass = std::max(1, a.integer("per-class", 1));
    std::filesystem::create_directories(dir);
    auto test = loadFashionMnist(false);
    std::vector<int> taken(size_t(test.classes), 0);
    int written = 0;
    for (int i = 0; i < test.count && written < perClass * test.classes; ++i) {
        const int label = test.labels[size_t(i)];
        if (taken[size_t(label)] >= perClass) continue;
        ++taken[size_t(label)];
        std::string name = test.classNames[size_t(label)];
        for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '-';
        char file[128];
        std::snprintf(file, sizeof file, "%s/fashion_%d_%s_test%05d.png", dir.c_str(), label, name.c_str(), i);
        render::savePng(toBytes(test.image(i)), file);
        ++written;
    }
    out << "wrote " << written << " Fashion-MNIST test images to " << dir << "\n";
    return 0;
}

}  // namespace preimage::app
