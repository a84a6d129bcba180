#include "app/cli/report.h"

#include "app/cli/args.h"
#include "inference/data/convert.h"
#include "render/grid.h"

#include <cctype>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <unistd.h>

namespace preimage::app {

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

render::Image restartsGrid(const InversionResult& r) {
    std::vector<render::GridCell> cells{{toBytes(r.target), "original", r.layer}};
    // Numbered from 0 like the JSON's feature_error_per_restart and best_restart; the best one framed.
    for (size_t i = 0; i < r.preimages.size(); ++i) {
        const bool best = r.preimages.size() > 1 && int(i) == r.best;
        cells.push_back({toBytes(r.preimages[i]), "restart " + std::to_string(i) + (best ? " (best)" : ""),
                         fmt("err %.3f", r.featureErrorPerRestart[i]), best});
    }
    if (r.preimages.size() > 1) cells.push_back({toBytes(r.variance), "variance", fmt("max %.2e", r.varianceMax)});
    return render::composeGrid(cells, int(cells.size()));
}

std::vector<std::string> chunkTitles(int chunks, int classChunk, const std::vector<std::string>& factors) {
    bool named = false;
    for (const auto& f : factors) named = named || !f.empty();
    std::vector<std::string> out;
    for (int k = 0; k < chunks; ++k) {
        std::string t = "chunk " + std::to_string(k);
        if (named && k < int(factors.size()) && !factors[size_t(k)].empty()) t += ": " + factors[size_t(k)];
        else if (!named && k == classChunk) t += " (class)";
        out.push_back(t);
    }
    return out;
}

render::Image traversalGrid(const std::vector<std::vector<ImageF>>& rows, const std::vector<float>& values,
                            const std::vector<std::string>& rowTitles) {
    std::vector<render::GridCell> cells;
    for (size_t k = 0; k < rows.size(); ++k)
        for (size_t j = 0; j < rows[k].size() && j < values.size(); ++j)
            cells.push_back({toBytes(rows[k][j]), j == 0 && k < rowTitles.size() ? rowTitles[k] : "", fmt("%+.1f sd", double(values[j]))});
    return render::composeGrid(cells, int(std::max<size_t>(1, values.size())), 84);
}

render::Image analogyFigure(const std::vector<ImageF>& abcd, const std::vector<std::string>& subtitles) {
    const char* titles[] = {"a", "b", "c", "d"};
    const char* signs[] = {":", "::", ":"};
    const int signScale = 3, signPad = 10;
    std::vector<render::Image> parts;
    int width = 0, height = 0;
    for (size_t i = 0; i < 4 && i < abcd.size(); ++i) {
        parts.push_back(render::composeGrid({{toBytes(abcd[i]), titles[i], i < subtitles.size() ? subtitles[i] : "", i == 3}}, 1));
        width += parts.back().width + (i < 3 ? render::textWidth(signs[i], signScale) + 2 * signPad : 0);
        height = std::max(height, parts.back().height);
    }
    render::Image canvas{width, height, 3, std::vector<uint8_t>(size_t(width) * height * 3, 32)};
    const uint8_t white[3] = {235, 235, 235};
    int x = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        for (int y = 0; y < p.height; ++y) std::memcpy(canvas.at(x, y), p.at(0, y), size_t(p.width) * 3);
        x += p.width;
        if (i + 1 < parts.size()) {  // the sign, level with the images' middle (8 px padding + 112 px cell)
            render::drawText(canvas, x + signPad, 8 + 56 - 5 * signScale, signs[i], white, signScale);
            x += render::textWidth(signs[i], signScale) + 2 * signPad;
        }
    }
    return canvas;
}

render::Image depthCurve(const std::vector<std::string>& layers, const std::vector<double>& mean,
                         const std::vector<double>& sd, const std::string& title, const std::string& yLabel) {
    const int W = 760, H = 440, left = 64, right = 24, top = 40, bottom = 70;
    const int pw = W - left - right, ph = H - top - bottom;
    render::Image c{W, H, 3, std::vector<uint8_t>(size_t(W) * H * 3, 24)};
    auto put = [&](int x, int y, const uint8_t* rgb) {
        if (x >= 0 && y >= 0 && x < W && y < H) std::memcpy(c.at(x, y), rgb, 3);
    };
    const uint8_t axis[3] = {150, 155, 165}, grid[3] = {48, 50, 58}, band[3] = {40, 70, 120}, line[3] = {110, 170, 255},
                  text[3] = {225, 225, 225};
    const size_t n = std::min(layers.size(), std::min(mean.size(), sd.size()));
    double ymax = 0;
    for (size_t i = 0; i < n; ++i)
        if (std::isfinite(mean[i] + sd[i])) ymax = std::max(ymax, mean[i] + sd[i]);
    // A round step (1, 2 or 5 times a power of ten) giving at most 6 intervals; the axis ends on a step.
    double step = std::pow(10.0, std::floor(std::log10(std::max(ymax, 1e-6) / 6.0)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (ymax / (step * m) <= 6.0) {
            step *= m;
            break;
        }
    const int intervals = std::max(1, int(std::ceil(ymax / step - 1e-9)));
    ymax = intervals * step;
    auto px = [&](double i) { return left + int(std::lround(n > 1 ? i * pw / double(n - 1) : pw / 2.0)); };
    auto py = [&](double v) { return top + ph - int(std::lround(std::clamp(v, 0.0, ymax) / ymax * ph)); };
    for (int k = 0; k <= intervals; ++k) {
        const double v = step * k;
        const int y = py(v);
        for (int x = left; x <= left + pw; ++x) put(x, y, k == 0 ? axis : grid);
        render::drawText(c, 6, y - 5, fmt(step < 0.1 ? "%.2f" : "%.1f", v), axis);
    }
    for (int y = top; y <= top + ph; ++y) put(left, y, axis);
    // The band: mean +- sd, linear between layers, column by column.
    for (size_t i = 0; i + 1 < n; ++i)
        for (int x = px(double(i)); x <= px(double(i + 1)); ++x) {
            const double t = px(double(i + 1)) > px(double(i)) ? double(x - px(double(i))) / (px(double(i + 1)) - px(double(i))) : 0;
            const double m = mean[i] + t * (mean[i + 1] - mean[i]), s = sd[i] + t * (sd[i + 1] - sd[i]);
            for (int y = py(m + s); y <= py(std::max(0.0, m - s)); ++y) put(x, y, band);
        }
    // The mean: 2 px line and 5 px points.
    for (size_t i = 0; i + 1 < n; ++i) {
        const int x0 = px(double(i)), x1 = px(double(i + 1)), steps = std::max(1, x1 - x0);
        for (int k = 0; k <= steps; ++k) {
            const double t = double(k) / steps;
            const int x = x0 + int(std::lround(t * (x1 - x0)));
            const int y = py(mean[i] + t * (mean[i + 1] - mean[i]));
            put(x, y, line), put(x, y + 1, line);
        }
        const int ya = py(mean[i]), yb = py(mean[i + 1]);  // steep segments: fill the vertical run too
        if (yb != ya)
            for (int y = std::min(ya, yb); y <= std::max(ya, yb); ++y) put(x0 + (y - ya) * (x1 - x0) / (yb - ya), y, line);
    }
    for (size_t i = 0; i < n; ++i)
        for (int dy = -2; dy <= 2; ++dy)
            for (int dx = -2; dx <= 2; ++dx) put(px(double(i)) + dx, py(mean[i]) + dy, text);
    // x labels: as many as fit (about 80 px each), on two staggered rows.
    const size_t every = std::max<size_t>(1, size_t(std::ceil(double(n) * 80.0 / (2.0 * pw))));
    for (size_t i = 0, row = 0; i < n; i += every, ++row) {
        std::string name = layers[i].size() > 14 ? ".." + layers[i].substr(layers[i].size() - 12) : layers[i];
        const int x = px(double(i));
        for (int y = top + ph; y < top + ph + 4 + int(row % 2) * 14; ++y) put(x, y, axis);
        render::drawText(c, std::clamp(x - render::textWidth(name) / 2, 0, W - render::textWidth(name)),
                         top + ph + 6 + int(row % 2) * 14, name, text);
    }
    render::drawText(c, left, 12, title, text);
    render::drawText(c, left, H - 16, yLabel + " (line: mean; band: one standard deviation) by layer, in depth order", axis);
    return c;
}

render::Image upscale(const ImageF& image, int scale) {
    const int side = std::max(image.width, image.height);
    const int factor = scale > 0 ? scale : std::max(1, 112 / std::max(1, side));
    return render::scaleNearest(toBytes(image), factor);
}

void checkPng(const std::string& path, const std::string& option) {
    auto ext = std::filesystem::path(path).extension().string();
    for (auto& c : ext) c = char(std::tolower(c));
    if (ext != ".png") throw Error(option + " must name a .png file, got '" + path + "'");
}

void checkOutputs(const Args& args, std::initializer_list<OutputOption> outputs) {
    namespace fs = std::filesystem;
    if (args.has("scale")) {  // the upscaled output's size, checked before the run
        const int scale = args.integer("scale", 0);
        if (scale < 0 || scale > 32) throw Error("--scale must be between 0 (automatic) and 32, got " + std::to_string(scale));
    }
    std::vector<std::string> inputs;
    for (const char* in : {"image", "model", "a", "b", "c", "data", "accentuate", "judge"})
        if (args.has(in)) inputs.push_back(args.str(in));
    for (const auto& o : outputs) {
        if (!args.has(o.option)) continue;
        const std::string path = args.str(o.option);
        const std::string option = std::string("--") + o.option;
        if (path.empty()) throw Error(option + " names no file");
        std::error_code ec;
        if (fs::is_directory(path, ec)) throw Error(option + " '" + path + "' is a folder, not a file");
        if (*o.extension) {
            auto ext = fs::path(path).extension().string();
            for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
            if (ext != o.extension) throw Error(option + " must name a " + o.extension + " file, got '" + path + "'");
        }
        fs::path folder = fs::path(path).parent_path();
        if (folder.empty()) folder = ".";
        if (!fs::is_directory(folder, ec))
            throw Error(option + " '" + path + "': the folder '" + folder.string() + "' does not exist");
        if (::access(folder.c_str(), W_OK) != 0)
            throw Error(option + " '" + path + "': the folder '" + folder.string() + "' is not writable");
        for (const auto& in : inputs) {
            const bool same = fs::exists(path, ec) && fs::exists(in, ec) ? fs::equivalent(path, in, ec)
                                                                         : fs::weakly_canonical(path, ec) == fs::weakly_canonical(in, ec);
            if (same) throw Error(option + " '" + path + "' is the input '" + in + "': it would be overwritten");
        }
    }
}

}  // namespace preimage::app
