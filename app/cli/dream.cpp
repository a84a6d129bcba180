// `preimage dream`: a unit's preferred input (the generator prior where the model has one, pixels otherwise).
#include "app/cli/cli.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"
#include "inference/inversion/dream.h"
#include "inference/json_text.h"
#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ostream>

namespace preimage::app {

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
