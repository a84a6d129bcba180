// Conversions between the engine's float images and render's 8-bit images. Any thread.
#pragma once

#include "inference/engine.h"
#include "render/image.h"

namespace preimage {

ImageF toFloat(const render::Image& image);
render::Image toBytes(const ImageF& image);
// Loads an image file for the engine; IO problems become preimage::Error.
ImageF loadImageF(const std::string& path);

}  // namespace preimage
