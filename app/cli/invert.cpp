// `preimage invert` and `preimage sweep` (one image; `sweep --data` is sweep_data.cpp).
#include "app/cli/cli.h"
#include "inference/inversion/params.h"
#include "inference/json_text.h"
#include "inference/data/convert.h"
#include "app/cli/interrupt.h"
#include "app/cli/report.h"
#include "app/cli/progress_bar.h"
#include "render/grid.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
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
    nlohmann::json j = inversionResultJson(r);
    j["model"] = model.name();
    j["image"] = image;
    j["device"] = model.deviceName();
    j["thread_policy"] = autoThreads() ? "auto" : "fixed";
    return j;
}

std::string stemWith(const std::string& path, const std::string& suffix) {
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + suffix + p.extension().string())).string();
}

}  // namespace

int cmdInvert(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, kInversionOptions, {"image", "layer", "out", "json", "scale", "start"}}), {"gray"},
           "invert");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    const std::string imagePath = a.required("image");
    if (a.has("out")) checkPng(a.str("out"), "--out");
    auto model = Model::load(a.required("model"), modelOptions(a));
    const int layer = model->layerIndex(a.required("layer"));
    auto params = inversionParams(a);
    const ImageF image = loadImageF(imagePath);
    // --start FILE: e.g. a neighbouring tap's pre-image (engine.h, WarmStart); noise: the paper's start even where a
    // learned inverter exists; learned: the learned start (the default where there is one), refused where there is none.
    std::optional<WarmStart> start;
    const std::string from = a.str("start", "");  // noise: inversionParams
    if (from == "learned") {
        if (!model->hasLearnedInverter(layer))
            throw Error("--start learned: '" + model->name() + "' has no learned inverter for layer '" + a.str("layer") +
                        "' (preimage train inverter --model ... --layer " + a.str("layer") + ")");
        if (params.restarts > 1 || params.mask.active() || params.optimizer != "sobolev")
            throw Error("--start learned is for the sobolev optimiser with one restart and no --window or --channels");
    } else if (!from.empty() && from != "noise") start = WarmStart{loadImageF(from), from};

    ProgressBar bar(model->layers()[size_t(layer)].name);
    auto r = invert(*model, image, layer, params, barCallback(bar), nullptr, start ? &*start : nullptr);
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
           {"gray", "warm"}, "sweep");
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
    // --warm: a tap after one inverted from noise starts from its pre-image (WarmStart), as the app does when it
    // steps along the taps; not after a warm-started one (chains of warm starts drift), so every other tap.
    std::optional<WarmStart> start;
    for (int li : layers) {
        const auto& info = model->layers()[size_t(li)];
        ProgressBar bar(info.name);
        auto r = invert(*model, image, li, params, barCallback(bar), interrupt.flag(), start ? &*start : nullptr);
        start = a.has("warm") ? warmStartFrom(r) : std::nullopt;
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
        rows.push_back(inversionResultJson(r));
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
        // The schema of the app's layer-grid export (app/gui/session.cpp): the same keys, the same mapping (params.h).
        nlohmann::json j{{"model", model->name()}, {"image", imagePath},          {"grid", gridPath},
                         {"device", model->deviceName()}, {"parameters", paramsToJson(params)}, {"layers", rows}};
        render::writeFileAtomically(a.str("json"), jsonText(j));
        wrote += ", " + a.str("json") + " (JSON)";
    }
    out << "wrote " << wrote << "\n";
    return 0;
}

}  // namespace preimage::app
