// The Sobolev optimiser (the default; README "Time to quality"): against the paper's protocol, its guard, raw-pixel
// models, warm starts, batches, the first taps' plain part, its lowest iterate.
#include "inference/data/convert.h"
#include "inference/data/dataset.h"
#include "inference/engine.h"
#include "inference/inversion/params.h"

#include "inference/data/shapes.h"
#include "render/image.h"

#include "inversion_fixtures.h"
#include "test_util.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

using namespace preimage;
using namespace testinv;

TEST_CASE("the Sobolev optimiser (the default) reaches the paper protocol's objective in a third of its evaluations") {
    auto m = fashion();
    InversionParams paper;
    paper.optimizer = "paper";
    InversionParams noise;
    noise.learnedStart = false;
    // From the learned start (the default on this model: it has a learned inverter for every tap) at every tap but
    // relu3 (reached on 25 of 30 runs of README "Time to quality", ending within 1.5% of the protocol); from noise
    // where it holds (on relu3, fc4, relu4 and fc5 it stays above the protocol on some images). conv1 and relu1
    // (lambda_tv 1) take the plain second half; relu1 did not reach it without.
    const std::vector<std::string> everyStart{"conv1", "relu1", "pool1", "conv2", "pool2", "conv3"};
    for (const char* layer : {"conv1", "relu1", "pool1", "conv2", "pool2", "conv3", "fc4", "relu4", "fc5"}) {
        const int image = 3, l = m->layerIndex(layer);
        const InversionResult protocol = invert(*m, testSet().image(image), l, paper);
        CHECK(protocol.optimizer == "paper");
        CHECK(protocol.start == "noise");
        CHECK(protocol.evaluations == 400);
        const bool fromNoiseToo = std::find(everyStart.begin(), everyStart.end(), layer) != everyStart.end();
        for (const InversionParams& params : fromNoiseToo ? std::vector{InversionParams{}, noise} : std::vector{InversionParams{}}) {
            const InversionResult fast = invert(*m, testSet().image(image), l, params);
            INFO(std::string(layer) << ", test image " << image << ": paper " << protocol.objective.total << " in " << protocol.evaluations
                       << " evaluations, sobolev from " << fast.start << " " << fast.objective.total << " in " << fast.evaluations);
            CHECK(fast.optimizer == "sobolev");
            CHECK(fast.start == (params.learnedStart ? "learned" : "noise"));
            // 130 iterations, and the learned start's brightness fit (a few forward passes).
            CHECK(fast.evaluations <= (params.learnedStart ? 140 : 130));
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

// Issue "Time to quality", the Fashion model's relu4 on the t-shirt (the bench's image), where from noise the 10x
// quarter thrashes and the run ends 1.2-1.45x above the protocol's objective on seeds 0-5: from the learned inverter's
// pre-image, dimmed to the brightness the objective wants (0.31: the TV term at lambda_tv 100), it reaches it.
TEST_CASE("the learned start: from the learned inverter's pre-image, brightness fitted, the t-shirt's relu4 is reached") {
    auto m = fashion();
    setThreads(1);  // a fixed count: runs repeat bitwise
    const ImageF tshirt = loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/fashion_0_t-shirt-top_test00019.png");
    const int relu4 = m->layerIndex("relu4");
    REQUIRE(m->hasLearnedInverter(relu4));
    for (uint64_t seed : {0, 2}) {
        InversionParams paper, learned, noise;
        paper.optimizer = "paper";
        paper.seed = learned.seed = noise.seed = seed;
        noise.learnedStart = false;
        const double target = invert(*m, tshirt, relu4, paper).objective.total;
        const InversionResult fromLearned = invert(*m, tshirt, relu4, learned);
        const InversionResult fromNoise = invert(*m, tshirt, relu4, noise);
        int64_t reached = -1;
        for (const auto& h : fromLearned.history)
            if (double(h.loss) <= target) {
                reached = h.evaluations;
                break;
            }
        INFO("seed " << seed << ": protocol " << target << ", learned start " << fromLearned.objective.total << " (brightness "
                     << fromLearned.startBrightness << ", reached after " << reached << "), noise " << fromNoise.objective.total);
        CHECK(fromLearned.start == "learned");
        CHECK(fromLearned.optimizer == "sobolev");
        CHECK(fromLearned.warnings.empty());
        CHECK(fromLearned.startBrightness > 0.2f);  // dimmed: measured 0.31
        CHECK(fromLearned.startBrightness < 0.45f);
        CHECK(inversionResultJson(fromLearned)["start_brightness"].get<float>() == fromLearned.startBrightness);
        CHECK(reached > 0);
        CHECK(3 * reached <= 400);  // measured: 62 and 75
        CHECK(fromNoise.start == "noise");
        CHECK(inversionResultJson(fromNoise)["start_brightness"].is_null());
        CHECK(fromNoise.objective.total > 1.1 * target);  // measured: 1.24x and 1.22x
        // It starts from the decoding: its first objective far below noise's.
        CHECK(fromLearned.history.front().loss < 0.5f * fromNoise.history.front().loss);
    }
    // Not for restarts (from noise, for what they show), a feature mask (the decoder sees every feature) or the protocol.
    InversionParams restarts, masked;
    restarts.restarts = 2;
    restarts.iterations = masked.iterations = 8;
    masked.mask.lastChannel = 3;
    CHECK(invert(*m, tshirt, relu4, restarts).start == "noise");
    CHECK(invert(*m, tshirt, m->layerIndex("conv2"), masked).start == "noise");
    // A batch equals its singles (each image its own brightness).
    const ImageF boot = loadImageF(PREIMAGE_SOURCE_DIR "/assets/samples/fashion_9_ankle-boot_test00000.png");
    InversionParams shortRun;
    shortRun.iterations = 30;
    auto batch = invertBatch(*m, {tshirt, boot}, relu4, shortRun, {0, 1});
    for (int b = 0; b < 2; ++b) {
        const auto single = invertBatch(*m, {b == 0 ? tshirt : boot}, relu4, shortRun, {uint64_t(b)})[0];
        CHECK(batch[size_t(b)].start == "learned");
        CHECK(batch[size_t(b)].evaluations == single.evaluations);
        CHECK(batch[size_t(b)].startBrightness == doctest::Approx(single.startBrightness).epsilon(1e-4));
        CHECK(batch[size_t(b)].objective.total == doctest::Approx(single.objective.total).epsilon(1e-3));
    }
    setThreads(0);
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
            InversionParams noise;  // the machinery from noise (the learned start is the default on this model)
            noise.learnedStart = false;
            const InversionResult fast = invert(*m, testSet().image(image), l, noise);
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
    InversionParams fromNoise;  // this model has learned inverters: the comparison is with noise
    fromNoise.learnedStart = false;
    const InversionResult neighbour = invert(*m, image, pool1, fromNoise);
    const WarmStart start{neighbour.preimages[size_t(neighbour.best)], "pool1's pre-image"};
    const InversionResult noise = invert(*m, image, conv2, fromNoise);
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
    const InversionResult otherNeighbour = invert(*m, other, pool1, fromNoise);
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
    InversionParams stiffTv = fromNoise;
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

// A learned start that explains little of the target (its fitted objective not under 0.9 of the blank image's:
// kLearnedStartShare) is not used: the shapes model's fc4 on a square sprite, where the decoder's start is above the
// blank image's objective at every brightness (1.10 of it), runs from noise; on a cross (0.84) from the learned start.
TEST_CASE("a learned start that explains little of the target is not used: that image runs from noise, the fit counted") {
    auto m = Model::load("shapes");
    setThreads(1);
    auto sprite = [](uint64_t index) {
        const std::string file = testutil::path("sprite" + std::to_string(index) + ".png");
        render::savePng(renderShape(shapeCode(3, index), 64), file);  // `preimage data shapes --seed 3`, image index
        return loadImageF(file);
    };
    const ImageF square = sprite(1), cross = sprite(3);
    const int fc4 = m->layerIndex("fc4");
    REQUIRE(m->hasLearnedInverter(fc4));
    const InversionResult weak = invert(*m, square, fc4, InversionParams{});
    const InversionResult kept = invert(*m, cross, fc4, InversionParams{});
    InversionParams noise;
    noise.learnedStart = false;
    const InversionResult plain = invert(*m, square, fc4, noise);
    CHECK(weak.start == "noise");
    CHECK(weak.startBrightness == 0.f);
    CHECK(weak.objective.total == doctest::Approx(plain.objective.total).epsilon(1e-6));  // the run from noise
    CHECK(weak.evaluations == plain.evaluations + 7);  // and the fit's seven forward passes
    CHECK(weak.history.front().evaluations == plain.history.front().evaluations + 7);
    CHECK(kept.start == "learned");
    // A batch of both: each image what a batch of one gives.
    auto batch = invertBatch(*m, {square, cross}, fc4, InversionParams{}, {0, 0});
    CHECK(batch[0].start == "noise");
    CHECK(batch[1].start == "learned");
    CHECK(batch[0].evaluations == weak.evaluations);
    CHECK(batch[1].evaluations == kept.evaluations);
    CHECK(batch[0].objective.total == doctest::Approx(weak.objective.total).epsilon(1e-3));
    CHECK(batch[1].objective.total == doctest::Approx(kept.objective.total).epsilon(1e-3));
    setThreads(0);
}
