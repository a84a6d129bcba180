#include "inference/latent/mixer.h"
#include "inference/json_text.h"

#include "inference/model/model_impl.h"
#include "inference/latent/mixer_net.h"
#include "inference/learned/training_util.h"

#include <torch/nn.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace preimage {

torch::Tensor encodeAll(MixerNet& net, const torch::Tensor& x) {
    torch::InferenceMode guard;
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += 500) parts.push_back(net->encode(x.slice(0, i, i + 500)));
    return torch::cat(parts, 0);
}

torch::Tensor decodeAll(MixerNet& net, const torch::Tensor& f) {
    torch::InferenceMode guard;
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < f.size(0); i += 500) parts.push_back(net->decode(f.slice(0, i, i + 500)));
    return torch::cat(parts, 0);
}

namespace {


torch::Tensor classify(Model::Impl& M, const torch::Tensor& x01) {
    torch::InferenceMode guard;
    const auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    const auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x01.size(0); i += 500)
        parts.push_back(M.forwardAll((x01.slice(0, i, i + 500).to(M.device) - mean) / std).argmax(1).cpu());
    return torch::cat(parts, 0);
}

// Nearest-neighbour mAP of the labels: each query ranks the gallery by Euclidean distance.
float meanAveragePrecision(const torch::Tensor& q, const torch::Tensor& yq, const torch::Tensor& g, const torch::Tensor& yg) {
    torch::InferenceMode guard;
    double sum = 0;
    const auto ranks = torch::arange(1, g.size(0) + 1, torch::kFloat);
    for (int64_t i = 0; i < q.size(0); i += 250) {
        auto qb = q.slice(0, i, i + 250);
        auto d = torch::cdist(qb, g);
        auto order = std::get<1>(d.sort(1));
        auto matches = (yg.index_select(0, order.reshape(-1)).view_as(order) == yq.slice(0, i, i + 250).unsqueeze(1)).to(torch::kFloat);
        auto ap = (matches.cumsum(1) / ranks * matches).sum(1) / matches.sum(1).clamp_min(1);
        sum += ap.sum().item<double>();
    }
    return float(sum / double(q.size(0)));
}

}  // namespace

std::string metricsJson(const MixerMetrics& m) {
    nlohmann::json j{{"test_recon_rmse", m.reconRmse},
                     {"chunk_class_map", m.chunkMap},
                     {"full_code_class_map", m.fullCodeMap},
                     {"random_class_map", 1.0 / std::max(1, m.classes)},
                     {"class_chunk", m.classChunk},
                     {"map_queries", m.queries},
                     {"map_gallery", m.gallery}};
    if (m.reconAccuracy >= 0) j["test_recon_classifier_accuracy"] = m.reconAccuracy;
    if (m.pairs > 0) {
        j.update({{"swap_accuracy", m.swapAccuracy},
                  {"swap_accuracy_by_class", m.swapByClass},
                  {"swap_other_chunks_keeps_a", m.swapOtherKeepsA},
                  {"analogy_vector_accuracy", m.analogyVectorAccuracy},
                  {"analogy_chunks_accuracy", m.analogyChunksAccuracy},
                  {"analogy_chunks_copied", m.analogyChunksCopied},
                  {"chunk_threshold", m.chunkThreshold},
                  {"analogy_strength", m.analogyStrength},
                  {"eval_pairs", m.pairs}});
    }
    return j.dump();
}

Mixer::Mixer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Mixer::~Mixer() = default;
const ChunkLayout& Mixer::layout() const { return m_impl->layout; }
int Mixer::classChunk() const { return m_impl->classChunk; }
const std::vector<ChunkBasis>& Mixer::bases() const { return m_impl->bases; }
float Mixer::chunkThreshold() const { return m_impl->threshold; }
float Mixer::analogyStrength() const { return m_impl->strength; }
const std::string& Mixer::manifestJson() const { return m_impl->manifest; }
int Mixer::imageSide() const { return m_impl->image.side; }
int Mixer::imageChannels() const { return m_impl->image.channels; }
bool Mixer::isBaseline() const { return m_impl->baseline; }

std::vector<std::string> Mixer::chunkFactors() const {
    std::vector<std::string> out(size_t(m_impl->layout.chunks));
    const auto j = nlohmann::json::parse(m_impl->manifest);
    if (!j.contains("factors") || !j["factors"].contains("chunk_factor")) return out;
    const auto names = j["factors"]["chunk_factor"];
    for (size_t k = 0; k < out.size() && k < names.size(); ++k) out[k] = names[k].get<std::string>();
    return out;
}

bool Mixer::exists(const Model& classifier) {
    return !classifier.directory().empty() && fs::exists(fs::path(classifier.directory()) / "mixer" / "manifest.json");
}

std::shared_ptr<Mixer> Mixer::load(const Model& classifier) {
    if (!exists(classifier))
        throw Error("model '" + classifier.name() + "' has no chunked autoencoder (preimage train mixer --model " +
                    classifier.name() + ")");
    return loadDirectory((fs::path(classifier.directory()) / "mixer").string());
}

std::shared_ptr<Mixer> Mixer::loadDirectory(const std::string& dir) {
    std::ifstream in(fs::path(dir) / "manifest.json");
    if (!in) throw Error("no mixer manifest in '" + dir + "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw Error("mixer manifest in '" + dir + "' is not valid JSON");
    }
    auto impl = std::make_unique<Impl>();
    impl->manifest = j.dump(2);
    try {
        impl->layout.chunks = j.at("layout").at("chunks").get<int>();
        impl->layout.dims = j.at("layout").at("dims").get<int>();
        impl->classChunk = j.value("class_chunk", 0);
        impl->baseline = j.value("baseline", false);
        const std::string decoder = j.value("decoder", "deconv");
        if (decoder != "deconv" && decoder != "broadcast")
            throw Error("mixer manifest in '" + dir + "' names an unknown decoder '" + decoder + "'");
        impl->broadcast = decoder == "broadcast";
        if (j.contains("image")) {
            impl->image.channels = j["image"].value("channels", 1);
            impl->image.side = j["image"].value("side", 28);
        }
        impl->threshold = j.value("chunk_threshold", 1.f);
        impl->strength = j.value("analogy_strength", 1.f);
        impl->directory = dir;
        for (const auto& b : j.at("bases"))
            impl->bases.push_back({b.at("mean").get<std::vector<float>>(), b.at("directions").get<std::vector<std::vector<float>>>(),
                                   b.at("sigma").get<std::vector<float>>()});
    } catch (const nlohmann::json::exception& e) {
        throw Error("mixer manifest in '" + dir + "' is incomplete: " + e.what());
    }
    if ((impl->image.channels != 1 && impl->image.channels != 3) || impl->image.side < 16 || impl->image.side > 128 ||
        impl->image.side % 4 != 0)
        throw Error("mixer manifest in '" + dir + "' has an unsupported image shape");
    impl->net = MixerNet(impl->layout, j.value("classes", 10), impl->image, impl->broadcast);
    try {
        torch::load(impl->net, (fs::path(dir) / "weights.pt").string());
    } catch (const c10::Error& e) {
        throw Error("cannot load mixer weights '" + (fs::path(dir) / "weights.pt").string() + "'");
    }
    impl->net->eval();
    return std::shared_ptr<Mixer>(new Mixer(std::move(impl)));
}

std::vector<Code> Mixer::encode(const std::vector<ImageF>& prepared) {
    if (prepared.empty()) return {};
    std::vector<torch::Tensor> xs;
    for (const auto& im : prepared) {
        const auto& I = m_impl->image;
        if (im.channels != I.channels || im.width != I.side || im.height != I.side)
            throw Error("the mixer encodes " + std::to_string(I.channels) + "x" + std::to_string(I.side) + "x" +
                        std::to_string(I.side) + " images (prepare them with the classifier first)");
        xs.push_back(imageToTensor(im));
    }
    torch::InferenceMode guard;
    auto f = m_impl->net->encode(torch::stack(xs)).contiguous();
    std::vector<Code> out;
    for (int64_t i = 0; i < f.size(0); ++i) {
        auto row = f[i];
        out.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    return out;
}

std::vector<ImageF> Mixer::decode(const std::vector<Code>& codes) {
    if (codes.empty()) return {};
    std::vector<float> flat;
    for (const auto& c : codes) {
        checkCode(c, m_impl->layout);
        flat.insert(flat.end(), c.begin(), c.end());
    }
    torch::InferenceMode guard;
    auto f = torch::from_blob(flat.data(), {int64_t(codes.size()), int64_t(m_impl->layout.size())}, torch::kFloat);
    auto x = m_impl->net->decode(f);
    std::vector<ImageF> out;
    for (int64_t i = 0; i < x.size(0); ++i) out.push_back(tensorToImage(x[i]));
    return out;
}

MixerMetrics evaluateMixerNet(Model::Impl* M, MixerNet& net, const ChunkLayout& L, float threshold, float strength,
                      const Dataset& test, int pairs, uint64_t seed, const StageProgressFn& progress) {
    if (test.count < kMinMixerEvalImages)
        throw Error("the mixer's evaluation needs at least " + std::to_string(kMinMixerEvalImages) +
                    " test images (the first fifth query the rest for the mAP); got " + std::to_string(test.count));
    if (pairs < 1) throw Error("--pairs must be 1 or more, got " + std::to_string(pairs));
    if (M && (M->input.channels != test.channels || M->input.width != test.width || M->input.height != test.height))
        throw Error("the classifier's input is not the mixer's images");
    const int stages = (M ? 4 : 2) + L.chunks;
    int stage = 0;
    auto step = [&](const std::string& what) {
        if (progress) progress(++stage, stages, what);
    };
    net->eval();
    MixerMetrics r;
    r.chunkThreshold = threshold;
    r.analogyStrength = strength;
    r.classes = test.classes;
    auto x = datasetPixels(test);
    auto y = datasetLabels(test);
    auto codes = encodeAll(net, x);
    step("encoded");
    {
        auto rec = decodeAll(net, codes);
        r.reconRmse = float(std::sqrt((rec - x).pow(2).mean().item<double>()));
        r.reconAccuracy = M ? (classify(*M, rec) == y).to(torch::kFloat).mean().item<float>() : -1.f;
    }
    step("reconstructions");
    // mAP: the first fifth of the test set (at most 1000 images) queries the rest.
    const int64_t n = x.size(0), q = std::min<int64_t>(1000, n / 5);
    r.queries = int(q);
    r.gallery = int(n - q);
    auto yq = y.slice(0, 0, q), yg = y.slice(0, q, n);
    for (int k = 0; k < L.chunks; ++k) {
        auto c = codes.slice(1, int64_t(k) * L.dims, int64_t(k + 1) * L.dims);
        r.chunkMap.push_back(meanAveragePrecision(c.slice(0, 0, q), yq, c.slice(0, q, n), yg));
        step("mAP of chunk " + std::to_string(k));
    }
    r.fullCodeMap = meanAveragePrecision(codes.slice(0, 0, q), yq, codes.slice(0, q, n), yg);
    step("mAP of the whole code");
    r.classChunk = int(std::max_element(r.chunkMap.begin(), r.chunkMap.end()) - r.chunkMap.begin());
    if (!M) return r;  // no classifier: no swap or analogy figures

    // Pairs (a, b) of different classes and triples (a, b, c) with c of a's class, drawn with a fixed seed.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<std::vector<int64_t>> byClass(size_t(std::max(1, test.classes)));
    for (int64_t i = 0; i < n; ++i) byClass[size_t(y[i].item<int64_t>())].push_back(i);
    std::vector<int64_t> ia, ib, ic;
    auto pick = [&](int64_t bound) { return at::randint(bound, {1}, gen, torch::kLong).item<int64_t>(); };
    for (int t = 0; int(ia.size()) < pairs && t < 50 * pairs; ++t) {
        const int64_t a = pick(n), b = pick(n);
        if (y[a].item<int64_t>() == y[b].item<int64_t>()) continue;
        const auto& same = byClass[size_t(y[a].item<int64_t>())];
        if (same.size() < 2) continue;
        int64_t c = a;
        while (c == a) c = same[size_t(pick(int64_t(same.size())))];
        ia.push_back(a);
        ib.push_back(b);
        ic.push_back(c);
    }
    r.pairs = int(ia.size());
    if (ia.empty()) return r;
    auto A = codes.index_select(0, torch::tensor(ia)), B = codes.index_select(0, torch::tensor(ib)),
         C = codes.index_select(0, torch::tensor(ic));
    auto yb = y.index_select(0, torch::tensor(ib)), ya = y.index_select(0, torch::tensor(ia));
    auto chunkMask = torch::zeros({1, int64_t(L.size())});
    chunkMask.slice(1, int64_t(r.classChunk) * L.dims, int64_t(r.classChunk + 1) * L.dims).fill_(1);
    // 1 where the decoded code is classified as `want`.
    auto hits = [&](const torch::Tensor& codesD, const torch::Tensor& want) {
        return (classify(*M, decodeAll(net, codesD)) == want).to(torch::kFloat);
    };
    auto rate = [&](const torch::Tensor& codesD, const torch::Tensor& want) { return hits(codesD, want).mean().item<float>(); };
    const auto swapHits = hits(chunkMask * B + (1 - chunkMask) * A, yb);
    r.swapAccuracy = swapHits.mean().item<float>();
    for (int64_t c = 0; c < int64_t(byClass.size()); ++c) {
        auto sel = yb == c;
        r.swapByClass.push_back(sel.any().item<bool>() ? swapHits.masked_select(sel).mean().item<float>() : std::nanf(""));
    }
    r.swapOtherKeepsA = rate(chunkMask * A + (1 - chunkMask) * B, ya);
    step("swaps");
    r.analogyVectorAccuracy = rate(C + strength * (B - A), yb);
    // Chunk transfer through the same code path the app and the CLI use.
    std::vector<float> flat;
    auto Ac = A.contiguous(), Bc = B.contiguous(), Cc = C.contiguous();
    double copied = 0;
    for (int64_t i = 0; i < A.size(0); ++i) {
        auto row = [&](const torch::Tensor& t) { return Code(t[i].data_ptr<float>(), t[i].data_ptr<float>() + L.size()); };
        const auto take = differingChunks(row(Ac), row(Bc), row(Cc), L, threshold);
        copied += double(std::count(take.begin(), take.end(), true));
        auto d = mixChunks(row(Cc), row(Bc), take, L);
        flat.insert(flat.end(), d.begin(), d.end());
    }
    r.analogyChunksCopied = float(copied / double(A.size(0)));
    r.analogyChunksAccuracy = rate(torch::from_blob(flat.data(), {A.size(0), int64_t(L.size())}, torch::kFloat).clone(), yb);
    step("analogies");
    return r;
}

MixerMetrics evaluateMixer(Model* classifier, Mixer& mixer, const Dataset& test, int pairs, uint64_t seed, float threshold,
                           float strength, const StageProgressFn& progress) {
    auto& I = mixer.impl();
    if (test.channels != I.image.channels || test.width != I.image.side || test.height != I.image.side)
        throw Error("the mixer models " + std::to_string(I.image.channels) + "x" + std::to_string(I.image.side) + "x" +
                    std::to_string(I.image.side) + " images; the evaluation data are " + std::to_string(test.channels) + "x" +
                    std::to_string(test.height) + "x" + std::to_string(test.width));
    return evaluateMixerNet(classifier ? &classifier->impl() : nullptr, I.net, I.layout, threshold < 0 ? I.threshold : threshold, strength < 0 ? I.strength : strength,
                    test, pairs, seed, progress);
}

std::vector<float> encodeDataset(Mixer& mixer, const Dataset& data) {
    auto& I = mixer.impl();
    if (data.channels != I.image.channels || data.width != I.image.side || data.height != I.image.side)
        throw Error("the mixer models " + std::to_string(I.image.channels) + "x" + std::to_string(I.image.side) + "x" +
                    std::to_string(I.image.side) + " images; these are " + std::to_string(data.channels) + "x" +
                    std::to_string(data.height) + "x" + std::to_string(data.width));
    auto codes = encodeAll(I.net, datasetPixels(data)).contiguous();
    return std::vector<float>(codes.data_ptr<float>(), codes.data_ptr<float>() + codes.numel());
}

void updateMixerManifest(Mixer& mixer, const MixerMetrics& m, const std::string& command, const std::string& factorsJson) {
    auto& I = mixer.impl();
    if (I.directory.empty()) throw Error("this mixer was not loaded from a folder");
    auto j = nlohmann::json::parse(I.manifest);
    j["metrics"] = nlohmann::json::parse(metricsJson(m));
    if (!factorsJson.empty()) j["factors"] = nlohmann::json::parse(factorsJson);
    j["chunk_threshold"] = m.chunkThreshold;
    j["analogy_strength"] = m.analogyStrength;
    j["metrics_command"] = command;
    writeTextAtomically(fs::path(I.directory) / "manifest.json", jsonText(j));
    I.manifest = j.dump(2);
    I.threshold = m.chunkThreshold;
    I.strength = m.analogyStrength;
}

}  // namespace preimage
