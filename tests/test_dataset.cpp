// `preimage sweep --data`: the per-layer table over a folder the test makes (nested class folders, a corrupt
// file, a text file), batches, resumption after SIGKILL and SIGINT, and a small TorchScript network.
#include "app/cli/cli.h"
#include "inference/data/image_set.h"
#include "inference/data/dataset.h"
#include "render/image.h"
#include "cli_util.h"
#include "test_util.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>


namespace fs = std::filesystem;

namespace {

using testutil::cli;

// 30 Fashion-MNIST test images as PNGs in class folders, every third one a level deeper, plus a corrupt PNG and
// a text file (which is not an image and is not listed).
std::string makeFolder() {
    static const std::string dir = [] {
        const std::string d = testutil::path("dataset");
        fs::remove_all(d);
        const auto test = preimage::loadFashionMnist(false, 30);
        for (int i = 0; i < test.count; ++i) {
            fs::path sub = fs::path(d) / ("class" + std::to_string(test.labels[size_t(i)]));
            if (i % 3 == 0) sub /= "deeper";
            fs::create_directories(sub);
            preimage::render::Image im{28, 28, 1, std::vector<uint8_t>(test.images.begin() + i * 784, test.images.begin() + (i + 1) * 784)};
            char name[32];
            std::snprintf(name, sizeof name, "img%03d.png", i);
            preimage::render::savePng(im, (sub / name).string());
        }
        testutil::writeBytes(d + "/class0/broken.png", "\x89PNG\r\n\x1a\n cut short");
        testutil::writeBytes(d + "/notes.txt", "not an image");
        return d;
    }();
    return dir;
}

std::vector<std::string> sweepArgs(const std::string& csv, const std::string& batch) {
    return {"sweep", "--model", "fashion", "--data", makeFolder(), "--layers", "conv1,pool2,relu3", "--iters", "40", "--batch",
            batch, "--threads", "1", "--csv", csv};
}

// The table without its `seconds` column (the only one that is a measurement of the run, not of the images).
std::string withoutSeconds(const std::string& csv) {
    std::istringstream in(csv);
    std::string out, line;
    while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
}

std::vector<std::vector<std::string>> rows(const std::string& csv) {
    std::vector<std::vector<std::string>> r;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> cells;
        std::istringstream l(line);
        for (std::string c; std::getline(l, c, ',');) cells.push_back(c);
        r.push_back(cells);
    }
    return r;
}

}  // namespace

TEST_CASE("sweep --data writes the per-layer table over a folder, skipping the corrupt file") {
    const std::string csv = testutil::path("stats.csv"), json = testutil::path("stats.json"),
                      plot = testutil::path("curve.png"), grid = testutil::path("examples.png");
    auto args = sweepArgs(csv, "4");
    args.insert(args.end(), {"--json", json, "--plot", plot, "--grid", grid});
    auto r = cli(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("warning: skipped " + makeFolder() + "/class0/broken.png: ") != std::string::npos);
    CHECK(r.out.find("30 images x 3 layers, 1 unreadable file(s) skipped") != std::string::npos);
    const auto t = rows(testutil::readBytes(csv));
    REQUIRE(t.size() == 4);
    CHECK(t[0] == std::vector<std::string>{"layer", "n", "feature_error_mean", "feature_error_sd", "feature_error_median",
                                           "feature_error_p90", "pixel_rmse_mean", "pixel_rmse_sd", "seconds"});
    for (size_t k = 1; k < 4; ++k) CHECK(t[k][1] == "30");
    // Deeper layers keep less: the error rises from conv1 to relu3, and sd, median and p90 are consistent.
    const double conv1 = std::stod(t[1][2]), pool2 = std::stod(t[2][2]), relu3 = std::stod(t[3][2]);
    CHECK(conv1 < pool2);
    CHECK(pool2 < relu3);
    for (size_t k = 1; k < 4; ++k) {
        CHECK(std::stod(t[k][3]) > 0);                   // sd
        CHECK(std::stod(t[k][5]) >= std::stod(t[k][4]));  // p90 >= median
    }
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    CHECK(j["skipped"].size() == 1);
    CHECK(j["skipped"][0]["image"].get<std::string>().find("broken.png") != std::string::npos);
    CHECK(j["per_image"].size() == 90);
    CHECK(j["layers"][2]["n"] == 30);
    CHECK(j["parameters"]["iterations"] == 40);
    // The per-image numbers give the table's mean.
    double sum = 0;
    for (const auto& row : j["per_image"])
        if (row["layer"] == "relu3") sum += row["feature_error"].get<double>();
    CHECK(sum / 30 == doctest::Approx(relu3).epsilon(1e-5));
    // Each row carries the objective as minimised, term by term, and the network evaluations it took.
    for (const auto& row : j["per_image"]) {
        const auto& o = row["objective"];
        CHECK(o["total"].get<double>() > 0);
        CHECK(o["feature"].get<double>() > 0);
        CHECK(o["total"].get<double>() ==
              doctest::Approx(o["feature"].get<double>() + o["alpha"].get<double>() + o["tv"].get<double>()).epsilon(1e-4));
        CHECK(row["evaluations"] == 40 + 7);  // the learned start's fit: seven forward passes
    }
    CHECK(j["parameters"]["optimizer"] == "sobolev");
    auto p = preimage::render::loadImage(plot);
    CHECK(p.width == 760);
    auto g = preimage::render::loadImage(grid);
    CHECK(g.width > 4 * 84);  // original + 3 layers per row
}

TEST_CASE("a batch of B images gives the numbers of B = 1") {
    const auto one = rows(testutil::readBytes((cli(sweepArgs(testutil::path("b1.csv"), "1")), testutil::path("b1.csv"))));
    const auto eight = rows(testutil::readBytes((cli(sweepArgs(testutil::path("b8.csv"), "8")), testutil::path("b8.csv"))));
    REQUIRE(one.size() == 4);
    REQUIRE(eight.size() == 4);
    for (size_t k = 1; k < 4; ++k)
        for (size_t c = 2; c < 8; ++c) CHECK(std::stod(eight[k][c]) == doctest::Approx(std::stod(one[k][c])).epsilon(1e-3));
}

TEST_CASE("a sweep killed with SIGKILL resumes and ends with the uninterrupted table; --fresh starts over") {
    const std::string full = testutil::path("full.csv"), killed = testutil::path("killed.csv");
    REQUIRE(cli(sweepArgs(full, "2")).code == 0);
    // The real binary, killed when its log holds some results.
    const std::string log = killed + ".state/log.jsonl";
    auto lines = [&] {
        const std::string text = testutil::readBytes(log);
        return std::count(text.begin(), text.end(), '\n');
    };
    REQUIRE(testutil::spawnAndKill(sweepArgs(killed, "2"), [&] { return lines() >= 12; }));
    const long kept = lines();
    CHECK(kept >= 12);
    CHECK(kept < 1 + 1 + 3 + 90);  // not finished: params, skipped, thread lines, 90 results
    // A kill mid-write leaves a cut line: the resumed run drops it.
    testutil::writeBytes(log, testutil::readBytes(log) + "{\"i\": 29, \"layer\": \"con");
    auto r = cli(sweepArgs(killed, "2"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("resuming from " + killed + ".state: ") != std::string::npos);
    CHECK(withoutSeconds(testutil::readBytes(killed)) == withoutSeconds(testutil::readBytes(full)));
    // Other settings are refused, naming them; --fresh starts over.
    auto other = sweepArgs(killed, "2");
    other[other.size() - 7] = "41";  // --iters
    auto o = cli(other);
    CHECK(o.code == 2);
    CHECK(o.err.find("holds a sweep with other settings (iterations); run with --fresh to start over") != std::string::npos);
    other.push_back("--fresh");
    auto f = cli(other);
    CHECK(f.code == 0);
    CHECK(f.out.find("resuming") == std::string::npos);
}

TEST_CASE("a log written before the objective was recorded resumes; its rows keep their numbers without one") {
    const std::string csv = testutil::path("old_log.csv"), json = testutil::path("old_log.json");
    auto args = sweepArgs(csv, "4");
    args.insert(args.end(), {"--limit", "5", "--json", json});  // the corrupt file and 4 images
    REQUIRE(cli(args).code == 0);
    // Rewrite the log as an older version wrote it: no "objective" or "evaluations" on the result lines.
    const std::string log = csv + ".state/log.jsonl";
    std::istringstream in(testutil::readBytes(log));
    std::string old;
    int stripped = 0;
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line);
        if (j.contains("objective")) {
            j.erase("objective");
            j.erase("evaluations");
            stripped++;
        }
        old += j.dump() + "\n";
    }
    CHECK(stripped == 12);  // 4 images x 3 layers
    testutil::writeBytes(log, old);
    const std::string before = testutil::readBytes(csv);
    auto r = cli(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("resuming from " + csv + ".state: ") != std::string::npos);
    CHECK(testutil::readBytes(csv) == before);  // nothing recomputed: the same table, the same seconds
    auto j = nlohmann::json::parse(testutil::readBytes(json));
    REQUIRE(j["per_image"].size() == 12);
    for (const auto& row : j["per_image"]) {
        CHECK(row["feature_error"].get<double>() > 0);
        CHECK_FALSE(row.contains("objective"));
        CHECK_FALSE(row.contains("evaluations"));
    }
    // A line that is JSON but not one of ours (here: a result without its numbers) is named, not a crash.
    testutil::writeBytes(log, old + "{\"i\": 2, \"layer\": \"conv1\"}\n" + old.substr(old.find('\n') + 1));
    auto damaged = cli(args);
    CHECK(damaged.code != 0);
    const long before_lines = std::count(old.begin(), old.end(), '\n');
    CHECK(damaged.err.find("is damaged at line " + std::to_string(before_lines + 1) + ";") != std::string::npos);
}

TEST_CASE("SIGINT during a dataset sweep writes the partial table, and the rerun completes it") {
    testutil::SignalAfterLine buf("warning: skipped", SIGINT);
    std::ostream out(&buf);
    std::ostringstream err;
    const std::string csv = testutil::path("int.csv");
    auto args = sweepArgs(csv, "2");
    args.insert(args.begin(), "preimage");
    // The corrupt file is class0/broken.png, the first in sorted order: the signal comes in the first batch.
    const int code = preimage::app::runCli(args, out, err);
    CHECK(code == 128 + SIGINT);
    CHECK(buf.str().find("interrupted by SIGINT") != std::string::npos);
    CHECK(fs::exists(testutil::path("int.partial.csv")));
    CHECK_FALSE(fs::exists(csv));
    auto r = cli(sweepArgs(csv, "2"));
    REQUIRE(r.code == 0);
    CHECK(withoutSeconds(testutil::readBytes(csv)) == withoutSeconds(testutil::readBytes(testutil::path("full.csv"))));
}

TEST_CASE("a larger --limit extends a finished sweep; a changed folder or a smaller --limit is refused") {
    const std::string csv = testutil::path("grow.csv");
    auto first = sweepArgs(csv, "4");
    first.insert(first.end(), {"--limit", "10"});
    REQUIRE(cli(first).code == 0);
    CHECK(rows(testutil::readBytes(csv))[1][1] == "9");  // the corrupt file is among the first 10
    auto r = cli(sweepArgs(csv, "4"));  // all 31 files
    INFO(r.err);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("extending the sweep in " + csv + ".state/log.jsonl from 10 to 31 images") != std::string::npos);
    CHECK(withoutSeconds(testutil::readBytes(csv)) == withoutSeconds(testutil::readBytes(testutil::path("full.csv"))));
    auto fewer = cli(first);
    CHECK(fewer.code == 2);
    CHECK(fewer.err.find("holds a sweep of 31 images; this one asks for 10") != std::string::npos);

    // A file added to the folder shifts the positions: the log is not resumed on other images.
    const std::string copy = testutil::path("grown_folder");
    fs::remove_all(copy);
    fs::copy(makeFolder(), copy, fs::copy_options::recursive);
    auto onCopy = [&](std::vector<std::string> args) {
        *std::find(args.begin(), args.end(), makeFolder()) = copy;
        return args;
    };
    const std::string csv2 = testutil::path("changed.csv");
    REQUIRE(cli(onCopy(sweepArgs(csv2, "4"))).code == 0);
    fs::path some;
    for (const auto& e : fs::recursive_directory_iterator(copy))
        if (e.path().filename() == "img001.png") some = e.path();
    REQUIRE(!some.empty());
    fs::copy_file(some, copy + "/class0/aaa.png");
    auto changed = cli(onCopy(sweepArgs(csv2, "4")));
    CHECK(changed.code == 2);
    CHECK(changed.err.find("are not the ones '" + csv2 + ".state/log.jsonl' began with (files added, removed or renamed)") !=
          std::string::npos);
}

TEST_CASE("sweep --data on a TorchScript network and refusals") {
    const std::string csv = testutil::path("ts.csv");
    auto r = cli({"sweep", "--model", testutil::testModel("resnet_scripted.pt"), "--data", makeFolder(), "--size", "32", "--limit", "6",
                  "--layers", "conv1,layer2,layer4", "--iters", "30", "--batch", "3", "--csv", csv});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto t = rows(testutil::readBytes(csv));
    REQUIRE(t.size() == 4);
    for (size_t k = 1; k < 4; ++k) {
        CHECK(t[k][1] == "5");  // the first 6 files, one of them the corrupt one
        CHECK(std::stod(t[k][2]) > 0);
        CHECK(std::stod(t[k][2]) < 1.5);  // random weights: a finite error, not a trend
    }
    auto bad = [](std::vector<std::string> a) { return cli(std::move(a)); };
    CHECK(bad({"sweep", "--model", "fashion", "--data", testutil::path("nowhere"), "--csv", csv}).err.find("is not a folder") !=
          std::string::npos);
    fs::create_directories(testutil::path("empty_dir"));
    CHECK(bad({"sweep", "--model", "fashion", "--data", testutil::path("empty_dir"), "--csv", csv}).err.find("holds no images") !=
          std::string::npos);
    CHECK(bad({"sweep", "--model", "fashion", "--data", "fashion-mnist:val", "--csv", csv}).err.find(":train or :test") !=
          std::string::npos);
    CHECK(bad({"sweep", "--model", "fashion", "--data", makeFolder(), "--batch", "0", "--csv", csv}).err.find("--batch") !=
          std::string::npos);
    CHECK(bad({"sweep", "--model", "fashion", "--data", makeFolder()}).err.find("needs --csv") != std::string::npos);
}

TEST_CASE("a learned inverter for a TorchScript tap, trained on a stream of images, resumes after SIGKILL") {
    const std::string full = testutil::path("inv_full"), killed = testutil::path("inv_killed");
    const std::vector<std::string> args{"train", "inverter", "--model", testutil::testModel("resnet_scripted.pt"), "--size", "32",
                                        "--data", "fashion-mnist:train", "--limit", "1200", "--layer", "layer2", "--epochs",
                                        "2", "--batch", "64", "--threads", "1", "--seed", "3"};
    auto withOut = [&](const std::string& dir) {
        auto a = args;
        a.insert(a.end(), {"--out", dir});
        return a;
    };
    auto r = cli(withOut(full));
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto m = nlohmann::json::parse(testutil::readBytes(full + "/layer2.json"));
    const double rmse = m["metrics"]["test_pixel_rmse"], meanImage = m["metrics"]["mean_image_pixel_rmse"];
    // Held-out images (every 10th) decode clearly better than the mean training image does.
    CHECK(rmse < 0.8 * meanImage);
    CHECK(m["metrics"]["test_images"] == 120);
    CHECK(m["training"]["train_images"] == 1080);
    CHECK(m["architecture"][0]["type"] == "conv");
    CHECK_FALSE(fs::exists(full + "/layer2.ckpt.json"));  // checkpoints go when the decoder is written
    // With the feature loss (Dosovitskiy & Brox) the decoded images keep more of the layer: a lower held-out
    // feature error (measured: 0.321 against 0.350; at 3600 images x 5 epochs 0.193 against 0.227).
    auto featured = withOut(testutil::path("inv_feature"));
    featured.insert(featured.end(), {"--feature-weight", "0.3"});
    auto rf = cli(featured);
    INFO(rf.err);
    REQUIRE(rf.code == 0);
    auto mf = nlohmann::json::parse(testutil::readBytes(testutil::path("inv_feature") + "/layer2.json"));
    CHECK(mf["training"]["feature_weight"].get<double>() == doctest::Approx(0.3));
    CHECK(mf["metrics"]["test_feature_error"].get<double>() < 0.95 * m["metrics"]["test_feature_error"].get<double>());
    CHECK(mf["metrics"]["test_pixel_rmse"].get<double>() < 0.8 * meanImage);
    // Killed after its first epoch's checkpoint; --resume continues from there to the same decoder.
    REQUIRE(testutil::spawnAndKill(withOut(killed), [&] { return fs::exists(killed + "/layer2.ckpt.json"); }));
    CHECK_FALSE(fs::exists(killed + "/layer2.json"));
    auto resumed = withOut(killed);
    resumed.push_back("--resume");
    auto r2 = cli(resumed);
    INFO(r2.err);
    REQUIRE(r2.code == 0);
    CHECK(r2.out.find("layer2: resumed at epoch 2") != std::string::npos);
    auto m2 = nlohmann::json::parse(testutil::readBytes(killed + "/layer2.json"));
    CHECK(m2["metrics"]["test_pixel_rmse"].get<double>() == doctest::Approx(rmse).epsilon(1e-6));
    // eval inverter finds the decoder in the folder given, over another dataset.
    const std::string json = testutil::path("inv_eval.json");
    auto e = cli({"eval", "inverter", "--model", testutil::testModel("resnet_scripted.pt"), "--size", "32", "--inverters", full,
                  "--data", makeFolder(), "--json", json});
    INFO(e.err);
    REQUIRE(e.code == 0);
    auto ej = nlohmann::json::parse(testutil::readBytes(json));
    REQUIRE(ej["layers"].size() == 1);
    CHECK(ej["layers"][0]["layer"] == "layer2");
    CHECK(ej["layers"][0]["pixel_rmse"].get<double>() < meanImage);
    CHECK(e.out.find("skipped 1 unreadable file(s)") != std::string::npos);
    // A decoder made for 32 px input does not fit the network at 64 px: not offered.
    auto wrong = cli({"eval", "inverter", "--model", testutil::testModel("resnet_scripted.pt"), "--size", "64", "--inverters", full,
                      "--data", makeFolder()});
    CHECK(wrong.code == 2);
    CHECK(wrong.err.find("no learned inverters") != std::string::npos);
}

TEST_CASE("data shapes writes an ImageFolder by shape with factors.csv, the same for any thread count") {
    const std::string dir = testutil::path("shapes"), dir1 = testutil::path("shapes1");
    fs::remove_all(dir);
    fs::remove_all(dir1);
    auto r = cli({"data", "shapes", "--out", dir, "--n", "120", "--size", "32", "--seed", "3", "--threads", "2"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("wrote 120 images of 32x32") != std::string::npos);
    auto set = preimage::openImageSet(dir);
    CHECK(set->size() == 120);
    CHECK(set->classNames() == std::vector<std::string>{"cross", "disc", "square", "triangle"});
    CHECK(set->load(0).width == 32);
    const std::string csv = testutil::readBytes(dir + "/factors.csv");
    CHECK(csv.rfind("file,shape,colour,scale,rotation,x,y,background\n", 0) == 0);
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 121);
    auto manifest = nlohmann::json::parse(testutil::readBytes(dir + "/factors.json"));
    CHECK(manifest["factors"].size() == 7);
    CHECK(manifest["levels"]["shape"][0] == "square");
    // One thread: the same files, byte for byte.
    REQUIRE(cli({"data", "shapes", "--out", dir1, "--n", "120", "--size", "32", "--seed", "3", "--threads", "1"}).code == 0);
    CHECK(testutil::readBytes(dir1 + "/factors.csv") == csv);
    const std::string first = csv.substr(csv.find('\n') + 1, csv.find(',', csv.find('\n')) - csv.find('\n') - 1);
    CHECK(testutil::readBytes(dir + "/" + first) == testutil::readBytes(dir1 + "/" + first));
    // A smaller --n into the same folder leaves no image factors.csv does not list.
    REQUIRE(cli({"data", "shapes", "--out", dir, "--n", "50", "--size", "32", "--seed", "3"}).code == 0);
    CHECK(preimage::openImageSet(dir)->size() == 50);
    CHECK(cli({"data", "shapes", "--out", dir, "--n", "0"}).code == 2);
    CHECK(cli({"data", "sprites", "--out", dir}).code == 2);
}
