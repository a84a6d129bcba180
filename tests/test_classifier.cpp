// The trained default classifier reproduces its manifest; the trainer reduces its loss.
#include "test_util.h"
#include "inference/learned/training.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <filesystem>

using namespace preimage;

TEST_CASE("the committed default classifier reaches its manifest accuracy (>= 91%)") {
    auto m = Model::load("fashion");
    auto manifest = nlohmann::json::parse(m->manifestJson());
    const float recorded = manifest["metrics"]["test_accuracy"];
    const float acc = evaluateAccuracy(*m, loadFashionMnist(false));
    INFO("accuracy " << acc << ", manifest " << recorded);
    CHECK(acc >= 0.91f);
    CHECK(std::abs(acc - recorded) < 0.002f);
    CHECK(manifest["training"]["seed"].get<int>() == 1);
    CHECK(manifest["training"]["command"].get<std::string>().find("train classifier") != std::string::npos);
}

TEST_CASE("a short training run reduces the classifier's loss") {
    TrainClassifierOptions o;
    o.outDir = testutil::path("train");
    o.epochs = 1;
    o.trainLimit = 3000;
    o.testLimit = 1000;
    o.seed = 7;
    auto metrics = trainClassifier(o);
    INFO("first batch loss " << metrics.firstLoss << ", epoch mean " << metrics.lastLoss);
    CHECK(metrics.lastLoss < 0.8f * metrics.firstLoss);
    CHECK(metrics.testAccuracy > 0.6f);
    CHECK(std::filesystem::exists(o.outDir + "/weights.pt"));
    CHECK(std::filesystem::exists(o.outDir + "/manifest.json"));
}

TEST_CASE("a missing dataset names the Debian package") {
    CHECK_THROWS_WITH_AS(loadFashionMnist(true, 0, "/nonexistent"), doctest::Contains("dataset-fashion-mnist"), Error);
}
