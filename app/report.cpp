#include "report.h"

#include "convert.h"
#include "render/grid.h"

#include <cctype>
#include <cstdio>
#include <filesystem>

namespace preimage::app {

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

render::Image restartsGrid(const InversionResult& r) {
    std::vector<render::GridCell> cells{{toBytes(r.target), "original", r.layer}};
    for (size_t i = 0; i < r.preimages.size(); ++i)
        cells.push_back({toBytes(r.preimages[i]), "restart " + std::to_string(i + 1), fmt("err %.3f", r.featureErrorPerRestart[i])});
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

}  // namespace preimage::app
