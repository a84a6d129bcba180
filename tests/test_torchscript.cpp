// User networks: TorchScript files made by tests/make_models.py with python3-torchvision.
#include "app/cli.h"
#include "app/convert.h"
#include "inference/engine.h"
#include "test_util.h"

#include <doctest/doctest.h>

#include <sstream>

using namespace preimage;

namespace {

std::string model(const std::string& name) { return testutil::testModels() + "/" + name; }

std::string loadError(const std::string& name, const ModelOptions& o = {}) {
    try {
        Model::load(model(name), o);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

const char* kPhoto = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";

}  // namespace

TEST_CASE("scripted and traced torchvision AlexNets are walked by module path") {
    REQUIRE(!testutil::testModels().empty());
    for (const char* file : {"alexnet_scripted.pt", "alexnet_traced.pt"}) {
        ModelOptions o;
        o.size = 128;
        auto m = Model::load(model(file), o);
        INFO(file);
        REQUIRE(m->layers().size() == 19);
        CHECK(m->layers()[3].name == "features.3");
        CHECK(m->layers()[3].kind == "Conv2d");
        CHECK(m->layers()[3].shape == std::vector<int64_t>{192, 15, 15});
        CHECK(m->layers()[14].name == "classifier.1");
        CHECK(m->layers()[14].kind == "Linear");
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
    auto r = invert(*m, app::loadImageF(kPhoto), m->layerIndex("features.0"), p);
    INFO("feature error " << r.featureError);
    CHECK(r.featureError < 0.15f);
    CHECK(r.preimages[0].width == 96);
    CHECK(r.preimages[0].channels == 3);
    CHECK(r.history.back().featureLoss < 0.1f * r.history.front().featureLoss);
}

TEST_CASE("networks that are not TorchScript or cannot be walked are refused") {
    CHECK(loadError("not_a_model.pt").find("is not a TorchScript file") != std::string::npos);
    CHECK(loadError("state_dict.pt").find("is not a TorchScript file") != std::string::npos);
    const std::string squeeze = loadError("squeezenet.pt");
    CHECK(squeeze.find("cannot be walked layer by layer") != std::string::npos);
    CHECK(squeeze.find("features.3.expand3x3") != std::string::npos);
    CHECK(loadError("residual.pt").find("is not the sequence of its leaf modules") != std::string::npos);
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
    CHECK(code == 2);
    CHECK(err2.str().find("cannot be walked") != std::string::npos);
}
