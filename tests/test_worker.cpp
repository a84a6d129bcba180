// The Worker's contract: the newest request wins, superseded jobs are cancelled between iterations,
// stale frames never replace newer ones, errors travel in frames, and take() never blocks on a job.
#include "inference/data/dataset.h"
#include "inference/runtime/worker.h"

#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <thread>

using namespace preimage;

namespace {

// Polls take() until the job of `generation` reports done (or a timeout), as the UI thread does.
Frame waitDone(Worker& w, uint64_t generation, double seconds = 120) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    Frame last;
    while (std::chrono::steady_clock::now() < end) {
        if (auto f = w.take()) {
            REQUIRE(f->generation >= last.generation);  // never an older job's frame after a newer one's
            if (f->generation == generation && f->done) return *f;
            last = *f;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    FAIL("job " << generation << " did not finish; last frame from job " << last.generation);
    return last;
}

Request invertRequest(int layer, int iterations) {
    Request r;
    r.image = std::make_shared<const ImageF>(loadFashionMnist(false, 1).image(0));
    r.layer = layer;
    r.params.iterations = iterations;
    return r;
}

}  // namespace

TEST_CASE("the newest request wins and superseded jobs are cancelled") {
    Worker w(1);
    const auto start = std::chrono::steady_clock::now();
    w.post(invertRequest(8, 200000));             // would run for minutes
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t last = w.post(invertRequest(0, 50));
    Frame f = waitDone(w, last);
    CHECK(f.error.empty());
    REQUIRE(static_cast<bool>(f.result));
    CHECK(f.result->layer == "conv1");
    CHECK(f.result->iterations == 50);
    CHECK(static_cast<bool>(f.model));
    CHECK(f.model->layers.size() == 11);
    // The long job was abandoned at an iteration boundary, not run to the end.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(60));
    CHECK_FALSE(w.busy());
}

TEST_CASE("take() returns immediately while a job runs, with live previews and history") {
    Worker w(1);
    auto r = invertRequest(3, 3000);
    r.previewEveryMs = 20;
    const uint64_t gen = w.post(r);
    int withPreviews = 0;
    double slowestTake = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end && withPreviews < 3) {
        const auto t0 = std::chrono::steady_clock::now();
        auto f = w.take();
        slowestTake = std::max(slowestTake, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (f && f->generation == gen && !f->previews.empty() && !f->history.empty()) ++withPreviews;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(withPreviews >= 3);
    CHECK(slowestTake < 50.0);  // a mutex swap, never the job (generous bound for a loaded CI machine)
    w.cancel();
}

TEST_CASE("errors travel in frames and the worker stays usable") {
    Worker w(1);
    Request bad = invertRequest(0, 10);
    bad.model = "/nonexistent/model.pt";
    Frame f = waitDone(w, w.post(bad));
    CHECK(f.error.find("not found") != std::string::npos);
    Request good = invertRequest(1, 10);
    Frame g = waitDone(w, w.post(good));
    CHECK(g.error.empty());
    CHECK(g.result->layer == "relu1");
}

namespace {

std::vector<LatentFrame> waitLatent(Worker& w, size_t count, double seconds = 60) {
    std::vector<LatentFrame> got;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (got.size() < count && std::chrono::steady_clock::now() < end) {
        for (auto& f : w.takeLatent()) got.push_back(std::move(f));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return got;
}

}  // namespace

TEST_CASE("latent jobs are answered during a running inversion without cancelling it") {
    Worker w(1);
    const uint64_t gen = w.post(invertRequest(3, 1500));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the inversion is running
    const auto test = loadFashionMnist(false, 2);
    LatentRequest enc;
    enc.op = LatentOp::Encode;
    enc.tag = 1;
    enc.images = {test.image(0), test.image(1)};
    w.postLatent(enc);
    auto frames = waitLatent(w, 1);
    REQUIRE(frames.size() == 1);
    REQUIRE(frames[0].error.empty());
    REQUIRE(frames[0].codes.size() == 2);
    REQUIRE(static_cast<bool>(frames[0].mixer));
    CHECK(frames[0].predicted.size() == 2);
    CHECK(w.busy());  // still inverting

    // Dragging a slider: several decodes for the same purpose; the newest is answered last and none is lost
    // out of order.
    uint64_t newest = 0;
    for (int i = 0; i < 5; ++i) {
        LatentRequest dec;
        dec.op = LatentOp::Decode;
        dec.tag = 10;
        dec.codes = {swapChunk(frames[0].codes[0], frames[0].codes[1], i % 8, frames[0].mixer->layout)};
        newest = w.postLatent(dec);
    }
    uint64_t lastSeen = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (lastSeen < newest && std::chrono::steady_clock::now() < end) {
        for (auto& f : w.takeLatent()) {
            CHECK(f.id > lastSeen);
            lastSeen = f.id;
            CHECK(f.images.size() == 1);
            CHECK(f.images[0].width == 28);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(lastSeen == newest);
    Frame done = waitDone(w, gen);
    REQUIRE(static_cast<bool>(done.result));
    CHECK_FALSE(done.result->cancelled);
    CHECK(done.result->iterations == 1500);
    CHECK_FALSE(w.latentBusy());
}

TEST_CASE("short jobs posted back to back and cancelled at random: the newest job's final frame always arrives, "
          "nothing older after it") {
    Worker w(1);
    std::mt19937 rng(7);
    int cancelledRounds = 0, finishedRounds = 0;
    for (int round = 0; round < 60; ++round) {
        uint64_t newest = 0;
        bool cancelled = false;
        int layer = -1;
        const int actions = 1 + int(rng() % 6);
        for (int i = 0; i < actions; ++i) {
            if (rng() % 3 == 0) {
                newest = w.cancel();
                cancelled = true;
            } else {
                layer = int(rng() % 11);
                newest = w.post(invertRequest(layer, 3 + int(rng() % 15)));
                cancelled = false;
            }
            if (rng() % 2) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
        }
        INFO("round " << round << ", newest generation " << newest << (cancelled ? " (a cancel)" : " (a job)"));
        uint64_t seen = 0;
        std::optional<Frame> final;
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!final && std::chrono::steady_clock::now() < end) {
            if (auto f = w.take()) {
                REQUIRE(f->generation >= seen);
                seen = f->generation;
                REQUIRE(f->generation == newest);  // older jobs' frames never reach take() once a newer one is posted
                if (f->done) final = *f;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        REQUIRE(final.has_value());
        CHECK(final->cancelled == cancelled);
        if (!cancelled) {
            REQUIRE(final->error.empty());
            REQUIRE(static_cast<bool>(final->result));
            CHECK(final->result->layerIndex == layer);
            ++finishedRounds;
        } else {
            ++cancelledRounds;
        }
        // Nothing arrives after the final frame, however long the superseded jobs take to stop.
        while (w.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        auto late = w.take();
        CHECK_FALSE(late.has_value());
    }
    CHECK(cancelledRounds > 5);
    CHECK(finishedRounds > 5);
}
