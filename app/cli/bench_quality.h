// `preimage bench --quality`: evaluations and seconds each optimiser needs to reach the paper protocol's objective,
// per tap (bench_quality.cpp). The command's thread.
#pragma once

#include "app/cli/args.h"

#include <ostream>
#include <string>

namespace preimage::app {

int benchQuality(const Args& a, Model& model, const ImageF& image, const std::string& imagePath, std::ostream& out);

}  // namespace preimage::app
