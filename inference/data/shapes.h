// A dataset with known factors (as dSprites and 3D-shapes are made): procedurally rendered sprites whose factors
// (shape, colour, scale, rotation, x, y, background shade) are each drawn, independently and uniformly, from a few
// discrete levels. Anti-aliased by 4x4 supersampling. Deterministic: image i depends only on (seed, i), so any
// thread count and any subset give the same pixels. Plain C++, any thread.
#pragma once

#include "render/image.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace preimage {

struct ShapeFactor {
    const char* name;
    std::vector<std::string> levels;  // level names as written in factors.csv's header notes and manifest
};

// The seven factors, in factors.csv's column order.
const std::vector<ShapeFactor>& shapeFactors();
constexpr int kShapeFactorCount = 7;
using ShapeCode = std::array<int, kShapeFactorCount>;  // level index per factor

// Image i's factor levels (uniform and independent given the seed).
ShapeCode shapeCode(uint64_t seed, uint64_t index);
// The sprite of a factor code, RGB, size x size.
render::Image renderShape(const ShapeCode& code, int size);

}  // namespace preimage
