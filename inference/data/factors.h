// Known factors of a dataset folder: factors.csv ("file" then one column per factor, a level index per cell),
// as `preimage data shapes` writes it. Torch-free; any thread.
#pragma once

#include "inference/data/image_set.h"

#include <string>
#include <vector>

namespace preimage {

struct FactorSet {
    std::vector<std::string> names;          // factors.csv's columns after "file"
    std::vector<std::vector<int>> labels;    // [factor][image]: level index
};

// Whether a folder has factors.csv.
bool hasFactors(const std::string& dir);
// The factors of the images `indices` of `set` (a folder at `dir`), in that order. Throws Error naming the first
// image without a row, and for a malformed file.
FactorSet readFactors(const std::string& dir, const ImageSet& set, const std::vector<int>& indices);

}  // namespace preimage
