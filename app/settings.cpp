#include "settings.h"
#include "inference/json_text.h"

#include "render/image.h"

#include <nlohmann/json.hpp>

#include <cstdio>
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
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "preimage: ignoring unreadable settings (%s)\n", e.what());
        return Settings{};
    }
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
                       {"jitter", p.jitter}}}};
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
