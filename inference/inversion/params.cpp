#include "inference/inversion/params.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace preimage {
namespace {

std::string range(double lo, double hi) {
    auto num = [](double v) {
        std::string s = std::to_string(v);
        s.erase(s.find_last_not_of('0') + 1);
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
    };
    return num(lo) + " and " + num(hi);
}

}  // namespace

const std::vector<std::string>& optimizerNames() {
    static const std::vector<std::string> names{"sobolev", "paper"};
    return names;
}

int defaultIterations(const std::string& optimizer) { return optimizer == "paper" ? 400 : 130; }

void validate(const InversionParams& p) {
    using L = InversionLimits;
    auto bad = [](const std::string& s) { throw Error(s); };
    if (p.iterations < 0 || p.iterations > L::kMaxIterations)
        bad("iterations (--iters) must be between " + range(1, L::kMaxIterations) + " (got " + std::to_string(p.iterations) + ")");
    if (p.restarts < 1 || p.restarts > L::kMaxRestarts)
        bad("restarts (--restarts) must be between " + range(1, L::kMaxRestarts) + " (got " + std::to_string(p.restarts) + ")");
    if (!(p.learningRate > 0) || !std::isfinite(p.learningRate)) bad("learning_rate (--lr) must be a positive number");
    if (!(p.momentum >= 0 && p.momentum < 1)) bad("momentum (--momentum) must be in [0, 1)");
    if (!(p.alpha >= L::kMinAlpha) || !std::isfinite(p.alpha)) bad("alpha (--alpha) must be a number of at least 1");
    if (!(p.beta >= L::kMinBeta) || !std::isfinite(p.beta)) bad("beta (--beta) must be a number of at least 1");
    if (!(p.lambdaAlpha >= 0) || !std::isfinite(p.lambdaAlpha))
        bad("lambda_alpha (--lambda-alpha) must be a finite number of at least 0");
    if (!std::isfinite(p.lambdaTv))  // < 0: the paper's value for the depth
        bad("lambda_tv (--tv) must be a finite number of at least 0 (or by depth)");
    if (p.jitter < 0 || p.jitter > L::kMaxJitter) bad("jitter (--jitter) must be between " + range(0, L::kMaxJitter));
    if (p.maxDivergenceRetries < 0) bad("divergence retries must be non-negative");
    const auto& names = optimizerNames();
    if (std::find(names.begin(), names.end(), p.optimizer) == names.end())
        bad("optimizer (--optimizer) must be sobolev (the default) or paper (the authors' protocol), not '" + p.optimizer + "'");
}

nlohmann::json paramsToJson(const InversionParams& p) {
    return {{"iterations", p.iterations > 0 ? nlohmann::json(p.iterations) : nlohmann::json()},
            {"restarts", p.restarts},
            {"seed", p.seed},
            {"learning_rate", p.learningRate},
            {"momentum", p.momentum},
            {"alpha", p.alpha},
            {"beta", p.beta},
            {"lambda_alpha", p.lambdaAlpha},
            {"lambda_tv", p.lambdaTv < 0 ? nlohmann::json() : nlohmann::json(p.lambdaTv)},
            {"jitter", p.jitter},
            {"optimizer", p.optimizer},
            {"learned_start", p.learnedStart},
            {"mask",
             {{"x", p.mask.x},
              {"y", p.mask.y},
              {"w", p.mask.w},
              {"h", p.mask.h},
              {"first", p.mask.firstChannel},
              {"last", p.mask.lastChannel}}}};
}

InversionParams paramsFromJson(const nlohmann::json& j, InversionParams p, bool validated) {
    if (!j.is_object()) throw Error("inversion parameters must be a JSON object");
    for (auto& [key, v] : j.items()) {
        auto number = [&, &key = key, &v = v]() {
            if (!v.is_number()) throw Error("inversion parameter '" + key + "' must be a number");
            return v.get<double>();
        };
        auto integer = [&, &key = key, &v = v]() {
            if (!v.is_number_integer()) throw Error("inversion parameter '" + key + "' must be a whole number");
            return v.get<int64_t>();
        };
        if (key == "iterations") p.iterations = v.is_null() ? 0 : int(integer());
        else if (key == "restarts") p.restarts = int(integer());
        else if (key == "seed") {
            const int64_t s = integer();
            if (s < 0) throw Error("inversion parameter 'seed' must be non-negative");
            p.seed = uint64_t(s);
        } else if (key == "learning_rate") p.learningRate = float(number());
        else if (key == "momentum") p.momentum = float(number());
        else if (key == "alpha") p.alpha = float(number());
        else if (key == "beta") p.beta = float(number());
        else if (key == "lambda_alpha") p.lambdaAlpha = float(number());
        else if (key == "lambda_tv") p.lambdaTv = v.is_null() ? -1.f : float(number());
        else if (key == "jitter") p.jitter = int(integer());
        else if (key == "optimizer") {
            if (!v.is_string()) throw Error("inversion parameter 'optimizer' must be a name");
            p.optimizer = v.get<std::string>();
        } else if (key == "learned_start") {
            if (!v.is_boolean()) throw Error("inversion parameter 'learned_start' must be true or false");
            p.learnedStart = v.get<bool>();
        }
        else if (key == "mask") {
            if (!v.is_object()) throw Error("inversion parameter 'mask' must be an object {x, y, w, h, first, last}");
            for (auto& [k, m] : v.items()) {
                if (!m.is_number_integer()) throw Error("mask '" + k + "' must be a whole number");
                const int n = m.get<int>();
                if (k == "x") p.mask.x = n;
                else if (k == "y") p.mask.y = n;
                else if (k == "w") p.mask.w = n;
                else if (k == "h") p.mask.h = n;
                else if (k == "first") p.mask.firstChannel = n;
                else if (k == "last") p.mask.lastChannel = n;
                else throw Error("unknown mask key '" + k + "' (x, y, w, h, first, last)");
            }
        } else {
            throw Error("unknown inversion parameter '" + key +
                        "' (iterations, restarts, seed, learning_rate, momentum, alpha, beta, lambda_alpha, lambda_tv, "
                        "jitter, optimizer, learned_start, mask)");
        }
    }
    if (validated) validate(p);
    return p;
}

nlohmann::json inversionResultJson(const InversionResult& r) {
    return {{"layer", r.layer},
            {"layer_index", r.layerIndex},
            {"feature_error", r.featureError},
            {"feature_error_per_restart", r.featureErrorPerRestart},
            {"best_restart", r.best},
            {"pixel_rmse", r.pixelRmse},
            {"restarts", r.preimages.size()},
            {"iters", r.iterations},
            {"seconds", r.seconds},
            {"iters_per_second", r.itersPerSecond},
            {"lambda_tv", r.lambdaTv},
            {"lambda_alpha", r.lambdaAlpha},
            {"learning_rate", r.learningRate},
            {"sigma", r.sigma},
            {"restart_variance_max", r.varianceMax},
            {"cancelled", r.cancelled},
            {"warnings", r.warnings},
            {"threads", r.threads},
            {"optimizer", r.optimizer},
            {"start", r.start},
            {"start_brightness", r.startBrightness > 0 ? nlohmann::json(r.startBrightness) : nlohmann::json()},
            {"evaluations", r.evaluations},
            {"objective", {{"total", r.objective.total}, {"feature", r.objective.feature}, {"alpha", r.objective.alpha},
                           {"tv", r.objective.tv}}},
            {"input_centre", r.inputCentre}};
}

}  // namespace preimage
