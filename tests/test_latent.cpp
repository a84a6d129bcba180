// Chunk maths on hand-made codes: swaps, slider moves, traversals and both analogy rules are exact.
// No torch: these are the functions the app and the CLI call on real codes.
#include "inference/engine.h"
#include "inference/latent/latent.h"

#include <doctest/doctest.h>

using namespace preimage;

namespace {

const ChunkLayout L{3, 2};  // 3 chunks of 2 dims
const Code A{1, 2, 3, 4, 5, 6};
const Code B{10, 20, 30, 40, 50, 60};

}  // namespace

TEST_CASE("swapping a chunk takes exactly that chunk from b and everything else from a") {
    CHECK(swapChunk(A, B, 0, L) == Code{10, 20, 3, 4, 5, 6});
    CHECK(swapChunk(A, B, 2, L) == Code{1, 2, 3, 4, 50, 60});
    CHECK(mixChunks(A, B, {true, false, true}, L) == Code{10, 20, 3, 4, 50, 60});
    CHECK(mixChunks(A, B, {false, false, false}, L) == A);
    CHECK_THROWS_AS(swapChunk(A, B, 3, L), Error);
    CHECK_THROWS_AS(swapChunk(Code{1, 2, 3}, B, 0, L), Error);  // wrong size, with a message
}

TEST_CASE("sliders move a chunk along its principal directions by sigma units") {
    std::vector<ChunkBasis> bases(3);
    for (auto& b : bases) b = {{0, 0}, {{1, 0}, {0, 1}}, {2, 0.5f}};
    bases[1].directions = {{0.6f, 0.8f}, {-0.8f, 0.6f}};
    std::vector<std::vector<float>> sliders{{1.5f, 0}, {1, -2}, {}};
    const Code out = applySliders(A, sliders, bases, L);
    // chunk 0: + 1.5 * 2 * (1, 0); chunk 1: + 1 * 2 * (0.6, 0.8) - 2 * 0.5 * (-0.8, 0.6); chunk 2 untouched.
    CHECK(out[0] == doctest::Approx(4));
    CHECK(out[1] == doctest::Approx(2));
    CHECK(out[2] == doctest::Approx(3 + 1.2 + 0.8));
    CHECK(out[3] == doctest::Approx(4 + 1.6 - 0.6));
    CHECK(out[4] == 5);
    CHECK(out[5] == 6);
    CHECK(applySliders(A, {}, bases, L) == A);

    const auto grid = traversalCodes(A, bases, L, {-3, 0, 3});
    REQUIRE(grid.size() == 3);
    REQUIRE(grid[1].size() == 3);
    CHECK(grid[0][1] == A);                               // 0 sd is the code itself
    CHECK(grid[0][2][0] == doctest::Approx(1 + 3 * 2));    // chunk 0 along PC1
    CHECK(grid[1][0][2] == doctest::Approx(3 - 3 * 2 * 0.6));
    CHECK(grid[1][0][0] == A[0]);                          // other chunks fixed
}

TEST_CASE("analogies: vector arithmetic and chunk transfer") {
    const Code C{7, 7, 7, 7, 7, 7};
    CHECK(analogyVector(A, B, C, 1.f) == Code{16, 25, 34, 43, 52, 61});
    CHECK(analogyVector(A, B, C, 0.f) == C);
    const Code h = analogyVector(A, B, C, 0.5f);
    CHECK(h[0] == doctest::Approx(7 + 4.5));

    // a:b differ in chunk 1 far more than a:c do; in chunk 2 as much as a:c: only chunk 1 is copied into c.
    const Code a{0, 0, 0, 0, 0, 0}, b{0, 0, 3, 4, 1, 0}, c{0.1f, 0, 0.3f, 0, 1, 0};
    const auto d = chunkDistances(a, b, L);
    CHECK(d[1] == doctest::Approx(5));
    CHECK(d[2] == doctest::Approx(1));
    CHECK(differingChunks(a, b, c, L, 2.f) == std::vector<bool>{false, true, false});
    CHECK(analogyChunks(a, b, c, L, 2.f) == Code{0.1f, 0, 3, 4, 1, 0});
    // The chunk with the largest ratio always counts, even below the threshold.
    CHECK(differingChunks(a, b, c, L, 100.f) == std::vector<bool>{false, true, false});
    // c = a: every chunk where b differs is copied, so a:b::a:d gives d = b.
    CHECK(analogyChunks(a, b, a, L, 2.f) == b);
}
