// `preimage bench --quality`: time to quality. For each tap, the paper's protocol (400 iterations) sets the target,
// its final objective; each other optimiser is timed to that value (evaluations of the network and seconds, from
// its own history), and run for the protocol's wall time to show where it ends. Speed is measured here, never in
// a test.
#include "app/cli/bench_quality.h"

#include "app/cli/cli.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"
#include "inference/inversion/params.h"
#include "inference/json_text.h"
#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ostream>

namespace preimage::app {
namespace {

struct Reach {
    int64_t evaluations = -1;  // -1: not reached
    double seconds = -1;
};

// The first iteration whose objective is at most `target` (the history holds each iterate's objective as
// minimised), or the final image's.
Reach reach(const InversionResult& r, double target) {
    for (const auto& h : r.history)
        if (double(h.loss) <= target) return {h.evaluations, h.seconds};
    if (r.objective.total <= target) return {r.evaluations, r.seconds};
    return {};
}

}  // namespace

int benchQuality(const Args& a, Model& model, const ImageF& image, const std::string& imagePath, std::ostream& out) {
    std::vector<std::string> layers;
    if (a.str("layers", "all") == "all") {
        // The model's top-level taps (module paths without a dot); all of them when there are no others.
        for (const auto& l : model.layers())
            if (l.name.find('.') == std::string::npos) layers.push_back(l.name);
        if (layers.empty())
            for (const auto& l : model.layers()) layers.push_back(l.name);
    } else {
        for (int l : layerList(model, a.str("layers"))) layers.push_back(model.layers()[size_t(l)].name);
    }
    std::vector<std::string> optimizers = a.has("optimizers") ? a.strings("optimizers") : std::vector<std::string>{"sobolev"};
    for (const auto& o : optimizers) {
        InversionParams check;
        check.optimizer = o;
        validate(check);
    }
    InversionParams base;
    base.seed = uint64_t(std::max(0, a.integer("seed", 0)));
    nlohmann::json rows = nlohmann::json::array();
    ProgressBar bar("quality");
    out << "time to the paper protocol's 400-iteration objective, " << model.name() << ", " << imagePath << ", "
        << threads() << " threads\n";
    char line[512];
    int tapWidth = 14;  // the longest tap name (MobileNet V2's features.expanded_conv_10: 25)
    for (const auto& l : layers) tapWidth = std::max(tapWidth, int(std::min<size_t>(l.size(), 200)));
    std::snprintf(line, sizeof line, "%-*s %6s %9s %6s %7s | %-8s %6s %7s %6s %6s %9s %9s\n", tapWidth, "tap", "tv", "protocol", "evals",
                  "seconds", "optim.", "evals", "seconds", "ev/3", "s/3", "at its N", "in its s");
    out << line;
    // --warm: a "warm" row per tap after the first, the default optimiser started from the previous tap's pre-image
    // (its first optimiser's, from noise: what the app does on a step from a tap inverted from noise).
    const bool warm = a.has("warm");
    std::optional<WarmStart> previous;
    for (size_t i = 0; i < layers.size(); ++i) {
        const int layer = model.layerIndex(layers[i]);
        bar.update(long(i), long(layers.size()), layers[i]);
        InversionParams paper = base;
        paper.optimizer = "paper";
        {
            // Warm-up, not timed: the TorchScript executor profiles and optimises the graph on its first runs, the
            // allocator and the thread pool settle; without it the first optimiser timed (the protocol) pays for them.
            InversionParams warmUp = paper;
            warmUp.iterations = 8;
            invert(model, image, layer, warmUp);
        }
        const InversionResult protocol = invert(model, image, layer, paper);
        const double target = protocol.objective.total;
        nlohmann::json row{{"layer", layers[i]},
                           {"lambda_tv", protocol.lambdaTv},
                           {"protocol", {{"objective", target}, {"evaluations", protocol.evaluations}, {"seconds", protocol.seconds}}}};
        std::optional<WarmStart> next;
        std::vector<std::string> runs = optimizers;
        if (warm && previous) runs.push_back("warm");
        for (const auto& name : runs) {
            InversionParams p = base;
            const bool fromPrevious = name == "warm";
            p.optimizer = fromPrevious ? InversionParams{}.optimizer : name;
            const InversionResult r = invert(model, image, layer, p, {}, nullptr, fromPrevious ? &*previous : nullptr);
            const Reach got = reach(r, target);
            if (!next && !fromPrevious) next = warmStartFrom(r);
            // The same wall time as the protocol: as many iterations as fit at this optimiser's cost per iteration.
            InversionParams same = p;
            const double perIteration = r.seconds / std::max(1, r.iterations);
            same.iterations = std::clamp(int(std::lround(protocol.seconds / std::max(1e-9, perIteration))), 1,
                                         InversionLimits::kMaxIterations);
            const InversionResult budget = invert(model, image, layer, same, {}, nullptr, fromPrevious ? &*previous : nullptr);
            row[name] = {{"start", r.start},
                         {"optimizer", r.optimizer},
                         {"iterations", r.iterations},
                         {"objective", r.objective.total},
                         {"evaluations", r.evaluations},
                         {"seconds", r.seconds},
                         {"evaluations_to_target", got.evaluations < 0 ? nlohmann::json() : nlohmann::json(got.evaluations)},
                         {"seconds_to_target", got.seconds < 0 ? nlohmann::json() : nlohmann::json(got.seconds)},
                         {"evaluation_ratio", got.evaluations < 0 ? nlohmann::json() : nlohmann::json(double(got.evaluations) / double(protocol.evaluations))},
                         {"time_ratio", got.seconds < 0 ? nlohmann::json() : nlohmann::json(got.seconds / protocol.seconds)},
                         {"protocol_time", {{"iterations", same.iterations}, {"objective", budget.objective.total}, {"seconds", budget.seconds}}}};
            const bool ok = got.evaluations >= 0 && 3 * got.evaluations <= protocol.evaluations && 3 * got.seconds <= protocol.seconds;
            std::snprintf(line, sizeof line, "%-*s %6g %9.4f %6lld %7.2f | %-8s %6s %7s %6s %6s %9.4f %9.4f%s\n", tapWidth,
                          layers[i].c_str(),
                          double(protocol.lambdaTv), target, (long long)protocol.evaluations, protocol.seconds, name.c_str(),
                          got.evaluations < 0 ? "-" : std::to_string(got.evaluations).c_str(),
                          got.seconds < 0 ? "-" : fmt("%.2f", got.seconds).c_str(),
                          got.evaluations < 0 ? "-" : fmt("%.2f", 3.0 * double(got.evaluations) / double(protocol.evaluations)).c_str(),
                          got.seconds < 0 ? "-" : fmt("%.2f", 3.0 * got.seconds / protocol.seconds).c_str(), r.objective.total,
                          budget.objective.total, ok ? "" : "  (not within a third)");
            out << line << std::flush;
        }
        rows.push_back(row);
        previous = std::move(next);
    }
    bar.finish(std::to_string(layers.size()) + " taps");
    out << "evals, seconds: to the protocol's objective (the first iterate at or below it); ev/3, s/3: three times their\n"
           "share of the protocol's (at most 1: a third or less); at its N: the objective after its default iterations;\n"
           "in its s: after as many iterations as fit in the protocol's time; warm: the default optimiser from the\n"
           "previous tap's pre-image (--warm)\n";
    if (a.has("json"))
        render::writeFileAtomically(a.str("json"), jsonText(nlohmann::json{{"model", model.name()},
                                                                          {"image", imagePath},
                                                                          {"threads", threads()},
                                                                          {"device", model.deviceName()},
                                                                          {"taps", rows}}));
    return 0;
}

}  // namespace preimage::app
