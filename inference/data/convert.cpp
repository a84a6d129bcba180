#include "inference/data/convert.h"

#include <algorithm>
#include <cmath>

namespace preimage {

ImageF toFloat(const render::Image& image) {
    ImageF out;
    out.width = image.width;
    out.height = image.height;
    out.channels = image.channels;
    out.pixels.resize(image.pixels.size());
    for (size_t i = 0; i < image.pixels.size(); ++i) out.pixels[i] = float(image.pixels[i]) / 255.f;
    return out;
}

render::Image toBytes(const ImageF& image) {
    render::Image out{image.width, image.height, image.channels, {}};
    out.pixels.resize(image.pixels.size());
    for (size_t i = 0; i < image.pixels.size(); ++i) {
        float v = image.pixels[i];
        out.pixels[i] = uint8_t(std::lround(std::clamp(std::isfinite(v) ? v : 0.f, 0.f, 1.f) * 255.f));
    }
    return out;
}

ImageF loadImageF(const std::string& path) {
    try {
        return toFloat(render::loadImage(path));
    } catch (const render::IoError& e) {
        throw Error(e.what());
    }
}

}  // namespace preimage
