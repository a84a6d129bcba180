#include "render/grid.h"

#include <stb_easy_font.h>

#include <algorithm>
#include <cstring>

namespace preimage::render {

int textWidth(const std::string& text, int scale) {
    return stb_easy_font_width(const_cast<char*>(text.c_str())) * scale;
}

void drawText(Image& canvas, int x, int y, const std::string& text, const uint8_t rgb[3], int scale) {
    struct Vertex {
        float x, y, z;
        unsigned char c[4];
    };
    std::vector<Vertex> buf(text.size() * 300 + 64);
    const int quads = stb_easy_font_print(0, 0, const_cast<char*>(text.c_str()), nullptr, buf.data(),
                                          int(buf.size() * sizeof(Vertex)));
    for (int q = 0; q < quads; ++q) {
        const Vertex* v = &buf[size_t(q) * 4];
        const int x0 = x + int(v[0].x) * scale, y0 = y + int(v[0].y) * scale;
        const int x1 = x + int(v[2].x) * scale, y1 = y + int(v[2].y) * scale;
        for (int py = std::max(0, y0); py < std::min(canvas.height, y1); ++py)
            for (int px = std::max(0, x0); px < std::min(canvas.width, x1); ++px)
                std::memcpy(canvas.at(px, py), rgb, 3);
    }
}

Image composeGrid(const std::vector<GridCell>& cells, int columns, int cellSize) {
    if (cells.empty()) throw IoError("nothing to put in the grid");
    columns = std::max(1, std::min(columns, int(cells.size())));
    int cellW = 0, cellH = 0;
    std::vector<Image> scaled;
    for (const auto& c : cells) {
        const int side = std::max(c.image.width, c.image.height);
        scaled.push_back(toRgb(scaleNearest(c.image, std::max(1, cellSize / std::max(1, side)))));
        cellW = std::max(cellW, scaled.back().width);
        cellH = std::max(cellH, scaled.back().height);
    }
    const int textScale = cellW >= 160 ? 2 : 1;
    // A cell as wide as its widest label, plus a margin, so that neighbouring titles do not run together.
    for (const auto& c : cells)
        cellW = std::max(cellW, std::max(textWidth(c.title, textScale), textWidth(c.subtitle, textScale)) + 8 * textScale);
    const int pad = 8, lineH = 12 * textScale, labelH = 2 * lineH + 6;
    const int rows = (int(cells.size()) + columns - 1) / columns;
    Image canvas{pad + columns * (cellW + pad), pad + rows * (cellH + labelH + pad), 3, {}};
    canvas.pixels.assign(size_t(canvas.width) * canvas.height * 3, 32);
    const uint8_t white[3] = {235, 235, 235}, grey[3] = {160, 170, 185}, amber[3] = {255, 190, 40};
    for (size_t i = 0; i < cells.size(); ++i) {
        const int cx = pad + int(i % size_t(columns)) * (cellW + pad);
        const int cy = pad + int(i / size_t(columns)) * (cellH + labelH + pad);
        const Image& im = scaled[i];
        const int ox = cx + (cellW - im.width) / 2, oy = cy + (cellH - im.height) / 2;
        if (cells[i].highlight) {  // a 3 px frame in the padding around the image
            for (int y = oy - 4; y < oy + im.height + 4; ++y)
                for (int x = ox - 4; x < ox + im.width + 4; ++x)
                    if (x >= 0 && y >= 0 && x < canvas.width && y < canvas.height &&
                        (x < ox - 1 || y < oy - 1 || x > ox + im.width || y > oy + im.height))
                        std::memcpy(canvas.at(x, y), amber, 3);
        }
        for (int y = 0; y < im.height; ++y) std::memcpy(canvas.at(ox, oy + y), im.at(0, y), size_t(im.width) * 3);
        drawText(canvas, cx + (cellW - textWidth(cells[i].title, textScale)) / 2, cy + cellH + 4, cells[i].title,
                 cells[i].highlight ? amber : white, textScale);
        drawText(canvas, cx + (cellW - textWidth(cells[i].subtitle, textScale)) / 2, cy + cellH + 4 + lineH,
                 cells[i].subtitle, grey, textScale);
    }
    return canvas;
}

}  // namespace preimage::render
