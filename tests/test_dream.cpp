// Preferred inputs as the field renders them today (inference/inversion/dream.h, image_param.h): every
// parametrisation raises its unit on a trained network, Fourier and MACO images have natural images' falling
// spectrum where pixel images do not, a MACO image keeps the fixed magnitude, accentuation stays within its
// penalty's distance, a batch (the atlas) equals its units rendered one by one, and the numbers (robustness, the
// judge's rank) are those of the image.
#include "inference/data/convert.h"
#include "inference/inversion/dream.h"
#include "inference/inversion/dream_unit.h"
#include "inference/inversion/image_param.h"
#include "test_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/fft.h>
#include <torch/optim/adam.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

using namespace preimage;

namespace {

int top1(Model& m, const ImageF& image) {
    auto s = m.logits({m.prepare(image)}).at(0);
    return int(std::max_element(s.begin(), s.end()) - s.begin());
}

// The exponent k of the radially averaged amplitude spectrum A(f) ~ f^-k of an image's luminance (least squares in
// log-log over 2 cycles per image up to 0.5 cycles per pixel): natural photographs ~1.3 (assets/spectra), white noise 0.
double spectrumSlope(const ImageF& image) {
    auto x = imageToTensor(image).mean(0);
    x = x - x.mean();
    const int64_t H = x.size(0), W = x.size(1);
    auto A = torch::fft::rfft2(x).abs();
    auto fy = torch::arange(H, torch::kFloat);
    fy = torch::where(fy >= float((H + 1) / 2), fy - float(H), fy) / float(H);
    auto fx = torch::arange(W / 2 + 1, torch::kFloat) / float(W);
    auto f = (fy.view({-1, 1}).square() + fx.view({1, -1}).square()).sqrt();
    std::vector<double> lx, ly;
    const double lo = 2.0 / double(std::min(H, W)), hi = 0.5;
    const int bins = 16;
    for (int b = 0; b < bins; ++b) {
        const double a = lo * std::pow(hi / lo, double(b) / bins), c = lo * std::pow(hi / lo, double(b + 1) / bins);
        auto mask = (f >= float(a)) & (f < float(c));
        if (mask.sum().item<int64_t>() == 0) continue;
        lx.push_back(std::log(std::sqrt(a * c)));
        ly.push_back(std::log(A.masked_select(mask).mean().item<double>()));
    }
    double mx = 0, my = 0;
    for (size_t i = 0; i < lx.size(); ++i) mx += lx[i], my += ly[i];
    mx /= double(lx.size()), my /= double(lx.size());
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < lx.size(); ++i) sxy += (lx[i] - mx) * (ly[i] - my), sxx += (lx[i] - mx) * (lx[i] - mx);
    return -sxy / sxx;
}

}  // namespace

TEST_CASE("each parametrisation raises its unit: classes of the trained Fashion-MNIST network (grey), a channel of SqueezeNet") {
    auto fashion = Model::load("fashion");
    auto squeezenet = Model::load("squeezenet");
    for (auto kind : {DreamParametrisation::Pixels, DreamParametrisation::Fourier, DreamParametrisation::Maco}) {
        const std::string name = parametrisationName(kind);
        DreamParams p;
        p.param = kind;
        p.iterations = 60;
        p.unit = "Sneaker";
        auto r = dream(*fashion, p);
        INFO(name << ": Sneaker " << r.startActivation << " -> " << r.activation);
        CHECK(r.param == name);
        CHECK(r.classUnit);
        CHECK(r.image.channels == 1);
        CHECK(r.activation > r.startActivation + 5.f);
        CHECK(top1(*fashion, r.image) == 7);
        CHECK(r.transparency.width == 28);
        CHECK(r.history.size() == 60);
        // A channel of a trained ImageNet network, at 112 px (SqueezeNet is fully convolutional).
        p.unit = "fire6:3";
        p.iterations = 24;
        p.renderSide = 112;
        auto c = dream(*squeezenet, p);
        INFO(name << ": fire6:3 " << c.startActivation << " -> " << c.activation << " (under crops " << c.robustActivation << ")");
        CHECK(!c.classUnit);
        CHECK(c.image.width == 112);
        CHECK(c.image.channels == 3);
        CHECK(c.activation > 5.f * std::max(1.f, c.startActivation) + 20.f);
    }
}

TEST_CASE("Fourier and MACO images fall off with frequency as photographs do; pixel images do not") {
    auto m = Model::load("squeezenet");
    auto photo = loadImageF(testutil::sample("photo_chelsea-cat"));
    const double natural = spectrumSlope(m->prepare(photo));
    INFO("the cat photograph: A(f) ~ f^-" << natural);
    CHECK(natural > 1.f);
    std::map<std::string, double> slope;
    for (auto kind : {DreamParametrisation::Pixels, DreamParametrisation::Fourier, DreamParametrisation::Maco}) {
        DreamParams p;
        p.param = kind;
        p.unit = "goldfish";
        p.iterations = 24;
        p.renderSide = 112;  // SqueezeNet is fully convolutional: a quarter of the work
        if (kind == DreamParametrisation::Maco) {
            p.defaultTransforms = false;
            p.transforms = DreamTransforms::macoCrops();
            p.transforms.crops = 2;
        }
        auto r = dream(*m, p);
        const std::string name = parametrisationName(kind);
        slope[name] = spectrumSlope(r.image);
        INFO(name << ": activation " << r.startActivation << " -> " << r.activation << ", A(f) ~ f^-"
                                       << slope[name]);
        CHECK(r.activation > r.startActivation + 5.f);
    }
    MESSAGE("A(f) ~ f^-k: photograph " << natural << ", pixels " << slope["pixels"] << ", fourier " << slope["fourier"] << ", maco " << slope["maco"]);
    CHECK(slope["fourier"] > 0.8);
    CHECK(slope["maco"] > 0.8);
    CHECK(slope["pixels"] < 0.5);
    CHECK(slope["fourier"] > slope["pixels"] + 0.5);
}

TEST_CASE("a MACO image's decorrelated channels keep the fixed magnitude while only the phase moves") {
    const int H = 48, W = 48;
    auto param = fv::makeParam(DreamParametrisation::Maco, 3, H, W, {1, 2}, torch::Tensor(), torch::kCPU);
    REQUIRE(fv::isMaco(*param));
    // A few steps towards an arbitrary target: the phase changes the image, never the magnitude.
    torch::optim::Adam optim(param->parameters(), torch::optim::AdamOptions(0.1));
    auto target = torch::rand({2, 3, H, W});
    auto before = param->image().detach().clone();
    for (int i = 0; i < 10; ++i) {
        optim.zero_grad();
        (param->image() - target).square().mean().backward();
        optim.step();
    }
    CHECK((param->image().detach() - before).abs().max().item<float>() > 0.05f);
    auto d = fv::macoDecorrelated(*param).detach();
    auto spectrum = torch::fft::rfft2(d, c10::nullopt, {-2, -1}, "ortho").abs();  // [2, 3, H, W/2+1]
    auto fixed = fv::macoMagnitude(*param).unsqueeze(0).expand_as(spectrum);
    // Columns 0 and W/2 of a half spectrum hold real-valued frequencies (irfft2 keeps their Hermitian part); the rest
    // is the magnitude as set.
    auto inner = [&](const torch::Tensor& t) { return t.slice(3, 1, W / 2); };
    const float err = ((inner(spectrum) - inner(fixed)).abs().max() / inner(fixed).max()).item<float>();
    INFO("largest deviation from the fixed magnitude: " << err);
    CHECK(err < 1e-4f);
    // And the image itself is those channels recorrelated around the natural mean.
    auto unclamped = fv::macoUnclamped(*param).detach();
    auto back = torch::einsum("ij,bjhw->bihw", {torch::inverse(fv::colourMatrix(3)), unclamped - fv::naturalMean(3).view({1, 3, 1, 1})});
    CHECK((back - d).abs().max().item<float>() < 1e-4f);
    // The magnitude is natural images': falling with frequency.
    auto m = fv::naturalSpectrum(1, 224, 224)[0];
    CHECK(m[1][1].item<float>() > 10.f * m[100][100].item<float>());
}

TEST_CASE("accentuation starts from the image and stays within the distance its penalty allows") {
    auto m = Model::load("fashion");
    auto image = std::make_shared<const ImageF>(loadImageF(testutil::sample("fashion_9")));  // an ankle boot
    double previous = 1e9;
    for (float lambda : {20.f, 200.f}) {
        for (auto kind : {DreamParametrisation::Pixels, DreamParametrisation::Fourier}) {
            DreamParams p;
            p.param = kind;
            p.unit = "Sneaker";
            p.iterations = 60;
            p.defaultTransforms = false;  // deterministic: the bound holds for the loss as optimised
            p.tv = 0;
            p.jitter = 0;
            p.accentuate = image;
            p.accentLambda = lambda;
            auto r = dream(*m, p);
            INFO(std::string(parametrisationName(kind)) << " lambda " << lambda << ": Sneaker " << r.startActivation << " -> " << r.activation
                                           << ", RMS change " << r.distance << ", bound " << r.penaltyBound);
            // The start is the image itself (its own pixels or spectrum): the activation starts at the image's.
            auto x0 = m->prepare(*image);
            float diff = 0;
            for (size_t i = 0; i < x0.pixels.size(); ++i) diff = std::max(diff, std::abs(x0.pixels[i] - r.start.pixels[i]));
            CHECK(diff < 1e-5f);
            CHECK(r.activation > r.startActivation);
            CHECK(r.distance > 0.f);
            CHECK(r.distance <= r.penaltyBound * 1.001f + 1e-6f);
            CHECK(r.difference.width == 28);
            if (kind == DreamParametrisation::Pixels) {
                CHECK(r.distance < previous);  // a stronger penalty stays nearer
                previous = r.distance;
            }
        }
    }
}

TEST_CASE("the atlas (a batch of units) equals the units rendered one by one") {
    auto m = Model::load("fashion");
    DreamParams p;
    p.param = DreamParametrisation::Fourier;
    p.iterations = 12;  // few: the paths of a batched and a lone unit drift apart from rounding as Adam goes on
    p.seed = 3;
    auto units = layerUnits(*m, m->layerIndex("conv2"), 4);
    REQUIRE(units.size() == 4);
    CHECK(units[2] == "conv2:2");
    // Without and with weight noise (the default 0.2: every unit sees the same networks, step by step, in the batch as
    // alone, and most images agree to 1e-7; the rougher landscape lets rounding grow further where it starts: conv2:3
    // differs by 0.016 on average and its activation by 0.4%, where without noise the worst unit differs by 0.0007).
    for (float noise : {0.f, 0.2f}) {
        p.weightNoise = noise;
        auto batch = dreamUnits(*m, p, units, 4);
        REQUIRE(batch.size() == 4);
        for (size_t i = 0; i < units.size(); ++i) {
            DreamParams one = p;
            one.unit = units[i];
            auto r = dream(*m, one);
            // The same computation up to the last bits of batched kernels, which Adam's first, sign-like steps amplify
            // where a gradient is near zero: the same image to a few thousandths.
            float diff = 0, sum = 0;
            for (size_t k = 0; k < r.image.pixels.size(); ++k) {
                const float d = std::abs(r.image.pixels[k] - batch[i].image.pixels[k]);
                diff = std::max(diff, d), sum += d;
            }
            const float mean = sum / float(r.image.pixels.size());
            INFO("weight noise " << noise << ", " << units[i] << ": activation " << r.activation << " alone, " << batch[i].activation
                                 << " in the batch; pixels differ by " << mean << " on average, " << diff << " at most");
            CHECK(mean < (noise > 0 ? 0.025f : 5e-3f));
            CHECK(diff < (noise > 0 ? 0.15f : 0.05f));
            CHECK(r.activation == doctest::Approx(batch[i].activation).epsilon(0.01));
            CHECK(batch[i].weightNoise == noise);
            CHECK(batch[i].channel == int(i));
        }
    }
    // The class scores' atlas: one unit per class index.
    auto classes = layerUnits(*m, int(m->layers().size()) - 1);
    CHECK(classes.size() == 10);
    CHECK(classes[7] == "7");
}

// A class is a score of the network's output, not a channel of its last tap: MobileNet V2 (the judge file) has a 1001-
// channel logits tap whose output drops the background class, so channel c of the tap is class c - 1 (its "volcano"
// images were valleys, p 0.0).
TEST_CASE("class units read the network's output where its last tap holds more (MobileNet V2's background class)") {
    auto m = Model::load(PREIMAGE_SOURCE_DIR "/tests/assets/judge/judge.pt");
    // (Its feature prior's layers: one level down, inside `features`, the network's only top-level block.)
    const auto priorLayers = defaultPriorLayers(*m);
    REQUIRE(priorLayers.size() == 9);
    CHECK(priorLayers.front() == "features.Conv");
    CHECK(priorLayers.back() == "features.expanded_conv_7");
    const auto& last = m->layers().back();
    REQUIRE(last.shape.at(0) == 1001);
    REQUIRE(m->classCount() == 1000);
    CHECK(layerUnits(*m, int(m->layers().size()) - 1).size() == 1000);
    CHECK_THROWS_WITH_AS(parseDreamUnit(*m, "1000"), doctest::Contains("classes 0-999"), Error);
    // A class by a part of its name when one name alone has it; several: the error names them.
    CHECK(parseDreamUnit(*m, "egyptian").channel == parseDreamUnit(*m, "Egyptian cat").channel);
    CHECK_THROWS_WITH_AS(parseDreamUnit(*m, "cat"), doctest::Contains("class names contain 'cat'"), Error);
    DreamParams p;
    p.param = DreamParametrisation::Fourier;
    p.iterations = 6;
    p.unit = "volcano";
    auto r = dream(*m, p);
    measureDream(*m, r, nullptr, 4, 0);
    INFO("volcano: activation " << r.startActivation << " -> " << r.activation << ", p " << r.probability);
    CHECK(r.classUnit);
    CHECK(r.channel == 980);
    CHECK(top1(*m, r.image) == 980);
    CHECK(r.probability > 0.5f);
}

// Weight noise (ghost networks): each step a nearby network, drawn from the seed and the step alone, and the network
// exactly as it was afterwards, however the run ends.
TEST_CASE("weight noise: a different network each step, the weights restored after, off where it does not belong") {
    auto m = Model::load("fashion");
    const ImageF probe = m->prepare(loadImageF(testutil::sample("fashion_7_sneaker")));
    const std::vector<float> before = m->logits({probe}).at(0);
    DreamParams p;
    p.param = DreamParametrisation::Fourier;
    p.iterations = 20;
    p.unit = "Sneaker";
    CHECK(dreamDefaults(DreamParametrisation::Fourier).weightNoise == doctest::Approx(0.2f));
    CHECK(dreamDefaults(DreamParametrisation::Pixels).weightNoise == 0.f);
    auto noisy = dream(*m, p);  // the default: 0.2
    CHECK(noisy.weightNoise == doctest::Approx(0.2f));
    CHECK(m->logits({probe}).at(0) == before);  // bitwise: the weights as they were
    p.weightNoise = 0.f;
    auto plain = dream(*m, p);
    CHECK(plain.weightNoise == 0.f);
    // The same start and transforms (same seed): only the networks differ, so the activations seen differ from the
    // first step on.
    REQUIRE(noisy.history.size() == plain.history.size());
    CHECK(noisy.history[0] != plain.history[0]);
    CHECK(noisy.activation > noisy.startActivation + 5.f);  // and it still raises the unit
    // Thrown out of the loop (a progress callback that throws, as a NaN would): the weights come back.
    p.weightNoise = 0.3f;
    CHECK_THROWS_AS(dream(*m, p, [](const DreamProgress& e) {
                        if (e.iteration == 3) throw Error("stop here");
                    }),
                    Error);
    CHECK(m->logits({probe}).at(0) == before);
    // Accentuation runs on the network itself (its penalty's bound), the generator prior refuses it, and a bad value is refused.
    DreamParams a;
    a.param = DreamParametrisation::Fourier;
    a.iterations = 4;
    a.unit = "Sneaker";
    a.accentuate = std::make_shared<const ImageF>(probe);
    CHECK(dream(*m, a).weightNoise == 0.f);
    DreamParams g;
    g.unit = "Sneaker";
    g.iterations = 2;
    g.weightNoise = 0.2f;
    CHECK_THROWS_WITH_AS(dream(*m, g), doctest::Contains("generator prior"), Error);
    p.weightNoise = 1.5f;
    CHECK_THROWS_WITH_AS(dream(*m, p), doctest::Contains("weight noise"), Error);
}

// The feature-statistics prior: early layers' per-channel statistics pulled toward the sample photographs', by default
// only where the network takes photographs (3 channels, 64 px or more).
TEST_CASE("the feature prior keeps early layers' statistics nearer photographs', on networks that take photographs") {
    auto m = Model::load("squeezenet");
    CHECK(featurePriorApplies(m->input()));
    CHECK(defaultPriorLayers(*m) == std::vector<std::string>{"conv1", "fire2", "fire3", "fire4", "fire5"});
    CHECK(dreamDefaults(DreamParametrisation::Fourier).featurePrior == doctest::Approx(15.f));
    CHECK(dreamDefaults(DreamParametrisation::Maco).featurePrior == 0.f);
    DreamParams p;
    p.param = DreamParametrisation::Fourier;
    p.iterations = 24;
    p.unit = "lemon";
    p.renderSide = 112;  // SqueezeNet takes any size: a quarter of the time
    auto byDefault = dream(*m, p);
    CHECK(byDefault.featurePrior == doctest::Approx(15.f));
    CHECK(byDefault.priorLayers == defaultPriorLayers(*m));
    p.featurePrior = 1e-6f;  // measures the distance, pulls nothing
    auto free = dream(*m, p);
    p.featurePrior = 200.f;
    auto pulled = dream(*m, p);
    INFO("distance: free " << free.priorDistance << ", default " << byDefault.priorDistance << ", 200 " << pulled.priorDistance);
    CHECK(byDefault.priorDistance < 0.95f * free.priorDistance);
    CHECK(pulled.priorDistance < 0.75f * free.priorDistance);
    CHECK(byDefault.activation > byDefault.startActivation + 20.f);  // the class still rises
    p.featurePrior = 0.f;
    CHECK(std::isnan(dream(*m, p).priorDistance));
    // Chosen layers; one that does not exist is named.
    p.featurePrior = 15.f;
    p.iterations = 2;
    p.priorLayers = {"fire2"};
    CHECK(dream(*m, p).priorLayers == std::vector<std::string>{"fire2"});
    p.priorLayers = {"fire2", "fire99"};
    CHECK_THROWS_WITH_AS(dream(*m, p), doctest::Contains("fire99"), Error);
    // Channels: none by default; asked for, its default layers stop before the channel's own layer (its statistics are
    // what it raises); conv1's: none, no prior.
    DreamParams c;
    c.param = DreamParametrisation::Fourier;
    c.iterations = 2;
    c.renderSide = 64;
    c.unit = "fire3:5";
    CHECK(dream(*m, c).featurePrior == 0.f);
    c.featurePrior = 15.f;
    CHECK(dream(*m, c).priorLayers == std::vector<std::string>{"conv1", "fire2"});
    c.unit = "conv1:5";
    CHECK(dream(*m, c).featurePrior == 0.f);
    // Not by default on the 28-px grey Fashion-MNIST model nor the 32-px shapes model; not when accentuating.
    auto fashion = Model::load("fashion");
    CHECK_FALSE(featurePriorApplies(fashion->input()));
    CHECK_FALSE(featurePriorApplies(Model::load("shapes")->input()));
    DreamParams f;
    f.param = DreamParametrisation::Fourier;
    f.iterations = 2;
    f.unit = "Sneaker";
    CHECK(dream(*fashion, f).featurePrior == 0.f);
    DreamParams a = p;
    a.priorLayers.clear();
    a.featurePrior.reset();
    a.accentuate = std::make_shared<const ImageF>(loadImageF(testutil::sample("photo_chelsea-cat")));
    CHECK(dream(*m, a).featurePrior == 0.f);
}

TEST_CASE("units: a neuron, a direction, and errors that name the valid range") {
    auto m = Model::load("fashion");
    auto n = parseDreamUnit(*m, "conv2:3@center");
    CHECK(n.kind == DreamUnit::Kind::Neuron);
    CHECK(n.x == 7);  // conv2 is 64x14x14
    std::string d = "conv2:dir=";
    const int64_t channels = m->layers()[size_t(m->layerIndex("conv2"))].shape[0];
    for (int64_t c = 0; c < channels; ++c) d += std::string(c ? "," : "") + (c == 1 ? "3" : c == 2 ? "4" : "0");
    auto u = parseDreamUnit(*m, d);
    CHECK(u.kind == DreamUnit::Kind::Direction);
    CHECK(u.direction[1].item<float>() == doctest::Approx(0.6f));
    DreamParams p;
    p.param = DreamParametrisation::Fourier;
    p.iterations = 30;
    for (const std::string& unit : {std::string("conv2:3@7,7"), d}) {
        p.unit = unit;
        auto r = dream(*m, p);
        INFO(unit << ": " << r.startActivation << " -> " << r.activation);
        CHECK(r.activation > r.startActivation + 0.1f);
    }
    auto message = [&](const std::string& unit) {
        try {
            parseDreamUnit(*m, unit);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(message("nonsense").find("0-9") != std::string::npos);
    CHECK(message("conv2:999").find("channels 0-" + std::to_string(channels - 1)) != std::string::npos);
    CHECK(message("conv2:1@99,0").find("positions x 0-13") != std::string::npos);
    CHECK(message("conv2:dir=1,2").find("has " + std::to_string(channels) + " channels") != std::string::npos);
    CHECK(message("nolayer:3").find("nolayer") != std::string::npos);
}

TEST_CASE("the numbers: robustness under crops, and a second network's rank of the class (the judge)") {
    auto m = Model::load("squeezenet");
    auto judge = Model::load(PREIMAGE_SOURCE_DIR "/tests/assets/judge/judge.pt");
    CHECK(judge->input().width == 224);
    CHECK(judge->classCount() == 1000);
    // On the cat photograph itself, as if it were a preferred input of "Egyptian cat".
    DreamResult r;
    r.unit = "Egyptian cat";
    r.image = m->prepare(loadImageF(testutil::sample("photo_chelsea-cat")));
    measureDream(*m, r, judge.get(), 8, 0);
    INFO("p " << r.probability << ", under crops " << r.robustProbability << ", judge rank " << r.judgeRank << " p " << r.judgeProbability);
    CHECK(r.probability > 0.3f);
    CHECK(r.robustProbability > 0.1f);
    CHECK(r.robustCrops == 8);
    CHECK(r.judgeRank >= 1);
    CHECK(r.judgeRank <= 3);  // the judge: tiger cat, Egyptian cat, tabby
    REQUIRE(r.judgeTop5.size() == 5);
    CHECK(r.judgeTop5[0].second >= r.judgeTop5[4].second);
    // A judge of other classes is refused, naming both counts.
    auto fashion = Model::load("fashion");
    try {
        checkJudge(*fashion, *judge, "judge.pt");
        FAIL("a 1000-class judge accepted for a 10-class model");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("10 class scores") != std::string::npos);
    }
}
