// Graph taps on TorchScript networks (inference/graph_taps.*), against forward hooks in Python: the
// references are written by tests/make_models.py (small torchvision ResNet, DenseNet, MobileNetV3,
// GoogLeNet and ViT, random weights), scripted and traced.
#include "app/cli/cli.h"
#include "inference/data/convert.h"
#include "inference/model/model_impl.h"
#include "inference/data/npy.h"
#include "test_util.h"

#include <doctest/doctest.h>
#include <torch/autograd.h>

#include <fstream>
#include <sstream>

using namespace preimage;

namespace {

std::string model(const std::string& name) { return testutil::testModel(name); }
using testutil::loadError;
std::string ref(const std::string& arch, const std::string& file) {
    return testutil::testModels() + "/ref/" + arch + "/" + file;
}

std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

torch::Tensor tensorOf(const NpyArray& a) {
    return torch::from_blob(const_cast<float*>(a.data.data()), a.shape, torch::kFloat).clone();
}

float relativeError(const torch::Tensor& got, const torch::Tensor& want) {
    REQUIRE(got.sizes() == want.sizes());
    return (got - want).abs().max().item<float>() / (1e-6f + want.abs().max().item<float>());
}

std::string layerError(Model& m, const std::string& layer) {
    try {
        m.layerIndex(layer);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

const char* kArchs[] = {"resnet", "densenet", "mobilenet", "googlenet", "vit"};

}  // namespace

TEST_CASE("taps match forward hooks, in name, order, value and input gradient, scripted and traced") {
    REQUIRE(!testutil::testModels().empty());
    for (const char* arch : kArchs) {
        const auto hookNames = lines(ref(arch, "taps.txt"));
        const auto picked = lines(ref(arch, "picked.txt"));
        const auto x = tensorOf(readNpy(ref(arch, "input.npy")));
        for (const char* variant : {"_scripted.pt", "_traced.pt"}) {
            INFO(arch << variant);
            ModelOptions o;
            o.size = int(x.size(2));
            auto m = Model::load(model(std::string(arch) + variant), o);
            // Every hook call is a tap, in the same order. (A tracer records a module returning
            // (tensor, None) as returning the tensor: hooks see element [0].)
            std::vector<std::string> names;
            for (const auto& l : m->layers()) names.push_back(l.name);
            REQUIRE(names.size() == hookNames.size());
            for (size_t i = 0; i < names.size(); ++i) {
                const std::string& h = hookNames[i];
                const bool traceFlattened = h.size() > 3 && h.compare(h.size() - 3, 3, "[0]") == 0 &&
                                            names[i] == h.substr(0, h.size() - 3);
                CHECK_MESSAGE((names[i] == h || traceFlattened), names[i] << " vs hook " << h);
            }
            auto& impl = m->impl();
            for (const auto& name : picked) {
                INFO(name);
                torch::NoGradGuard noGrad;
                auto want = tensorOf(readNpy(ref(arch, name + ".npy")));
                auto got = impl.forwardTo(x, m->layerIndex(name));
                CHECK(relativeError(got, want) < 1e-4f);
            }
            for (size_t k = 1; k <= 2; ++k) {
                const std::string& name = picked[k];
                INFO("gradient at " << name);
                auto want = tensorOf(readNpy(ref(arch, name + ".grad.npy")));
                auto xg = x.clone().set_requires_grad(true);
                auto tap = impl.forwardTo(xg, m->layerIndex(name));
                auto grad = torch::autograd::grad({tap.square().sum()}, {xg})[0];
                CHECK(relativeError(grad, want) < 1e-3f);
            }
        }
    }
}

TEST_CASE("the cut graph stops at the tap, and multi-call modules and tuples are named") {
    ModelOptions o;
    o.size = 32;
    auto m = Model::load(model("resnet_scripted.pt"), o);
    auto& taps = *m->impl().taps;
    // The work after the tap is not done: no convolution of layer2 in the graph of layer1.
    const std::string early = taps.graphText(taps.find("layer1"));
    const std::string late = taps.graphText(taps.find("layer4"));
    auto count = [](const std::string& text, const std::string& what) {
        size_t n = 0;
        for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
        return n;
    };
    CHECK(count(early, "aten::_convolution") + count(early, "aten::conv2d") == 3);
    CHECK(count(late, "aten::_convolution") + count(late, "aten::conv2d") == 12);  // stem, 4 x 2, 3 downsamples
    // A module called twice: each call is a tap; the bare name says which to choose.
    CHECK(m->layerIndex("layer1.0.relu#1") < m->layerIndex("layer1.0.conv2"));
    CHECK(m->layerIndex("layer1.0.relu#2") > m->layerIndex("layer1.0.bn2"));
    const std::string bare = layerError(*m, "layer1.0.relu");
    CHECK(bare.find("is called 2 times") != std::string::npos);
    CHECK(bare.find("layer1.0.relu#1") != std::string::npos);
    CHECK(layerError(*m, "layer9").find("has no layer 'layer9'") != std::string::npos);
    // Parents and lambda_tv by the fraction of weight layers executed.
    const auto& l = m->layers()[size_t(m->layerIndex("layer2.0.conv1"))];
    CHECK(l.parent == "layer2.0");
    CHECK(l.module == "layer2.0.conv1");
    CHECK(m->defaultLambdaTv(m->layerIndex("conv1")) == 1.f);
    CHECK(m->defaultLambdaTv(m->layerIndex("fc")) == 100.f);

    auto t = Model::load(model("tuple_module.pt"), o);
    CHECK(t->layerIndex("pair[0]") < t->layerIndex("pair[1]"));
    const std::string tupleError = layerError(*t, "pair");
    CHECK(tupleError.find("returns a tuple") != std::string::npos);
    CHECK(tupleError.find("pair[0]") != std::string::npos);
}

TEST_CASE("networks the chain walker refused now load: skip connections and concatenations") {
    auto squeeze = Model::load(model("squeezenet.pt"));
    CHECK(squeeze->layerIndex("features.3.expand3x3") >= 0);
    CHECK(squeeze->layerIndex("features.3") > squeeze->layerIndex("features.3.expand3x3_activation"));
    auto residual = Model::load(model("residual.pt"));
    CHECK(residual->layers().size() == 2);
}

TEST_CASE("clear refusals name the problem") {
    CHECK(loadError("frozen.pt").find("frozen with torch.jit.freeze") != std::string::npos);
    const std::string training = loadError("traced_training.pt");
    CHECK(training.find("traced in training mode") != std::string::npos);
    CHECK(training.find("module 'bn1'") != std::string::npos);
    CHECK(training.find("model.eval()") != std::string::npos);
    CHECK(loadError("two_inputs.pt").find("forward() takes 2 inputs ('y' has no default)") != std::string::npos);
    CHECK(loadError("nan_weights.pt").find("non-finite output") != std::string::npos);
    CHECK(loadError("not_a_model.pt").find("is not a TorchScript file") != std::string::npos);
    CHECK(loadError("state_dict.pt").find("is not a TorchScript file") != std::string::npos);
    ModelOptions o;
    o.size = 16;
    auto cf = Model::load(model("control_flow.pt"), o);
    CHECK(cf->layerIndex("stem") == 0);
    const std::string inside = layerError(*cf, "a");
    CHECK(inside.find("inside data-dependent control flow") != std::string::npos);
    CHECK(inside.find("torch.jit.trace") != std::string::npos);
}

TEST_CASE("a TorchScript archive's preimage.json gives the input spec, and flags override it") {
    auto m = Model::load(model("alexnet_spec.pt"));
    CHECK(m->input().width == 96);
    CHECK(m->input().mean[1] == doctest::Approx(0.5));
    CHECK(m->input().std[2] == doctest::Approx(0.25));
    REQUIRE(m->classNames().size() == 10);
    CHECK(m->classNames()[3] == "c3");
    ModelOptions o;
    o.size = 128;
    o.mean = {0.4f};
    auto overridden = Model::load(model("alexnet_spec.pt"), o);
    CHECK(overridden->input().width == 128);
    CHECK(overridden->input().mean[2] == doctest::Approx(0.4));
    CHECK(overridden->input().std[0] == doctest::Approx(0.25));
}

TEST_CASE("a preimage.json that is not JSON, or holds the spec one level too deep, is refused with the reason") {
    const std::string nested = loadError("head_nested_spec.pt");
    CHECK(nested.find("its preimage.json holds the input spec under \"input\"; its keys (width, ...) go at the top level") !=
          std::string::npos);
    const std::string bad = loadError("head_bad_spec.pt");
    CHECK(bad.find("its preimage.json is not valid JSON") != std::string::npos);
}

TEST_CASE("preimage features writes the tap's output as .npy, equal to the engine's value") {
    const std::string out = testutil::path("f.npy");
    const std::string image = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
    std::ostringstream o, e;
    int code = app::runCli({"preimage", "features", "--model", model("densenet_traced.pt"), "--size", "32", "--image", image,
                            "--layer", "features.denseblock2", "--out", out},
                           o, e);
    INFO(e.str());
    REQUIRE(code == 0);
    auto a = readNpy(out);
    ModelOptions mo;
    mo.size = 32;
    auto m = Model::load(model("densenet_traced.pt"), mo);
    const int layer = m->layerIndex("features.denseblock2");
    std::vector<int64_t> shape;
    ImageF prepared = m->prepare(loadImageF(image));
    auto values = m->features(prepared, layer, shape);
    const auto& ls = m->layers()[size_t(layer)].shape;
    CHECK(a.shape == std::vector<int64_t>{1, ls[0], 4, 4});
    CHECK(a.shape == shape);
    REQUIRE(a.data.size() == values.size());
    float maxDiff = 0;
    for (size_t i = 0; i < values.size(); ++i) maxDiff = std::max(maxDiff, std::abs(a.data[i] - values[i]));
    CHECK(maxDiff == 0.f);
    std::ostringstream o2, e2;
    CHECK(app::runCli({"preimage", "features", "--model", model("densenet_traced.pt"), "--size", "32", "--image", image,
                       "--layer", "features.nothing", "--out", out},
                      o2, e2) == 2);
    CHECK(e2.str().find("has no layer 'features.nothing'") != std::string::npos);
}

TEST_CASE("inversion at a mid-depth tap of a residual network, and at token and vector taps") {
    const std::string photo = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
    ModelOptions o;
    o.size = 32;
    auto m = Model::load(model("resnet_traced.pt"), o);
    InversionParams p;
    p.iterations = 200;
    auto r = invert(*m, loadImageF(photo), m->layerIndex("layer2"), p);
    INFO("feature error " << r.featureError << ", first loss " << r.history.front().featureLoss);
    CHECK(r.warnings.empty());
    // From noise the normalised feature error starts near 1 (loss ~1); it must end well below.
    CHECK(r.history.front().featureLoss > 0.5f);
    CHECK(r.featureError < 0.35f);

    auto vit = Model::load(model("vit_scripted.pt"), o);
    const int tokens = vit->layerIndex("encoder.layers.encoder_layer_0");
    CHECK(vit->layers()[size_t(tokens)].shape == std::vector<int64_t>{17, 32});
    p.iterations = 100;
    p.mask.firstChannel = 0;
    p.mask.lastChannel = 15;
    auto t = invert(*vit, loadImageF(photo), tokens, p);
    CHECK(t.featureError < 0.6f);
    p.mask.w = p.mask.h = 2;
    try {
        invert(*vit, loadImageF(photo), tokens, p);
        FAIL("a window on tokens must be refused");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("tokens: no spatial layout") != std::string::npos);
    }
}
