// NumPy .npy files (format version 1.0, little-endian float32, C order): what `preimage features` writes
// and what tests read back from Python references. Plain C++, no torch; any thread (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace preimage {

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

// Writes atomically (temporary file + rename). Throws Error on failure.
void writeNpy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data);
// Reads '<f4' (and '<f8', converted) C-order arrays. Throws Error naming the problem.
NpyArray readNpy(const std::string& path);

}  // namespace preimage
