// The chunked autoencoder on the command line: `preimage train mixer`, `preimage eval mixer`,
// `preimage analogy` and `preimage traverse`.
#include "app/cli/cli.h"
#include "inference/json_text.h"
#include "inference/data/convert.h"
#include "app/cli/progress_bar.h"
#include "app/cli/report.h"

#include "app/cli/factor_scores.h"
#include "inference/data/image_set.h"
#include "inference/latent/mixer.h"
#include "inference/data/splitmix.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <thread>

namespace preimage::app {
namespace {

std::string className(const Model& model, int c) {
    const auto& names = model.classNames();
    return c >= 0 && c < int(names.size()) ? names[size_t(c)] : std::to_string(c);
}

int predict(Model& model, const ImageF& prepared) {
    auto l = model.logits({prepared})[0];
    return int(std::max_element(l.begin(), l.end()) - l.begin());
}

void printMetrics(std::ostream& out, const MixerMetrics& m) {
    out << "reconstruction: test pixel RMSE " << fmt("%.4f", m.reconRmse);
    if (m.reconAccuracy >= 0) out << ", classifier accuracy on it " << fmt("%.1f%%", 100 * m.reconAccuracy);
    out << "\nnearest-neighbour mAP of the class per chunk (" << m.queries << " queries, " << m.gallery << " gallery; random "
        << fmt("%.2f", 1.0 / std::max(1, m.classes)) << "):\n  ";
    for (size_t k = 0; k < m.chunkMap.size(); ++k) out << fmt("chunk%-3.0f ", double(k));
    out << " whole code\n  ";
    for (float v : m.chunkMap) out << fmt("%-9.3f", double(v));
    out << fmt(" %.3f", double(m.fullCodeMap)) << "\n";
    if (m.pairs == 0) return;  // no classifier: no swap or analogy figures
    out << "class chunk " << m.classChunk << "; on " << m.pairs << " test pairs of different classes:\n"
        << "  swap (class chunk from b, rest from a) classified as b: " << fmt("%.1f%%", 100 * m.swapAccuracy) << "\n"
        << "  swap by b's class:";
    for (size_t c = 0; c < m.swapByClass.size(); ++c) out << " " << c << ":" << fmt("%.0f%%", 100 * double(m.swapByClass[c]));
    out << "\n"
        << "  other chunks from b, class chunk from a, classified as a: " << fmt("%.1f%%", 100 * m.swapOtherKeepsA) << "\n"
        << "  analogy a:b::c:d (c of a's class) gives b's class: vector " << fmt("%.1f%%", 100 * m.analogyVectorAccuracy)
        << " (strength " << fmt("%.2f", m.analogyStrength) << ")"
        << ", chunks " << fmt("%.1f%%", 100 * m.analogyChunksAccuracy) << " (threshold " << fmt("%.2f", m.chunkThreshold)
        << ", " << fmt("%.1f", m.analogyChunksCopied) << " chunks of " << m.chunkMap.size() << " copied on average)\n";
}

// Says so when an image is not what the mixer models (28x28 grey): it is converted, not refused.
void noteConversion(std::ostream& out, const std::string& path, const ImageF& im, const Model& model) {
    const InputSpec& in = model.input();
    if (im.width == in.width && im.height == in.height && im.channels == in.channels) return;
    out << "note: '" << path << "' is " << im.width << "x" << im.height << (im.channels == 1 ? " grey" : " colour")
        << "; the mixer works on " << in.width << "x" << in.height
        << " grey Fashion-MNIST images, so it was made grey, scaled to " << in.width
        << " px on its shorter side and centre-cropped (a photograph decodes to the nearest clothing item)\n";
}

}  // namespace

Dataset imagesInMemory(const ImageSet& set, const InputSpec& input, bool heldOut, bool test, std::ostream& out,
                       std::vector<int>* indices) {
    std::vector<int> wanted;
    for (int i = 0; i < set.size(); ++i)
        if (!heldOut || ((i % 10 == 9) == test)) wanted.push_back(i);
    // A fixed shuffle (Fisher-Yates on splitmix64): a folder lists its files class by class, and the evaluations
    // take their queries from the front (the first fifth queries the rest); unshuffled, every query would be of
    // the first class.
    SplitMix64 random{kSplitMixGamma};
    for (size_t i = wanted.size(); i > 1; --i) std::swap(wanted[i - 1], wanted[size_t(random.below(i))]);
    ProgressBar bar(test ? "test images" : "images");
    std::vector<int> kept;
    std::vector<std::string> skipped;
    auto d = loadIntoMemory(set, wanted, input, int(std::max(1u, std::thread::hardware_concurrency())), &kept,
                            [&](int done, int total) { bar.update(done, total); }, &skipped);
    bar.finish(std::to_string(d.count) + " images");
    // Said whether or not a terminal shows the bar: a log should tell which files a model never saw.
    if (!skipped.empty())
        out << "warning: " << skipped.size() << " unreadable file(s) of " << wanted.size() << " skipped (first: " << skipped.front()
            << ")\n";
    if (indices) {
        indices->clear();
        for (int k : kept) indices->push_back(wanted[size_t(k)]);
    }
    return d;
}

// `preimage train mixer [--model fashion] [--data DIR] [--baseline ae] [--out DIR] [--resume] [--chunks 8] [--dims 8] ...`
int cmdTrainMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first,
           {"model", "data", "size", "baseline", "out", "chunks", "dims", "epochs", "batch", "lr", "seed", "limit", "test-limit", "pairs",
            "lambda-gan", "lambda-chunk", "lambda-class", "init", "stop-after", "threads", "decoder"},
           {"resume", "gray"}, "train mixer");
    const bool folder = a.has("data");
    TrainMixerOptions o;
    if (a.has("baseline")) {
        if (a.str("baseline") != "ae") throw Error("--baseline takes 'ae' (the plain autoencoder), got '" + a.str("baseline") + "'");
        o.baseline = true;
    }
    std::shared_ptr<Model> model;
    if (!folder || a.has("model")) model = Model::load(a.str("model", "fashion"));
    if (folder && model && a.has("size")) throw Error("--size: the mixer takes the model's input size; leave out one of --model and --size");
    const std::string sub = o.baseline ? "/mixer_ae" : "/mixer";
    o.outDir = a.str("out", model && !model->directory().empty() ? model->directory() + sub : "");
    if (o.outDir.empty()) throw Error("--out is required (the mixer's folder)");
    o.decoder = a.str("decoder", o.decoder);
    if (o.decoder != "deconv" && o.decoder != "broadcast")
        throw Error("--decoder takes 'deconv' (DCGAN's) or 'broadcast' (the spatial broadcast decoder), got '" + o.decoder + "'");
    o.layout.chunks = a.integer("chunks", o.layout.chunks);
    o.layout.dims = a.integer("dims", o.layout.dims);
    o.epochs = a.integer("epochs", o.epochs);
    o.batch = a.integer("batch", o.batch);
    if (o.epochs < 1 || o.batch < 2) throw Error("--epochs must be >= 1 and --batch >= 2");
    o.learningRate = a.number("lr", o.learningRate);
    o.seed = uint64_t(std::max(0, a.integer("seed", int(o.seed))));
    o.trainLimit = a.limit("limit");
    o.testLimit = a.limit("test-limit");
    o.evalPairs = a.integer("pairs", o.evalPairs);
    o.lambdaGan = a.number("lambda-gan", o.lambdaGan);
    o.lambdaChunk = a.number("lambda-chunk", o.lambdaChunk);
    o.lambdaClass = a.number("lambda-class", folder ? 0.f : o.lambdaClass);
    if (folder && o.lambdaClass != 0)
        throw Error("--lambda-class: on a folder the mixer is unsupervised (no class weight); leave it out");
    o.initDir = a.str("init", "");
    o.resume = a.has("resume");
    o.stopAfter = a.integer("stop-after", 0);
    if (o.stopAfter < 0) throw Error("--stop-after must be an epoch >= 1");
    o.command = commandLine(argv);
    if (o.testLimit > 0 && o.testLimit < kMinMixerEvalImages)
        throw Error("--test-limit must be at least " + std::to_string(kMinMixerEvalImages) +
                    " (the evaluation after training needs them), got " + std::to_string(o.testLimit));
    checkGlobalBatch(o.batch);
    Dataset train, test;
    if (folder) {
        auto set = openImageSet(a.str("data"), o.trainLimit, "train");
        const InputSpec input = model ? model->input() : folderInputSpec(*set, a.integer("size", 0), a.has("gray"));
        train = imagesInMemory(*set, input, true, false, out);
        test = imagesInMemory(*set, input, true, true, out);
        if (o.testLimit > 0 && test.count > o.testLimit) {
            test.count = o.testLimit;
            test.images.resize(size_t(test.count) * size_t(input.channels * input.width * input.height));
            test.labels.resize(size_t(test.count));
        }
        o.data = set->spec() + " (" + std::to_string(input.channels) + "x" + std::to_string(input.height) + "x" +
                 std::to_string(input.width) + "; every 10th image held out)";
    } else {
        const InputSpec& in = model->input();
        if (model->directory().empty() || in.channels != 1 || in.width != 28)
            throw Error("the mixer is trained beside a default Fashion-MNIST classifier (--model fashion), or on a folder (--data DIR)");
        train = loadFashionMnist(true, o.trainLimit);
        test = loadFashionMnist(false, o.testLimit);
        o.data = "Fashion-MNIST (Debian package dataset-fashion-mnist)";
    }
    std::unique_ptr<ProgressBar> bar;
    const bool lead = leadRank();
    const std::string what = o.baseline ? "autoencoder " : "mixer ";
    auto m = trainMixer(train, test, model.get(), o, [&](const TrainProgress& p) {
        if (!lead) return;
        if (!bar) bar = std::make_unique<ProgressBar>(what + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
        bar->update(p.step, p.steps, "loss " + fmt("%.3f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
        if (p.step == p.steps) {
            bar->finish("loss " + fmt("%.3f", p.loss) + " (checkpoint written)");
            bar.reset();
        }
    }, job());
    if (!lead) return 0;
    if (m.stoppedAt > 0) {
        out << "stopped after epoch " << m.stoppedAt << " of " << o.epochs << "; the checkpoint is in " << o.outDir
            << " (continue with the same options and --resume)\n";
        return 0;
    }
    printMetrics(out, m);
    out << "trained in " << fmt("%.0f", m.seconds) << " s; wrote " << o.outDir << "/weights.pt and manifest.json\n";
    return 0;
}

namespace {

// --model: a model with a mixer (its <dir>/mixer) or a mixer's folder.
std::shared_ptr<Mixer> openMixer(const std::string& spec, std::shared_ptr<Model>& model) {
    if (std::filesystem::is_directory(spec) && std::filesystem::exists(std::filesystem::path(spec) / "manifest.json")) {
        auto mixer = Mixer::loadDirectory(spec);
        const std::string classifier = nlohmann::json::parse(mixer->manifestJson()).value("classifier", std::string());
        if (!classifier.empty()) {
            try {
                model = Model::load(classifier);
            } catch (const Error&) {
                model.reset();  // the classifier is not here: no class figures
            }
        }
        return mixer;
    }
    model = Model::load(spec);
    return Mixer::load(*model);
}

}  // namespace

// `preimage eval mixer --model fashion|shapes|DIR [--data DIR] [--baseline DIR] [--json out.json] [--limit N] [--pairs P]`
int cmdEvalMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"model", "data", "baseline", "json", "limit", "pairs", "seed", "threshold", "strength", "split", "threads"},
           {"update-manifest"}, "eval mixer");
    checkOutputs(a, {{"json", ".json"}});
    const std::string split = a.str("split", "test");
    if (split != "test" && split != "train") throw Error("--split must be 'test' or 'train', got '" + split + "'");
    if (a.has("update-manifest") && (split != "test" || a.has("limit") || a.has("seed") || a.has("pairs")))
        throw Error("--update-manifest records the full test-set evaluation: no --split/--limit/--seed/--pairs");
    const int limit = a.limit("limit");
    if (limit > 0 && limit < kMinMixerEvalImages)
        throw Error("--limit must be at least " + std::to_string(kMinMixerEvalImages) +
                    " for the mixer's evaluation (the first fifth query the rest for the mAP), got " + std::to_string(limit));
    const int pairs = a.integer("pairs", 2000);
    if (pairs < 1) throw Error("--pairs must be 1 or more, got " + std::to_string(pairs));
    if (a.has("baseline") && (!a.has("data") || !hasFactors(a.str("data"))))
        throw Error("--baseline: the factor table needs --data with a factors.csv (preimage data shapes writes one)");
    std::shared_ptr<Model> model;
    auto mixer = openMixer(a.str("model", "fashion"), model);
    Dataset data;
    std::vector<int> indices;
    std::unique_ptr<ImageSet> set;
    if (a.has("data")) {
        set = openImageSet(a.str("data"), limit, split);
        InputSpec in;
        in.width = in.height = mixer->imageSide();
        in.channels = mixer->imageChannels();
        data = imagesInMemory(*set, in, false, false, out, &indices);
    } else {
        data = loadFashionMnist(split == "train", limit);
    }
    if (model && (model->input().channels != data.channels || model->input().width != data.width)) model.reset();
    ProgressBar bar("eval mixer");
    auto m = evaluateMixer(model.get(), *mixer, data, pairs, uint64_t(std::max(0, a.integer("seed", 1))), a.number("threshold", -1.f),
                           a.number("strength", -1.f),
                           [&](int done, int total, const std::string& stage) { bar.update(done, total, stage); });
    bar.finish();
    printMetrics(out, m);
    auto j = nlohmann::json::parse(metricsJson(m));
    j["model"] = a.str("model", "fashion");
    j["manifest_metrics"] = nlohmann::json::parse(mixer->manifestJson()).value("metrics", nlohmann::json::object());
    nlohmann::json mixerFactors, baselineFactors;
    std::shared_ptr<Mixer> baseline;
    if (set && hasFactors(a.str("data"))) {
        const auto factors = readFactors(a.str("data"), *set, indices);
        const int chunks = mixer->layout().chunks;
        std::string baseDir = a.str("baseline", "");
        if (baseDir.empty() && model && !model->directory().empty() &&
            std::filesystem::exists(std::filesystem::path(model->directory()) / "mixer_ae" / "manifest.json"))
            baseDir = model->directory() + "/mixer_ae";
        ProgressBar fb("factors");
        int stage = 0;
        const int stages = baseDir.empty() ? 4 : 8;
        auto step = [&](const std::string& what) { fb.update(++stage, stages, what); };
        const auto scores = scoreFactors(*mixer, data, factors, step);
        FactorScores baseScores;
        if (!baseDir.empty()) {
            baseline = Mixer::loadDirectory(baseDir);
            if (baseline->layout().chunks != chunks || baseline->layout().dims != mixer->layout().dims)
                throw Error("--baseline: the autoencoder in '" + baseDir + "' has another chunk layout than the mixer");
            baseScores = scoreFactors(*baseline, data, factors, step);
        }
        // Analogies checked against the factors (a shapes folder only: its renderer reads d's factors).
        auto analogyJson = [&](const AnalogyCheck& c) {
            return nlohmann::json{{"triples", c.triples}, {"changed_factor_accuracy", c.changed}, {"kept_factors_accuracy", c.kept},
                                  {"changed_by_factor", c.changedByFactor}};
        };
        auto printAnalogy = [&](const std::string& what, const AnalogyCheck& c) {
            if (c.triples == 0) return;
            out << "  analogies a:b::c:d, " << what << " (" << c.triples << " triples, a and b differing in one factor): d shows b's level "
                << fmt("%.1f%%", 100 * c.changed) << ", keeps c's other factors " << fmt("%.1f%%", 100 * c.kept) << "\n";
        };
        const auto vec = checkAnalogies(*mixer, data, factors, false), chk = checkAnalogies(*mixer, data, factors, true);
        fb.finish();
        printFactorTable(out, "mixer", scores, factors.names);
        printAnalogy("vector d = c + b - a", vec);
        printAnalogy("chunks (b's where a, b differ)", chk);
        mixerFactors = factorScoresJson(scores, factors.names, chunks);
        if (vec.triples > 0) mixerFactors["analogy"] = {{"vector", analogyJson(vec)}, {"chunks", analogyJson(chk)}};
        j["factors"] = factors.names;
        j["chunk_factor_map"] = mixerFactors["chunk_factor_map"];
        j["mig"] = mixerFactors["mig"];
        j["dci"] = mixerFactors["dci"];
        j["mixer"] = mixerFactors;
        if (baseline) {
            printFactorTable(out, "baseline (plain autoencoder, " + baseDir + ")", baseScores, factors.names);
            baselineFactors = factorScoresJson(baseScores, factors.names, chunks);
            const auto bvec = checkAnalogies(*baseline, data, factors, false);
            printAnalogy("vector d = c + b - a", bvec);
            if (bvec.triples > 0) baselineFactors["analogy"] = {{"vector", analogyJson(bvec)}};
            j["ae_chunk_factor_map"] = baselineFactors["chunk_factor_map"];
            j["ae_mig"] = baselineFactors["mig"];
            j["ae_dci"] = baselineFactors["dci"];
            j["baseline"] = baselineFactors;
            out << "mean best-chunk mAP: mixer " << fmt("%.3f", mixerFactors["mean_best_chunk_map"].get<double>()) << ", baseline "
                << fmt("%.3f", baselineFactors["mean_best_chunk_map"].get<double>()) << "\n";
        }
        j["factor_images"] = data.count;
    }
    if (a.has("update-manifest")) {
        auto withCommand = [&](nlohmann::json f) {
            if (!f.is_null()) {
                f["names"] = j.value("factors", nlohmann::json::array());
                f["eval_images"] = data.count;
                // how the evaluation folder was made, so that a test can make it again
                std::ifstream made(std::filesystem::path(a.str("data")) / "factors.json");
                if (made) {
                    const auto m = nlohmann::json::parse(made, nullptr, false);
                    if (!m.is_discarded()) f["eval_seed"] = m.value("seed", 0), f["eval_size"] = m.value("size", 0), f["data_command"] = m.value("command", "");
                }
            }
            return f.is_null() ? std::string() : f.dump();
        };
        updateMixerManifest(*mixer, m, commandLine(argv), withCommand(mixerFactors));
        if (baseline) updateMixerManifest(*baseline, evaluateMixer(nullptr, *baseline, data, 1, 1), commandLine(argv), withCommand(baselineFactors));
        out << "updated the manifest" << (baseline ? "s" : "") << "\n";
    }
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    return 0;
}

// `preimage analogy --a A --b B --c C --out d.png [--mode vector|chunks] [--strength S] [--json J]`
int cmdAnalogy(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"model", "a", "b", "c", "out", "mode", "strength", "threshold", "json", "scale", "threads"}, {},
           "analogy");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    const std::string mode = a.str("mode", "vector");
    if (mode != "vector" && mode != "chunks") throw Error("--mode must be 'vector' or 'chunks', got '" + mode + "'");
    const std::string outPath = a.required("out");
    checkPng(outPath, "--out");
    std::vector<ImageF> images;
    for (const char* slot : {"a", "b", "c"}) images.push_back(loadImageF(a.required(slot)));
    auto model = Model::load(a.str("model", "fashion"));
    auto mixer = Mixer::load(*model);
    for (size_t i = 0; i < images.size(); ++i) {
        noteConversion(out, a.str(std::string(1, char('a' + i))), images[i], *model);
        images[i] = model->prepare(images[i]);
    }
    auto codes = mixer->encode(images);
    const float strength = a.number("strength", mixer->analogyStrength());
    const float threshold = a.number("threshold", mixer->chunkThreshold());
    Code d;
    std::vector<bool> copied;
    if (mode == "vector") {
        d = analogyVector(codes[0], codes[1], codes[2], strength);
    } else {
        copied = differingChunks(codes[0], codes[1], codes[2], mixer->layout(), threshold);
        d = mixChunks(codes[2], codes[1], copied, mixer->layout());
    }
    const ImageF image = mixer->decode(d);
    nlohmann::json j{{"mode", mode}, {"a", a.str("a")}, {"b", a.str("b")}, {"c", a.str("c")}, {"out", outPath}};
    const char* names[] = {"a", "b", "c"};
    std::vector<std::string> classes;
    for (int i = 0; i < 3; ++i) {
        const int c = predict(*model, images[size_t(i)]);
        j["class_" + std::string(names[i])] = className(*model, c);
        classes.push_back(className(*model, c));
        out << names[i] << ": " << className(*model, c) << "\n";
    }
    const int cd = predict(*model, image);
    j["class_d"] = className(*model, cd);
    classes.push_back(className(*model, cd));
    // The figure a : b :: c : d (the inputs as the model sees them, d decoded), each with its predicted class.
    render::savePng(analogyFigure({images[0], images[1], images[2], image}, classes), outPath);
    if (mode == "vector") j["strength"] = strength;
    if (!copied.empty()) {
        std::vector<int> which;
        for (size_t k = 0; k < copied.size(); ++k)
            if (copied[k]) which.push_back(int(k));
        j["chunks_copied"] = which;
    }
    out << "d: " << className(*model, cd) << "  (" << mode << (mode == "vector" ? fmt(", strength %.2f", strength) : "")
        << "; wrote " << outPath << ")\n";
    if (a.has("json")) render::writeFileAtomically(a.str("json"), jsonText(j));
    return 0;
}

// `preimage traverse --image I --out grid.png [--values -3,-2,-1,0,1,2,3] [--direction 0] [--json J]`
int cmdTraverse(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"model", "image", "out", "values", "direction", "json", "threads"}, {}, "traverse");
    checkOutputs(a, {{"out", ".png"}, {"json", ".json"}});
    const std::string outPath = a.required("out");
    checkPng(outPath, "--out");
    const ImageF input = loadImageF(a.required("image"));
    auto model = Model::load(a.str("model", "fashion"));
    auto mixer = Mixer::load(*model);
    std::vector<float> values = a.has("values") ? a.numbers("values") : std::vector<float>{-3, -2, -1, 0, 1, 2, 3};
    for (float v : values)
        if (!(std::abs(v) <= 10)) throw Error("--values must lie within +-10 standard deviations");
    const int direction = a.integer("direction", 0);
    if (direction < 0 || direction >= mixer->layout().dims)
        throw Error("--direction must be between 0 and " + std::to_string(mixer->layout().dims - 1));
    noteConversion(out, a.str("image"), input, *model);
    const Code base = mixer->encode(model->prepare(input));
    std::vector<std::vector<ImageF>> rows;
    nlohmann::json classes = nlohmann::json::array();
    for (const auto& row : traversalCodes(base, mixer->bases(), mixer->layout(), values, direction)) {
        rows.push_back(mixer->decode(row));
        nlohmann::json r = nlohmann::json::array();
        for (const auto& im : rows.back()) r.push_back(className(*model, predict(*model, im)));
        classes.push_back(r);
    }
    render::savePng(traversalGrid(rows, values, chunkTitles(mixer->layout().chunks, mixer->classChunk(), mixer->chunkFactors())), outPath);
    if (a.has("json")) {
        nlohmann::json j{{"image", a.str("image")}, {"values_sd", values},     {"direction", direction},
                         {"class_chunk", mixer->classChunk()}, {"code", base}, {"predicted_class", classes}};
        render::writeFileAtomically(a.str("json"), jsonText(j));
    }
    out << "wrote " << outPath << " (" << rows.size() << " chunks x " << values.size() << " values)\n";
    return 0;
}

}  // namespace preimage::app
