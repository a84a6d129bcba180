// `preimage invert` and `preimage sweep`.
#include "cli.h"
#include "inference/json_text.h"
#include "convert.h"
#include "interrupt.h"
#include "report.h"
#include "progress_bar.h"
#include "render/grid.h"

#include "inference/dream.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <ostream>

namespace preimage::app {
namespace {


ProgressFn barCallback(ProgressBar& bar) {
    return [&bar](const ProgressEvent& e) {
        bar.update(e.iteration, e.iterations,
                   "loss " + fmt("%.3e", e.loss) + "  feat " + fmt("%.3e", e.featureLoss) + "  " +
                       fmt("%.0f it/s", e.itersPerSecond));
    };
}

nlohmann::json resultJson(const InversionResult& r, const Model& model, const std::string& image) {
    nlohmann::json j;
    j["model"] = model.name();
    j["image"] = image;
    j["layer"] = r.layer;
    j["layer_index"] = r.layerIndex;
    j["feature_error"] = r.featureError;
    j["feature_error_per_restart"] = r.featureErrorPerRestart;
    j["best_restart"] = r.best;
    j["pixel_rmse"] = r.pixelRmse;
    j["restarts"] = r.preimages.size();
    j["iters"] = r.iterations;
    j["seconds"] = r.seconds;
    j["iters_per_second"] = r.itersPerSecond;
    j["lambda_tv"] = r.lambdaTv;
    j["lambda_alpha"] = r.lambdaAlpha;
    j["learning_rate"] = r.learningRate;
    j["sigma"] = r.sigma;
    j["restart_variance_max"] = r.varianceMax;
    j["cancelled"] = r.cancelled;
    j["warnings"] = r.warnings;
    j["device"] = model.deviceName();
    j["threads"] = r.threads;
    j["thread_policy"] = autoThreads() ? "auto" : "fixed";
    return j;
}

std::string stemWith(const std::string& path, const std::string& suffix) {
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + suffix + p.extension().string())).string();
}

}  // namespace

int cmdInvert(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, kInversionOptions, {"image", "layer", "out", "json", "scale"}}), {"gray"},
           "invert");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    const std::string imagePath = a.required("image");
    if (a.has("out")) checkPng(a.str("out"), "--out");
    auto model = Model::load(a.required("model"), modelOptions(a));
    const int layer = model->layerIndex(a.required("layer"));
    auto params = inversionParams(a);
    const ImageF image = loadImageF(imagePath);

    ProgressBar bar(model->layers()[size_t(layer)].name);
    auto r = invert(*model, image, layer, params, barCallback(bar));
    bar.finish(fmt("feature error %.4f", r.featureError));
    for (const auto& w : r.warnings) out << "warning: " << w << "\n";

    auto j = resultJson(r, *model, imagePath);
    if (a.has("out")) {
        const std::string path = a.str("out");
        render::savePng(upscale(r.preimages[size_t(r.best)], a.integer("scale", 0)), path);
        j["outputs"].push_back(path);
        if (r.preimages.size() > 1) {
            const std::string grid = stemWith(path, ".restarts");
            render::savePng(restartsGrid(r), grid);
            j["outputs"].push_back(grid);
        }
    }
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    out << "layer " << r.layer << ": feature error " << fmt("%.4f", r.featureError) << ", pixel RMSE "
        << fmt("%.4f", r.pixelRmse) << ", " << r.iterations << " iterations x " << r.preimages.size() << " restart(s) in "
        << fmt("%.2f", r.seconds) << " s (" << fmt("%.1f", r.itersPerSecond) << " it/s, " << r.threads
        << (r.threads == 1 ? " thread" : " threads") << (autoThreads() ? ", auto" : "") << ")\n";
    return 0;
}

int cmdSweep(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    for (size_t i = first; i < argv.size(); ++i)
        if (argv[i] == "--data" || argv[i].rfind("--data=", 0) == 0) return cmdSweepData(argv, first, out);
    Args a(argv, first, unite({kModelOptions, kInversionOptions, {"image", "layers", "out", "csv", "json", "columns"}}),
           {"gray"}, "sweep");
    checkOutputs(a, {{"out", ".png"}, {"csv", ".csv"}, {"json", ".json"}});
    const std::string imagePath = a.required("image");
    const std::string gridPath = a.required("out");
    checkPng(gridPath, "--out");
    auto model = Model::load(a.required("model"), modelOptions(a));
    const std::vector<int> layers = layerList(*model, a.str("layers", "all"));
    const auto params = inversionParams(a);
    const ImageF image = loadImageF(imagePath);

    std::vector<render::GridCell> cells;
    nlohmann::json rows = nlohmann::json::array();
    std::string csv = "layer,index,kind,shape,lambda_tv,feature_error,pixel_rmse,iters,restarts,seconds,iters_per_second\n";
    int finished = 0;
    Interrupt interrupt;  // Ctrl-C / SIGTERM: stop after saving the finished layers
    for (int li : layers) {
        const auto& info = model->layers()[size_t(li)];
        ProgressBar bar(info.name);
        auto r = invert(*model, image, li, params, barCallback(bar), interrupt.flag());
        if (r.cancelled) {
            bar.finish("interrupted");
            // layers.csv -> layers.partial.csv (or grid.png -> grid.partial.csv without --csv)
            const std::string partialCsv =
                std::filesystem::path(stemWith(a.has("csv") ? a.str("csv") : gridPath, ".partial")).replace_extension(".csv").string();
            render::writeFileAtomically(partialCsv, csv);
            out << "interrupted by " << interrupt.name() << " during layer " << info.name << ": the " << finished
                << " finished layer(s) are in " << partialCsv << "; no grid, CSV or JSON written\n";
            return 128 + interrupt.signal();
        }
        bar.finish(fmt("feature error %.4f", r.featureError));
        for (const auto& w : r.warnings) out << "warning: " << info.name << ": " << w << "\n";
        if (cells.empty()) cells.push_back({toBytes(r.target), "original", model->name()});
        cells.push_back({toBytes(r.preimages[size_t(r.best)]), info.name, fmt("err %.3f", r.featureError)});
        std::string shape;
        for (size_t d = 0; d < info.shape.size(); ++d) shape += (d ? "x" : "") + std::to_string(info.shape[d]);
        csv += info.name + "," + std::to_string(li) + "," + info.kind + "," + shape + "," + fmt("%g", r.lambdaTv) + "," +
               fmt("%.6f", r.featureError) + "," + fmt("%.6f", r.pixelRmse) + "," + std::to_string(r.iterations) + "," +
               std::to_string(r.preimages.size()) + "," + fmt("%.3f", r.seconds) + "," + fmt("%.1f", r.itersPerSecond) +
               "\n";
        rows.push_back(resultJson(r, *model, imagePath));
        finished++;
        out << std::left << info.name << ": feature error " << fmt("%.4f", r.featureError) << ", pixel RMSE "
            << fmt("%.4f", r.pixelRmse) << ", " << fmt("%.2f", r.seconds) << " s\n";
    }
    const int columns = a.integer("columns", std::min(8, int(cells.size())));
    render::savePng(render::composeGrid(cells, columns), gridPath);
    std::string wrote = gridPath + " (grid)";
    if (a.has("csv")) {
        render::writeFileAtomically(a.str("csv"), csv);
        wrote += ", " + a.str("csv") + " (CSV)";
    }
    if (a.has("json")) {
        nlohmann::json j{{"model", model->name()}, {"image", imagePath}, {"grid", gridPath}, {"layers", rows}};
        render::writeFileAtomically(a.str("json"), jsonText(j));
        wrote += ", " + a.str("json") + " (JSON)";
    }
    out << "wrote " << wrote << "\n";
    return 0;
}

int cmdDream(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, {"unit", "generator", "iters", "lr", "seed", "out", "json", "scale", "tv", "jitter"}}),
           {"gray"}, "dream");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    auto model = Model::load(a.str("model", "fashion"), modelOptions(a));
    DreamParams p;
    p.unit = a.required("unit");
    // The generator prior where the model has one (the default model's relu4 decoder), pixels otherwise.
    p.generator = a.str("generator", model->directory().empty() ? "none" : p.generator);
    if (p.generator == "none") {
        p.generator.clear();
        p.learningRate = 0.05f;
    }
    p.tv = float(a.number("tv", p.tv));
    p.jitter = a.integer("jitter", p.jitter);
    if (!(p.tv >= 0)) throw Error("--tv must be non-negative");
    p.iterations = a.integer("iters", p.iterations);
    p.learningRate = a.number("lr", p.learningRate);
    p.seed = uint64_t(std::max(0, a.integer("seed", 0)));
    if (a.has("out")) checkPng(a.str("out"), "--out");
    ProgressBar bar("dream");
    auto r = dream(*model, p, [&](const DreamProgress& e) {
        bar.update(e.iteration, e.iterations, "activation " + fmt("%.3f", e.activation));
    });
    bar.finish("activation " + fmt("%.3f", r.activation));
    if (a.has("out")) render::savePng(upscale(r.image, a.integer("scale", 0)), a.str("out"));
    nlohmann::json j{{"model", model->name()},
                     {"unit", p.unit},
                     {"layer", r.layer},
                     {"channel", r.channel},
                     {"generator", p.generator.empty() ? "none (pixels)" : p.generator},
                     {"activation", r.activation},
                     {"start_activation", r.startActivation},
                     {"train_max", r.trainMax},
                     {"train_mean", r.trainMean},
                     {"ratio_to_train_max", r.trainMax != 0 && !std::isnan(r.trainMax) ? r.activation / r.trainMax : 0.f},
                     {"iters", r.history.size()},
                     {"seconds", r.seconds}};
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    if (std::isnan(r.trainMax))
        out << r.layer << ":" << r.channel << ": activation " << fmt("%.3f", r.activation) << " (from " << fmt("%.3f", r.startActivation)
            << " at the start, pixels) in " << fmt("%.1f", r.seconds) << " s\n";
    else
        out << r.layer << ":" << r.channel << ": activation " << fmt("%.3f", r.activation) << " (training-set max "
            << fmt("%.3f", r.trainMax) << ", mean " << fmt("%.3f", r.trainMean) << "; " << fmt("%.2f", r.activation / r.trainMax)
            << "x the max) in " << fmt("%.1f", r.seconds) << " s\n";
    return 0;
}

}  // namespace preimage::app
