// A chunked latent code (Hu et al. mixing autoencoder) as rows of chunks: each row draws the chunk's
// values as bars, sliders along its principal directions (in standard deviations, +-3), a
// swap-from-the-second-image toggle and a reset. ImGui only; UI thread; state lives with the caller.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace preimage::widgets {

struct ChunkSlidersResult {
    bool changed = false;  // a slider moved, a swap toggled or a reset was pressed: decode again
};

// code: the current (edited) code, chunks * dims values; sliders[k][j]: position of chunk k along direction
// j; swapped[k]: chunk k comes from the second image. valueRange[k]: chunk k's bars' full scale.
ChunkSlidersResult chunkSliders(const char* id, const std::vector<float>& code, int chunks, int dims, int classChunk,
                                std::vector<std::vector<float>>& sliders, std::vector<bool>& swapped, bool canSwap,
                                const std::vector<float>& valueRange, const std::vector<std::string>& factors = {});

}  // namespace preimage::widgets
