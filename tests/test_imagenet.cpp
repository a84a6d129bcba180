// The trained ImageNet network in the box (assets/models/squeezenet: SqueezeNet 1.1, converted from the original
// release's weights) on the sample photographs, and classifier heads of other shapes.
#include "inference/data/convert.h"
#include "inference/engine.h"
#include "inference/runtime/worker.h"
#include "test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace preimage;

namespace {

int top1(Model& m, const std::string& image) {
    auto scores = m.logits({m.prepare(loadImageF(image))}).at(0);
    return int(std::max_element(scores.begin(), scores.end()) - scores.begin());
}

}  // namespace

TEST_CASE("the shipped SqueezeNet loads by name, with its input spec, Fire modules and ImageNet classes") {
    auto m = Model::load("squeezenet");
    CHECK(m->name() == "squeezenet");
    CHECK(m->input().width == 227);
    CHECK(m->input().channels == 3);
    CHECK(m->classNames().size() == 1000);
    CHECK(m->classCount() == 1000);
    CHECK(m->outputShape() == std::vector<int64_t>{1000});
    for (const char* tap : {"conv1", "pool1", "fire2", "fire5", "fire9", "conv10", "pool10", "fire4.expand3x3"})
        CHECK_NOTHROW(m->layerIndex(tap));
    CHECK(m->layers()[size_t(m->layerIndex("fire9"))].shape == std::vector<int64_t>{512, 14, 14});
    CHECK(m->layers()[size_t(m->layerIndex("pool10"))].shape == std::vector<int64_t>{1000, 1, 1});
    CHECK(m->inverterDirectory().find("assets/models/squeezenet/inverters") != std::string::npos);
}

TEST_CASE("the shipped SqueezeNet classifies the sample photographs") {
    auto m = Model::load("squeezenet");
    const auto& names = m->classNames();
    const int cat = top1(*m, testutil::sample("photo_chelsea-cat"));
    INFO("the cat photograph: " << names[size_t(cat)]);
    CHECK((names[size_t(cat)] == "Egyptian cat" || names[size_t(cat)] == "tabby" || names[size_t(cat)] == "tiger cat"));
    const int coffee = top1(*m, testutil::sample("photo_coffee"));
    CHECK(names[size_t(coffee)] == "espresso");
}

TEST_CASE("a mid-depth Fire module of the trained network is inverted from the photograph") {
    auto m = Model::load("squeezenet");
    InversionParams p;
    p.iterations = 40;
    const int layer = m->layerIndex("fire5");
    auto r = invert(*m, loadImageF(testutil::sample("photo_chelsea-cat")), layer, p);
    INFO("fire5 feature error " << r.featureError << ", loss " << r.history.front().featureLoss << " -> "
                                << r.history.back().featureLoss);
    CHECK(r.warnings.empty());  // no divergence restart at the paper's defaults
    CHECK(r.history.back().featureLoss < 0.35f * r.history.front().featureLoss);
    CHECK(r.featureError < 0.6f);
    CHECK(r.preimages[0].width == 227);
}

TEST_CASE("top-5 comes from the model's output whatever the layout of its head") {
    REQUIRE(!testutil::testModels().empty());
    struct Case {
        const char* file;
        int classes;
    };
    for (const Case c : {Case{"head_pool.pt", 7}, Case{"head_row.pt", 7}, Case{"head_linear.pt", 7}, Case{"head_maps.pt", 0},
                         Case{"squeezenet.pt", 10}}) {
        INFO(c.file);
        ModelOptions o;
        o.size = 32;
        auto m = Model::load(testutil::testModel(c.file), o);
        CHECK(m->classCount() == c.classes);
    }
    // The worker's frames carry the top-5 for a head that returns the global pool's [K, 1, 1].
    Worker w(1);
    Request r;
    r.model = testutil::testModel("head_pool.pt");
    r.modelOptions.size = 32;
    r.image = std::make_shared<const ImageF>(loadImageF(testutil::sample("photo_coffee")));
    r.layer = 0;
    r.params.iterations = 5;
    const uint64_t gen = w.post(r);
    std::optional<Frame> done;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!done && std::chrono::steady_clock::now() < end) {
        if (auto f = w.take(); f && f->generation == gen && f->done) done = *f;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(done.has_value());
    CHECK(done->error.empty());
    REQUIRE(done->imageTop5.size() == 5);
    float sum = 0;
    for (const auto& [k, prob] : done->imageTop5) {
        sum += prob;
        CHECK(k < 7);
    }
    CHECK(sum <= 1.0001f);
    CHECK(done->imageTop5[0].second >= done->imageTop5[4].second);
    CHECK(done->preimageTop5.size() == 5);
}
