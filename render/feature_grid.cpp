#include "render/feature_grid.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace preimage::render {
namespace {

// t in [0,1] -> dark violet, magenta, orange, pale yellow (a magma-like ramp that reads on a dark background).
void sequential(float t, uint8_t* rgb) {
    static const float stops[5][3] = {{8, 6, 24}, {80, 24, 110}, {190, 55, 90}, {250, 150, 60}, {252, 245, 180}};
    t = std::clamp(t, 0.f, 1.f) * 4.f;
    const int i = std::min(3, int(t));
    const float f = t - float(i);
    for (int c = 0; c < 3; ++c) rgb[c] = uint8_t(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f + 0.5f);
}

// t in [-1,1] -> blue, black (0), red.
void diverging(float t, uint8_t* rgb) {
    t = std::clamp(t, -1.f, 1.f);
    const float a = std::sqrt(std::abs(t));  // small values stay visible
    if (t >= 0) {
        rgb[0] = uint8_t(20 + 235 * a), rgb[1] = uint8_t(20 + 90 * a * a), rgb[2] = uint8_t(20 + 40 * a * a);
    } else {
        rgb[0] = uint8_t(20 + 40 * a * a), rgb[1] = uint8_t(20 + 120 * a * a), rgb[2] = uint8_t(20 + 235 * a);
    }
}

}  // namespace

bool FeatureGrid::locate(int px, int py, int& channel, int& x, int& y) const {
    if (px < 0 || py < 0 || px >= image.width || py >= image.height) return false;
    const int tx = px / (mapW + gap), ty = py / (mapH + gap);
    x = px % (mapW + gap), y = py % (mapH + gap);
    if (x >= mapW || y >= mapH) return false;
    channel = ty * cols + tx;
    if (kind == Tokens) {  // one heat map: rows are tokens, columns features
        channel = py, x = px, y = 0;
        return channel < channels;
    }
    return channel < shown;
}

void FeatureGrid::tileOrigin(int channel, int& px, int& py) const {
    px = (channel % cols) * (mapW + gap);
    py = (channel / cols) * (mapH + gap);
}

FeatureGrid featureGrid(const float* v, const std::vector<int64_t>& shape, int maxChannels) {
    FeatureGrid g;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    if (shape.empty() || n <= 0) throw std::invalid_argument("featureGrid: empty activations");
    float lo = v[0], hi = v[0];
    for (int64_t i = 0; i < n; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    const bool signedValues = lo < 0;
    auto colour = [&](float value, float scale, uint8_t* rgb) {
        if (!std::isfinite(value)) {
            rgb[0] = 0, rgb[1] = 255, rgb[2] = 0;  // NaN / inf: green, impossible to miss
        } else if (signedValues) {
            diverging(scale > 0 ? value / scale : 0.f, rgb);
        } else {
            sequential(scale > 0 ? value / scale : 0.f, rgb);
        }
    };
    const int64_t spatial = shape.size() >= 3 ? n / shape[0] : 1;
    if (shape.size() >= 3 && spatial > 1) {  // C x H x W (more dimensions: folded into H)
        g.kind = FeatureGrid::Maps;
        g.channels = int(shape[0]);
        g.mapW = int(shape.back());
        g.mapH = int(spatial / shape.back());
        g.shown = std::min(g.channels, maxChannels);
        g.cols = int(std::ceil(std::sqrt(double(g.shown) * g.mapH / g.mapW)));
        g.cols = std::clamp(g.cols, 1, g.shown);
        g.rows = (g.shown + g.cols - 1) / g.cols;
    } else if (shape.size() == 2 && shape[0] > 1) {  // tokens x features
        g.kind = FeatureGrid::Tokens;
        g.channels = int(shape[0]);
        g.shown = g.channels;
        g.mapW = int(shape[1]);
        g.mapH = g.channels;
        g.gap = 0;
    } else {  // a vector (or C x 1 x 1)
        g.kind = FeatureGrid::Vector;
        g.channels = int(n);
        g.shown = g.channels;
        g.cols = int(std::ceil(std::sqrt(double(n))));
        g.rows = int((n + g.cols - 1) / g.cols);
        g.gap = 0;
    }
    const int W = g.kind == FeatureGrid::Maps ? g.cols * (g.mapW + g.gap) - g.gap : g.kind == FeatureGrid::Tokens ? g.mapW : g.cols;
    const int H = g.kind == FeatureGrid::Maps ? g.rows * (g.mapH + g.gap) - g.gap : g.kind == FeatureGrid::Tokens ? g.mapH : g.rows;
    g.image = {W, H, 3, std::vector<uint8_t>(size_t(W) * H * 3, 40)};
    if (g.kind == FeatureGrid::Maps) {
        const int64_t hw = int64_t(g.mapW) * g.mapH;
        for (int c = 0; c < g.shown; ++c) {
            const float* m = v + int64_t(c) * hw;
            float scale = 0;
            for (int64_t i = 0; i < hw; ++i)
                if (std::isfinite(m[i])) scale = std::max(scale, std::abs(m[i]));
            int ox, oy;
            g.tileOrigin(c, ox, oy);
            for (int y = 0; y < g.mapH; ++y)
                for (int x = 0; x < g.mapW; ++x) colour(m[int64_t(y) * g.mapW + x], scale, g.image.at(ox + x, oy + y));
        }
    } else {
        float scale = 0;
        for (int64_t i = 0; i < n; ++i)
            if (std::isfinite(v[i])) scale = std::max(scale, std::abs(v[i]));
        for (int64_t i = 0; i < n; ++i) {
            const int x = g.kind == FeatureGrid::Tokens ? int(i % g.mapW) : int(i % g.cols);
            const int y = g.kind == FeatureGrid::Tokens ? int(i / g.mapW) : int(i / g.cols);
            colour(v[i], scale, g.image.at(x, y));
        }
    }
    return g;
}

}  // namespace preimage::render
