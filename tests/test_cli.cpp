// The command line, in process: outputs, exit codes and one-line errors for every bad input.
#include "app/cli/cli.h"
#include "app/cli/dream_report.h"
#include "render/image.h"
#include "cli_util.h"
#include "test_util.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <csignal>
#include <filesystem>
#include <sstream>

namespace {

using testutil::cli;
using testutil::Run;

// Exit code 2 and a single line naming the problem.
using testutil::expectUserError;

const std::string kBoot = testutil::sample("fashion_9");

}  // namespace

TEST_CASE("layers lists every layer with its output shape") {
    auto r = cli({"layers", "--model", "fashion"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("conv1") != std::string::npos);
    CHECK(r.out.find("32x28x28") != std::string::npos);
    CHECK(r.out.find("fc5") != std::string::npos);
    // Each row ends with the tap's lambda_tv, written in full (relu4: 100, not 1e+02).
    const auto row = r.out.find("relu4");
    REQUIRE(row != std::string::npos);
    const std::string line = r.out.substr(row, r.out.find('\n', row) - row);
    CHECK(line.substr(line.find_last_of(' ') + 1) == "100");
}

TEST_CASE("invert writes the pre-image, the restarts grid and the metrics JSON") {
    const std::string png = testutil::path("pre.png"), json = testutil::path("m.json");
    auto r = cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "relu2", "--restarts", "3", "--iters", "120",
                  "--seed", "2", "--out", png, "--json", json});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    for (const char* key : {"layer", "feature_error", "feature_error_per_restart", "pixel_rmse", "iters", "seconds",
                            "iters_per_second"})
        CHECK(j.contains(key));
    CHECK(j["layer"] == "relu2");
    CHECK(j["iters"] == 120);
    CHECK(j["feature_error_per_restart"].size() == 3);
    CHECK(j["feature_error"].get<float>() < 0.5f);
    // Which optimiser ran, what it cost and the objective it reached, term by term.
    CHECK(j["optimizer"] == "sobolev");  // the default
    CHECK(j["evaluations"] == 120);
    const auto& o = j["objective"];
    CHECK(o["feature"].get<double>() == doctest::Approx(std::pow(j["feature_error"].get<double>(), 2)).epsilon(1e-4));
    CHECK(o["total"].get<double>() == doctest::Approx(o["feature"].get<double>() + o["alpha"].get<double>() + o["tv"].get<double>()));
    CHECK(o["tv"].get<double>() > 0);
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "relu2", "--optimizer", "adamw", "--out", png}),
                    "optimizer (--optimizer) must be sobolev (the default) or paper");
    // Float values without float32 noise: 1e-05, not 9.999999747378752e-06.
    const std::string text = testutil::readBytes(json);
    CHECK(text.find("\"lambda_alpha\": 1e-05,") != std::string::npos);
    CHECK(text.find("\"learning_rate\": 0.004,") != std::string::npos);
    auto pre = preimage::render::loadImage(png);
    CHECK(pre.width == 112);  // 28 px scaled x4 for viewing
    auto grid = preimage::render::loadImage(testutil::path("pre.restarts.png"));
    REQUIRE(grid.width == 8 + 5 * (112 + 8));  // original, 3 restarts, variance
    // The best restart (numbered as in the JSON) is framed in amber: cell 1 + best_restart.
    const int best = j["best_restart"].get<int>();
    long amber = 0, sumX = 0;
    for (int y = 0; y < grid.height; ++y)
        for (int x = 0; x < grid.width; ++x) {
            const uint8_t* p = grid.at(x, y);
            if (p[0] == 255 && p[1] == 190 && p[2] == 40) amber++, sumX += x;
        }
    REQUIRE(amber > 4 * 3 * 100);  // the frame (and the title)
    CHECK(std::abs(double(sumX) / amber - (8 + (best + 1) * 120 + 56)) < 10);
}

TEST_CASE("sweep writes a labelled grid and the per-layer CSV") {
    const std::string png = testutil::path("grid.png"), csv = testutil::path("errors.csv");
    auto r = cli({"sweep", "--model", "fashion", "--image", kBoot, "--layers", "conv1,pool2,fc5", "--iters", "60", "--out", png,
                  "--csv", csv});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const std::string text = testutil::readBytes(csv);
    CHECK(std::count(text.begin(), text.end(), '\n') == 4);
    CHECK(text.rfind("layer,index,kind,shape,lambda_tv,feature_error", 0) == 0);
    CHECK(text.find("\npool2,5,MaxPool2d,64x7x7,10,") != std::string::npos);
    auto grid = preimage::render::loadImage(png);
    CHECK(grid.width == 8 + 4 * (112 + 8));
    CHECK(r.out.find("wrote " + png + " (grid), " + csv + " (CSV)\n") != std::string::npos);
}

TEST_CASE("sweep --warm starts a tap from the previous one's pre-image when that was from noise; invert --start") {
    const std::string png = testutil::path("warm_grid.png"), json = testutil::path("warm.json");
    // From noise (--start noise: the default model has learned inverters, and a learned start offers no warm start).
    auto r = cli({"sweep", "--model", "fashion", "--image", kBoot, "--layers", "pool1,conv2,relu2", "--iters", "40", "--warm",
                  "--start", "noise", "--out", png, "--json", json});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    REQUIRE(j["layers"].size() == 3);
    CHECK(j["layers"][0]["start"] == "noise");
    CHECK(j["layers"][1]["start"] == "pool1's pre-image");
    CHECK(j["layers"][2]["start"] == "noise");  // not from a warm-started tap (chains drift)
    // The same warm start by hand: pool1's pre-image as a file (written 4x for viewing; prepared back to 28 px).
    const std::string pool1 = testutil::path("warm_pool1.png"), one = testutil::path("warm_one.json");
    REQUIRE(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "pool1", "--iters", "40", "--start", "noise", "--out",
                 pool1}).code == 0);
    r = cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "conv2", "--iters", "40", "--start", pool1, "--json", one});
    REQUIRE(r.code == 0);
    auto k = nlohmann::json::parse(testutil::readBytes(one));
    CHECK(k["start"] == pool1);
    // The PNG's 8-bit rounding moves the start a little: the same objective within a few percent.
    CHECK(k["objective"]["total"].get<double>() ==
          doctest::Approx(j["layers"][1]["objective"]["total"].get<double>()).epsilon(0.05));
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "conv2", "--start",
                         testutil::path("no_such_start.png")}),
                    "no_such_start.png");
    // The learned start, the default where the model has a learned inverter: said in the JSON with its brightness.
    r = cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "relu4", "--iters", "20", "--json", one});
    REQUIRE(r.code == 0);
    k = nlohmann::json::parse(testutil::readBytes(one));
    CHECK(k["start"] == "learned");
    CHECK(k["start_brightness"].get<double>() > 0.0);
    CHECK(k["evaluations"].get<int>() > 20);  // the brightness fit's forward passes are counted
    r = cli({"sweep", "--model", "fashion", "--image", kBoot, "--layers", "relu4", "--iters", "20", "--start", "learned", "--out", png,
             "--json", json});
    REQUIRE(r.code == 0);
    CHECK(nlohmann::json::parse(testutil::readBytes(json))["layers"][0]["start"] == "learned");
    expectUserError(cli({"invert", "--model", "squeezenet", "--image", kBoot, "--layer", "fire3", "--start", "learned"}),
                    "no learned inverter for layer 'fire3'");
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "relu4", "--start", "learned", "--restarts", "2"}),
                    "--start learned is for the sobolev optimiser with one restart");
    expectUserError(cli({"sweep", "--model", "fashion", "--image", kBoot, "--layers", "relu4", "--start", pool1, "--out", png}),
                    "--start takes noise or learned here");
}

using testutil::SignalAfterLine;

TEST_CASE("SIGINT or SIGTERM during a sweep keeps the finished layers as a CSV and writes nothing half done") {
    struct sigaction before;
    sigaction(SIGINT, nullptr, &before);
    for (int sig : {SIGINT, SIGTERM}) {
        const std::string png = testutil::path("int.png"), csv = testutil::path("int.csv"),
                          partial = testutil::path("int.partial.csv");
        std::filesystem::remove(partial);
        SignalAfterLine buf("pool1:", sig);
        std::ostream out(&buf);
        std::ostringstream err;
        const int code = preimage::app::runCli({"preimage", "sweep", "--model", "fashion", "--image", kBoot, "--iters", "40",
                                                "--out", png, "--csv", csv},
                                               out, err);
        INFO(buf.str());
        CHECK(code == 128 + sig);
        const std::string text = testutil::readBytes(partial);
        CHECK(std::count(text.begin(), text.end(), '\n') == 4);  // header, conv1, relu1, pool1
        CHECK(text.find("\npool1,2,") != std::string::npos);
        CHECK(buf.str().find(std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                             " during layer conv2: the 3 finished layer(s) are in " + partial) != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(png));
        CHECK_FALSE(std::filesystem::exists(csv));
    }
    // The sweep's handlers are gone with it: the one before is back.
    struct sigaction now;
    sigaction(SIGINT, nullptr, &now);
    CHECK((now.sa_handler == before.sa_handler));
}

TEST_CASE("bad input gets a one-line error and exit code 2") {
    const std::string corrupt = testutil::path("corrupt.png"), empty = testutil::path("empty.jpg");
    testutil::writeBytes(corrupt, "\x89PNG\r\n\x1a\n garbage garbage garbage");
    testutil::writeBytes(empty, "");
    const std::string good = testutil::readBytes(kBoot);
    const std::string truncated = testutil::path("truncated.png");
    testutil::writeBytes(truncated, good.substr(0, good.size() / 2));

    auto base = [&](const std::string& image, const std::string& layer) {
        return cli({"invert", "--model", "fashion", "--image", image, "--layer", layer, "--iters", "5"});
    };
    expectUserError(base(corrupt, "conv1"), "corrupt or truncated PNG file");
    expectUserError(base(truncated, "conv1"), "corrupt or truncated");
    expectUserError(base(empty, "conv1"), "is empty");
    expectUserError(base(testutil::path("missing.png"), "conv1"), "cannot open image");
    expectUserError(base(kBoot, "conv7"), "has no layer 'conv7'");
    expectUserError(cli({"layers", "--model", "no_such_model"}), "not found");
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot}), "needs --layer");
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "conv1", "--iters", "many"}),
                    "expects an integer");
    expectUserError(cli({"invert", "--model", "fashion", "--bogus", "1"}), "has no option --bogus");
    expectUserError(cli({"sweep", "--model", "fashion", "--data", "fashion-mnist", "--out", "grid.png"}),
                    "writes its table with --csv");
    expectUserError(cli({"frobnicate"}), "unknown command");
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "conv1", "--iters", "5", "--out",
                         "/nonexistent-dir/pre.png"}),
                    "the folder '/nonexistent-dir' does not exist");
    expectUserError(cli({"invert", "--model", "fashion", "--image", kBoot, "--layer", "conv1", "--out", "pre.jpg"}), ".png");
    expectUserError(cli({"eval", "classifier", "--model", "fashion", "--data", "/nonexistent"}), "--data");
}

TEST_CASE("outputs and flags are checked before any work, inputs are never overwritten") {
    namespace fs = std::filesystem;
    const std::string input = testutil::path("input.png"), link = testutil::path("link.png");
    fs::copy_file(kBoot, input, fs::copy_options::overwrite_existing);
    fs::remove(link);
    fs::create_symlink(input, link);
    const std::string before = testutil::readBytes(input);
    auto invert = [&](std::vector<std::string> extra) {
        std::vector<std::string> args{"invert", "--model", "fashion", "--image", input, "--layer", "conv1", "--iters", "5"};
        args.insert(args.end(), extra.begin(), extra.end());
        return cli(args);
    };
    expectUserError(invert({"--out", input}), "is the input");
    expectUserError(invert({"--out", link}), "is the input");
    CHECK(testutil::readBytes(input) == before);
    expectUserError(invert({"--threads", "100000"}), "--threads must be a whole number between 1 and 256");
    expectUserError(invert({"--scale", "100000", "--out", testutil::path("p.png")}), "--scale must be between 0");
    expectUserError(invert({"--size", "64"}), "--size and --gray apply to TorchScript files");
    expectUserError(invert({"stray"}), "takes no argument 'stray'");
    expectUserError(invert({"--layr", "conv2"}), "did you mean --layer?");
    expectUserError(invert({"--imgae", "x.png"}), "did you mean --image?");  // a swap of neighbours is one edit
    expectUserError(cli({"invrt"}), "did you mean 'invert'?");
    expectUserError(cli({"sweep", "--model", "fashion", "--image", input, "--out", testutil::path("g.png"), "--csv",
                         "/nonexistent-dir/e.csv"}),
                    "--csv '/nonexistent-dir/e.csv': the folder '/nonexistent-dir' does not exist");
    expectUserError(invert({"--json", testutil::scratch().string()}), "is a folder");
    // --threads=N is read like --threads N.
    auto eq = invert({"--threads=1", "--json", testutil::path("t.json")});
    REQUIRE(eq.code == 0);
    CHECK(nlohmann::json::parse(testutil::readBytes(testutil::path("t.json")))["threads"] == 1);
    auto help = cli({"invert", "--help"});
    CHECK(help.code == 0);
    CHECK(help.out.find("preimage invert --model M --image I --layer L") != std::string::npos);
    CHECK(help.out.find("--restarts V") != std::string::npos);
}

TEST_CASE("eval reprints the classifier's accuracy") {
    auto r = cli({"eval", "classifier", "--model", "fashion", "--limit", "1000"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("test accuracy") != std::string::npos);
    CHECK(r.out.find("(manifest: ") != std::string::npos);
}

TEST_CASE("analogy composes d from a:b::c in both modes and names the classes") {
    const std::string png = testutil::path("d.png"), json = testutil::path("d.json");
    // a = trouser, b = sneaker, c = dress (the samples hold one image per class): the command's mechanics and
    // class names; the accuracy over test triples is test_mixer's.
    for (const char* mode : {"vector", "chunks"}) {
        auto r = cli({"analogy", "--a", testutil::sample("fashion_1"), "--b", testutil::sample("fashion_7"), "--c",
                      testutil::sample("fashion_3"), "--out", png, "--mode", mode, "--json", json});
        INFO(r.err);
        REQUIRE(r.code == 0);
        CHECK(r.out.find("b: Sneaker") != std::string::npos);
        auto j = nlohmann::json::parse(testutil::readBytes(json));
        CHECK(j["mode"] == mode);
        CHECK(j.contains("class_d"));
        CHECK(j["class_a"] == "Trouser");
        if (std::string(mode) == "chunks") CHECK(j["chunks_copied"].size() >= 1);
        // The figure a : b :: c : d, each cell 8 + 112 + 8 px wide, the ratio signs between them, d framed in amber.
        auto fig = preimage::render::loadImage(png);
        CHECK(fig.width > 4 * 128);
        CHECK(fig.width < 4 * 128 + 150);
        long amber = 0, right = 0;
        for (int y = 0; y < fig.height; ++y)
            for (int x = 0; x < fig.width; ++x) {
                const uint8_t* p = fig.at(x, y);
                if (p[0] == 255 && p[1] == 190 && p[2] == 40) amber++, right += x > fig.width - 128;
            }
        CHECK(amber > 4 * 3 * 100);
        CHECK(right == amber);
        // Cell a shows the input (a trouser: a bright object on black), not an empty cell.
        double sum = 0;
        for (int y = 8; y < 120; ++y)
            for (int x = 8; x < 120; ++x) sum += fig.at(x, y)[0];
        CHECK(sum / (112 * 112) > 25);
    }
    // A photograph is converted, and the command says so.
    preimage::render::Image photo{64, 48, 3, std::vector<uint8_t>(64 * 48 * 3, 120)};
    const std::string photoPath = testutil::path("photo.png");
    preimage::render::savePng(photo, photoPath);
    auto p = cli({"analogy", "--a", kBoot, "--b", kBoot, "--c", photoPath, "--out", png});
    REQUIRE(p.code == 0);
    CHECK(p.out.find("note: '" + photoPath + "' is 64x48 colour; the mixer works on 28x28 grey Fashion-MNIST images") !=
          std::string::npos);
    CHECK(p.out.find("note: '" + kBoot + "'") == std::string::npos);  // a 28x28 grey sample needs no note
    expectUserError(cli({"analogy", "--a", kBoot, "--b", kBoot, "--c", kBoot, "--out", png, "--mode", "sideways"}), "--mode");
    expectUserError(cli({"analogy", "--a", kBoot, "--b", kBoot, "--out", png}), "--c");
    expectUserError(cli({"analogy", "--a", kBoot, "--b", kBoot, "--c", "/nonexistent.png", "--out", png}), "nonexistent");
}

TEST_CASE("traverse writes a chunks x values grid; eval mixer writes its JSON") {
    const std::string png = testutil::path("trav.png"), json = testutil::path("trav.json");
    auto r = cli({"traverse", "--image", kBoot, "--out", png, "--values", "-3,0,3", "--json", json});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    CHECK(j["predicted_class"].size() == 8);
    CHECK(j["predicted_class"][0].size() == 3);
    // At 0 sd every row decodes the same code: the same class in the middle column.
    for (size_t k = 1; k < 8; ++k) CHECK(j["predicted_class"][k][1] == j["predicted_class"][0][1]);
    auto grid = preimage::render::loadImage(png);
    CHECK(grid.height > grid.width);  // 8 rows of 3
    expectUserError(cli({"traverse", "--image", kBoot, "--out", png, "--direction", "99"}), "--direction");

    const std::string ej = testutil::path("mixer.json");
    auto e = cli({"eval", "mixer", "--limit", "1000", "--pairs", "200", "--json", ej});
    INFO(e.err);
    REQUIRE(e.code == 0);
    auto m = nlohmann::json::parse(testutil::readBytes(ej));
    CHECK(m["chunk_class_map"].size() == 8);
    CHECK(m["test_recon_rmse"].get<float>() < 0.2f);
    CHECK(m.contains("swap_accuracy"));
    CHECK(m["manifest_metrics"].contains("swap_accuracy"));
}

TEST_CASE("eval refuses what would give NaN, 0% or 'all' silently: limits, mixer sizes, non-classifiers") {
    for (const char* bad : {"0", "-5"})
        expectUserError(cli({"eval", "classifier", "--model", "fashion", "--limit", bad}),
                        std::string("--limit must be a number of images (1 or more; leave it out for all), got '") + bad + "'");
    expectUserError(cli({"eval", "mixer", "--limit", "3"}), "--limit must be at least 50 for the mixer's evaluation");
    expectUserError(cli({"eval", "mixer", "--limit", "60", "--pairs", "0"}), "--pairs must be 1 or more, got 0");
    expectUserError(cli({"eval", "mixer", "--limit", "60", "--update-manifest"}), "--update-manifest records the full");
    expectUserError(cli({"train", "mixer", "--test-limit", "10", "--epochs", "1", "--out", testutil::path("mx")}),
                    "--test-limit must be at least 50");
    // A network whose output is not 10 class scores: refused before the pass over the test set.
    expectUserError(cli({"eval", "classifier", "--model", testutil::testModel("residual.pt"), "--size", "32", "--limit", "20"}),
                    "gives 3072 outputs per image; a Fashion-MNIST classifier gives 10 (one score per class)");
    // The smallest mixer evaluation gives numbers, not NaN.
    auto r = cli({"eval", "mixer", "--limit", "50", "--pairs", "20"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("nan") == std::string::npos);
    CHECK(r.out.find("(10 queries, 40 gallery") != std::string::npos);
}

TEST_CASE("--transforms: a base (standard, maco, none) then the items that change it; bad items are named") {
    using preimage::app::parseTransforms;
    using preimage::app::transformsText;
    CHECK(transformsText(parseTransforms("standard")) == "pad=12,jitter=8,scale=0.95-1.05,rotate=5,jitter2=4");
    CHECK(transformsText(parseTransforms("standard,blur=1")) == "pad=12,jitter=8,scale=0.95-1.05,rotate=5,jitter2=4,blur=1");
    CHECK(transformsText(parseTransforms("standard,rotate=10,pad=0")) == "jitter=8,scale=0.95-1.05,rotate=10,jitter2=4");
    CHECK(transformsText(parseTransforms("blur=2,none,jitter=3")) == "jitter=3");
    auto maco = parseTransforms("maco,noise=0");
    CHECK(maco.crops == 4);
    CHECK(maco.noise == 0.f);
    try {
        parseTransforms("standard,wobble");
        FAIL("accepted");
    } catch (const preimage::Error& e) {
        CHECK(std::string(e.what()).find("'wobble'") != std::string::npos);
    }
}

TEST_CASE("dream --feature-prior: its weight and layers in the JSON; bad values and layers refused") {
    const std::string png = testutil::path("prior.png"), json = testutil::path("prior.json");
    auto r = cli({"dream", "--model", "squeezenet", "--unit", "lemon", "--param", "fourier", "--iters", "2", "--side", "64",
                  "--feature-prior", "20", "--prior-layers", "fire2,fire3", "--out", png, "--json", json});
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    CHECK(j["settings"]["feature_prior"] == 20.0);
    CHECK(j["settings"]["prior_layers"] == nlohmann::json::array({"fire2", "fire3"}));
    CHECK(j["feature_prior"]["distance"].get<double>() > 0);
    r = cli({"dream", "--model", "fashion", "--unit", "Sneaker", "--param", "fourier", "--iters", "2", "--out", png, "--json", json});
    REQUIRE(r.code == 0);
    CHECK(nlohmann::json::parse(testutil::readBytes(json))["settings"]["feature_prior"] == 0.0);  // grey 28 px: none
    const std::vector<std::string> base = {"dream", "--model", "squeezenet", "--unit", "lemon", "--param", "fourier",
                                           "--iters", "2", "--out", png};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return cli(a);
    };
    expectUserError(with({"--feature-prior", "-1"}), "--feature-prior must be between 0 and 1000");
    expectUserError(with({"--prior-layers", "fire2,fire99"}), "'fire99'");
}
