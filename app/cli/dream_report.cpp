#include "app/cli/dream_report.h"

#include "app/cli/report.h"
#include "inference/data/convert.h"
#include "render/grid.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace preimage::app {
namespace {

nlohmann::json number(float v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string className(int k, const std::vector<std::string>& names) {
    return k >= 0 && k < int(names.size()) ? names[size_t(k)] : "class " + std::to_string(k);
}

std::string scalesText(const std::vector<float>& s) {
    if (s.empty()) return "";
    const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
    return fmt("%g", *lo) + "-" + fmt("%g", *hi);
}

}  // namespace

std::string unitTitle(const DreamResult& r, const std::vector<std::string>& classNames) {
    if (r.classUnit && r.channel < int(classNames.size())) return classNames[size_t(r.channel)] + " (" + std::to_string(r.channel) + ")";
    return r.unit;
}

nlohmann::json dreamResultJson(const DreamResult& r, const std::vector<std::string>& classNames) {
    nlohmann::json j{{"unit", r.unit},
                     {"layer", r.layer},
                     {"channel", r.channel},
                     {"param", r.param},
                     {"activation", r.activation},
                     {"start_activation", r.startActivation},
                     {"iters", r.iterations},
                     {"lr", r.learningRate},
                     {"seconds", r.seconds}};
    if (r.param != "generator") j["weight_noise"] = r.weightNoise;
    if (r.featurePrior > 0) j["feature_prior"] = {{"weight", r.featurePrior}, {"distance", number(r.priorDistance)}};
    if (r.classUnit) {
        j["class"] = r.channel;
        j["class_name"] = className(r.channel, classNames);
        j["probability"] = number(r.probability);
        j["robust_probability"] = number(r.robustProbability);
    }
    if (r.robustCrops > 0) {
        j["robust_activation"] = number(r.robustActivation);
        j["robust_crops"] = r.robustCrops;
    }
    if (!r.judge.empty()) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& [k, p] : r.judgeTop5) top.push_back({{"class", k}, {"name", className(k, classNames)}, {"p", p}});
        j["judge"] = {{"model", r.judge}, {"rank", r.judgeRank}, {"probability", number(r.judgeProbability)}, {"top5", top}};
    }
    if (!std::isnan(r.trainMax)) {
        j["train_max"] = r.trainMax;
        j["train_mean"] = r.trainMean;
        j["ratio_to_train_max"] = r.trainMax != 0 ? r.activation / r.trainMax : 0.f;
    }
    if (!r.start.empty())
        j["accentuation"] = {{"distance_rms", number(r.distance)}, {"lambda", r.accentLambda}, {"bound_rms", number(r.penaltyBound)},
                             {"difference_max", r.differenceMax}};
    if (r.cancelled) j["cancelled"] = true;
    return j;
}

render::Image atlasGrid(const std::vector<DreamResult>& results, const std::vector<std::string>& classNames, int columns, int cellSize) {
    std::vector<render::GridCell> cells;
    for (const auto& r : results) {
        render::GridCell c;
        c.image = toBytes(r.image);
        c.title = r.classUnit ? className(r.channel, classNames) : std::to_string(r.channel);
        if (c.title.size() > 16) c.title = c.title.substr(0, 15) + ".";
        c.subtitle = "a " + fmt(std::abs(r.activation) < 10 ? "%.2f" : "%.0f", r.activation);
        if (r.judgeRank > 0) c.subtitle += " j#" + std::to_string(r.judgeRank);
        cells.push_back(std::move(c));
    }
    if (columns <= 0) columns = std::max(1, int(std::ceil(std::sqrt(double(cells.size())))));
    return render::composeGrid(cells, columns, cellSize);
}

ImageF atlasMosaic(const std::vector<std::shared_ptr<const DreamResult>>& results, int columns, int tile, int gap) {
    ImageF out;
    if (results.empty() || columns <= 0 || tile <= 0) return out;
    const int rows = (int(results.size()) + columns - 1) / columns;
    out.channels = 3;
    out.width = columns * tile + (columns - 1) * gap;
    out.height = rows * tile + (rows - 1) * gap;
    out.pixels.assign(size_t(out.width) * size_t(out.height) * 3, 0.12f);
    for (size_t i = 0; i < results.size(); ++i) {
        if (!results[i]) continue;
        const ImageF& im = results[i]->image;
        if (im.empty()) continue;
        const int ox = int(i % size_t(columns)) * (tile + gap), oy = int(i / size_t(columns)) * (tile + gap);
        for (int y = 0; y < tile; ++y)
            for (int x = 0; x < tile; ++x) {
                const int sx = std::min(im.width - 1, x * im.width / tile), sy = std::min(im.height - 1, y * im.height / tile);
                for (int c = 0; c < 3; ++c)
                    out.pixels[(size_t(oy + y) * size_t(out.width) + size_t(ox + x)) * 3 + size_t(c)] =
                        im.at(sy, sx, std::min(c, im.channels - 1));
            }
    }
    return out;
}

DreamTransforms parseTransforms(const std::string& text) {
    if (text == "standard") return DreamTransforms::standard();
    if (text == "maco") return DreamTransforms::macoCrops();
    DreamTransforms t;
    if (text == "none" || text.empty()) return t;
    std::stringstream ss(text);
    for (std::string item; std::getline(ss, item, ',');) {
        const auto eq = item.find('=');
        const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
        auto bad = [&] {
            return Error("--transforms: '" + item + "' is not one of pad=N, jitter=N, scale=LO-HI, rotate=DEG, jitter2=N, crops=N, "
                         "crop=LO-HI, noise=X, blur=SIGMA, or a base: standard, maco, none");
        };
        auto num = [&](const std::string& v) {
            try {
                size_t used = 0;
                const float f = std::stof(v, &used);
                if (used != v.size() || !std::isfinite(f) || f < 0) throw bad();
                return f;
            } catch (const Error&) {
                throw;
            } catch (const std::exception&) {
                throw bad();
            }
        };
        auto pair = [&](float& lo, float& hi) {
            const auto dash = value.find('-', 1);
            lo = num(value.substr(0, dash));
            hi = dash == std::string::npos ? lo : num(value.substr(dash + 1));
            if (hi < lo) throw bad();
        };
        if (item == "standard" || item == "maco" || item == "none") {  // a base for the items after it
            t = item == "standard" ? DreamTransforms::standard() : item == "maco" ? DreamTransforms::macoCrops() : DreamTransforms::none();
            continue;
        }
        if (eq == std::string::npos) throw bad();
        if (key == "pad") t.pad = int(num(value));
        else if (key == "jitter") t.jitter = int(num(value));
        else if (key == "jitter2") t.jitter2 = int(num(value));
        else if (key == "rotate") t.rotate = num(value);
        else if (key == "noise") t.noise = num(value);
        else if (key == "blur") t.blur = num(value);
        else if (key == "crops") t.crops = std::max(1, int(num(value)));
        else if (key == "crop") {
            pair(t.cropMin, t.cropMax);
            if (t.cropMin <= 0 || t.cropMax > 1) throw bad();
        } else if (key == "scale") {
            float lo, hi;
            pair(lo, hi);
            t.scales.clear();
            for (int i = 0; i < 5; ++i) t.scales.push_back(lo + (hi - lo) * float(i) / 4.f);
        } else {
            throw bad();
        }
    }
    return t;
}

std::string transformsText(const DreamTransforms& t) {
    if (!t.any()) return "none";
    std::vector<std::string> items;
    if (t.pad) items.push_back("pad=" + std::to_string(t.pad));
    if (t.jitter) items.push_back("jitter=" + std::to_string(t.jitter));
    if (!t.scales.empty()) items.push_back("scale=" + scalesText(t.scales));
    if (t.rotate > 0) items.push_back("rotate=" + fmt("%g", t.rotate));
    if (t.jitter2) items.push_back("jitter2=" + std::to_string(t.jitter2));
    if (t.crops > 1) items.push_back("crops=" + std::to_string(t.crops));
    if (t.cropMin < 1.f) items.push_back("crop=" + fmt("%g", t.cropMin) + "-" + fmt("%g", t.cropMax));
    if (t.noise > 0) items.push_back("noise=" + fmt("%g", t.noise));
    if (t.blur > 0) items.push_back("blur=" + fmt("%g", t.blur));
    std::string s;
    for (const auto& i : items) s += (s.empty() ? "" : ",") + i;
    return s;
}

}  // namespace preimage::app
