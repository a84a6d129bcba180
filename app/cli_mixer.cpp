// The chunked autoencoder on the command line: `preimage train mixer`, `preimage eval mixer`,
// `preimage analogy` and `preimage traverse`.
#include "cli.h"
#include "inference/json_text.h"
#include "convert.h"
#include "progress_bar.h"
#include "report.h"

#include "inference/mixer.h"

#include <nlohmann/json.hpp>

#include <ostream>

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
    out << "reconstruction: test pixel RMSE " << fmt("%.4f", m.reconRmse) << ", classifier accuracy on it "
        << fmt("%.1f%%", 100 * m.reconAccuracy) << "\n";
    out << "nearest-neighbour mAP of the class per chunk (" << m.queries << " queries, " << m.gallery
        << " gallery; random 0.10):\n  ";
    for (size_t k = 0; k < m.chunkMap.size(); ++k) out << fmt("chunk%-3.0f ", double(k));
    out << " whole code\n  ";
    for (float v : m.chunkMap) out << fmt("%-9.3f", double(v));
    out << fmt(" %.3f", double(m.fullCodeMap)) << "\n";
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

// `preimage train mixer --model fashion [--out DIR] [--chunks 8] [--dims 8] [--epochs E] [--seed S] ...`
int cmdTrainMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first,
           {"model", "out", "chunks", "dims", "epochs", "batch", "lr", "seed", "limit", "test-limit", "pairs", "lambda-gan",
            "lambda-chunk", "lambda-class", "init", "threads"},
           {}, "train mixer");
    auto model = Model::load(a.str("model", "fashion"));
    TrainMixerOptions o;
    o.outDir = a.str("out", model->directory().empty() ? "" : model->directory() + "/mixer");
    if (o.outDir.empty()) throw Error("--out is required for a model without a folder");
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
    o.lambdaClass = a.number("lambda-class", o.lambdaClass);
    o.initDir = a.str("init", "");
    o.command = commandLine(argv);
    std::unique_ptr<ProgressBar> bar;
    const bool lead = leadRank();
    checkGlobalBatch(o.batch);
    auto m = trainMixer(*model, o, [&](const TrainProgress& p) {
        if (!lead) return;
        if (!bar) bar = std::make_unique<ProgressBar>("mixer " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs));
        bar->update(p.step, p.steps, "loss " + fmt("%.3f", p.loss) + "  " + fmt("%.0f img/s", p.imagesPerSecond));
        if (p.step == p.steps) {
            bar->finish("loss " + fmt("%.3f", p.loss));
            bar.reset();
        }
    }, job());
    if (!lead) return 0;
    printMetrics(out, m);
    out << "trained in " << fmt("%.0f", m.seconds) << " s; wrote " << o.outDir << "/weights.pt and manifest.json\n";
    return 0;
}

// `preimage eval mixer --model fashion [--json out.json] [--limit N] [--pairs P]`
int cmdEvalMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, {"model", "json", "limit", "pairs", "seed", "threshold", "strength", "split", "threads"}, {"update-manifest"},
           "eval mixer");
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
    auto model = Model::load(a.str("model", "fashion"));
    auto mixer = Mixer::load(*model);
    ProgressBar bar("eval mixer");
    auto m = evaluateMixer(*model, *mixer, loadFashionMnist(split == "train", limit), pairs,
                           uint64_t(std::max(0, a.integer("seed", 1))), a.number("threshold", -1.f), a.number("strength", -1.f),
                           [&](int done, int total, const std::string& stage) { bar.update(done, total, stage); });
    bar.finish();
    printMetrics(out, m);
    if (a.has("update-manifest")) {
        updateMixerManifest(*mixer, m, commandLine(argv));
        out << "updated the mixer's manifest\n";
    }
    if (a.has("json")) {
        auto j = nlohmann::json::parse(metricsJson(m));
        j["model"] = model->name();
        j["manifest_metrics"] = nlohmann::json::parse(mixer->manifestJson()).value("metrics", nlohmann::json::object());
        render::writeFileAtomically(a.str("json"), jsonText(j));
    }
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
    render::savePng(traversalGrid(rows, values, mixer->classChunk()), outPath);
    if (a.has("json")) {
        nlohmann::json j{{"image", a.str("image")}, {"values_sd", values},     {"direction", direction},
                         {"class_chunk", mixer->classChunk()}, {"code", base}, {"predicted_class", classes}};
        render::writeFileAtomically(a.str("json"), jsonText(j));
    }
    out << "wrote " << outPath << " (" << rows.size() << " chunks x " << values.size() << " values)\n";
    return 0;
}

}  // namespace preimage::app
