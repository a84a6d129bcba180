// `preimage sweep --data D`: the paper's per-layer table over a dataset, resumable.
//
// Work is done in batches of images (--batch), each batch through every layer. Every finished (image, layer)
// is appended to a log beside the CSV (NAME.csv.state/log.jsonl), written and flushed before the next batch
// starts, with the run's parameters on its first line. The same command run again reads the log, skips what
// is there and computes the rest: each image's seed comes from --seed and its position, and the thread
// count is decided by the work and logged, so a resumed run ends with the table an uninterrupted one gives.
#include "app/cli/cli.h"
#include "inference/data/convert.h"
#include "inference/data/image_set.h"
#include "inference/data/state_log.h"
#include "app/cli/interrupt.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"
#include "render/grid.h"
#include "render/image.h"
#include "inference/data/splitmix.h"

#include "inference/runtime/distributed.h"
#include "inference/inversion/params.h"
#include "inference/json_text.h"
#include "inference/runtime/threads.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace preimage::app {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kExamples = 4;  // images shown in the --grid figure (the first ones of the dataset)

// Image i's seed: --seed and the position, mixed (splitmix64), the same in any batch or process.
uint64_t imageSeed(uint64_t seed, int index) {
    return splitmix64(seed + kSplitMixGamma * uint64_t(index)) & 0x7fffffffffffull;
}

struct LayerStats {
    int n = 0;
    double mean = 0, sd = 0, median = 0, p90 = 0, rmseMean = 0, rmseSd = 0, seconds = 0;
};

// Sample standard deviation (n - 1), quantiles by linear interpolation (numpy's default).
LayerStats statsOf(const std::vector<Record>& rs) {
    LayerStats s;
    s.n = int(rs.size());
    if (rs.empty()) {  // no image of this layer could be inverted: "nan", not a zero that reads as perfect
        s.mean = s.sd = s.median = s.p90 = s.rmseMean = s.rmseSd = std::nan("");
        return s;
    }
    std::vector<double> fe, px;
    for (const auto& r : rs) fe.push_back(r.featureError), px.push_back(r.pixelRmse), s.seconds += r.seconds;
    auto meanSd = [](const std::vector<double>& v, double& m, double& sd) {
        m = 0;
        for (double x : v) m += x;
        m /= double(v.size());
        double ss = 0;
        for (double x : v) ss += (x - m) * (x - m);
        sd = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
    };
    meanSd(fe, s.mean, s.sd);
    meanSd(px, s.rmseMean, s.rmseSd);
    std::sort(fe.begin(), fe.end());
    auto quantile = [&](double q) {
        const double pos = q * double(fe.size() - 1);
        const size_t lo = size_t(std::floor(pos));
        const size_t hi = std::min(fe.size() - 1, lo + 1);
        return fe[lo] + (pos - double(lo)) * (fe[hi] - fe[lo]);
    };
    s.median = quantile(0.5);
    s.p90 = quantile(0.9);
    return s;
}

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string tableCsv(const std::vector<std::string>& layers, const std::vector<LayerStats>& stats) {
    std::string csv = "layer,n,feature_error_mean,feature_error_sd,feature_error_median,feature_error_p90,pixel_rmse_mean,"
                      "pixel_rmse_sd,seconds\n";
    for (size_t k = 0; k < layers.size(); ++k) {
        const auto& s = stats[k];
        csv += csvField(layers[k]) + "," + std::to_string(s.n) + "," + fmt("%.6f", s.mean) + "," + fmt("%.6f", s.sd) + "," +
               fmt("%.6f", s.median) + "," + fmt("%.6f", s.p90) + "," + fmt("%.6f", s.rmseMean) + "," + fmt("%.6f", s.rmseSd) +
               "," + fmt("%.3f", s.seconds) + "\n";
    }
    return csv;
}

// The thread count of a dataset sweep, decided by the work, not by timing, so that two runs on one machine
// give the same numbers (the count changes the last digits of some reductions): one thread for small inputs
// (one 28x28 image is fastest on one thread, and does not collapse when another process is busy), all usable
// cores from 4096 input values per batch up (a batch of 8 Fashion-MNIST images: 20.9 s on two threads against
// 31.0 s on one for 24 images x 11 layers). Logged per layer, so that a resumed run keeps it. --threads N
// overrides.
int sweepThreads(const Model& model, int batch) {
    if (!autoThreads()) return threads();
    const auto& in = model.input();
    const int64_t values = int64_t(in.channels) * in.width * in.height * batch;
    return values < 4096 ? 1 : usableCores();
}

// A distributed sweep's end: every rank sends rank 0 the results of its shard (`mine`) that its logs hold, with
// its example pre-images for --grid; rank 0 merges them into its log's maps. False on the other ranks (done).
bool gatherToRankZero(StateLog& log, dist::Group& group, const std::function<bool(int)>& mine, int examples, size_t layers,
                      std::ostream& out) {
    json part{{"done", json::array()}, {"skipped", json::array()}, {"failed", json::array()}, {"threads", log.m_threads},
              {"examples", json::object()}};
    for (const auto& [key, r] : log.m_done)
        if (mine(key.first)) {
            json d = r.fields();
            d["i"] = key.first;
            d["layer"] = key.second;
            part["done"].push_back(std::move(d));
        }
    for (const auto& [i, reason] : log.m_skipped)
        if (mine(i)) part["skipped"].push_back({i, reason});
    for (const auto& [key, reason] : log.m_failed)
        if (mine(key.first)) part["failed"].push_back({key.first, key.second, reason});
    for (int i = 0; i < examples; ++i)
        for (size_t k = 0; group.rank() != 0 && mine(i) && k < layers; ++k) {
            const std::string f = "example" + std::to_string(i) + "_" + std::to_string(k) + ".png";
            std::ifstream in(log.dir() + "/" + f, std::ios::binary);
            if (in) part["examples"][f] = json::binary(std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {}));
        }
    const std::vector<uint8_t> cbor = json::to_cbor(part);
    const auto parts = group.gather(std::string(cbor.begin(), cbor.end()), 0);
    if (group.rank() != 0) {
        out << group.name() << ": " << part["done"].size() << " image-layer results sent to rank 0\n";
        return false;
    }
    for (size_t r = 1; r < parts.size(); ++r) {
        const json j = json::from_cbor(parts[r]);
        for (const auto& d : j["done"])
            log.m_done[{d["i"].get<int>(), d["layer"].get<std::string>()}] = Record::from(d);
        for (const auto& d : j["skipped"]) log.m_skipped[d[0].get<int>()] = d[1].get<std::string>();
        for (const auto& d : j["failed"]) log.m_failed[{d[0].get<int>(), d[1].get<std::string>()}] = d[2].get<std::string>();
        for (const auto& [layer, n] : j["threads"].items()) log.m_threads.emplace(layer, n.get<int>());
        for (const auto& [f, b] : j["examples"].items()) {
            const auto& bytes = b.get_binary();
            render::writeFileAtomically(log.dir() + "/" + f, std::string(bytes.begin(), bytes.end()));
        }
    }
    return true;
}

}  // namespace

int cmdSweepData(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first,
           unite({kModelOptions, kInversionOptions,
                  {"data", "image", "layers", "limit", "batch", "csv", "json", "plot", "grid", "out"}}),
           {"gray", "fresh", "warm"}, "sweep");
    if (a.has("image")) throw Error("sweep takes --image (one image) or --data (a dataset), not both");
    // The one-image form's options, refused with what the dataset form takes instead.
    if (a.has("out"))
        throw Error("sweep --data writes its table with --csv stats.csv (and a grid with --grid G.png); --out is the grid "
                    "of `sweep --image`");
    if (a.has("warm")) throw Error("--warm is for `sweep --image`; sweep --data inverts every tap from noise");
    checkOutputs(a, {{"csv", ".csv"}, {"json", ".json"}, {"plot", ".png"}, {"grid", ".png"}});
    const std::string csvPath = a.required("csv");
    const int batch = a.integer("batch", 1);
    if (batch < 1 || batch > 256) throw Error("--batch must be between 1 and 256, got " + std::to_string(batch));
    const InversionParams params = inversionParams(a);
    auto model = Model::load(a.required("model"), modelOptions(a));
    const std::vector<int> layers = layerList(*model, a.str("layers", "all"));
    auto data = openImageSet(a.required("data"), a.limit("limit"));
    const int count = data->size();
    std::vector<std::string> layerNames;
    for (int li : layers) layerNames.push_back(model->layers()[size_t(li)].name);

    // What the numbers depend on: a log with other values is not resumed.
    json p{{"model", a.str("model")}, {"data", data->spec()}, {"images", count}, {"layers", layerNames},
           {"size", a.str("size")}, {"gray", a.has("gray")}, {"mean", a.str("mean")}, {"std", a.str("std")},
           {"device", model->deviceName()}};
    p.update(paramsToJson(params));  // the one mapping (params.h): the same keys as invert's and the app's exports
    shortenFloats(p);
    p["listing"] = listingHash(*data, count);
    // In a distributed job: this rank's batches are those at positions rank, rank + size, ... (static sharding;
    // every image's seed comes from its position, so the numbers do not depend on who computes them).
    dist::Group* group = job();
    const int rank = group ? group->rank() : 0, ranks = group ? group->size() : 1;
    auto mine = [&](int i) { return (i / batch) % ranks == rank; };
    StateLog log(csvPath + ".state", rank, a.has("fresh"));
    if (group) group->waitForAll("sweep-state");  // rank 0's --fresh clears the folder before anyone reads it
    log.load(p, *data, out);
    if (group) group->waitForAll("sweep-loaded");  // every rank has read the logs before any appends to its own
    if (!log.m_done.empty() || !log.m_skipped.empty())
        out << "resuming from " << log.dir() << ": " << log.m_done.size() << " image-layer results, "
            << log.m_skipped.size() << " skipped file(s) already there (--fresh starts over)\n";
    // Ranks sharing a machine share its cores.
    const int threadCap = group && group->localSize() > 1 ? std::max(1, usableCores() / group->localSize()) : 256;

    long todo = 0;
    for (int i = 0; i < count; ++i)
        for (const auto& name : layerNames)
            todo += mine(i) && !log.m_skipped.count(i) && !log.m_done.count({i, name}) && !log.m_failed.count({i, name});
    Interrupt interrupt;
    ProgressBar bar("sweep");
    long finished = 0;
    const auto start = std::chrono::steady_clock::now();
    bool cancelled = false;
    std::string interruptedAt;
    for (int b0 = 0; b0 < count && !cancelled; b0 += batch) {
        if (!mine(b0)) continue;
        // The batch's images, skipping the unreadable (logged once, with the reason).
        std::vector<int> index;
        std::vector<ImageF> images;
        for (int i = b0; i < std::min(count, b0 + batch); ++i) {
            if (log.m_skipped.count(i)) continue;
            bool needed = false;
            for (const auto& name : layerNames) needed |= !log.m_done.count({i, name}) && !log.m_failed.count({i, name});
            if (!needed) continue;
            try {
                images.push_back(model->prepare(data->load(i)));  // model-sized: a batch of photographs stays small
                index.push_back(i);
            } catch (const Error& e) {
                bar.finish();
                out << "warning: skipped " << data->name(i) << ": " << e.what() << "\n";
                log.m_skipped[i] = e.what();
                log.append(StateLog::jsonLine({{"skipped", i}, {"name", data->name(i)}, {"reason", e.what()}}));
                for (size_t k = 0; k < layerNames.size(); ++k) todo--;
            }
        }
        if (images.empty()) continue;
        for (size_t k = 0; k < layers.size() && !cancelled; ++k) {
            const std::string& name = layerNames[k];
            std::vector<int> idx;
            std::vector<ImageF> imgs;
            std::vector<uint64_t> seeds;
            for (size_t j = 0; j < index.size(); ++j)
                if (!log.m_done.count({index[j], name}) && !log.m_failed.count({index[j], name})) {
                    idx.push_back(index[j]);
                    imgs.push_back(images[j]);
                    seeds.push_back(imageSeed(params.seed, index[j]));
                }
            if (idx.empty()) continue;
            if (!log.m_threads.count(name)) {
                const int n = std::min(threadCap, sweepThreads(*model, batch));
                log.m_threads[name] = n;
                log.append(StateLog::jsonLine({{"threads", n}, {"layer", name}}));
            }
            ScopedThreads fixed(log.m_threads[name]);
            const auto t0 = std::chrono::steady_clock::now();
            std::vector<InversionResult> results;
            try {
                results = invertBatch(*model, imgs, layers[k], params, seeds, {}, interrupt.flag());
            } catch (const Error&) {
                // One image's layer that cannot be inverted (all zeros, divergence past the retries) fails alone:
                // each image on its own, the failures logged and listed, never the end of the run.
                std::vector<int> keep;
                for (size_t j = 0; j < idx.size(); ++j) {
                    try {
                        results.push_back(std::move(
                            invertBatch(*model, {imgs[j]}, layers[k], params, {seeds[j]}, {}, interrupt.flag())[0]));
                        keep.push_back(idx[j]);
                    } catch (const Error& e) {
                        out << "warning: " << data->name(idx[j]) << ", layer " << name << ": " << e.what() << "\n";
                        log.m_failed[{idx[j], name}] = e.what();
                        log.append(StateLog::jsonLine({{"failed", idx[j]}, {"layer", name}, {"reason", e.what()}}));
                        finished++;
                    }
                }
                idx = keep;
            }
            if (!results.empty() && results[0].cancelled) {
                cancelled = true;
                interruptedAt = name;
                break;
            }
            const double perImage = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(idx.size());
            std::string lines;
            for (size_t j = 0; j < idx.size(); ++j) {
                const auto& r = results[j];
                Record rec{r.featureError, r.pixelRmse, perImage, true, r.objective.total, r.objective.feature,
                           r.objective.alpha, r.objective.tv, r.evaluations};
                log.m_done[{idx[j], name}] = rec.asLogged();  // the numbers a resume will read
                json line = rec.fields();
                line["i"] = idx[j];
                line["layer"] = name;
                lines += StateLog::jsonLine(std::move(line));
                for (const auto& w : r.warnings) out << "warning: " << data->name(idx[j]) << ", " << name << ": " << w << "\n";
                if (idx[j] < kExamples)
                    render::savePng(toBytes(r.preimages[size_t(r.best)]),
                                    log.dir() + "/example" + std::to_string(idx[j]) + "_" + std::to_string(k) + ".png");
            }
            log.append(lines);
            finished += long(idx.size());
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            bar.update(finished, std::max(1L, todo),
                       std::to_string(std::min(count, b0 + batch)) + "/" + std::to_string(count) + " images  " +
                           fmt("%.2f", finished / std::max(1e-9, el)) + " img-layers/s");
        }
    }
    bar.finish();

    if (group) {
        if (cancelled) {
            out << "interrupted by " << interrupt.name() << " at layer " << interruptedAt << "; the same command resumes from "
                << log.dir() << "\n";
            return 128 + interrupt.signal();
        }
        // Rank 0 gathers every rank's results of its shard, with their example pre-images, and writes the one table.
        if (!gatherToRankZero(log, *group, mine, std::min(count, kExamples), layerNames.size(), out)) return 0;
    }

    // The table, from everything in the log (this run's and earlier runs').
    std::vector<LayerStats> stats;
    json perImage = json::array(), layerRows = json::array();
    for (size_t k = 0; k < layerNames.size(); ++k) {
        std::vector<Record> rs;
        for (int i = 0; i < count; ++i)
            if (auto it = log.m_done.find({i, layerNames[k]}); it != log.m_done.end()) {
                rs.push_back(it->second);
                json row = it->second.fields();
                row["layer"] = layerNames[k];
                row["i"] = i;
                row["image"] = data->name(i);
                perImage.push_back(std::move(row));
            }
        stats.push_back(statsOf(rs));
        const auto& s = stats.back();
        layerRows.push_back({{"layer", layerNames[k]}, {"n", s.n}, {"feature_error_mean", s.mean}, {"feature_error_sd", s.sd},
                             {"feature_error_median", s.median}, {"feature_error_p90", s.p90}, {"pixel_rmse_mean", s.rmseMean},
                             {"pixel_rmse_sd", s.rmseSd}, {"seconds", s.seconds}, {"threads", log.m_threads[layerNames[k]]}});
    }
    json skipped = json::array(), failed = json::array();
    for (const auto& [i, reason] : log.m_skipped) skipped.push_back({{"i", i}, {"image", data->name(i)}, {"reason", reason}});
    for (const auto& [key, reason] : log.m_failed)
        failed.push_back({{"i", key.first}, {"image", data->name(key.first)}, {"layer", key.second}, {"reason", reason}});
    const std::string csv = tableCsv(layerNames, stats);

    if (cancelled) {
        const std::string partial =
            (fs::path(csvPath).parent_path() / (fs::path(csvPath).stem().string() + ".partial.csv")).string();
        render::writeFileAtomically(partial, csv);
        out << "interrupted by " << interrupt.name() << " at layer " << interruptedAt << ": the table of what is done is in "
            << partial << "; the same command resumes from " << log.path() << "\n";
        return 128 + interrupt.signal();
    }
    render::writeFileAtomically(csvPath, csv);
    std::string wrote = csvPath + " (table)";
    if (a.has("json")) {
        json j{{"model", model->name()}, {"data", data->spec()}, {"images", count}, {"parameters", p}, {"layers", layerRows},
               {"per_image", perImage}, {"skipped", skipped}, {"failed", failed}};
        render::writeFileAtomically(a.str("json"), jsonText(j));
        wrote += ", " + a.str("json") + " (JSON)";
    }
    if (a.has("plot")) {
        std::vector<double> mean, sd;
        for (const auto& s : stats) mean.push_back(s.mean), sd.push_back(s.sd);
        const int n = stats.empty() ? 0 : stats.front().n;
        render::savePng(depthCurve(layerNames, mean, sd,
                                   model->name() + ": pre-image feature error over " + std::to_string(n) + " images of " +
                                       fs::path(data->spec()).filename().string(),
                                   "feature error ||Phi(x) - Phi0|| / ||Phi0||"),
                        a.str("plot"));
        wrote += ", " + a.str("plot") + " (plot)";
    }
    if (a.has("grid")) {
        // Rows: the first images (original, then each layer's pre-image); the pre-images come from the log folder.
        std::vector<render::GridCell> cells;
        int rows = 0;
        for (int i = 0; i < std::min(count, kExamples); ++i) {
            if (log.m_skipped.count(i)) continue;
            cells.push_back({toBytes(model->prepare(data->load(i))), "image " + std::to_string(i), ""});
            for (size_t k = 0; k < layerNames.size(); ++k) {
                const std::string f = log.dir() + "/example" + std::to_string(i) + "_" + std::to_string(k) + ".png";
                const auto it = log.m_done.find({i, layerNames[k]});
                cells.push_back({fs::exists(f) ? render::loadImage(f) : render::Image{1, 1, 1, {0}}, layerNames[k],
                                 it == log.m_done.end() ? "" : fmt("err %.3f", it->second.featureError)});
            }
            rows++;
        }
        if (rows > 0) {
            render::savePng(render::composeGrid(cells, int(layerNames.size()) + 1, 84), a.str("grid"));
            wrote += ", " + a.str("grid") + " (examples)";
        }
    }
    out << "wrote " << wrote << "; " << count - int(log.m_skipped.size()) << " images x " << layerNames.size() << " layers"
        << (log.m_skipped.empty() ? "" : ", " + std::to_string(log.m_skipped.size()) + " unreadable file(s) skipped")
        << (log.m_failed.empty() ? "" : ", " + std::to_string(log.m_failed.size()) + " image-layer(s) that could not be inverted")
        << "; state in " << log.dir() << "\n";
    return 0;
}

}  // namespace preimage::app
