// `preimage data shapes`: a dataset with known factors, rendered procedurally (inference/data/shapes.h), in ImageFolder
// layout (one folder per shape) with factors.csv: an ordinary --data folder for every other command.
#include "app/cli/cli.h"
#include "app/cli/args.h"
#include "app/cli/interrupt.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"
#include "inference/json_text.h"

#include "inference/data/shapes.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

// One image through the one writer without an fsync per file (100,000 of them would take minutes); the folder
// counts as complete once factors.csv, written last and fsynced, is there.
void writeImage(const render::Image& image, const fs::path& path) {
    const auto png = render::encodePng(image);
    render::writeFileAtomically(path.string(), png.data(), png.size(), /*durable=*/false);
}

int cmdDataShapes(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"out", "n", "size", "seed", "threads"}, {}, "data shapes");
    const std::string outDir = a.required("out");
    const long n = a.integer("n", 10000);
    const int size = a.integer("size", 64);
    const uint64_t seed = uint64_t(std::max(0, a.integer("seed", 0)));
    if (n < 1 || n > 10000000) throw Error("--n must be between 1 and 10000000");
    if (size < 16 || size > 1024) throw Error("--size must be between 16 and 1024");
    const auto& factors = shapeFactors();
    std::error_code ec;
    for (const auto& shape : factors[0].levels) {
        const fs::path dir = fs::path(outDir) / shape;
        fs::create_directories(dir, ec);
        if (ec) throw Error("cannot create '" + dir.string() + "': " + ec.message());
        // An earlier run's images (NNNNNNN.png) go: a smaller --n must not leave images factors.csv does not list.
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string f = e.path().filename().string();
            if (f.size() == 11 && f.compare(7, 4, ".png") == 0 && f.find_first_not_of("0123456789") == 7) fs::remove(e.path(), ec);
        }
    }
    fs::remove(fs::path(outDir) / "factors.csv", ec);  // the folder is complete again only once it is rewritten
    const auto start = std::chrono::steady_clock::now();
    int threads = a.integer("threads", int(std::max(1u, std::thread::hardware_concurrency())));
    threads = std::clamp(threads, 1, 64);
    Interrupt stop;
    const std::atomic<bool>& interrupted = *stop.flag();
    std::atomic<long> next{0}, done{0};
    std::atomic<bool> failed{false};
    std::string failure;  // written once, by the thread that sets `failed`
    auto name = [&](long i) {
        char file[32];
        std::snprintf(file, sizeof file, "%07ld.png", i);
        const auto code = shapeCode(seed, uint64_t(i));
        return factors[0].levels[size_t(code[0])] + "/" + file;
    };
    auto work = [&] {
        try {
            for (long i; (i = next++) < n && !interrupted && !failed;) {
                writeImage(renderShape(shapeCode(seed, uint64_t(i)), size), fs::path(outDir) / name(i));
                ++done;
            }
        } catch (const std::exception& e) {
            if (!failed.exchange(true)) failure = e.what();
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    ProgressBar bar("shapes");
    while (done < n && !failed && !interrupted) {
        bar.update(done, n);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    if (failed) throw render::IoError(failure);
    if (interrupted)
        throw Error("interrupted by " + stop.name() + " after " + std::to_string(done.load()) + " images (run again: it is deterministic)",
                    128 + stop.signal());
    bar.finish(std::to_string(n) + " images");
    // factors.csv: one row per image, the level index of every factor (the levels are in factors.json).
    std::string csv = "file";
    for (const auto& f : factors) csv += std::string(",") + f.name;
    csv += "\n";
    for (long i = 0; i < n; ++i) {
        const auto code = shapeCode(seed, uint64_t(i));
        csv += name(i);
        for (int k = 0; k < kShapeFactorCount; ++k) csv += "," + std::to_string(code[size_t(k)]);
        csv += "\n";
    }
    nlohmann::json levels = nlohmann::json::object();
    nlohmann::json names = nlohmann::json::array();
    for (const auto& f : factors) {
        levels[f.name] = f.levels;
        names.push_back(f.name);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json manifest{{"command", commandLine(argv)}, {"n", n}, {"size", size}, {"seed", seed}, {"factors", names},
                            {"levels", levels}, {"seconds", seconds},
                            {"layout", "ImageFolder by shape; factors.csv: file, then each factor's level index"}};
    render::writeFileAtomically((fs::path(outDir) / "factors.json").string(), jsonText(manifest));
    render::writeFileAtomically((fs::path(outDir) / "factors.csv").string(), csv);
    out << "wrote " << n << " images of " << size << "x" << size << " in " << fmt("%.1f", seconds) << " s to " << outDir
        << " (factors.csv, factors.json)\n";
    return 0;
}

}  // namespace

int cmdData(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    const std::string what = argv.size() > first ? argv[first] : "";
    if (what == "shapes") return cmdDataShapes(argv, first + 1, out);
    throw Error("usage: preimage data shapes --out DIR [--n N] [--size 64] [--seed S]");
}

}  // namespace preimage::app
