// The app's Session without a window: requests, generations, cached layers, stale drops, exports, file jobs.
#include "app/gui/session.h"

#include "cli_util.h"
#include "test_util.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

using namespace preimage;
using namespace preimage::app;

namespace {

// Polls as the frame loop does (every few ms) until the session is idle; the updates seen are merged.
SessionUpdate pollUntilIdle(Session& s, double seconds = 120) {
    SessionUpdate all;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        all.merge(s.poll());
        if (s.idle()) {
            all.merge(s.poll());
            if (s.idle()) return all;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL("the session did not become idle in time");
    return all;
}

Settings quickSettings() {
    Settings st;
    st.model = "fashion";
    st.inversion.iterations = 20;
    st.inversion.learnedStart = false;  // from noise: a learned-started tap offers no warm start (its own test below)
    return st;
}

struct ConfigDir {  // the session saves its settings here, not in the user's folder
    ConfigDir() {
        const std::string dir = testutil::path("session_config");
        std::filesystem::create_directories(dir);
        ::setenv("PREIMAGE_CONFIG_DIR", dir.c_str(), 1);
    }
};

}  // namespace

TEST_CASE("session: opens the model and the image off the UI thread, inverts the selected layer") {
    ConfigDir config;
    Session s(quickSettings(), "", testutil::sample("fashion_7"));
    const SessionUpdate u = pollUntilIdle(s);
    REQUIRE(s.model);
    CHECK(u.model);
    CHECK(u.image);
    REQUIRE(s.image);
    CHECK(s.image->width == 28);
    const InversionResult* r = s.currentResult();
    REQUIRE(r);
    CHECK(r->layer == s.layerName(s.layer));
    CHECK(r->iterations == 20);
    CHECK(r->featureError < 1.f);
    CHECK(s.status.find(r->layer + ": objective") == 0);
    CHECK(s.status.find("(sobolev, 20 evaluations") != std::string::npos);
    CHECK(s.error.empty());
}

TEST_CASE("session: layers selected faster than jobs finish end on the last one; a computed layer is not recomputed") {
    ConfigDir config;
    Session s(quickSettings(), "", testutil::sample("fashion_7"));
    pollUntilIdle(s);
    REQUIRE(s.model);
    const int layers = int(s.model->layers.size());
    REQUIRE(layers > 4);
    uint64_t stale = s.stats.staleFramesDropped;
    for (int k = 0; k < 60; ++k) {  // a user holding the arrow key: some selections between two polls, some not
        s.selectLayer((k * 7) % layers);
        if (k % 3 == 0) s.poll();
    }
    const int last = (59 * 7) % layers;
    pollUntilIdle(s);
    CHECK(s.layer == last);
    REQUIRE(s.currentResult());
    CHECK(s.currentResult()->layerIndex == last);
    CHECK(s.frame.layer == last);             // the plot and pre-image shown
    CHECK(s.featureLayer == last);            // the channel grid
    CHECK(s.status.find(s.layerName(last) + ":") == 0);  // the status line
    CHECK(s.stats.staleFramesDropped >= stale);

    // Back to a layer finished before: shown from the cache, no job.
    const int before = last == 0 ? 1 : 0;
    s.selectLayer(before);
    pollUntilIdle(s);
    const auto firstResult = s.slots[size_t(before)].result;
    REQUIRE(firstResult);
    s.selectLayer(last);
    pollUntilIdle(s);
    s.selectLayer(before);
    CHECK_FALSE(s.jobRunning);
    CHECK(s.slots[size_t(before)].result == firstResult);
    CHECK(s.frame.result == firstResult);
    CHECK(s.status.find(s.layerName(before) + ":") == 0);
}

TEST_CASE("session: a step to the next tap starts from the finished tap's pre-image; the setting, the paper's protocol") {
    ConfigDir config;
    Session s(quickSettings(), "", testutil::sample("fashion_7"));
    pollUntilIdle(s);
    REQUIRE(s.model);
    const int layers = int(s.model->layers.size());
    const int first = s.layer;
    REQUIRE(s.currentResult());
    CHECK(s.currentResult()->start == "noise");  // nothing inverted before it
    const int next = first + 1 < layers ? first + 1 : first - 1;
    s.selectLayer(next);
    CHECK(s.status == "inverting " + s.layerName(next) + " from " + s.layerName(first) + "'s pre-image...");
    pollUntilIdle(s);
    REQUIRE(s.currentResult());
    CHECK(s.currentResult()->start == s.layerName(first) + "'s pre-image");
    CHECK(s.status.find("(sobolev from " + s.layerName(first) + "'s pre-image, 20 evaluations") != std::string::npos);
    // Not from a warm-started tap (chains of warm starts drift: README "Time to quality"): this one has no other
    // finished neighbour, so it starts from noise.
    const int after = next > first ? next + 1 : next - 1;
    if (after >= 0 && after < layers) {
        s.selectLayer(after);
        pollUntilIdle(s);
        REQUIRE(s.currentResult());
        CHECK(s.currentResult()->start == "noise");
        s.selectLayer(next);
        pollUntilIdle(s);
    }
    // Off, or the paper's protocol: from noise, and the setting persists.
    auto stepAnew = [&](bool warm, bool paper) {  // first computed anew, then the step to next
        s.settings.inversion.warmStart = warm;
        s.settings.inversion.paperProtocol = paper;
        s.resetResults();
        s.selectLayer(first);
        s.requestInversion();
        pollUntilIdle(s);
        s.selectLayer(next);
        pollUntilIdle(s);
        REQUIRE(s.currentResult());
        return *s.currentResult();
    };
    CHECK(stepAnew(false, false).start == "noise");
    // The learned start (the default; this model has a learned inverter for every tap): each tap starts from its own.
    s.settings.inversion.learnedStart = true;
    const InversionResult learned = stepAnew(true, false);
    CHECK(learned.start == "learned");
    CHECK(learned.startBrightness > 0.f);
    CHECK(learned.evaluations > 20);  // and the brightness fit's forward passes
    CHECK(s.status.find("(sobolev from learned, " + std::to_string(learned.evaluations) + " evaluations") != std::string::npos);
    s.settings.inversion.learnedStart = false;
    const InversionResult paper = stepAnew(true, true);
    CHECK(paper.optimizer == "paper");
    CHECK(paper.start == "noise");
    Settings saved;
    saved.inversion.warmStart = false;
    saved.save();
    CHECK_FALSE(Settings::load().inversion.warmStart);
    saved.inversion.warmStart = true;
    saved.save();
    CHECK(Settings::load().inversion.warmStart);
}

TEST_CASE("session: a step from a tap whose Sobolev run fell back to the protocol starts at the paper's rate") {
    // The judge network (a trained MobileNet V2): at features.expanded_conv_16 the Sobolev optimiser's guard runs the
    // protocol; a step from there starts from its pre-image at the paper's rate (WarmStart::paperRate), not 3x.
    ConfigDir config;
    Settings st = quickSettings();
    st.inversion.iterations = 24;
    Session s(st, PREIMAGE_SOURCE_DIR "/tests/assets/judge/judge.pt", testutil::sample("photo_chelsea"));
    pollUntilIdle(s);
    REQUIRE(s.model);
    const int tap = s.layerIndex("features.expanded_conv_16");
    REQUIRE(tap >= 0);
    s.selectLayer(tap);
    pollUntilIdle(s);
    REQUIRE(s.currentResult());
    CHECK(s.currentResult()->optimizer == "paper");
    CHECK(s.currentResult()->start == "noise");
    s.selectLayer(tap + 1);
    pollUntilIdle(s);
    const InversionResult* r = s.currentResult();
    REQUIRE(r);
    CHECK(r->start == "features.expanded_conv_16's pre-image");
    REQUIRE_FALSE(r->history.empty());
    CHECK(r->history.front().learningRate == doctest::Approx(st.inversion.learningRate));
}

TEST_CASE("session: a step is to the next layer or to the next sibling in the module tree") {
    ConfigDir config;
    Settings st = quickSettings();
    st.inversion.iterations = 2;
    Session s(st, "squeezenet", testutil::sample("photo_chelsea"));
    pollUntilIdle(s);
    REQUIRE(s.model);
    auto at = [&](const char* name) { return s.layerIndex(name); };
    CHECK(s.adjacentTaps(at("fire5"), at("pool5")));
    CHECK(s.adjacentTaps(at("pool5"), at("fire6")));              // siblings, fire6's children between them
    CHECK(s.adjacentTaps(at("pool5"), at("fire6.squeeze1x1")));   // consecutive layers
    CHECK(s.adjacentTaps(at("fire6.squeeze1x1"), at("fire6.relu_squeeze1x1")));
    CHECK_FALSE(s.adjacentTaps(at("fire5"), at("fire6")));
    CHECK_FALSE(s.adjacentTaps(at("conv1"), at("pool10")));
    CHECK_FALSE(s.adjacentTaps(at("fire6"), at("fire6")));
}

TEST_CASE("session: a corrupt image changes nothing and says why; exports are written on the file thread") {
    ConfigDir config;
    Session s(quickSettings(), "", testutil::sample("fashion_7"));
    pollUntilIdle(s);
    REQUIRE(s.image);
    const auto image = s.image;
    const std::string bad = testutil::path("corrupt.png");
    testutil::writeBytes(bad, "\x89PNG\r\n\x1a\n this is not an image");
    s.openImage(bad);
    pollUntilIdle(s);
    CHECK(s.image == image);
    CHECK(s.error.find("corrupt.png") != std::string::npos);

    const std::string png = testutil::path("session_sweep.png");
    s.exportSweep(png);
    pollUntilIdle(s, 300);
    REQUIRE(std::filesystem::exists(png));
    const auto j = nlohmann::json::parse(testutil::readBytes(testutil::path("session_sweep.json")));
    CHECK(j["layers"].size() == s.model->layers.size());
    CHECK(j["parameters"]["iterations"] == 20);  // the one mapping (params.h)
    for (const auto& l : j["layers"]) CHECK(l["feature_error"].get<double>() < 1.0);
    CHECK(s.status == "exported " + png + " (+ .json)");
    // One schema: `sweep --json` writes the same keys, at the top and per layer.
    const std::string cliJson = testutil::path("cli_sweep.json");
    auto r = testutil::cli({"sweep", "--model", "fashion", "--image", testutil::sample("fashion_7"), "--layers", "conv1", "--iters", "20",
                  "--out", testutil::path("cli_sweep.png"), "--json", cliJson});
    REQUIRE(r.code == 0);
    const auto c = nlohmann::json::parse(testutil::readBytes(cliJson));
    auto keys = [](const nlohmann::json& o) {
        std::set<std::string> k;
        for (auto& [key, value] : o.items()) k.insert(key);
        return k;
    };
    CHECK(keys(c) == keys(j));
    CHECK(keys(c["layers"][0]) == keys(j["layers"][0]));
    CHECK(keys(c["parameters"]) == keys(j["parameters"]));
    CHECK(c["parameters"]["iterations"] == 20);

    // Restarts of a layer with no result yet: refused with a word, nothing written.
    s.stop();
    s.resetResults();
    CHECK_FALSE(s.exportRestarts(testutil::path("none.png")));
    CHECK_FALSE(std::filesystem::exists(testutil::path("none.png")));
}

TEST_CASE("session: a tap's atlas fills as batches finish, its cells name their units; a Fourier dream brings its numbers") {
    ConfigDir config;
    Session s(quickSettings(), "", testutil::sample("fashion_7"));
    pollUntilIdle(s);
    REQUIRE(s.model);
    s.selectLayer(s.layerIndex("conv2"));
    pollUntilIdle(s);
    s.dreamSettings.setParam(DreamParametrisation::Fourier);
    s.dreamSettings.atlasLimit = 6;
    s.dreamSettings.atlasIterations = 10;
    s.dreamSettings.atlasBatch = 4;
    s.startAtlas();
    CHECK(s.jobKind == JobKind::Atlas);
    const SessionUpdate u = pollUntilIdle(s);
    CHECK(u.atlas);
    REQUIRE(s.atlas.size() == 6);
    CHECK(s.atlasTotal == 6);
    CHECK(s.atlasLayer == s.layerIndex("conv2"));
    CHECK(s.atlasParam == "fourier");
    CHECK(s.atlasUnitsPerSecond > 0);
    CHECK(s.atlasColumns == 3);  // about square
    CHECK(s.atlasMosaic.width == 3 * s.atlasTile + 2);
    CHECK(s.atlasMosaic.height == 2 * s.atlasTile + 1);
    CHECK(s.atlasUnit(4) == "conv2:4");
    CHECK(s.atlasUnit(6).empty());
    CHECK(s.atlas[4]->iterations == 10);
    // A cell's unit as a dream of its own, with its numbers.
    s.dreamSettings.iterations = 15;
    s.startDream(s.atlasUnit(4), false);
    pollUntilIdle(s);
    REQUIRE(s.dreamResult);
    CHECK(s.dreamResult->unit == "conv2:4");
    CHECK(s.dreamResult->param == "fourier");
    CHECK(s.dreamResult->iterations == 15);
    CHECK(s.dreamResult->robustCrops == 16);
    CHECK(!s.dreamResult->transparency.empty());
    // Accentuation of the open image: the result says how far it moved.
    s.dreamSettings.accentuate = true;
    s.startDream("Sneaker", false);
    pollUntilIdle(s);
    REQUIRE(s.dreamResult);
    CHECK(!s.dreamResult->start.empty());
    CHECK(s.dreamResult->distance > 0.f);
    CHECK(s.error.empty());
    // MACO cannot start from an image: said, nothing started.
    s.dreamSettings.setParam(DreamParametrisation::Maco);
    s.startDream("Sneaker", false);
    CHECK(s.error.find("pixels or Fourier") != std::string::npos);
}
