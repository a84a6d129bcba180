// `preimage dream` (a unit's preferred input: the generator prior where the model has one, else pixels, Fourier or
// MACO; feature accentuation of an image) and `preimage atlas` (every channel of a tap, or a list of classes, as one
// batch), with the numbers: activation, robustness, and a second network's rank of the class (--judge).
#include "app/cli/cli.h"
#include "app/cli/dream_report.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"
#include "inference/data/convert.h"
#include "inference/json_text.h"
#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>

namespace preimage::app {
namespace {

const std::set<std::string> kDreamOptions = {"param", "generator", "iters", "lr", "seed", "tv", "jitter", "transforms",
                                             "decay", "accentuate", "lambda", "judge", "side", "robust-crops", "objective",
                                             "weight-noise", "feature-prior", "prior-layers"};

// The options both commands share, onto DreamParams (the model decides the default parametrisation).
DreamParams dreamParams(const Args& a, const Model& model) {
    DreamParams p;
    if (a.has("generator") && a.str("generator") == "none") {  // the command line before --param: pixels
        p.param = DreamParametrisation::Pixels;
        p.generator.clear();
    } else {
        p.generator = a.str("generator", p.generator);
        p.param = a.has("param") ? parseParametrisation(a.str("param")) : defaultParametrisation(model, p.generator);
    }
    if (a.has("generator") && a.str("generator") != "none" && p.param != DreamParametrisation::Generator)
        throw Error("--generator names the generator prior's layer: it goes with --param generator");
    p.tv = float(a.number("tv", p.tv));
    if (!(p.tv >= 0)) throw Error("--tv must be non-negative");
    p.jitter = a.integer("jitter", p.jitter);
    p.iterations = a.integer("iters", 0);
    if (a.has("iters") && p.iterations < 1) throw Error("--iters must be at least 1");
    p.learningRate = a.number("lr", 0.f);
    if (a.has("lr") && !(p.learningRate > 0)) throw Error("--lr must be positive");
    const int seed = a.integer("seed", 0);
    if (seed < 0) throw Error("--seed must be non-negative");
    p.seed = uint64_t(seed);
    if (a.has("transforms")) {
        p.defaultTransforms = false;
        p.transforms = parseTransforms(a.str("transforms"));
    }
    p.decay = a.number("decay", p.decay);
    if (a.has("objective")) {
        const std::string objective = a.str("objective");
        if (objective != "score" && objective != "contrast")
            throw Error("--objective is score (the class's score) or contrast (less the mean of all scores), not '" + objective + "'");
        p.contrastive = objective == "contrast";
    }
    if (a.has("weight-noise")) {
        p.weightNoise = float(a.number("weight-noise", 0.f));
        if (!(*p.weightNoise >= 0.f && *p.weightNoise <= 1.f)) throw Error("--weight-noise must be between 0 and 1");
    }
    if (a.has("feature-prior")) {
        p.featurePrior = float(a.number("feature-prior", 0.f));
        if (!(*p.featurePrior >= 0.f && *p.featurePrior <= 1000.f)) throw Error("--feature-prior must be between 0 and 1000");
    }
    if (a.has("prior-layers")) {
        p.priorLayers = a.strings("prior-layers");
        for (const auto& l : p.priorLayers) model.layerIndex(l);  // a layer that does not exist: its error, now
    }
    if (a.has("accentuate")) p.accentuate = std::make_shared<const ImageF>(loadImageF(a.str("accentuate")));
    p.accentLambda = a.number("lambda", 0.f);
    if (a.has("lambda") && !(p.accentLambda > 0)) throw Error("--lambda must be positive");
    p.renderSide = a.integer("side", 0);
    if (a.has("side") && (p.renderSide < 16 || p.renderSide > 2048)) throw Error("--side must be between 16 and 2048");
    p.robustnessCrops = a.integer("robust-crops", p.robustnessCrops);
    if (p.robustnessCrops < 1 || p.robustnessCrops > 256) throw Error("--robust-crops must be between 1 and 256");
    return p;
}

std::shared_ptr<Model> loadJudge(const Args& a, const Model& model) {
    if (!a.has("judge")) return nullptr;
    auto judge = Model::load(a.str("judge"));
    checkJudge(model, *judge, a.str("judge"));
    return judge;
}

nlohmann::json settingsJson(const DreamParams& p, const DreamResult& r) {
    const DreamDefaults d = dreamDefaults(parseParametrisation(r.param));
    nlohmann::json j{{"param", r.param}, {"iters", r.iterations}, {"lr", r.learningRate}, {"seed", p.seed},
                     {"transforms", transformsText(p.defaultTransforms ? d.transforms : p.transforms)}};
    if (r.param == "generator") j["generator"] = p.generator;
    if (r.param == "pixels") j["tv"] = p.tv;
    if (r.param == "fourier") j["decay"] = p.decay;
    if (r.classUnit && r.param != "generator")
        j["objective"] = p.contrastive.value_or(dreamDefaults(parseParametrisation(r.param)).contrastive) ? "contrast" : "score";
    if (r.param != "generator") j["weight_noise"] = r.weightNoise;
    if (r.param != "generator") j["feature_prior"] = r.featurePrior;
    if (r.featurePrior > 0) j["prior_layers"] = r.priorLayers;
    if (p.renderSide > 0) j["side"] = p.renderSide;
    return j;
}

// Said when weight noise was asked for (or is the default) but the network has no float parameters to perturb (weights
// kept as buffers or constants: a quantised or frozen TorchScript file).
void weightNoiseNote(const DreamParams& p, const DreamResult& r, std::ostream& out) {
    if (r.param == "generator" || p.accentuate || r.weightNoise > 0) return;
    if (p.weightNoise.value_or(dreamDefaults(parseParametrisation(r.param)).weightNoise) > 0)
        out << "note: the network has no float parameters to perturb (its weights are buffers or constants): no weight noise\n";
}

std::string numbersLine(const DreamResult& r) {
    std::string s = "activation " + fmt("%.3f", r.activation) + " (from " + fmt("%.3f", r.startActivation) + ")";
    if (!std::isnan(r.trainMax))
        s += ", training-set max " + fmt("%.3f", r.trainMax) + " (" + fmt("%.2f", r.activation / r.trainMax) + "x)";
    if (!std::isnan(r.probability))
        s += ", p " + fmt("%.3f", r.probability) + ", under crops " + fmt("%.3f", r.robustProbability);
    else if (!std::isnan(r.robustActivation))
        s += ", under crops " + fmt("%.3f", r.robustActivation);
    if (r.judgeRank > 0) s += ", judge rank " + std::to_string(r.judgeRank) + " (p " + fmt("%.3f", r.judgeProbability) + ")";
    if (!std::isnan(r.distance))
        s += ", RMS change " + fmt("%.4f", r.distance) + " (bound " + fmt("%.4f", r.penaltyBound) + ", lambda " + fmt("%.3g", r.accentLambda) + ")";
    return s;
}

}  // namespace

int cmdDream(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, kDreamOptions, {"unit", "out", "json", "scale", "transparency", "difference"}}),
           {"gray"}, "dream");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}, {"transparency", ".png"}, {"difference", ".png"}});
    auto model = Model::load(a.str("model", "fashion"), modelOptions(a));
    DreamParams p = dreamParams(a, *model);
    p.unit = a.required("unit");
    if (a.has("difference") && !p.accentuate) throw Error("--difference is the change accentuation made: it needs --accentuate IMAGE");
    auto judge = loadJudge(a, *model);
    ProgressBar bar("dream");
    auto r = dream(*model, p, [&](const DreamProgress& e) {
        bar.update(e.iteration, e.iterations, "activation " + fmt("%.3f", e.activation));
    });
    bar.finish("activation " + fmt("%.3f", r.activation));
    if (judge && !r.classUnit) throw Error("--judge ranks a class: the unit '" + p.unit + "' is not one of the model's classes");
    measureDream(*model, r, judge.get(), p.robustnessCrops, p.seed);
    const int scale = a.integer("scale", 0);
    if (a.has("out")) render::savePng(upscale(r.image, scale), a.str("out"));
    if (a.has("transparency") && !r.transparency.empty()) render::savePng(upscale(r.transparency, scale), a.str("transparency"));
    if (a.has("difference")) render::savePng(upscale(r.difference, scale), a.str("difference"));
    nlohmann::json j = dreamResultJson(r, model->classNames());
    j["model"] = model->name();
    j["settings"] = settingsJson(p, r);
    if (p.accentuate) j["accentuated_image"] = a.str("accentuate");
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    out << r.layer << ":" << r.channel << " (" << r.param << (r.weightNoise > 0 ? ", weight noise " + fmt("%.2g", r.weightNoise) : "")
        << "): " << numbersLine(r) << " in " << fmt("%.1f", r.seconds) << " s\n";
    weightNoiseNote(p, r, out);
    return 0;
}

int cmdAtlas(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, kDreamOptions, {"layer", "classes", "out", "json", "batch", "limit", "columns", "cell", "compare"}}),
           {"gray"}, "atlas");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    if (!a.has("out") && !a.has("json")) throw Error("atlas: give --out atlas.png and/or --json J");
    if (a.has("layer") == a.has("classes")) throw Error("atlas: give either --layer L (every channel of a tap) or --classes A,B,...");
    auto model = Model::load(a.required("model"), modelOptions(a));
    DreamParams p = dreamParams(a, *model);
    if (p.param == DreamParametrisation::Generator)
        p.param = a.has("param") ? throw Error("atlas: the generator prior renders one unit at a time; --param pixels, fourier or maco")
                                 : DreamParametrisation::Fourier;
    if (p.accentuate) throw Error("atlas: accentuation is per image (preimage dream --accentuate)");
    std::vector<std::string> units;
    std::string what;
    if (a.has("layer")) {
        const int layer = model->layerIndex(a.str("layer"));
        units = layerUnits(*model, layer, a.limit("limit"));
        what = model->layers()[size_t(layer)].name;
    } else {
        units = a.strings("classes");
        if (units.empty()) throw Error("--classes names no class");
        if (a.has("limit")) units.resize(std::min(units.size(), size_t(a.limit("limit"))));
        what = "classes";
    }
    auto judge = loadJudge(a, *model);
    const int batch = a.integer("batch", 8);
    if (batch < 1 || batch > 1024) throw Error("--batch must be between 1 and 1024");
    const int compare = a.integer("compare", 0);
    if (compare < 0) throw Error("--compare must be non-negative");

    ProgressBar bar("atlas");
    const auto t0 = std::chrono::steady_clock::now();
    auto results = dreamUnits(*model, p, units, batch, [&](const DreamProgress& e) {
        const long total = long(e.totalUnits) * e.iterations;
        bar.update(long(e.firstUnit) * e.iterations + long(e.unitCount) * e.iteration, total,
                   "units " + std::to_string(e.firstUnit + e.unitCount) + "/" + std::to_string(e.totalUnits));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish(std::to_string(results.size()) + " units");
    for (auto& r : results) measureDream(*model, r, r.classUnit ? judge.get() : nullptr, p.robustnessCrops, p.seed);

    nlohmann::json j{{"model", model->name()}, {"layer", what}, {"batch", batch}, {"settings", settingsJson(p, results.front())},
                     {"seconds", seconds}, {"units_per_second", double(results.size()) / seconds}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : results) list.push_back(dreamResultJson(r, model->classNames()));
    j["units"] = list;
    out << results.size() << " units of " << what << " (" << results.front().param << ", batch " << batch << ") in "
        << fmt("%.1f", seconds) << " s: " << fmt("%.3f", double(results.size()) / seconds) << " units/s\n";
    weightNoiseNote(p, results.front(), out);
    if (compare > 0) {  // the same units one at a time: the speed-up, and that the batch changes nothing
        const int n = std::min<int>(compare, int(units.size()));
        // The same optimisation up to the last bits of batched kernels; Adam's first steps are about lr * sign(gradient),
        // so components whose gradient is at rounding level start apart and the paths drift: compare the activations too.
        float maxDiff = 0, maxRel = 0;
        double sumDiff = 0;
        size_t count = 0;
        ProgressBar one("one at a time");
        const auto t1 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            auto r = dreamUnits(*model, p, {units[size_t(i)]}, 1).front();
            const auto& b = results[size_t(i)];
            for (size_t k = 0; k < r.image.pixels.size(); ++k) {
                const float d = std::abs(r.image.pixels[k] - b.image.pixels[k]);
                maxDiff = std::max(maxDiff, d), sumDiff += d, ++count;
            }
            maxRel = std::max(maxRel, std::abs(r.activation - b.activation) / std::max(1e-6f, std::abs(b.activation)));
            one.update(i + 1, n);
        }
        const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        one.finish();
        const double meanDiff = count ? sumDiff / double(count) : 0.0;
        j["one_at_a_time"] = {{"units", n}, {"seconds", s1}, {"units_per_second", double(n) / s1}, {"max_abs_pixel_difference", maxDiff},
                              {"mean_abs_pixel_difference", meanDiff}, {"max_relative_activation_difference", maxRel}};
        out << "one at a time: " << n << " units in " << fmt("%.1f", s1) << " s: " << fmt("%.3f", double(n) / s1) << " units/s ("
            << fmt("%.2f", (double(results.size()) / seconds) / (double(n) / s1)) << "x for the batch); pixels differ by "
            << fmt("%.2g", meanDiff) << " on average (at most " << fmt("%.2g", maxDiff) << "), activations by at most "
            << fmt("%.2g", 100.0 * maxRel) << "%\n";
    }
    if (judge) {
        int top1 = 0, top5 = 0, n = 0;
        for (const auto& r : results)
            if (r.judgeRank > 0) ++n, top1 += r.judgeRank == 1, top5 += r.judgeRank <= 5;
        if (n > 0) {
            j["transfer"] = {{"judge", judge->name()}, {"classes", n}, {"top1", double(top1) / n}, {"top5", double(top5) / n}};
            out << "judge " << judge->name() << ": the intended class first for " << top1 << "/" << n << ", in its top 5 for " << top5
                << "/" << n << "\n";
        }
    }
    if (a.has("out")) render::savePng(atlasGrid(results, model->classNames(), a.integer("columns", 0), a.integer("cell", 96)), a.str("out"));
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    return 0;
}

}  // namespace preimage::app
