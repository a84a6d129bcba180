#include "inference/latent/latent.h"

#include "inference/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace preimage {

void checkCode(const Code& code, const ChunkLayout& layout, const char* what) {
    if (int(code.size()) != layout.size())
        throw Error(std::string(what) + " has " + std::to_string(code.size()) + " values, expected " +
                    std::to_string(layout.chunks) + " chunks of " + std::to_string(layout.dims));
}

Code mixChunks(const Code& base, const Code& from, const std::vector<bool>& take, const ChunkLayout& layout) {
    checkCode(base, layout, "base code");
    checkCode(from, layout, "source code");
    Code out = base;
    for (int k = 0; k < layout.chunks && k < int(take.size()); ++k)
        if (take[size_t(k)])
            std::copy_n(from.begin() + k * layout.dims, layout.dims, out.begin() + k * layout.dims);
    return out;
}

Code swapChunk(const Code& a, const Code& b, int chunk, const ChunkLayout& layout) {
    if (chunk < 0 || chunk >= layout.chunks)
        throw Error("chunk " + std::to_string(chunk) + " does not exist (0.." + std::to_string(layout.chunks - 1) + ")");
    std::vector<bool> take(size_t(layout.chunks), false);
    take[size_t(chunk)] = true;
    return mixChunks(a, b, take, layout);
}

Code applySliders(const Code& base, const std::vector<std::vector<float>>& sliders, const std::vector<ChunkBasis>& bases,
                  const ChunkLayout& layout) {
    checkCode(base, layout);
    Code out = base;
    for (int k = 0; k < layout.chunks && k < int(sliders.size()) && k < int(bases.size()); ++k) {
        const auto& basis = bases[size_t(k)];
        for (size_t j = 0; j < sliders[size_t(k)].size() && j < basis.directions.size(); ++j) {
            const float t = sliders[size_t(k)][j] * basis.sigma[j];
            if (t == 0.f) continue;
            for (int i = 0; i < layout.dims; ++i) out[size_t(k * layout.dims + i)] += t * basis.directions[j][size_t(i)];
        }
    }
    return out;
}

std::vector<std::vector<Code>> traversalCodes(const Code& base, const std::vector<ChunkBasis>& bases, const ChunkLayout& layout,
                                              const std::vector<float>& values, int direction) {
    std::vector<std::vector<Code>> rows;
    for (int k = 0; k < layout.chunks; ++k) {
        std::vector<Code> row;
        for (float t : values) {
            std::vector<std::vector<float>> sliders(size_t(layout.chunks));
            sliders[size_t(k)].assign(size_t(direction + 1), 0.f);
            sliders[size_t(k)][size_t(direction)] = t;
            row.push_back(applySliders(base, sliders, bases, layout));
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

Code analogyVector(const Code& a, const Code& b, const Code& c, float strength) {
    if (a.size() != b.size() || a.size() != c.size()) throw Error("analogy codes differ in size");
    Code d(c.size());
    for (size_t i = 0; i < c.size(); ++i) d[i] = c[i] + strength * (b[i] - a[i]);
    return d;
}

std::vector<float> chunkDistances(const Code& a, const Code& b, const ChunkLayout& layout) {
    checkCode(a, layout);
    checkCode(b, layout);
    std::vector<float> d(size_t(layout.chunks));
    for (int k = 0; k < layout.chunks; ++k) {
        double s = 0;
        for (int i = 0; i < layout.dims; ++i) {
            const double v = double(b[size_t(k * layout.dims + i)]) - double(a[size_t(k * layout.dims + i)]);
            s += v * v;
        }
        d[size_t(k)] = float(std::sqrt(s));
    }
    return d;
}

std::vector<bool> differingChunks(const Code& a, const Code& b, const Code& c, const ChunkLayout& layout, float threshold) {
    const auto ab = chunkDistances(a, b, layout), ac = chunkDistances(a, c, layout);
    std::vector<float> ratio(ab.size());
    for (size_t k = 0; k < ab.size(); ++k)
        ratio[k] = ac[k] > 0 ? ab[k] / ac[k] : (ab[k] > 0 ? std::numeric_limits<float>::infinity() : 0.f);
    std::vector<bool> take(ab.size());
    for (size_t k = 0; k < ab.size(); ++k) take[k] = ratio[k] > threshold;
    take[size_t(std::max_element(ratio.begin(), ratio.end()) - ratio.begin())] = true;
    return take;
}

Code analogyChunks(const Code& a, const Code& b, const Code& c, const ChunkLayout& layout, float threshold) {
    return mixChunks(c, b, differingChunks(a, b, c, layout, threshold), layout);
}

}  // namespace preimage
