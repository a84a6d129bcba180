// HyperNet decoders: the committed comparison reproduces its manifest; the ablation fails visibly.
#include "test_util.h"
#include "inference/learned/hypernet.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace preimage;

TEST_CASE("the committed HyperNet comparison reproduces its manifest, and z = 0 is clearly worse") {
    auto m = Model::load("fashion");
    REQUIRE(hasHyperNet(*m, "relu4"));
    std::ifstream in(m->directory() + "/hypernet/relu4.json");
    const auto manifest = nlohmann::json::parse(in);
    const auto r = evaluateHyperNets(*m, "relu4", loadFashionMnist(false));
    INFO("plain " << r.plainRmse << ", [z,n] " << r.concatRmse << ", hypernet " << r.hyperRmse << ", z=0 " << r.hyperZeroZRmse);
    const auto& v = manifest["variants"];
    CHECK(r.plainRmse == doctest::Approx(v["plain"]["test_pixel_rmse"].get<float>()).epsilon(1e-3));
    CHECK(r.concatRmse == doctest::Approx(v["concat"]["test_pixel_rmse"].get<float>()).epsilon(1e-3));
    CHECK(r.hyperRmse == doctest::Approx(v["hypernet"]["test_pixel_rmse"].get<float>()).epsilon(1e-3));
    // The extra code helps, and without the discriminative features the decoder fails.
    CHECK(r.hyperRmse < r.plainRmse);
    CHECK(r.hyperZeroZRmse > 1.3f * r.hyperRmse);
}

TEST_CASE("a HyperNet pre-image of one image, and its ablation") {
    auto m = Model::load("fashion");
    auto image = loadFashionMnist(false, 3).image(2);
    auto full = hyperNetPreimage(*m, "relu4", DecoderVariant::HyperNet, image);
    auto ablated = hyperNetPreimage(*m, "relu4", DecoderVariant::HyperNet, image, true);
    CHECK(full.image.width == 28);
    CHECK(full.pixelRmse < ablated.pixelRmse);
    CHECK(full.featureError < ablated.featureError);
}

TEST_CASE("a short HyperNet training run reduces its loss") {
    auto m = Model::load("fashion");
    TrainHyperNetOptions o;
    o.layer = "fc5";
    o.outDir = testutil::path("hypernet");
    o.epochs = 1;
    o.trainLimit = 1500;
    o.testLimit = 300;
    auto r = trainHyperNets(*m, o);
    CHECK(r.lastLoss < 0.8f * r.firstLoss);
    CHECK(std::filesystem::exists(o.outDir + "/fc5.hypernet.pt"));
    CHECK(std::filesystem::exists(o.outDir + "/fc5.json"));
}
