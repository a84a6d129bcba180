// The inversion protocol on the default model and its trained weights.
#include "inference/data/convert.h"
#include "inference/data/dataset.h"
#include "inference/engine.h"
#include "inference/inversion/params.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <numeric>

using namespace preimage;

namespace {

std::shared_ptr<Model> fashion() {
    static auto model = Model::load("fashion");
    return model;
}

const Dataset& testSet() {
    static Dataset d = loadFashionMnist(false, 200);
    return d;
}

// A trained MobileNet V2 (ReLU6, the judge of tests/assets/judge: a raw-pixel model, its normalisation inside), the cat
// photograph, and a tap: its last block, features.expanded_conv_16, does not take the Sobolev optimiser's 10x rate
// (README "Time to quality").
struct JudgeTap {
    std::shared_ptr<Model> model;
    ImageF cat;
    int layer;
};
JudgeTap judgeTap(const char* layer = "features.expanded_conv_16") {
    auto m = Model::load(PREIMAGE_SOURCE_DIR "/tests/assets/judge/judge.pt");
    const int l = m->layerIndex(layer);
    return {m, loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/photo_chelsea-cat.png"), l};
}

// The default inversion of one of the judge's taps on a sample photograph, with a fixed thread count (the path, and so
// where a ReLU6 tap lands, depends on the summation order).
InversionResult invertJudge(const char* layer, const std::string& photo, int threads) {
    auto [m, cat, l] = judgeTap(layer);
    const ImageF image = loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/" + photo);
    setThreads(threads);
    InversionResult r = invert(*m, image, l, InversionParams{});
    setThreads(0);
    return r;
}

}  // namespace

TEST_CASE("the default model lists its layers with shapes") {
    auto m = fashion();
    REQUIRE(m->layers().size() == 11);
    CHECK(m->layers()[0].name == "conv1");
    CHECK(m->layers()[0].shape == std::vector<int64_t>{32, 28, 28});
    CHECK(m->layers()[2].name == "pool1");
    CHECK(m->layers()[2].shape == std::vector<int64_t>{32, 14, 14});
    CHECK(m->layers().back().name == "fc5");
    CHECK(m->layers().back().shape == std::vector<int64_t>{10});
    CHECK(m->defaultLambdaTv(0) == 1.f);
    CHECK(m->defaultLambdaTv(int(m->layers().size()) - 1) == 100.f);
    CHECK_THROWS_WITH_AS(m->layerIndex("conv9"), doctest::Contains("has no layer 'conv9'"), Error);
}

TEST_CASE("inverting conv1 on held-out test images reaches feature error < 0.1") {
    auto m = fashion();
    for (int i : {0, 7, 42}) {
        auto r = invert(*m, testSet().image(i), m->layerIndex("conv1"), InversionParams{});
        INFO("test image " << i << ": feature error " << r.featureError << ", pixel RMSE " << r.pixelRmse);
        CHECK(r.featureError < 0.1f);
        CHECK(r.pixelRmse < 0.1f);
        CHECK(r.iterations == 130);  // the default optimiser's own count
        CHECK(r.history.size() == 130);
        CHECK(r.history.back().featureLoss < 0.05f * r.history.front().featureLoss);
    }
}

TEST_CASE("the sweep's errors grow with depth on average") {
    auto m = fashion();
    std::vector<float> errors;
    for (int l = 0; l < int(m->layers().size()); ++l) errors.push_back(invert(*m, testSet().image(1), l, {}).featureError);
    const size_t third = errors.size() / 3;
    const float shallow = std::accumulate(errors.begin(), errors.begin() + long(third), 0.f) / float(third);
    const float deep = std::accumulate(errors.end() - long(third), errors.end(), 0.f) / float(third);
    INFO("shallow mean " << shallow << ", deep mean " << deep);
    CHECK(deep > shallow);
}

TEST_CASE("restarts run as one batch and expose what the layer is invariant to") {
    auto m = fashion();
    InversionParams p;
    p.restarts = 4;
    p.iterations = 200;
    p.seed = 5;
    auto r = invert(*m, testSet().image(3), m->layerIndex("fc4"), p);
    REQUIRE(r.preimages.size() == 4);
    REQUIRE(r.featureErrorPerRestart.size() == 4);
    CHECK(r.featureError == *std::min_element(r.featureErrorPerRestart.begin(), r.featureErrorPerRestart.end()));
    // Different random starts give different pre-images at a deep layer.
    CHECK(r.varianceMax > 1e-4f);
    CHECK(r.variance.width == 28);
    // Same seed, same result.
    auto again = invert(*m, testSet().image(3), m->layerIndex("fc4"), p);
    CHECK(again.featureErrorPerRestart == r.featureErrorPerRestart);
}

TEST_CASE("channel-group and spatial masks restrict the target") {
    auto m = fashion();
    InversionParams p;
    p.iterations = 200;
    p.mask.firstChannel = 0;
    p.mask.lastChannel = 3;
    auto r = invert(*m, testSet().image(0), m->layerIndex("conv2"), p);
    CHECK(r.featureError < 0.3f);
    p.mask = {};
    p.mask.x = 2, p.mask.y = 2, p.mask.w = 3, p.mask.h = 3;
    auto w = invert(*m, testSet().image(0), m->layerIndex("conv2"), p);
    CHECK(w.featureError < 0.3f);
    // Only a neighbourhood is constrained: the pre-image outside its receptive field stays near the start.
    CHECK(w.pixelRmse > r.pixelRmse);
    p.mask.x = 10;  // conv2 is 14x14 wide: 10 + 3 + 3 > 14
    p.mask.w = 8;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), m->layerIndex("conv2"), p), doctest::Contains("outside layer"), Error);
    p.mask = {};
    p.mask.firstChannel = 0;
    p.mask.lastChannel = 99;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), m->layerIndex("conv2"), p), doctest::Contains("channel group"), Error);
    p.mask = {};
    p.mask.w = 1, p.mask.h = 1;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), m->layerIndex("fc4"), p), doctest::Contains("needs a [C,H,W] feature map"), Error);
}

TEST_CASE("divergence is detected, reported, and the run restarted with a lower rate") {
    auto m = fashion();
    InversionParams p;
    p.optimizer = "paper";
    p.iterations = 100;
    p.learningRate = 4.f;  // diverges; 0.4 still does on conv2; 0.04 converges
    auto r = invert(*m, testSet().image(2), m->layerIndex("conv2"), p);
    REQUIRE(!r.warnings.empty());
    CHECK(r.warnings[0].find("diverged") != std::string::npos);
    CHECK(r.learningRate == doctest::Approx(0.04f));
    CHECK(r.warnings.size() == 2);
    CHECK(std::isfinite(r.featureError));
    p.learningRate = 1e12f;
    p.maxDivergenceRetries = 1;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(2), m->layerIndex("conv2"), p), doctest::Contains("giving up"), Error);
    // The message blames the term that grew, and a huge lambda (its term past a float's range) is a divergence,
    // not an overflow error.
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(2), m->layerIndex("conv2"), p),
                         doctest::Contains("the feature term dominates: lower --lr"), Error);
    p.learningRate = 0.004f;
    p.lambdaAlpha = 1e30f;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(2), m->layerIndex("conv2"), p),
                         doctest::Contains("the alpha-norm term dominates: lower --lambda-alpha (now 1e+30) or --lr"), Error);
    p.lambdaAlpha = 1e-5f;
    p.lambdaTv = 1e30f;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(2), m->layerIndex("conv2"), p),
                         doctest::Contains("the TV term dominates: lower --tv (now 1e+30) or --lr"), Error);
}

TEST_CASE("progress events carry each loss term and can cancel between iterations") {
    auto m = fashion();
    std::atomic<bool> cancel{false};
    std::vector<ProgressEvent> events;
    InversionParams p;
    p.previewEveryMs = 1;
    auto r = invert(*m, testSet().image(4), m->layerIndex("relu2"), p,
                    [&](const ProgressEvent& e) {
                        events.push_back(e);
                        if (e.iteration == 25) cancel = true;
                    },
                    &cancel);
    CHECK(r.cancelled);
    CHECK(r.iterations == 25);
    REQUIRE(events.size() == 25);
    const auto& e = events.back();
    CHECK(e.loss == doctest::Approx(e.featureLoss + e.alphaLoss + e.tvLoss).epsilon(1e-4));
    CHECK(e.tvLoss > 0);
    CHECK(e.itersPerSecond > 0);
    auto withPreview = std::find_if(events.begin(), events.end(), [](const ProgressEvent& ev) { return !ev.previews.empty(); });
    REQUIRE(withPreview != events.end());
    CHECK(withPreview->previews[0].width == 28);
}

TEST_CASE("bad parameters are refused with a clear message") {
    auto m = fashion();
    InversionParams p;
    p.iterations = -1;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), 0, p), doctest::Contains("--iters"), Error);
    p = {};
    p.optimizer = "lbfgs";
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), 0, p), doctest::Contains("sobolev (the default) or paper"), Error);
    p = {};
    p.restarts = 0;
    CHECK_THROWS_WITH_AS(invert(*m, testSet().image(0), 0, p), doctest::Contains("--restarts"), Error);
    CHECK_THROWS_AS(invert(*m, ImageF{}, 0, {}), Error);
}

namespace {
// Runs `steps` steps through a chooser whose step time at n threads is `seconds(n)`; returns steps per count.
template <class F>
std::vector<int> simulate(ThreadChooser& c, F seconds, int steps) {
    std::vector<int> at(9, 0);
    for (int i = 0; i < steps; ++i) {
        at[size_t(c.threads())]++;
        c.record(seconds(c.threads()));
    }
    return at;
}
}  // namespace

TEST_CASE("the thread chooser keeps the fastest count and probes again after its hold time") {
    // Compute-bound (AlexNet-like, quiet): two threads are faster; chosen after one probe round.
    ThreadChooser big({1, 2}, 2.0, 4);
    auto at = simulate(big, [](int n) { return n == 2 ? 0.025 : 0.040; }, 400);
    CHECK(big.best() == 2);
    CHECK(at[2] > 370);
    // It probes again after 20x the probe's cost (5 x 40 ms + 5 x 25 ms: 6.5 s, 260 steps at 25 ms).
    CHECK(big.probes() == 2);
    // One core busy elsewhere: two threads are 15x slower; cut after their warm-up step, and one thread kept.
    ThreadChooser busy({1, 2}, 2.0, 4);
    at = simulate(busy, [](int n) { return n == 2 ? 0.015 : 0.001; }, 1000);
    CHECK(busy.best() == 1);
    CHECK(at[2] <= 1);  // the first round's warm-up; a 1 ms model does not reach 2 s of hold in 1000 steps
    // Small and overhead-bound: a second thread gains nothing; one thread kept.
    ThreadChooser small({1, 2}, 2.0, 4);
    simulate(small, [](int n) { return n == 2 ? 0.0012 : 0.0010; }, 50);
    CHECK(small.best() == 1);
    // The machine gets busy half-way: the next probe round moves back to one thread.
    ThreadChooser change({1, 2}, 2.0, 4);
    bool loaded = false;
    int i = 0;
    simulate(change, [&](int n) { loaded = ++i > 100; return n == 2 ? (loaded ? 0.4 : 0.02) : 0.04; }, 400);
    CHECK(change.best() == 1);
    // A single candidate never probes.
    ThreadChooser one({1});
    CHECK_FALSE(one.probing());
    CHECK(one.threads() == 1);
}

TEST_CASE("--threads N is a fixed count; the default is automatic") {
    auto m = fashion();
    InversionParams p;
    p.iterations = 30;
    setThreads(1);
    CHECK_FALSE(autoThreads());
    auto r = invert(*m, testSet().image(0), m->layerIndex("relu2"), p);
    CHECK(r.threads == 1);
    CHECK(threads() == 1);
    setThreads(0);
    CHECK(autoThreads());
    r = invert(*m, testSet().image(0), m->layerIndex("relu2"), p);
    CHECK(r.threads >= 1);
    CHECK(r.threads <= usableCores());
    CHECK(threads() == usableCores());  // the tuner gives the count back when the loop ends
    // The app's worker: automatic, one core left to the UI thread.
    setThreads(-1);
    CHECK(autoThreads());
    CHECK(autoMaxThreads() == std::max(1, usableCores() - 1));
    r = invert(*m, testSet().image(0), m->layerIndex("relu2"), p);
    CHECK(r.threads <= autoMaxThreads());
    setThreads(usableCores());
}

TEST_CASE("the objective is reported as minimised: its terms at the final image, and the evaluations it took") {
    auto m = fashion();
    InversionParams p;
    p.iterations = 60;
    p.restarts = 2;
    auto r = invert(*m, testSet().image(0), m->layerIndex("relu2"), p);
    CHECK(r.optimizer == "sobolev");
    CHECK(r.evaluations == 60);
    REQUIRE(r.history.size() == 60);
    CHECK(r.history.back().evaluations == 60);
    CHECK(r.history.back().seconds > 0);
    CHECK(r.history.back().seconds <= r.seconds * 1.5 + 0.1);
    CHECK(r.objective.feature == doctest::Approx(double(r.featureError) * r.featureError).epsilon(1e-4));
    CHECK(r.objective.total == doctest::Approx(r.objective.feature + r.objective.alpha + r.objective.tv));
    // The last iteration's terms (one step before the end, per restart on average) are close to the final ones.
    CHECK(r.objective.tv == doctest::Approx(r.history.back().tvLoss).epsilon(0.25));
    CHECK(r.objective.total < r.history.front().loss);
}

TEST_CASE("inversion parameters: one JSON mapping, round trip, unknown keys and out-of-range values refused") {
    InversionParams p;
    p.iterations = 123, p.restarts = 3, p.seed = 9, p.learningRate = 0.01f, p.momentum = 0.5f, p.alpha = 3, p.beta = 1.5f;
    p.lambdaAlpha = 2e-5f, p.lambdaTv = 7, p.jitter = 2;
    p.mask = FeatureMask{1, 2, 3, 4, 5, 6};
    const auto j = paramsToJson(p);
    const InversionParams q = paramsFromJson(j);
    CHECK(paramsToJson(q) == j);
    CHECK(q.iterations == 123);
    CHECK(q.mask.lastChannel == 6);
    InversionParams byDepth;
    CHECK(paramsToJson(byDepth)["lambda_tv"].is_null());  // the paper's value for the depth
    CHECK(paramsToJson(byDepth)["iterations"].is_null());  // the optimiser's own
    CHECK(paramsToJson(byDepth)["optimizer"] == "sobolev");
    CHECK(iterationsFor(paramsFromJson(paramsToJson(byDepth))) == 130);
    CHECK(iterationsFor(paramsFromJson(nlohmann::json{{"optimizer", "paper"}})) == 400);
    CHECK(paramsFromJson(paramsToJson(byDepth)).lambdaTv < 0);
    CHECK(paramsFromJson(nlohmann::json{{"iterations", 7}}, p).restarts == 3);  // keys not given keep the base's
    CHECK_THROWS_WITH_AS(paramsFromJson(nlohmann::json{{"iters", 7}}), doctest::Contains("unknown inversion parameter 'iters'"), Error);
    CHECK_THROWS_WITH_AS(paramsFromJson(nlohmann::json{{"iterations", "many"}}), doctest::Contains("'iterations' must be a whole number"), Error);
    CHECK_THROWS_WITH_AS(paramsFromJson(nlohmann::json{{"iterations", 100001}}), doctest::Contains("between 1 and 100000"), Error);
    CHECK_THROWS_WITH_AS(paramsFromJson(nlohmann::json{{"jitter", 33}}), doctest::Contains("jitter (--jitter)"), Error);
    CHECK_THROWS_WITH_AS(paramsFromJson(nlohmann::json{{"mask", {{"z", 1}}}}), doctest::Contains("unknown mask key 'z'"), Error);
    CHECK(paramsFromJson(nlohmann::json{{"jitter", 33}}, {}, /*validated=*/false).jitter == 33);  // a settings file: clamped by its reader
}

// Issue "Time to quality": the default optimiser reaches the protocol's 400-iteration objective in a third of the
// network evaluations, on the default model (an assertion on evaluations, not on time: speed is in
// `preimage bench --quality`).
TEST_CASE("the Sobolev optimiser (the default) reaches the paper protocol's objective in a third of its evaluations") {
    auto m = fashion();
    InversionParams paper;
    paper.optimizer = "paper";
    // The taps where it holds; on relu3, fc4, relu4 and fc5 it stays above the protocol on some images (README, "Time
    // to quality"). conv1 and relu1 (lambda_tv 1) take the plain second half; relu1 did not reach it without.
    for (const char* layer : {"conv1", "relu1", "pool1", "conv2", "pool2", "conv3"}) {
        for (int image : {3}) {
            const int l = m->layerIndex(layer);
            const InversionResult protocol = invert(*m, testSet().image(image), l, paper);
            const InversionResult fast = invert(*m, testSet().image(image), l, InversionParams{});
            INFO(std::string(layer) << ", test image " << image << ": paper " << protocol.objective.total << " in " << protocol.evaluations
                       << " evaluations, sobolev " << fast.objective.total << " in " << fast.evaluations);
            CHECK(protocol.optimizer == "paper");
            CHECK(protocol.evaluations == 400);
            CHECK(fast.optimizer == "sobolev");
            CHECK(3 * fast.evaluations <= protocol.evaluations);
            CHECK(fast.warnings.empty());  // never diverging
            CHECK(fast.implicitTvSteps == 0);  // the smoothing keeps the TV term's step stable
            CHECK(fast.objective.total <= protocol.objective.total);  // at or below the protocol's value
            // ... and reached within the first third of its evaluations, not only at the end.
            int64_t reached = -1;
            for (const auto& ev : fast.history)
                if (ev.loss <= protocol.objective.total) {
                    reached = ev.evaluations;
                    break;
                }
            CHECK(reached > 0);
            CHECK(3 * reached <= protocol.evaluations);
        }
    }
}

TEST_CASE("--optimizer paper is the protocol as before: the same numbers, the implicit TV step where it is stiff") {
    auto m = fashion();
    setThreads(1);  // a fixed count: runs repeat bitwise
    InversionParams p;
    p.optimizer = "paper";
    p.iterations = 60;
    p.restarts = 2;
    auto r = invert(*m, testSet().image(0), m->layerIndex("relu2"), p);
    // The protocol's numbers before the Sobolev optimiser existed (its path is bitwise unchanged: checked on the
    // shipped SqueezeNet against 09fe612's binary), one thread.
    CHECK(r.objective.total == doctest::Approx(0.38670246).epsilon(1e-3));
    CHECK(r.featureError == doctest::Approx(0.58768165).epsilon(1e-3));
    p.iterations = 0;  // the optimiser's own: 400
    p.restarts = 1;
    p.lambdaTv = 1e4f;  // past the explicit step's stability bound at 28x28
    auto stiff = invert(*m, testSet().image(0), m->layerIndex("conv3"), p);
    CHECK(stiff.iterations == 400);
    CHECK(stiff.implicitTvSteps > 0);
    p.optimizer = "sobolev";
    CHECK(invert(*m, testSet().image(0), m->layerIndex("conv3"), p).implicitTvSteps == 0);
    setThreads(0);
}

TEST_CASE("where the Sobolev optimiser's first phase does not lower the objective, the paper's protocol is run instead") {
    // At 10x the rate the objective climbs above its start (5.0 to 7.2 after the first phase) without diverging.
    auto [m, cat, l] = judgeTap();
    setThreads(1);
    InversionParams p;
    p.iterations = 24;  // a first phase of 6
    auto r = invert(*m, cat, l, p);
    p.optimizer = "paper";
    auto protocol = invert(*m, cat, l, p);
    setThreads(0);
    CHECK(r.optimizer == "paper");
    REQUIRE_FALSE(r.warnings.empty());
    CHECK(r.warnings[0].find("the Sobolev optimiser's objective after its first 6 iterations") == 0);
    CHECK(r.warnings[0].find("the paper's protocol was run instead") != std::string::npos);
    CHECK(r.objective.total == protocol.objective.total);  // the protocol's own result
    CHECK(r.evaluations == protocol.evaluations + 7);      // and the Sobolev attempt's evaluations, counted
    CHECK(r.objective.total < 0.5 * 7.2);                  // the stalled attempt stood at 7.2 after its first phase
}

TEST_CASE("a raw-pixel model's pre-image keeps the photograph's colours: sigma and the alpha norm from the natural mean") {
    // The judge takes [0,1] pixels (its normalisation inside). Measured from black, sigma counted the pixels' offset as
    // content: rates ~10x, TV ~10x weaker, the alpha norm pulling to black; 24 iterations at expanded_conv_1 ended at
    // pixel RMSE 0.37 with a mean colour of (0.13, 0.15, 0.07) against the cat's (0.58, 0.44, 0.34).
    auto [m, cat, l] = judgeTap("features.expanded_conv_1");
    setThreads(1);
    InversionParams p;
    p.iterations = 24;
    auto r = invert(*m, cat, l, p);
    setThreads(0);
    CHECK(r.optimizer == "sobolev");  // the guard did not hand it to the protocol
    CHECK(r.warnings.empty());
    CHECK(r.pixelRmse < 0.15f);
    const ImageF& pre = r.preimages[size_t(r.best)];
    REQUIRE(pre.channels == 3);
    for (int c = 0; c < 3; ++c) {
        double a = 0, t = 0;
        for (int y = 0; y < pre.height; ++y)
            for (int x = 0; x < pre.width; ++x) a += pre.at(y, x, c), t += r.target.at(y, x, c);
        const double n = double(pre.width) * pre.height;
        CHECK(std::abs(a / n - t / n) < 0.1);
    }
    CHECK(r.sigma < 100.f);  // the centred norm (54), not the raw one (183)
    REQUIRE(r.inputCentre.size() == 3);  // said in the JSON (input_centre)
    for (float c : r.inputCentre) CHECK((c > 0.3f && c < 0.6f));
    CHECK(inversionResultJson(r).at("input_centre").size() == 3);
}

TEST_CASE("a warm start that ends no lower than it began is run again from noise") {
    // The judge network's last block from the photograph itself without the TV term (so the objective starts at about
    // 0, the start's own noise): the warm run ends above it; the image is run again from noise with the same optimiser
    // (guarded as ever: its own warnings follow the warm start's).
    auto [m, cat, l] = judgeTap();
    setThreads(1);
    InversionParams p;
    p.iterations = 24;
    p.lambdaTv = 0;
    const WarmStart start{cat, "the photograph"};
    auto warm = invert(*m, cat, l, p, {}, nullptr, &start);
    auto noise = invert(*m, cat, l, p);
    setThreads(0);
    REQUIRE(warm.warnings.size() == noise.warnings.size() + 1);
    CHECK(warm.warnings[0].find("from the warm start (the photograph) the objective ended at") == 0);
    CHECK(warm.warnings[0].find("it was run again from noise") != std::string::npos);
    for (size_t i = 0; i < noise.warnings.size(); ++i) CHECK(warm.warnings[i + 1] == noise.warnings[i]);
    CHECK(warm.start == "noise");
    CHECK(warm.optimizer == noise.optimizer);
    CHECK(warm.objective.total == noise.objective.total);
    CHECK(warm.evaluations == noise.evaluations + 24);  // the warm attempt's evaluations, counted
}

TEST_CASE("the Sobolev optimiser batches images and restarts: each row is the problem a batch of one poses") {
    auto m = fashion();
    InversionParams p;
    p.restarts = 2;
    // conv2 (lambda_tv 10) and conv1 (lambda_tv 1: each row's velocity damped on its own rises, Problem::firstTaps).
    for (const char* layer : {"conv2", "conv1"}) {
        INFO(std::string(layer));
        const int l = m->layerIndex(layer);
        const std::vector<ImageF> images{testSet().image(5), testSet().image(6)};
        auto batch = invertBatch(*m, images, l, p, {7, 8});
        REQUIRE(batch.size() == 2);
        for (int b = 0; b < 2; ++b) {
            auto single = invertBatch(*m, {images[size_t(b)]}, l, p, {uint64_t(7 + b)})[0];
            CHECK(batch[size_t(b)].optimizer == "sobolev");
            CHECK(batch[size_t(b)].evaluations == single.evaluations);
            CHECK(batch[size_t(b)].objective.total == doctest::Approx(single.objective.total).epsilon(1e-3));
            for (int r = 0; r < 2; ++r)
                CHECK(batch[size_t(b)].featureErrorPerRestart[size_t(r)] ==
                      doctest::Approx(single.featureErrorPerRestart[size_t(r)]).epsilon(1e-3));
        }
    }
}

// Issue "Time to quality", the first taps: at lambda_tv 1 the last three quarters step on the plain gradient and a
// rise halves the velocity (Problem::firstTaps); without the damping conv1 and relu1 took ~95-110 evaluations to the
// protocol's value or never reached it (the ankle boot, seeds 0-5: 1.0001 of it after 130).
TEST_CASE("on the first taps the damped momentum reaches the protocol's objective in a fifth / a quarter of its evaluations") {
    auto m = fashion();
    InversionParams paper;
    paper.optimizer = "paper";
    for (const auto& [layer, share] : {std::pair{"conv1", 5}, std::pair{"relu1", 4}}) {
        for (int image : {0, 3}) {
            const int l = m->layerIndex(layer);
            const double target = invert(*m, testSet().image(image), l, paper).objective.total;
            const InversionResult fast = invert(*m, testSet().image(image), l, InversionParams{});
            int64_t reached = -1;
            for (const auto& ev : fast.history)
                if (ev.loss <= target) {
                    reached = ev.evaluations;
                    break;
                }
            INFO(std::string(layer) << ", test image " << image << ": reached after " << reached << ", ends at " << fast.objective.total / target
                       << " of the protocol's objective");
            CHECK(reached > 0);
            CHECK(share * reached <= 400);  // measured: conv1 62-63, relu1 90-97
            CHECK(fast.objective.total <= target);
        }
    }
}

// A network on which the plain part's rate is too much: MobileNet V2 (raw pixels) at expanded_conv_1 on the coffee
// photograph oscillated from iteration 55 with a growing amplitude (0.073, 0.094, 0.076, 0.112, ... 0.188) and ended at
// 0.095 against the protocol's 0.0561 (400 iterations, one thread, measured; not run here: 50 s). A row that climbs 2%
// above its lowest objective steps on the smoothed gradient from then on (Problem::firstTaps, kClimbMargin): 0.0527
// after 130 iterations (one thread; with its steps cut to 0.7 on each climb instead, 0.0552).
TEST_CASE("on the first taps a row whose objective climbs steps on the smoothed gradient: MobileNet V2, coffee photograph") {
    const InversionResult r = invertJudge("features.expanded_conv_1", "photo_coffee.png", 1);
    CHECK(r.optimizer == "sobolev");
    CHECK(r.warnings.empty());
    float lowest = 1e30f, lastMax = 0.f;
    for (const auto& h : r.history) {
        if (h.iteration >= 33) lowest = std::min(lowest, h.loss);
        if (h.iteration >= 100) lastMax = std::max(lastMax, h.loss);
    }
    INFO("objective " << r.objective.total << ", lowest in the plain part " << lowest << ", highest in the last 30 " << lastMax);
    CHECK(r.objective.total < 0.0545);  // below the protocol's 400 iterations (0.0561) and the cut's 0.0552
    CHECK(lastMax < 1.05f * lowest);    // no growing oscillation (unadapted: 0.188 against 0.073)
}

// The same on the shipped SqueezeNet: pool3 on the rocket photograph, whose plain part oscillates at the paper's rate
// (one thread, measured): the protocol's 400 iterations end at 0.0628; the default's 130 at 0.0917 with the steps cut
// on each climb, 0.0503 with the smoothing.
TEST_CASE("on the first taps a row whose objective climbs steps on the smoothed gradient: SqueezeNet, rocket photograph") {
    auto m = Model::load("squeezenet");
    const ImageF rocket = loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/photo_rocket.png");
    setThreads(1);
    const InversionResult r = invert(*m, rocket, m->layerIndex("pool3"), InversionParams{});
    setThreads(0);
    CHECK(r.optimizer == "sobolev");
    CHECK(r.objective.total < 0.058);
}

// The Sobolev optimiser returns each row's lowest iterate when its run ends above it: MobileNet V2's expanded_conv_3 on
// the rocket photograph with two threads climbs in its last iterations (measured: 0.151 at its lowest, 0.183 after the
// last step). Whatever the path on another machine, the result is never above the lowest objective it evaluated.
TEST_CASE("the Sobolev optimiser's result is its lowest iterate, not a late climb") {
    const InversionResult r = invertJudge("features.expanded_conv_3", "photo_rocket.png", 2);
    REQUIRE(r.optimizer == "sobolev");
    REQUIRE(!r.history.empty());
    float lowest = 1e30f;
    for (const auto& h : r.history) lowest = std::min(lowest, h.loss);
    INFO("objective " << r.objective.total << ", lowest evaluated " << lowest << ", last evaluated " << r.history.back().loss);
    CHECK(r.objective.total <= double(lowest) * 1.0001);
    WARN(r.history.back().loss > 1.05f * lowest);  // the climb this case was chosen for (a path on these machines)
}

TEST_CASE("a warm start from the neighbouring tap's pre-image reaches the protocol's objective sooner than noise") {
    auto m = fashion();
    const ImageF image = testSet().image(3);
    const int pool1 = m->layerIndex("pool1"), conv2 = m->layerIndex("conv2");
    InversionParams paper;
    paper.optimizer = "paper";
    const double target = invert(*m, image, conv2, paper).objective.total;
    // Evaluations until the first iterate at or below the protocol's objective (-1: never).
    auto reached = [&](const InversionResult& r) -> int64_t {
        for (const auto& h : r.history)
            if (double(h.loss) <= target) return h.evaluations;
        return -1;
    };
    const InversionResult neighbour = invert(*m, image, pool1, InversionParams{});
    const WarmStart start{neighbour.preimages[size_t(neighbour.best)], "pool1's pre-image"};
    const InversionResult noise = invert(*m, image, conv2, InversionParams{});
    const InversionResult warm = invert(*m, image, conv2, InversionParams{}, {}, nullptr, &start);
    INFO("protocol " << target << "; from noise " << noise.objective.total << " (reached after " << reached(noise)
                     << "), warm " << warm.objective.total << " (reached after " << reached(warm) << ")");
    CHECK(noise.start == "noise");
    CHECK(warm.start == "pool1's pre-image");
    CHECK(inversionResultJson(warm)["start"] == "pool1's pre-image");
    CHECK(warm.optimizer == "sobolev");
    CHECK(warm.warnings.empty());
    REQUIRE(reached(noise) > 0);
    REQUIRE(reached(warm) > 0);
    CHECK(4 * reached(warm) <= reached(noise));  // measured: 1 against 46 on the README's image
    CHECK(warm.objective.total <= noise.objective.total * 1.01);
    // The start is where it began: its first iterate is near the neighbour's image, not noise.
    CHECK(warm.history.front().loss < 0.5f * noise.history.front().loss);

    // Batches keep each row's own start (a batch equals singles), and a start of the wrong count is refused.
    const ImageF other = testSet().image(4);
    const InversionResult otherNeighbour = invert(*m, other, pool1, InversionParams{});
    const WarmStart otherStart{otherNeighbour.preimages[0], "pool1 of image 4"};
    auto batch = invertBatch(*m, {image, other}, conv2, InversionParams{}, {0, 0}, {}, nullptr, {start, otherStart});
    CHECK(batch[0].start == "pool1's pre-image");
    CHECK(batch[1].start == "pool1 of image 4");
    CHECK(batch[0].objective.total == doctest::Approx(warm.objective.total).epsilon(1e-3));
    CHECK(batch[1].objective.total ==
          doctest::Approx(invert(*m, other, conv2, InversionParams{}, {}, nullptr, &otherStart).objective.total).epsilon(1e-3));
    CHECK_THROWS_WITH_AS(invertBatch(*m, {image, other}, conv2, InversionParams{}, {0, 0}, {}, nullptr, {start}),
                         "invertBatch: no warm start or one per image", Error);

    // Its rates: 3x the paper's (10x from noise), or the paper's own where the start's tap did not take the Sobolev
    // rate (paperRate); the starts of a batch agree on it.
    const float lr = InversionParams{}.learningRate;
    CHECK(noise.history.front().learningRate == doctest::Approx(10 * lr));
    CHECK(warm.history.front().learningRate == doctest::Approx(3 * lr));
    // From noise 10x, then the paper's first-phase rate: to the end where the TV term is far from stiff (lambda_tv 10
    // on a 28-px input: eta k 0.01 at the paper's rate, under kStiffTv), to nine tenths and a tenth of it after where
    // it is stiff (lambda_tv 1000: 0.97; the protocol's last quarter froze objectives still falling); from a warm
    // start the protocol's shape.
    CHECK(noise.history[size_t(0.8 * double(noise.history.size()))].learningRate == doctest::Approx(lr));
    CHECK(noise.history.back().learningRate == doctest::Approx(lr));
    InversionParams stiffTv;
    stiffTv.lambdaTv = 1000.f;
    const InversionResult stiff = invert(*m, image, conv2, stiffTv);
    CHECK(stiff.history[size_t(0.8 * double(stiff.history.size()))].learningRate == doctest::Approx(lr));
    CHECK(stiff.history.back().learningRate == doctest::Approx(0.1 * lr));
    CHECK(warm.history.back().learningRate == doctest::Approx(0.03 * lr));
    WarmStart gentle = start;
    gentle.paperRate = true;
    CHECK(invert(*m, image, conv2, InversionParams{}, {}, nullptr, &gentle).history.front().learningRate == doctest::Approx(lr));
    CHECK_THROWS_WITH_AS(invertBatch(*m, {image, other}, conv2, InversionParams{}, {0, 0}, {}, nullptr, {start, gentle}),
                         "the warm starts of one batch must agree on paperRate", Error);
}
