// What the CLI and the app both write: number formatting and the restarts grid. Any thread.
#pragma once

#include "inference/engine.h"
#include "render/image.h"

#include <string>

namespace preimage::app {

std::string fmt(const char* format, double value);  // printf-style, one number

// Original, every restart (labelled with its feature error) and, with several, the variance map.
render::Image restartsGrid(const InversionResult& result);

}  // namespace preimage::app
