#include "settings.h"
#include "inference/json_text.h"

#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
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
            const auto& v = j["inversion"];
            auto& p = s.inversion;
            p.iterations = v.value("iterations", p.iterations);
            p.restarts = v.value("restarts", p.restarts);
            p.seed = v.value("seed", p.seed);
            p.learningRate = v.value("learning_rate", p.learningRate);
            p.tvByDepth = v.value("tv_by_depth", p.tvByDepth);
            p.lambdaTv = v.value("lambda_tv", p.lambdaTv);
            p.lambdaAlpha = v.value("lambda_alpha", p.lambdaAlpha);
            p.jitter = v.value("jitter", p.jitter);
            p.alpha = v.value("alpha", p.alpha);
            p.beta = v.value("beta", p.beta);
            // The mask is per layer and image: it is not carried to the next session.
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
    auto& p = s.inversion;
    clampTo(p.iterations, 1, 100000, "iterations");
    clampTo(p.restarts, 1, 64, "restarts");
    if (!(p.learningRate > 0 && p.learningRate <= 1)) clampTo(p.learningRate, 1e-6f, 1.f, "learning_rate");
    if (!(p.learningRate > 0)) p.learningRate = widgets::InversionSettings{}.learningRate;  // NaN
    clampTo(p.lambdaTv, 0.f, 1e6f, "lambda_tv");
    clampTo(p.lambdaAlpha, 0.f, 1e3f, "lambda_alpha");
    clampTo(p.jitter, 0, 32, "jitter");
    clampTo(p.alpha, 1.f, 12.f, "alpha");
    clampTo(p.beta, 1.f, 3.f, "beta");
    clampTo(s.modelSize, 0, 4096, "model_size");
    clampTo(s.windowWidth, 320, 16384, "window_width");
    clampTo(s.windowHeight, 240, 16384, "window_height");
    return s;
}

void Settings::save() const {
    const auto& p = inversion;
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
                     {"inversion",
                      {{"iterations", p.iterations},
                       {"restarts", p.restarts},
                       {"seed", p.seed},
                       {"learning_rate", p.learningRate},
                       {"tv_by_depth", p.tvByDepth},
                       {"lambda_tv", p.lambdaTv},
                       {"lambda_alpha", p.lambdaAlpha},
                       {"jitter", p.jitter},
                       {"alpha", p.alpha},
                       {"beta", p.beta}}}};
    try {
        std::filesystem::create_directories(directory());
        render::writeFileAtomically(directory() + "/settings.json", jsonText(j));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "preimage: cannot save settings: %s\n", e.what());
    }
}

void Settings::remember(std::vector<std::string>& list, const std::string& item, size_t keep) {
    list.erase(std::remove(list.begin(), list.end(), item), list.end());
    list.insert(list.begin(), item);
    if (list.size() > keep) list.resize(keep);
}

}  // namespace preimage::app
