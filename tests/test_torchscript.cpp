// User networks: TorchScript files made by tests/make_models.py with python3-torchvision.
#include "app/cli/cli.h"
#include "inference/data/convert.h"
#include "inference/engine.h"
#include "test_util.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace preimage;

namespace {

std::string model(const std::string& name) { return testutil::testModel(name); }
using testutil::loadError;

const char* kPhoto = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";

}  // namespace

TEST_CASE("scripted and traced torchvision AlexNets are walked by module path") {
    REQUIRE(!testutil::testModels().empty());
    for (const char* file : {"alexnet_scripted.pt", "alexnet_traced.pt"}) {
        ModelOptions o;
        o.size = 128;
        auto m = Model::load(model(file), o);
        INFO(file);
        // Every module's output: features.0-12, features, avgpool, classifier.0-6, classifier.
        REQUIRE(m->layers().size() == 23);
        CHECK(m->layers()[3].name == "features.3");
        CHECK(m->layers()[3].kind == "Conv2d");
        CHECK(m->layers()[3].shape == std::vector<int64_t>{192, 15, 15});
        CHECK(m->layers()[13].name == "features");
        CHECK(m->layers()[16].name == "classifier.1");
        CHECK(m->layers()[16].kind == "Linear");
        // The paper's lambda_tv split on AlexNet: conv1..relu2 = 1, pool2..relu4 = 10, conv5..fc8 = 100.
        CHECK(m->defaultLambdaTv(m->layerIndex("features.4")) == 1.f);
        CHECK(m->defaultLambdaTv(m->layerIndex("features.5")) == 10.f);
        CHECK(m->defaultLambdaTv(m->layerIndex("features.9")) == 10.f);
        CHECK(m->defaultLambdaTv(m->layerIndex("features.10")) == 100.f);
    }
}

TEST_CASE("a TorchScript AlexNet layer is inverted from a real photograph") {
    ModelOptions o;
    o.size = 96;
    auto m = Model::load(model("alexnet_scripted.pt"), o);
    InversionParams p;
    p.iterations = 150;
    auto r = invert(*m, loadImageF(kPhoto), m->layerIndex("features.0"), p);
    INFO("feature error " << r.featureError);
    CHECK(r.featureError < 0.15f);
    CHECK(r.preimages[0].width == 96);
    CHECK(r.preimages[0].channels == 3);
    CHECK(r.history.back().featureLoss < 0.1f * r.history.front().featureLoss);
}

TEST_CASE("the paper's defaults converge at lambda_tv 100 on AlexNet at 227 px, without a divergence restart") {
    // The TV term at 227 px and lambda_tv 100 puts an explicit momentum step past its stability bound
    // (eta L = 6.4 > 2 (1 + 0.9)): that step diverged within 5 iterations. It is now taken implicitly.
    ModelOptions o;
    o.size = 227;
    auto m = Model::load(model("alexnet_scripted.pt"), o);
    InversionParams p;
    p.optimizer = "paper";
    p.iterations = 40;
    p.maxDivergenceRetries = 0;  // a divergence throws
    const int layer = m->layerIndex("features.10");
    REQUIRE(m->defaultLambdaTv(layer) == 100.f);
    auto r = invert(*m, loadImageF(kPhoto), layer, p);
    CHECK(r.warnings.empty());
    CHECK(r.implicitTvSteps > 0);
    CHECK(r.learningRate == doctest::Approx(0.004));
    CHECK(r.history.back().loss < 0.8f * r.history.front().loss);
}

TEST_CASE("files that are not TorchScript, or inputs a network cannot take, are refused") {
    CHECK(loadError("not_a_model.pt").find("is not a TorchScript file") != std::string::npos);
    CHECK(loadError("state_dict.pt").find("is not a TorchScript file") != std::string::npos);
    ModelOptions tiny;
    tiny.size = 10;
    CHECK(loadError("alexnet_scripted.pt", tiny).find("Output size is too small") != std::string::npos);
}

TEST_CASE("the command line walks and inverts TorchScript files too") {
    std::ostringstream out, err;
    int code = app::runCli({"preimage", "layers", "--model", model("alexnet_traced.pt"), "--size", "128"}, out, err);
    CHECK(code == 0);
    CHECK(out.str().find("features.10") != std::string::npos);
    std::ostringstream out2, err2;
    code = app::runCli({"preimage", "layers", "--model", model("squeezenet.pt")}, out2, err2);
    CHECK(code == 0);
    CHECK(out2.str().find("features.3.expand3x3") != std::string::npos);
}
