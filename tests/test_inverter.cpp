// Learned inverters: the committed decoders reproduce their manifests; training reduces the loss.
#include "inference/inversion/dream.h"
#include "inference/learned/inverter.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace preimage;

TEST_CASE("the committed learned inverters reproduce their manifest metrics") {
    auto m = Model::load("fashion");
    const auto test = loadFashionMnist(false);
    std::vector<float> rmse;
    for (int i = 0; i < int(m->layers().size()); ++i) {
        const auto& layer = m->layers()[size_t(i)].name;
        INFO("layer " << layer);
        REQUIRE(m->hasLearnedInverter(i));
        std::ifstream in(m->directory() + "/inverters/" + layer + ".json");
        auto manifest = nlohmann::json::parse(in);
        auto metrics = evaluateInverter(*m, i, test);
        CHECK(metrics.testRmse == doctest::Approx(manifest["metrics"]["test_pixel_rmse"].get<float>()).epsilon(1e-3));
        CHECK(manifest["training"]["seed"].get<int>() == 1);
        rmse.push_back(metrics.testRmse);
    }
    // Shallow features keep the image; the class scores keep only its class.
    CHECK(rmse.front() < 0.05f);
    CHECK(rmse.back() > 2.f * rmse.front());
}

TEST_CASE("a learned pre-image comes with its feature error and pixel RMSE") {
    auto m = Model::load("fashion");
    auto image = loadFashionMnist(false, 5).image(4);
    auto p = m->learnedPreimage(image, m->layerIndex("conv2"));
    CHECK(p.image.width == 28);
    CHECK(p.image.channels == 1);
    CHECK(p.pixelRmse < 0.15f);
    CHECK(p.featureError < 0.6f);
    CHECK_FALSE(m->hasLearnedInverter(-1));
}

TEST_CASE("a short inverter training run reduces its loss") {
    auto m = Model::load("fashion");
    TrainInverterOptions o;
    o.layer = "pool2";
    o.outDir = testutil::path("inverter");
    o.epochs = 1;
    o.trainLimit = 2000;
    o.testLimit = 500;
    auto metrics = trainInverter(*m, o);
    INFO("first batch " << metrics.firstLoss << ", epoch mean " << metrics.lastLoss);
    CHECK(metrics.lastLoss < 0.8f * metrics.firstLoss);
    CHECK(std::filesystem::exists(o.outDir + "/pool2.pt"));
    CHECK(std::filesystem::exists(o.outDir + "/pool2.json"));
}

TEST_CASE("dreaming through the relu4 inverter drives a class score past what training images reach on average") {
    auto m = Model::load("fashion");
    DreamParams p;
    p.unit = "Sneaker";
    p.iterations = 150;
    p.dataImages = 2000;
    auto r = dream(*m, p);
    INFO("activation " << r.activation << " from " << r.startActivation << "; training max " << r.trainMax << ", mean "
                       << r.trainMean);
    CHECK(r.layer == "fc5");
    CHECK(r.channel == 7);
    CHECK(r.activation > r.startActivation + 1.f);
    CHECK(r.activation > r.trainMean);
    CHECK(r.activation > 0.5f * r.trainMax);
    CHECK(r.history.size() == 150);
    // The dreamed image is classified as the unit's class.
    auto scores = m->logits({r.image})[0];
    CHECK(std::max_element(scores.begin(), scores.end()) - scores.begin() == 7);
}

TEST_CASE("dream refuses units that do not exist") {
    auto m = Model::load("fashion");
    for (const char* bad : {"nonsense", "conv9:1", "fc5:12", "conv1:-1"}) {
        DreamParams p;
        p.unit = bad;
        p.iterations = 1;
        CHECK_THROWS_AS(dream(*m, p), Error);
    }
}

TEST_CASE("preferred inputs in pixel space work on any network: a channel of a TorchScript ResNet tap and a class") {
    // Lucent-style activation maximisation (no generator): the unit's activation rises far above the start's, and a
    // class unit's image is classified as that class.
    ModelOptions o;
    o.size = 32;
    auto m = Model::load(testutil::testModel("resnet_scripted.pt"), o);
    DreamParams p;
    p.generator.clear();
    p.learningRate = 0.05f;
    p.iterations = 100;
    p.unit = "layer2.0.relu#2:5";
    auto r = dream(*m, p);
    INFO("channel: activation " << r.activation << " from " << r.startActivation);
    CHECK(r.layer == "layer2.0.relu#2");
    CHECK(r.channel == 5);
    CHECK(std::isnan(r.trainMax));
    CHECK(r.activation > r.startActivation + 0.2f);
    CHECK(r.activation > 3.f * std::max(0.05f, r.startActivation));
    p.unit = "3";
    auto c = dream(*m, p);
    INFO("class 3: activation " << c.activation << " from " << c.startActivation);
    auto scores = m->logits({c.image})[0];
    CHECK(std::max_element(scores.begin(), scores.end()) - scores.begin() == 3);
    CHECK(c.image.width == 32);
    // A unit the network does not have is refused, with the channels it has.
    p.unit = "layer2.0.relu#2:9999";
    CHECK_THROWS_AS(dream(*m, p), Error);
}
