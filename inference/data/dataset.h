// Fashion-MNIST from Debian's dataset-fashion-mnist package, read straight from the gzipped IDX files.
// Torch-free; any thread.
#pragma once

#include "inference/engine.h"

#include <cstdint>
#include <string>
#include <vector>

namespace preimage {

struct Dataset {
    int count = 0, width = 0, height = 0, classes = 10, channels = 1;
    std::vector<uint8_t> images;  // count * channels * height * width: planes (C, H, W), row-major
    std::vector<uint8_t> labels;  // count
    std::vector<std::string> classNames;

    ImageF image(int i) const;  // `channels` channels (interleaved, as ImageF has them), [0,1]
};

// The directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz: $PREIMAGE_FASHION_MNIST or
// /usr/share/datasets/fashion-mnist.
std::string fashionMnistDir();

// Loads the training (60k) or test (10k) split. `limit` > 0 keeps the first `limit` items.
// Throws Error naming the Debian package when the files are missing, or naming the file when corrupt.
Dataset loadFashionMnist(bool train, int limit = 0, const std::string& dir = "");

}  // namespace preimage
