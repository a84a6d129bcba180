#include "app/gui/settings.h"

#include "inference/inversion/params.h"
#include "inference/json_text.h"

#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <cstdio>
#include <type_traits>
#include <filesystem>
#include <fstream>

namespace preimage::app {

std::string Settings::directory() {
    if (const char* d = std::getenv("PREIMAGE_CONFIG_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/preimage";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/preimage";
    return ".preimage";
}

Settings Settings::load() {
    Settings s;
    std::ifstream in(directory() + "/settings.json");
    if (!in) return s;
    try {
        auto j = nlohmann::json::parse(in);
        s.model = j.value("model", s.model);
        s.modelSize = j.value("model_size", s.modelSize);
        s.modelGray = j.value("model_gray", s.modelGray);
        s.image = j.value("image", s.image);
        s.layer = j.value("layer", s.layer);
        s.recentImages = j.value("recent_images", s.recentImages);
        s.recentModels = j.value("recent_models", s.recentModels);
        s.windowX = j.value("window_x", s.windowX);
        s.windowY = j.value("window_y", s.windowY);
        s.windowWidth = j.value("window_width", s.windowWidth);
        s.windowHeight = j.value("window_height", s.windowHeight);
        s.exportDir = j.value("export_dir", s.exportDir);
        if (j.contains("inversion")) {
            // Through the one mapping (params.h), clamped to its limits below rather than refused. The mask is
            // per layer and image: it is not carried to the next session.
            nlohmann::json v = j["inversion"];
            const bool byDepth = v.value("tv_by_depth", s.inversion.tvByDepth);
            const bool warm = v.value("warm_start", s.inversion.warmStart);
            v.erase("tv_by_depth");
            v.erase("warm_start");
            v.erase("mask");
            const InversionParams p = paramsFromJson(v, toParams(s.inversion), /*validated=*/false);
            s.inversion = toSettings(p, s.inversion);
            s.inversion.tvByDepth = byDepth;
            s.inversion.warmStart = warm;
        }
    } catch (const std::exception& e) {
        // Kept beside, not overwritten by the defaults on exit: the user may want what was in it.
        const std::string path = directory() + "/settings.json";
        std::string backup = path + ".bad";
        for (int k = 2; std::filesystem::exists(backup); ++k) backup = path + ".bad" + std::to_string(k);
        std::error_code ec;
        std::filesystem::rename(path, backup, ec);
        std::fprintf(stderr, "preimage: the settings file %s is unreadable (%s): kept as %s, starting from the defaults\n",
                     path.c_str(), e.what(), ec ? "it is" : backup.c_str());
        return Settings{};
    }
    // Values out of range (edited by hand, or from another version) are clamped, with a note.
    auto clampTo = [](auto& value, auto lo, auto hi, const char* name) {
        using T = std::decay_t<decltype(value)>;
        const T v = value != value ? T(lo) : std::clamp(value, T(lo), T(hi));  // NaN: the lower bound
        if (!(v == value)) {
            std::fprintf(stderr, "preimage: settings: %s %s is out of range; using %s\n", name, std::to_string(value).c_str(),
                         std::to_string(v).c_str());
            value = v;
        }
    };
    using L = InversionLimits;
    auto& p = s.inversion;
    clampTo(p.iterations, 0, L::kMaxIterations, "iterations");  // 0: the optimiser's own
    clampTo(p.restarts, 1, L::kMaxRestarts, "restarts");
    constexpr float kBig = std::numeric_limits<float>::max();  // no upper limit (params.h); infinity is not a number
    if (!(p.learningRate > 0)) p.learningRate = widgets::InversionSettings{}.learningRate;  // NaN or not positive
    clampTo(p.learningRate, 0.f, kBig, "learning_rate");
    clampTo(p.lambdaTv, 0.f, kBig, "lambda_tv");
    clampTo(p.lambdaAlpha, 0.f, kBig, "lambda_alpha");
    clampTo(p.jitter, 0, L::kMaxJitter, "jitter");
    clampTo(p.alpha, L::kMinAlpha, kBig, "alpha");
    clampTo(p.beta, L::kMinBeta, kBig, "beta");
    clampTo(s.modelSize, 0, 4096, "model_size");
    clampTo(s.windowWidth, 320, 16384, "window_width");
    clampTo(s.windowHeight, 240, 16384, "window_height");
    return s;
}

void Settings::save() const {
    nlohmann::json inversionJson = paramsToJson(toParams(inversion));
    inversionJson.erase("mask");
    inversionJson["lambda_tv"] = inversion.lambdaTv;  // the slider's value, kept while by depth
    inversionJson["tv_by_depth"] = inversion.tvByDepth;
    inversionJson["warm_start"] = inversion.warmStart;
    nlohmann::json j{{"model", model},
                     {"model_size", modelSize},
                     {"model_gray", modelGray},
                     {"image", image},
                     {"layer", layer},
                     {"recent_images", recentImages},
                     {"recent_models", recentModels},
                     {"window_x", windowX},
                     {"window_y", windowY},
                     {"window_width", windowWidth},
                     {"window_height", windowHeight},
                     {"export_dir", exportDir},
                     {"inversion", inversionJson}};
    try {
        std::filesystem::create_directories(directory());
        render::writeFileAtomically(directory() + "/settings.json", jsonText(j));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "preimage: cannot save settings: %s\n", e.what());
    }
}

InversionParams toParams(const widgets::InversionSettings& s) {
    InversionParams p;
    p.optimizer = s.paperProtocol ? "paper" : "sobolev";
    p.learnedStart = s.learnedStart;
    p.iterations = s.iterations;
    p.restarts = s.restarts;
    p.seed = uint64_t(std::max(0, s.seed));
    p.learningRate = s.learningRate;
    p.lambdaTv = s.tvByDepth ? -1.f : s.lambdaTv;
    p.lambdaAlpha = s.lambdaAlpha;
    p.jitter = s.jitter;
    p.alpha = s.alpha;
    p.beta = s.beta;
    p.mask = FeatureMask{s.maskX, s.maskY, s.maskW, s.maskH, s.maskFirst, s.maskLast};
    return p;
}

widgets::InversionSettings toSettings(const InversionParams& p, const widgets::InversionSettings& base) {
    widgets::InversionSettings s = base;
    s.paperProtocol = p.optimizer == "paper";
    s.learnedStart = p.learnedStart;
    s.iterations = p.iterations;
    s.restarts = p.restarts;
    s.seed = int(std::min<uint64_t>(p.seed, uint64_t(INT32_MAX)));
    s.learningRate = p.learningRate;
    s.tvByDepth = p.lambdaTv < 0;
    if (p.lambdaTv >= 0) s.lambdaTv = p.lambdaTv;
    s.lambdaAlpha = p.lambdaAlpha;
    s.jitter = p.jitter;
    s.alpha = p.alpha;
    s.beta = p.beta;
    s.maskX = p.mask.x, s.maskY = p.mask.y, s.maskW = p.mask.w, s.maskH = p.mask.h;
    s.maskFirst = p.mask.firstChannel, s.maskLast = p.mask.lastChannel;
    return s;
}

void Settings::remember(std::vector<std::string>& list, const std::string& item, size_t keep) {
    list.erase(std::remove(list.begin(), list.end(), item), list.end());
    list.insert(list.begin(), item);
    if (list.size() > keep) list.resize(keep);
}

}  // namespace preimage::app
