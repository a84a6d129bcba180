#include "report.h"

#include "args.h"
#include "convert.h"
#include "render/grid.h"

#include <cctype>
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

render::Image traversalGrid(const std::vector<std::vector<ImageF>>& rows, const std::vector<float>& values, int classChunk) {
    std::vector<render::GridCell> cells;
    for (size_t k = 0; k < rows.size(); ++k)
        for (size_t j = 0; j < rows[k].size() && j < values.size(); ++j)
            cells.push_back({toBytes(rows[k][j]), j == 0 ? "chunk " + std::to_string(k) + (int(k) == classChunk ? " (class)" : "") : "",
                             fmt("%+.1f sd", double(values[j]))});
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
    for (const char* in : {"image", "model", "a", "b", "c", "data"})
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
