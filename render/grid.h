// Labelled image grids for export (the paper's per-layer figure). CPU only, any thread.
#pragma once

#include "render/image.h"

#include <string>
#include <vector>

namespace preimage::render {

struct GridCell {
    Image image;
    std::string title;     // e.g. the layer name
    std::string subtitle;  // e.g. "err 0.082"
    bool highlight = false;  // framed and titled in amber (e.g. the best restart)
};

// Lays cells out left to right, `columns` per row, each image scaled by an integer factor (nearest
// neighbour) to about `cellSize` pixels on its longer side, with its title and subtitle underneath.
// White on dark grey, RGB.
Image composeGrid(const std::vector<GridCell>& cells, int columns, int cellSize = 112);

// Draws text with a small built-in bitmap font (stb_easy_font), scaled by an integer factor.
void drawText(Image& canvas, int x, int y, const std::string& text, const uint8_t rgb[3], int scale = 1);
int textWidth(const std::string& text, int scale = 1);

}  // namespace preimage::render
