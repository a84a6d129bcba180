#include "inference/data/shapes.h"
#include "inference/data/splitmix.h"

#include <algorithm>
#include <cmath>

namespace preimage {
namespace {

constexpr float kPi = 3.14159265358979f;

// Shape-local point (u, v), unit size: inside?
bool inside(int shape, float u, float v) {
    switch (shape) {
        case 0: return std::abs(u) <= 0.8f && std::abs(v) <= 0.8f;  // square (area close to the disc's)
        case 1: return u * u + v * v <= 0.81f;                       // disc
        case 2: {                                                    // triangle, apex up (v grows downwards)
            const float h = 1.f;
            if (v > 0.5f * h) return false;
            return std::abs(u) * 1.7320508f <= (v + h) * 1.f && v >= -h;
        }
        default: return (std::abs(u) <= 1.f && std::abs(v) <= 0.33f) || (std::abs(u) <= 0.33f && std::abs(v) <= 1.f);  // cross
    }
}

}  // namespace

const std::vector<ShapeFactor>& shapeFactors() {
    static const std::vector<ShapeFactor> f = {
        {"shape", {"square", "disc", "triangle", "cross"}},
        {"colour", {"red", "green", "blue", "yellow", "magenta", "cyan"}},
        {"scale", {"0.12", "0.16", "0.2", "0.24"}},  // half-size as a fraction of the image side (whole in frame)
        {"rotation", {"0", "15", "30", "45", "60", "75"}},  // degrees
        {"x", {"0.3", "0.4", "0.5", "0.6", "0.7"}},  // centre as a fraction of the side
        {"y", {"0.3", "0.4", "0.5", "0.6", "0.7"}},
        {"background", {"0.0", "0.15", "0.3", "0.45"}},  // gray level
    };
    return f;
}

ShapeCode shapeCode(uint64_t seed, uint64_t index) {
    ShapeCode c{};
    uint64_t state = splitmix64(seed * 0x100000001b3ull + 0x5bd1e995u) ^ splitmix64(index + 0x2545f4914f6cdd1dull);
    const auto& f = shapeFactors();
    for (int k = 0; k < kShapeFactorCount; ++k) {
        state = splitmix64(state);
        c[size_t(k)] = int((state >> 11) % uint64_t(f[size_t(k)].levels.size()));
    }
    return c;
}

render::Image renderShape(const ShapeCode& c, int size) {
    static const uint8_t colours[6][3] = {{230, 40, 40}, {40, 200, 60}, {50, 90, 235}, {235, 215, 40}, {220, 50, 210}, {40, 210, 225}};
    const auto& f = shapeFactors();
    auto level = [&](int k) { return std::stof(f[size_t(k)].levels[size_t(c[size_t(k)])]); };
    const float scale = level(2) * float(size), angle = level(3) * kPi / 180.f;
    const float cx = level(4) * float(size), cy = level(5) * float(size);
    const float bg = level(6) * 255.f;
    const float cs = std::cos(angle), sn = std::sin(angle);
    render::Image img{size, size, 3, std::vector<uint8_t>(size_t(size) * size * 3, uint8_t(bg + 0.5f))};
    const uint8_t* fg = colours[c[1]];
    const float reach = scale * 1.5f;  // beyond this distance from the centre no shape reaches
    const int x0 = std::max(0, int(cx - reach)), x1 = std::min(size - 1, int(cx + reach) + 1);
    const int y0 = std::max(0, int(cy - reach)), y1 = std::min(size - 1, int(cy + reach) + 1);
    constexpr int S = 4;  // 4x4 samples a pixel
    for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
            int hits = 0;
            for (int sy = 0; sy < S; ++sy)
                for (int sx = 0; sx < S; ++sx) {
                    const float px = float(x) + (float(sx) + 0.5f) / S - cx, py = float(y) + (float(sy) + 0.5f) / S - cy;
                    const float u = (cs * px + sn * py) / scale, v = (-sn * px + cs * py) / scale;
                    hits += inside(c[0], u, v);
                }
            if (!hits) continue;
            const float a = float(hits) / float(S * S);
            uint8_t* p = img.at(x, y);
            for (int ch = 0; ch < 3; ++ch) p[ch] = uint8_t(bg * (1.f - a) + float(fg[ch]) * a + 0.5f);
        }
    return img;
}

}  // namespace preimage
