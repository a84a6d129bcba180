// splitmix64 (Steele, Lea and Flood 2014): the one small seeded generator of the project's deterministic choices
// (the shapes generator, the folder shuffle, the analogy triples, per-image seeds). Header-only, no state: any
// thread, each caller with its own generator.
#pragma once

#include <cstdint>

namespace preimage {

constexpr uint64_t kSplitMixGamma = 0x9e3779b97f4a7c15ull;

// The output for state x: x advanced by the gamma, then mixed.
constexpr uint64_t splitmix64(uint64_t x) {
    x += kSplitMixGamma;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// The stream from a starting state.
struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        const uint64_t r = splitmix64(state);
        state += kSplitMixGamma;
        return r;
    }
    uint64_t below(uint64_t bound) { return next() % bound; }
};

}  // namespace preimage
