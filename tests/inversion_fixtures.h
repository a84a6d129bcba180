// Fixtures of the inversion tests (test_inversion.cpp, test_sobolev.cpp): the default model, its test images, and the
// trained MobileNet V2 judge on the sample photographs.
#pragma once

#include "inference/data/convert.h"
#include "inference/data/dataset.h"
#include "inference/engine.h"

#include <memory>
#include <string>

namespace testinv {

inline std::shared_ptr<preimage::Model> fashion() {
    static auto model = preimage::Model::load("fashion");
    return model;
}

inline const preimage::Dataset& testSet() {
    static preimage::Dataset d = preimage::loadFashionMnist(false, 200);
    return d;
}

// A trained MobileNet V2 (ReLU6, the judge of tests/assets/judge: a raw-pixel model, its normalisation inside), the cat
// photograph, and a tap: its last block, features.expanded_conv_16, does not take the Sobolev optimiser's 10x rate
// (README "Time to quality").
struct JudgeTap {
    std::shared_ptr<preimage::Model> model;
    preimage::ImageF cat;
    int layer;
};
inline JudgeTap judgeTap(const char* layer = "features.expanded_conv_16") {
    auto m = preimage::Model::load(PREIMAGE_SOURCE_DIR "/tests/assets/judge/judge.pt");
    const int l = m->layerIndex(layer);
    return {m, preimage::loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/photo_chelsea-cat.png"), l};
}

// The default inversion of one of the judge's taps on a sample photograph, with a fixed thread count (the path, and so
// where a ReLU6 tap lands, depends on the summation order).
inline preimage::InversionResult invertJudge(const char* layer, const std::string& photo, int threads) {
    auto [m, cat, l] = judgeTap(layer);
    const preimage::ImageF image = preimage::loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/" + photo);
    preimage::setThreads(threads);
    preimage::InversionResult r = preimage::invert(*m, image, l, preimage::InversionParams{});
    preimage::setThreads(0);
    return r;
}

}  // namespace testinv
