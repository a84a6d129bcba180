// The mixer on a folder with known factors (issue 15): unsupervised training and its autoencoder baseline,
// checkpoints and --resume, the paper's table with MIG and DCI (`eval mixer --data`), and the committed shapes
// models reproducing the metrics in their manifests.
#include "app/cli/cli.h"
#include "cli_util.h"
#include "test_util.h"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <filesystem>

namespace fs = std::filesystem;
using nlohmann::json;
using testutil::cli;

namespace {

// A small shapes folder (16 px, 600 images): what a tiny mixer trains on in seconds.
std::string tinyShapes() {
    static const std::string dir = [] {
        const std::string d = testutil::path("tiny_shapes");
        fs::remove_all(d);
        REQUIRE(cli({"data", "shapes", "--out", d, "--n", "600", "--size", "16", "--seed", "5"}).code == 0);
        return d;
    }();
    return dir;
}

json readJson(const std::string& path) { return json::parse(testutil::readBytes(path)); }

const std::vector<std::string> kTiny{"--chunks", "4", "--dims", "2", "--batch", "32", "--seed", "2", "--threads", "2"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("train mixer --data: unsupervised on a folder; stopped after an epoch, --resume ends where an unbroken run does") {
    const std::string data = tinyShapes();
    const std::string whole = testutil::path("mx_whole"), parts = testutil::path("mx_parts");
    fs::remove_all(whole);
    fs::remove_all(parts);
    auto r = cli(with({"train", "mixer", "--data", data, "--out", whole, "--epochs", "2"}, kTiny));
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto m = readJson(whole + "/manifest.json");
    CHECK(m["image"]["side"] == 16);
    CHECK(m["image"]["channels"] == 3);
    CHECK(m["classes"] == 0);                       // no class head: unsupervised
    CHECK(m["training"]["lambda_class"] == 0.0);
    CHECK(m["training"]["train_images"] == 540);    // every 10th image held out
    CHECK(m["metrics"]["test_recon_rmse"].get<double>() < 0.3);
    CHECK_FALSE(fs::exists(whole + "/checkpoint.json"));  // a finished run leaves its result only

    r = cli(with({"train", "mixer", "--data", data, "--out", parts, "--epochs", "2", "--stop-after", "1"}, kTiny));
    REQUIRE(r.code == 0);
    CHECK(r.out.find("stopped after epoch 1 of 2") != std::string::npos);
    CHECK(fs::exists(parts + "/checkpoint.json"));
    CHECK_FALSE(fs::exists(parts + "/manifest.json"));
    // other options than the checkpoint's are refused, naming the difference's cause
    testutil::expectUserError(cli(with({"train", "mixer", "--data", data, "--out", parts, "--epochs", "3", "--resume"}, kTiny)),
                              "is of another run");
    r = cli(with({"train", "mixer", "--data", data, "--out", parts, "--epochs", "2", "--resume"}, kTiny));
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto p = readJson(parts + "/manifest.json");
    CHECK(p["metrics"]["test_recon_rmse"].get<double>() == doctest::Approx(m["metrics"]["test_recon_rmse"].get<double>()).epsilon(1e-5));
    CHECK(p["training"]["last_epoch_loss"].get<double>() ==
          doctest::Approx(m["training"]["last_epoch_loss"].get<double>()).epsilon(1e-5));
    CHECK(testutil::readBytes(parts + "/weights.pt").size() == testutil::readBytes(whole + "/weights.pt").size());

    testutil::expectUserError(cli({"train", "mixer", "--data", data, "--out", parts, "--lambda-class", "5"}), "unsupervised");
    testutil::expectUserError(cli({"train", "mixer", "--data", data, "--out", parts, "--baseline", "vae"}), "--baseline takes 'ae'");
    testutil::expectUserError(cli({"train", "mixer", "--data", data, "--out", testutil::path("mx_none"), "--resume"}), "no checkpoint");
}

TEST_CASE("train mixer --decoder broadcast: the spatial broadcast decoder is trained, recorded, loaded and refused where it differs") {
    const std::string data = tinyShapes();
    const std::string bc = testutil::path("mx_broadcast");
    fs::remove_all(bc);
    auto r = cli(with({"train", "mixer", "--data", data, "--out", bc, "--epochs", "1", "--decoder", "broadcast"}, kTiny));
    REQUIRE_MESSAGE(r.code == 0, r.err);
    auto m = readJson(bc + "/manifest.json");
    CHECK(m["decoder"] == "broadcast");
    CHECK(m["architecture"].get<std::string>().find("tiled over 16x16") != std::string::npos);
    CHECK(m["metrics"]["test_recon_rmse"].get<double>() < 0.3);
    // loaded by the manifest's word (eval reads the weights back: the same reconstruction error)
    r = cli({"eval", "mixer", "--model", bc, "--data", data});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.out.find("reconstruction: test pixel RMSE") != std::string::npos);
    testutil::expectUserError(cli({"train", "mixer", "--data", data, "--out", testutil::path("mx_x"), "--decoder", "unet"}),
                              "--decoder takes 'deconv'");
    // fine-tuning a broadcast mixer as a deconv one would load nothing: refused
    testutil::expectUserError(cli(with({"train", "mixer", "--data", data, "--out", testutil::path("mx_y"), "--epochs", "1", "--init", bc}, kTiny)),
                              "another chunk layout, image size or decoder");
    // a manifest naming a decoder this build does not know
    auto bad = m;
    bad["decoder"] = "diffusion";
    testutil::writeBytes(bc + "/manifest.json", bad.dump());
    testutil::expectUserError(cli({"eval", "mixer", "--model", bc, "--data", data}), "unknown decoder 'diffusion'");
}

TEST_CASE("eval mixer --data: the chunk x factor table for the mixer and the baseline, MIG and DCI") {
    const std::string data = tinyShapes();
    const std::string mx = testutil::path("mx_table"), ae = testutil::path("ae_table"), js = testutil::path("table.json");
    fs::remove_all(mx);
    fs::remove_all(ae);
    REQUIRE(cli(with({"train", "mixer", "--data", data, "--out", mx, "--epochs", "1"}, kTiny)).code == 0);
    auto r = cli(with({"train", "mixer", "--data", data, "--out", ae, "--epochs", "1", "--baseline", "ae"}, kTiny));
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(readJson(ae + "/manifest.json")["baseline"] == true);
    r = cli({"eval", "mixer", "--model", mx, "--data", data, "--baseline", ae, "--json", js});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    // the printed table: chunks as rows, factors as columns
    CHECK(r.out.find("mixer: nearest-neighbour mAP of each factor on each chunk") != std::string::npos);
    CHECK(r.out.find("chunk 3") != std::string::npos);
    CHECK(r.out.find("background") != std::string::npos);
    auto j = readJson(js);
    REQUIRE(j["factors"].size() == 7);
    CHECK(j["factors"][0] == "shape");
    for (const char* key : {"chunk_factor_map", "ae_chunk_factor_map"}) {
        REQUIRE(j[key].size() == 4);  // chunks
        for (const auto& row : j[key]) {
            REQUIRE(row.size() == 7);  // factors
            for (const auto& v : row) CHECK((v.get<double>() > 0.0 && v.get<double>() <= 1.0));
        }
    }
    for (const char* key : {"mig", "ae_mig"}) CHECK((j[key].get<double>() >= 0.0 && j[key].get<double>() <= 1.0));
    for (const char* key : {"dci", "ae_dci"})
        for (const char* part : {"disentanglement", "completeness", "informativeness_test"})
            CHECK((j[key][part].get<double>() >= 0.0 && j[key][part].get<double>() <= 1.0));
    CHECK(j["factor_images"] == 600);

    // A corrupt file in the folder: left out, and said so in the output (a log, not only a terminal's bar).
    const std::string broken = testutil::path("tiny_shapes_broken");
    fs::remove_all(broken);
    fs::copy(data, broken, fs::copy_options::recursive);
    const fs::path victim = fs::path(broken) / "disc" / fs::directory_iterator(fs::path(data) / "disc")->path().filename();
    testutil::writeBytes(victim.string(), "\x89PNG\r\n\x1a\n not really");
    r = cli({"eval", "mixer", "--model", mx, "--data", broken, "--json", js});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.out.find("warning: 1 unreadable file(s) of 600 skipped (first: ") != std::string::npos);
    CHECK(r.out.find(victim.filename().string()) != std::string::npos);
    CHECK(readJson(js)["factor_images"] == 599);

    testutil::expectUserError(cli({"eval", "mixer", "--model", mx, "--baseline", ae}), "needs --data with a factors.csv");
}

TEST_CASE("the committed shapes mixer and baseline reproduce their manifests' factor tables") {
    const fs::path assets = fs::path(PREIMAGE_SOURCE_DIR) / "assets" / "models" / "shapes";
    REQUIRE(fs::exists(assets / "mixer" / "manifest.json"));
    const auto mm = readJson((assets / "mixer" / "manifest.json").string());
    const auto am = readJson((assets / "mixer_ae" / "manifest.json").string());
    // The evaluation folder the manifest names, made again by the tool (it is deterministic).
    const auto& f = mm["factors"];
    const std::string eval = testutil::path("shapes_eval");
    fs::remove_all(eval);
    REQUIRE(cli({"data", "shapes", "--out", eval, "--n", std::to_string(f["eval_images"].get<int>()), "--size", "32", "--seed",
                 std::to_string(f["eval_seed"].get<int>())})
                .code == 0);
    const std::string js = testutil::path("shapes_eval.json");
    auto r = cli({"eval", "mixer", "--model", "shapes", "--data", eval, "--json", js, "--pairs", "500"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    const auto j = readJson(js);
    auto same = [](const json& a, const json& b) {
        REQUIRE(a.size() == b.size());
        for (size_t k = 0; k < a.size(); ++k)
            for (size_t i = 0; i < a[k].size(); ++i) CHECK(a[k][i].get<double>() == doctest::Approx(b[k][i].get<double>()).epsilon(2e-3));
    };
    same(j["chunk_factor_map"], mm["factors"]["chunk_factor_map"]);
    same(j["ae_chunk_factor_map"], am["factors"]["chunk_factor_map"]);
    CHECK(j["mig"].get<double>() == doctest::Approx(mm["factors"]["mig"].get<double>()).epsilon(2e-3));
    CHECK(j["ae_mig"].get<double>() == doctest::Approx(am["factors"]["mig"].get<double>()).epsilon(2e-3));
    for (const char* part : {"disentanglement", "completeness", "informativeness_test"}) {
        CHECK(j["dci"][part].get<double>() == doctest::Approx(mm["factors"]["dci"][part].get<double>()).epsilon(2e-3));
        CHECK(j["ae_dci"][part].get<double>() == doctest::Approx(am["factors"]["dci"][part].get<double>()).epsilon(2e-3));
    }
    // The targets: the mixer's mean over factors of its best chunk's mAP at least 0.1 above the baseline's,
    // and at least four factors with a chunk of their own (mAP >= 2x the factor's mean on the other chunks).
    const double mixerBest = j["mixer"]["mean_best_chunk_map"], baseBest = j["baseline"]["mean_best_chunk_map"];
    MESSAGE("mean best-chunk mAP: mixer " << mixerBest << ", baseline " << baseBest << "; separated factors "
                                          << j["mixer"]["separated_factors"] << " and " << j["baseline"]["separated_factors"]);
    CHECK(mixerBest >= baseBest + 0.1);
    CHECK(j["mixer"]["separated_factors"].get<int>() >= 4);
    CHECK(j["baseline"]["separated_factors"].get<int>() == 0);
    CHECK(j["dci"]["disentanglement"].get<double>() > j["ae_dci"]["disentanglement"].get<double>() + 0.05);
    // Analogies checked against the factors (a and b differ in one factor): the mixer's vector analogy shows b's
    // level more often than the baseline's, and chunk transfer, which only a disentangled code can do, does so in
    // about half the triples (chance: 1 in 4 to 1 in 6).
    CHECK(j["mixer"]["analogy"]["vector"]["changed_factor_accuracy"].get<double>() >
          j["baseline"]["analogy"]["vector"]["changed_factor_accuracy"].get<double>());
    CHECK(j["mixer"]["analogy"]["chunks"]["changed_factor_accuracy"].get<double>() > 0.45);
    // The slider labels the app shows come from this table.
    CHECK(j["mixer"]["chunk_factor"] == mm["factors"]["chunk_factor"]);

    // The shapes classifier's learned inverters (its pre-images in one pass): on these images each layer's pixel
    // RMSE is within 15% of its manifest's held-out figure; the first layer keeps the image, the class scores do not.
    const std::string ij = testutil::path("shapes_inverters.json");
    r = cli({"eval", "inverter", "--model", "shapes", "--data", eval, "--json", ij});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    const auto inv = readJson(ij)["layers"];
    REQUIRE(inv.size() == 11);
    for (const auto& row : inv) {
        INFO("layer " << row["layer"]);
        const auto man = readJson((assets / "inverters" / (row["layer"].get<std::string>() + ".json")).string());
        CHECK(row["pixel_rmse"].get<double>() == doctest::Approx(man["metrics"]["test_pixel_rmse"].get<double>()).epsilon(0.15));
    }
    CHECK(inv[0]["pixel_rmse"].get<double>() < 0.06);
    CHECK(inv[10]["pixel_rmse"].get<double>() > 2 * inv[0]["pixel_rmse"].get<double>());
}
