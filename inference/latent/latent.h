// Maths on chunked latent codes (Hu et al. 2018): a code is `chunks` consecutive chunks of `dims`
// floats. Swapping chunks, slider moves along a chunk's principal directions, and the two analogy
// rules. Plain C++ (no torch): exact, cheap, and shared by the engine, the app and the tests. Pure functions:
// any thread.
#pragma once

#include <string>
#include <vector>

namespace preimage {

using Code = std::vector<float>;

struct ChunkLayout {
    int chunks = 8, dims = 8;
    int size() const { return chunks * dims; }
};

// Principal directions of one chunk over the training set: directions[j] is a unit vector of `dims`
// floats, sigma[j] the standard deviation of the codes along it (descending).
struct ChunkBasis {
    std::vector<float> mean;
    std::vector<std::vector<float>> directions;
    std::vector<float> sigma;
};

// Throws Error unless `code` has layout.size() floats.
void checkCode(const Code& code, const ChunkLayout& layout, const char* what = "code");

// `base` with the chunks k where take[k] replaced by `from`'s chunk k.
Code mixChunks(const Code& base, const Code& from, const std::vector<bool>& take, const ChunkLayout& layout);
// `a` with chunk `chunk` taken from `b` (the swap of issue 4: the class-carrying chunk from b, the rest from a).
Code swapChunk(const Code& a, const Code& b, int chunk, const ChunkLayout& layout);

// Slider positions, in standard deviations, per chunk and direction: code_k = base_k + sum_j t_kj sigma_kj v_kj.
// `sliders[k]` may be shorter than the basis (missing positions are 0).
Code applySliders(const Code& base, const std::vector<std::vector<float>>& sliders, const std::vector<ChunkBasis>& bases,
                  const ChunkLayout& layout);

// A traversal grid's codes: row k moves chunk k along its principal direction `direction` to each of
// `values` (in standard deviations, from `base`), the other chunks fixed.
std::vector<std::vector<Code>> traversalCodes(const Code& base, const std::vector<ChunkBasis>& bases, const ChunkLayout& layout,
                                              const std::vector<float>& values, int direction = 0);

// Analogy a:b::c:d by vector arithmetic: d = c + strength * (b - a).
Code analogyVector(const Code& a, const Code& b, const Code& c, float strength);

// Per-chunk Euclidean distance ||b_k - a_k||.
std::vector<float> chunkDistances(const Code& a, const Code& b, const ChunkLayout& layout);
// The chunks where a and b differ, in the analogy's own terms: chunk k differs when b departs from a by more
// than `threshold` times as much as c (a's analogue) does, ||b_k - a_k|| > threshold ||c_k - a_k||; the chunk
// with the largest ratio always counts. (Between two random images every chunk differs; what sets a:b
// apart from a:c is the factor the analogy is about.)
std::vector<bool> differingChunks(const Code& a, const Code& b, const Code& c, const ChunkLayout& layout, float threshold);
// Analogy by chunk transfer: d = c with b's chunks wherever a and b differ.
Code analogyChunks(const Code& a, const Code& b, const Code& c, const ChunkLayout& layout, float threshold);

}  // namespace preimage
