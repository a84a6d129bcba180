// A tap's activations as a picture: a feature map's channels as a grid of tiles (each normalised on its own),
// a token tap (T x D) or a vector as one heat map. Plain bytes, any thread; the app shows it and names the
// channel under the cursor with locate().
#pragma once

#include "render/image.h"

#include <cstdint>
#include <vector>

namespace preimage::render {

struct FeatureGrid {
    enum Kind { Maps, Tokens, Vector } kind = Maps;
    Image image;             // RGB
    int channels = 0;        // Maps: C; Tokens: T (rows); Vector: D
    int mapW = 1, mapH = 1;  // one tile's size (Maps); 1 x 1 cells for Vector; D x 1 rows for Tokens
    int cols = 1, rows = 1;  // tiles per row and column
    int gap = 1;             // pixels between tiles
    int shown = 0;           // channels drawn (Maps: at most maxChannels)
    // The channel (Maps, Vector: element; Tokens: token row) and position inside its tile under image pixel
    // (px, py); false over a gap or outside.
    bool locate(int px, int py, int& channel, int& x, int& y) const;
    // Image pixel of a channel's tile's top-left corner.
    void tileOrigin(int channel, int& px, int& py) const;
};

// values: one image's activations, row-major with `shape` (no batch dimension). Sequential colours for taps
// without negative values (after a ReLU), blue-black-red for signed ones.
FeatureGrid featureGrid(const float* values, const std::vector<int64_t>& shape, int maxChannels = 1024);

}  // namespace preimage::render
