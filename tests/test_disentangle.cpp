// The disentanglement scores (inference/disentangle.h) on codes whose answer is known: a code that holds each
// factor in its own dimensions, and the same code mixed by a rotation.
#include "inference/latent/disentangle.h"
#include "inference/engine.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>

using namespace preimage;

namespace {

// n items, `factors` factors of `levels` levels each; code dims 2f and 2f+1 hold factor f (level + noise), so
// chunk f (of 2 dims) carries factor f alone. `mix`: the code is rotated by a random orthogonal-ish mixing of
// all dimensions (every dimension a blend of every factor).
FactorCodes synthetic(int n, int factors, int levels, bool mix, uint64_t seed = 3) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> level(0, levels - 1);
    std::normal_distribution<float> noise(0.f, 0.05f);
    FactorCodes d;
    d.n = n;
    d.dims = 2 * factors;
    d.labels.assign(size_t(factors), std::vector<int>(size_t(n)));
    std::vector<float> plain(size_t(d.dims));
    std::normal_distribution<float> w(0.f, 1.f);
    std::vector<float> m(size_t(d.dims * d.dims));
    for (auto& v : m) v = w(rng);
    for (int i = 0; i < n; ++i) {
        for (int f = 0; f < factors; ++f) {
            const int l = level(rng);
            d.labels[size_t(f)][size_t(i)] = l;
            plain[size_t(2 * f)] = float(l) + noise(rng);
            plain[size_t(2 * f + 1)] = 0.5f * float(l) + noise(rng);
        }
        for (int j = 0; j < d.dims; ++j) {
            float v = plain[size_t(j)];
            if (mix) {
                v = 0;
                for (int k = 0; k < d.dims; ++k) v += m[size_t(j * d.dims + k)] * plain[size_t(k)];
            }
            d.codes.push_back(v);
        }
    }
    return d;
}

}  // namespace

TEST_CASE("the chunk x factor mAP table: chunks as rows, factors as columns, the whole code last") {
    const auto d = synthetic(600, 3, 4, false);
    const ChunkLayout layout{3, 2};
    const auto t = chunkFactorMap(d, layout, 100, 2);
    REQUIRE(t.size() == 4);  // 3 chunks + the whole code
    REQUIRE(t[0].size() == 3);
    for (int k = 0; k < 3; ++k)
        for (int f = 0; f < 3; ++f) {
            if (k == f) CHECK(t[size_t(k)][size_t(f)] > 0.95f);      // the chunk that holds it
            else CHECK(t[size_t(k)][size_t(f)] < 0.40f);             // chance is about 0.25 + ranking noise
        }
    const auto names = chunkFactorNames(t, 3, {"shape", "colour", "x"});
    CHECK(names == std::vector<std::string>{"shape", "colour", "x"});
    // Mixed codes: no chunk stands out for any factor.
    const auto tm = chunkFactorMap(synthetic(600, 3, 4, true), layout, 100, 1);
    for (int f = 0; f < 3; ++f) {
        float best = 0;
        for (int k = 0; k < 3; ++k) best = std::max(best, tm[size_t(k)][size_t(f)]);
        CHECK(best < 0.8f);
    }
    CHECK_THROWS_AS(chunkFactorMap(d, ChunkLayout{4, 2}, 100), Error);
}

TEST_CASE("MIG: 1 for a code with each factor in its own dimensions, low when they are mixed") {
    const auto clean = mutualInformationGap(synthetic(2000, 3, 4, false));
    // dims 2f and 2f+1 both carry factor f: the gap between them is 0 for a duplicated factor...
    CHECK(clean.mig < 0.2f);
    // ...so give each factor one dimension (the other noise): the gap is the whole entropy.
    auto d = synthetic(2000, 3, 4, false);
    std::mt19937_64 rng(9);
    std::normal_distribution<float> noise(0.f, 1.f);
    for (int i = 0; i < d.n; ++i)
        for (int f = 0; f < 3; ++f) d.codes[size_t(i * d.dims + 2 * f + 1)] = noise(rng);
    const auto one = mutualInformationGap(d);
    CHECK(one.mig > 0.85f);
    REQUIRE(one.perFactor.size() == 3);
    REQUIRE(one.mutualInfo.size() == 6);
    CHECK(one.mutualInfo[0][0] > 1.2f);   // H of 4 uniform levels is ln 4 = 1.386 nats
    CHECK(one.mutualInfo[1][0] < 0.05f);
    const auto mixed = mutualInformationGap(synthetic(2000, 3, 4, true));
    CHECK(mixed.mig < 0.3f);
}

TEST_CASE("gradient-boosted trees learn a split and put the importance on the dimensions that decide it") {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    const int n = 1500, dims = 6;
    std::vector<float> x;
    std::vector<int> y;
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < dims; ++j) x.push_back(u(rng));
        const float a = x[size_t(i * dims + 2)], b = x[size_t(i * dims + 4)];
        y.push_back(a > 0.2f ? 2 : (b > 0 ? 1 : 0));  // three classes, from dims 2 and 4
    }
    GradientBoostedTrees gbt;
    gbt.fit(x.data(), 1000, dims, std::vector<int>(y.begin(), y.begin() + 1000));
    CHECK(gbt.accuracy(x.data() + 1000 * dims, 500, std::vector<int>(y.begin() + 1000, y.end())) > 0.97f);
    const auto& imp = gbt.importances();
    CHECK(imp[2] + imp[4] > 0.95);
    double sum = 0;
    for (double v : imp) sum += v;
    CHECK(sum == doctest::Approx(1.0));
    // two classes take the binary (one tree a stage) path
    std::vector<int> y2;
    for (int v : y) y2.push_back(v == 2 ? 7 : 3);
    GradientBoostedTrees bin;
    bin.fit(x.data(), 1000, dims, std::vector<int>(y2.begin(), y2.begin() + 1000));
    CHECK(bin.accuracy(x.data() + 1000 * dims, 500, std::vector<int>(y2.begin() + 1000, y2.end())) > 0.98f);
    CHECK(bin.importances()[2] > 0.95);
}

TEST_CASE("DCI: near 1 for a factor-per-dimension code, lower when mixed; informativeness is accuracy") {
    auto d = synthetic(1200, 3, 4, false);
    const auto clean = dciScores(d, 900, {}, 2);
    CHECK(clean.disentanglement > 0.85f);
    CHECK(clean.informativenessTest > 0.95f);
    REQUIRE(clean.importance.size() == 6);
    const auto mixed = dciScores(synthetic(1200, 3, 4, true), 900, {}, 2);
    CHECK(mixed.disentanglement < clean.disentanglement - 0.3f);
    CHECK(mixed.completeness < clean.completeness - 0.1f);
    CHECK_THROWS_AS(dciScores(d, 1200), Error);
}
