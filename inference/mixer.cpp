#include "mixer.h"
#include "inference/json_text.h"

#include "model_impl.h"
#include "training_util.h"

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

namespace {

constexpr int kSide = 28;
constexpr int64_t kWidth = 64;  // channels at 7x7

torch::nn::Conv2dOptions conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
    return torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad);
}

// Encoder, decoder and the class head: everything inference needs (weights.pt).
struct MixerNetImpl : torch::nn::Module {
    MixerNetImpl(const ChunkLayout& l, int classes) : layout(l) {
        enc = register_module("enc", torch::nn::Sequential(
            torch::nn::Conv2d(conv(1, 32, 3, 1, 1)), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
            torch::nn::Conv2d(conv(32, 64, 4, 2, 1)), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
            torch::nn::Conv2d(conv(64, kWidth, 4, 2, 1)), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
            torch::nn::Flatten(), torch::nn::Linear(kWidth * 49, l.size())));
        fc = register_module("fc", torch::nn::Linear(l.size(), kWidth * 49));
        dec = register_module("dec", torch::nn::Sequential(
            torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(kWidth, 64, 4).stride(2).padding(1)), torch::nn::ReLU(),
            torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(64, 32, 4).stride(2).padding(1)), torch::nn::ReLU(),
            torch::nn::Conv2d(conv(32, 1, 3, 1, 1)), torch::nn::Sigmoid()));
        head = register_module("head", torch::nn::Linear(l.dims, classes));
    }
    torch::Tensor encode(const torch::Tensor& x) { return enc->forward(x); }
    torch::Tensor decode(const torch::Tensor& f) {
        return dec->forward(torch::relu(fc->forward(f)).view({f.size(0), kWidth, 7, 7}));
    }
    torch::Tensor chunk(const torch::Tensor& f, int k) const { return f.slice(1, int64_t(k) * layout.dims, int64_t(k + 1) * layout.dims); }

    ChunkLayout layout;
    torch::nn::Sequential enc{nullptr}, dec{nullptr};
    torch::nn::Linear fc{nullptr}, head{nullptr};
};
TORCH_MODULE(MixerNet);

// The training-only critics: the discriminator on mixed images and the chunk classifier.
struct CriticsImpl : torch::nn::Module {
    explicit CriticsImpl(int chunks) {
        auto trunk = [](int64_t in) {
            return torch::nn::Sequential(
                torch::nn::Conv2d(conv(in, 32, 4, 2, 1)), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
                torch::nn::Conv2d(conv(32, 64, 4, 2, 1)), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
                torch::nn::Flatten());
        };
        disc = register_module("disc", trunk(1));
        disc->push_back(torch::nn::Linear(64 * 49, 1));
        chunkCls = register_module("chunk_classifier", trunk(3));
        chunkCls->push_back(torch::nn::Linear(64 * 49, chunks));
    }
    torch::nn::Sequential disc{nullptr}, chunkCls{nullptr};
};
TORCH_MODULE(Critics);

// One optimisation step of the whole objective; owns the nets and both optimisers.
struct Trainer {
    Trainer(const TrainMixerOptions& o, int classes)
        : o(o), net(o.layout, classes), critics(o.layout.chunks),
          optim(collect(), torch::optim::AdamOptions(o.learningRate).betas({0.5, 0.999})),
          optimD(critics->disc->parameters(), torch::optim::AdamOptions(o.learningRate / 5).betas({0.5, 0.999})) {
        net->train();
        critics->train();
    }
    std::vector<torch::Tensor> collect() {
        auto p = net->parameters();
        for (auto& t : critics->chunkCls->parameters()) p.push_back(t);
        return p;
    }

    // x1 [B,1,28,28] in [0,1], y1 [B] labels: the global batch. x2 is x1 rolled by one: every image is mixed
    // with another. In a distributed job (`group`) every rank draws the same masks and takes its slice of the
    // batch; each loss is its slice's sum over the global count, so that the gradients added by one all-reduce
    // per optimiser are the ones one process computes.
    float step(const torch::Tensor& x1g, const torch::Tensor& y1g, at::Generator& gen, dist::Group* group = nullptr) {
        const auto& L = o.layout;
        const int64_t B = x1g.size(0);
        auto mg = at::bernoulli(torch::full({B, int64_t(L.chunks)}, 0.5), gen);  // 1: chunk from x1
        const auto [first, last] = rankSlice(B, group);
        auto x1 = x1g.slice(0, first, last), y1 = y1g.slice(0, first, last), m = mg.slice(0, first, last);
        auto x2 = x1g.roll(1, 0).slice(0, first, last);
        auto y2 = y1g.roll(1, 0).slice(0, first, last);
        const double Bd = double(B);
        auto f1 = net->encode(x1);
        auto f2 = group ? net->encode(x2) : f1.roll(1, 0);  // one process: the same codes, encoded once
        auto mm = m.repeat_interleave(L.dims, 1);
        const int64_t b = x1.size(0);
        auto both = net->decode(torch::cat({f1, mm * f1 + (1 - mm) * f2}, 0));
        auto rec = both.slice(0, 0, b), x3 = both.slice(0, b, 2 * b);
        auto f3 = net->encode(x3);
        auto x4 = net->decode(mm * f3 + (1 - mm) * f1);  // unmixing: x1's chunks back where x2's were
        auto sse = [&](const torch::Tensor& a) { return (a - x1).pow(2).sum() / Bd; };
        const auto sum = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum);
        const auto ceSum = torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum);
        auto loss = sse(rec) + sse(x4);
        if (o.lambdaGan > 0) {
            auto fake = critics->disc->forward(x3);
            loss = loss + o.lambdaGan * torch::nn::functional::binary_cross_entropy_with_logits(fake, torch::ones_like(fake), sum) / Bd;
        }
        if (o.lambdaChunk > 0) {
            auto logits = critics->chunkCls->forward(torch::cat({x1, x2, x3}, 1));
            loss = loss + o.lambdaChunk * torch::nn::functional::binary_cross_entropy_with_logits(logits, m, sum) /
                              (Bd * double(L.chunks));
        }
        if (o.lambdaClass > 0) {
            auto ySource = torch::where(m.select(1, 0) > 0.5, y1, y2);  // whose chunk 0 went into x3
            loss = loss + o.lambdaClass * (torch::nn::functional::cross_entropy(net->head->forward(net->chunk(f1, 0)), y1, ceSum) +
                                           torch::nn::functional::cross_entropy(net->head->forward(net->chunk(f3, 0)), ySource, ceSum)) /
                              Bd;
        }
        optim.zero_grad();
        loss.backward();
        std::vector<float> total{loss.item<float>()};
        allReduceGradients(collect(), group, total);
        optim.step();
        if (o.lambdaGan > 0) {
            auto real = critics->disc->forward(x1);
            auto fake = critics->disc->forward(x3.detach());
            auto lossD = (torch::nn::functional::binary_cross_entropy_with_logits(real, torch::ones_like(real), sum) +
                          torch::nn::functional::binary_cross_entropy_with_logits(fake, torch::zeros_like(fake), sum)) /
                         Bd;
            optimD.zero_grad();
            lossD.backward();
            std::vector<float> none;
            allReduceGradients(critics->disc->parameters(), group, none);
            optimD.step();
        }
        return total[0];
    }

    TrainMixerOptions o;
    MixerNet net;
    Critics critics;
    torch::optim::Adam optim, optimD;
};

torch::Tensor labelsOf(const Dataset& d) {
    return torch::from_blob(const_cast<uint8_t*>(d.labels.data()), {d.count}, torch::kUInt8).to(torch::kLong);
}

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

torch::Tensor classify(Model::Impl& M, const torch::Tensor& x01) {
    torch::InferenceMode guard;
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x01.size(0); i += 500)
        parts.push_back(M.forwardAll((x01.slice(0, i, i + 500).to(M.device) - M.input.mean[0]) / M.input.std[0]).argmax(1).cpu());
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

// PCA per chunk: mean, unit directions by decreasing variance (sign: largest component positive), sigma.
std::vector<ChunkBasis> chunkBases(const torch::Tensor& codes, const ChunkLayout& L) {
    std::vector<ChunkBasis> out;
    for (int k = 0; k < L.chunks; ++k) {
        auto c = codes.slice(1, int64_t(k) * L.dims, int64_t(k + 1) * L.dims).to(torch::kDouble);
        auto mean = c.mean(0);
        auto centred = c - mean;
        auto cov = centred.t().mm(centred) / double(std::max<int64_t>(1, c.size(0) - 1));
        auto [values, vectors] = at::linalg_eigh(cov, "L");
        ChunkBasis b;
        for (int i = 0; i < L.dims; ++i) b.mean.push_back(float(mean[i].item<double>()));
        for (int j = L.dims - 1; j >= 0; --j) {
            auto v = vectors.select(1, j);
            if (v[v.abs().argmax()].item<double>() < 0) v = -v;
            std::vector<float> dir;
            for (int i = 0; i < L.dims; ++i) dir.push_back(float(v[i].item<double>()));
            b.directions.push_back(dir);
            b.sigma.push_back(float(std::sqrt(std::max(0.0, values[j].item<double>()))));
        }
        out.push_back(std::move(b));
    }
    return out;
}

nlohmann::json basesJson(const std::vector<ChunkBasis>& bases) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& b : bases) j.push_back({{"mean", b.mean}, {"directions", b.directions}, {"sigma", b.sigma}});
    return j;
}

}  // namespace

std::string metricsJson(const MixerMetrics& m) {
    const nlohmann::json j{{"test_recon_rmse", m.reconRmse},
                           {"test_recon_classifier_accuracy", m.reconAccuracy},
                           {"chunk_class_map", m.chunkMap},
                           {"full_code_class_map", m.fullCodeMap},
                           {"random_class_map", 0.1},
                           {"class_chunk", m.classChunk},
                           {"swap_accuracy", m.swapAccuracy},
                           {"swap_accuracy_by_class", m.swapByClass},
                           {"swap_other_chunks_keeps_a", m.swapOtherKeepsA},
                           {"analogy_vector_accuracy", m.analogyVectorAccuracy},
                           {"analogy_chunks_accuracy", m.analogyChunksAccuracy},
                           {"analogy_chunks_copied", m.analogyChunksCopied},
                           {"chunk_threshold", m.chunkThreshold},
                           {"analogy_strength", m.analogyStrength},
                           {"eval_pairs", m.pairs},
                           {"map_queries", m.queries},
                           {"map_gallery", m.gallery}};
    return j.dump();
}

struct Mixer::Impl {
    ChunkLayout layout;
    MixerNet net{nullptr};
    std::vector<ChunkBasis> bases;
    int classChunk = 0;
    float threshold = 1.f, strength = 1.f;
    std::string manifest, directory;
};

Mixer::Mixer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Mixer::~Mixer() = default;
const ChunkLayout& Mixer::layout() const { return m_impl->layout; }
int Mixer::classChunk() const { return m_impl->classChunk; }
const std::vector<ChunkBasis>& Mixer::bases() const { return m_impl->bases; }
float Mixer::chunkThreshold() const { return m_impl->threshold; }
float Mixer::analogyStrength() const { return m_impl->strength; }
const std::string& Mixer::manifestJson() const { return m_impl->manifest; }
int Mixer::imageSide() const { return kSide; }

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
        impl->threshold = j.value("chunk_threshold", 1.f);
        impl->strength = j.value("analogy_strength", 1.f);
        impl->directory = dir;
        for (const auto& b : j.at("bases"))
            impl->bases.push_back({b.at("mean").get<std::vector<float>>(), b.at("directions").get<std::vector<std::vector<float>>>(),
                                   b.at("sigma").get<std::vector<float>>()});
    } catch (const nlohmann::json::exception& e) {
        throw Error("mixer manifest in '" + dir + "' is incomplete: " + e.what());
    }
    impl->net = MixerNet(impl->layout, j.value("classes", 10));
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
        if (im.channels != 1 || im.width != kSide || im.height != kSide)
            throw Error("the mixer encodes 1x28x28 images (prepare them with the classifier first)");
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

namespace {

MixerMetrics evaluate(Model::Impl& M, MixerNet& net, const ChunkLayout& L, float threshold, float strength,
                      const Dataset& test, int pairs, uint64_t seed, const StageProgressFn& progress = {}) {
    if (test.count < kMinMixerEvalImages)
        throw Error("the mixer's evaluation needs at least " + std::to_string(kMinMixerEvalImages) +
                    " test images (the first fifth query the rest for the mAP); got " + std::to_string(test.count));
    if (pairs < 1) throw Error("--pairs must be 1 or more, got " + std::to_string(pairs));
    const int stages = 4 + L.chunks;
    int stage = 0;
    auto step = [&](const std::string& what) {
        if (progress) progress(++stage, stages, what);
    };
    net->eval();
    MixerMetrics r;
    r.chunkThreshold = threshold;
    r.analogyStrength = strength;
    auto x = datasetPixels(test);
    auto y = labelsOf(test);
    auto codes = encodeAll(net, x);
    step("encoded");
    {
        auto rec = decodeAll(net, codes);
        r.reconRmse = float(std::sqrt((rec - x).pow(2).mean().item<double>()));
        r.reconAccuracy = (classify(M, rec) == y).to(torch::kFloat).mean().item<float>();
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

    // Pairs (a, b) of different classes and triples (a, b, c) with c of a's class, drawn with a fixed seed.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<std::vector<int64_t>> byClass(10);
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
        return (classify(M, decodeAll(net, codesD)) == want).to(torch::kFloat);
    };
    auto rate = [&](const torch::Tensor& codesD, const torch::Tensor& want) { return hits(codesD, want).mean().item<float>(); };
    const auto swapHits = hits(chunkMask * B + (1 - chunkMask) * A, yb);
    r.swapAccuracy = swapHits.mean().item<float>();
    for (int64_t c = 0; c < 10; ++c) {
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

}  // namespace

MixerMetrics evaluateMixer(Model& classifier, Mixer& mixer, const Dataset& test, int pairs, uint64_t seed, float threshold,
                           float strength, const StageProgressFn& progress) {
    auto& I = mixer.impl();
    return evaluate(classifier.impl(), I.net, I.layout, threshold < 0 ? I.threshold : threshold, strength < 0 ? I.strength : strength,
                    test, pairs, seed, progress);
}

MixerMetrics trainMixer(Model& classifier, const TrainMixerOptions& o, const TrainProgressFn& progress, dist::Group* group) {
    auto& M = classifier.impl();
    if (M.directory.empty() || M.input.channels != 1 || M.input.width != kSide)
        throw Error("the mixer is trained beside a default Fashion-MNIST classifier (--model fashion)");
    if (o.layout.chunks < 2 || o.layout.dims < 1 || o.layout.size() > 1024) throw Error("--chunks must be >= 2 and --dims >= 1");
    if (o.testLimit > 0 && o.testLimit < kMinMixerEvalImages)
        throw Error("--test-limit must be at least " + std::to_string(kMinMixerEvalImages) +
                    " (the evaluation after training needs them), got " + std::to_string(o.testLimit));
    if (o.evalPairs < 1) throw Error("--pairs must be 1 or more, got " + std::to_string(o.evalPairs));
    ensureDirectory(o.outDir);
    auto train = loadFashionMnist(true, o.trainLimit);
    auto test = loadFashionMnist(false, o.testLimit);
    auto x = datasetPixels(train);
    auto y = labelsOf(train);
    const auto start = std::chrono::steady_clock::now();
    torch::manual_seed(o.seed);
    Trainer t(o, 10);
    nlohmann::json initTraining;
    if (!o.initDir.empty()) {
        auto init = Mixer::loadDirectory(o.initDir);
        const auto& L = init->layout();
        if (L.chunks != o.layout.chunks || L.dims != o.layout.dims) throw Error("--init: the mixer in '" + o.initDir + "' has another chunk layout");
        torch::NoGradGuard g;
        auto src = init->impl().net->named_parameters();
        for (auto& p : t.net->named_parameters()) p.value().copy_(src[p.key()]);
        initTraining = nlohmann::json::parse(init->manifestJson()).value("training", nlohmann::json::object());
        initTraining["directory"] = o.initDir;
    }
    {
        auto all = t.collect();
        for (auto& p : t.critics->disc->parameters()) all.push_back(p);
        broadcastParameters(all, group);
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    const int steps = int(x.size(0) / o.batch);
    if (steps < 1) throw Error("fewer training images than one batch");
    MixerMetrics r;
    int step = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        auto perm = at::randperm(x.size(0), gen, torch::kLong);
        double sum = 0;
        auto epochStart = std::chrono::steady_clock::now();
        for (int s = 0; s < steps; ++s, ++step) {
            auto idx = perm.slice(0, int64_t(s) * o.batch, int64_t(s + 1) * o.batch);
            setCosineRate(t.optim, o.learningRate, step, steps * o.epochs);
            setCosineRate(t.optimD, o.learningRate / 5, step, steps * o.epochs);
            const float l = t.step(x.index_select(0, idx), y.index_select(0, idx), gen, group);
            if (!std::isfinite(l)) throw Error("mixer training diverged (loss is not finite) at step " + std::to_string(step));
            if (step == 0) r.firstLoss = l;
            sum += l;
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
            if (progress) progress({epoch, o.epochs, s + 1, steps, float(sum / (s + 1)), float((s + 1) * o.batch / std::max(1e-9, secs)), -1.f});
        }
        r.lastLoss = float(sum / steps);
    }
    // Principal directions from (up to) 10,000 training codes, then the evaluation on the test set: rank 0's.
    t.net->eval();
    if (group && group->rank() != 0) return r;
    auto trainCodes = encodeAll(t.net, x.slice(0, 0, std::min<int64_t>(10000, x.size(0))));
    const auto bases = chunkBases(trainCodes, o.layout);
    const float threshold = 1.f, strength = 1.f;  // the analogy rules' natural values; `eval mixer` can re-choose them
    const double trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto m = evaluate(M, t.net, o.layout, threshold, strength, test, o.evalPairs, o.seed);
    m.firstLoss = r.firstLoss;
    m.lastLoss = r.lastLoss;
    m.seconds = trainSeconds;
    saveAtomically(t.net, fs::path(o.outDir) / "weights.pt");
    nlohmann::json j{
        {"kind", "chunked mixing autoencoder (Hu et al. 2018)"},
        {"classifier", M.name},
        {"classes", 10},
        {"image", {{"channels", 1}, {"side", kSide}, {"range", "[0,1]"}}},
        {"layout", {{"chunks", o.layout.chunks}, {"dims", o.layout.dims}}},
        {"architecture",
         "Enc: conv3x3(1,32) conv4x4s2(32,64) conv4x4s2(64,64) LeakyReLU(0.2), linear(3136,code); "
         "Dec: linear(code,3136) ReLU, deconv4x4s2(64,64) deconv4x4s2(64,32) ReLU, conv3x3(32,1), sigmoid; "
         "head: linear(chunk dims,10) on chunk 0; critics (not saved): discriminator and chunk classifier, "
         "conv4x4s2(in,32) conv4x4s2(32,64) LeakyReLU(0.2), linear"},
        {"class_chunk", m.classChunk},
        {"chunk_threshold", threshold},
        {"analogy_strength", strength},
        {"bases", basesJson(bases)},
        {"metrics", nlohmann::json::parse(metricsJson(m))},
        {"training",
         {{"command", o.command},
          {"seed", o.seed},
          {"epochs", o.epochs},
          {"batch", o.batch},
          {"ranks", group ? group->size() : 1},
          {"lr", o.learningRate},
          {"loss",
           "per-image sum of squared pixel errors of Dec(Enc(x1)) and of the unmixed reconstruction, + lambda_gan * "
           "non-saturating GAN loss on the mixed image + lambda_chunk * chunk-classifier BCE + lambda_class * class CE on chunk 0 of "
           "Enc(x1) and Enc(x3); masks Bernoulli(0.5) per chunk; x2 = the batch rolled by one"},
          {"lambda_gan", o.lambdaGan},
          {"lambda_chunk", o.lambdaChunk},
          {"lambda_class", o.lambdaClass},
          {"train_images", train.count},
          {"first_loss", m.firstLoss},
          {"last_epoch_loss", m.lastLoss},
          {"seconds", std::round(trainSeconds)}}}};
    if (!initTraining.is_null() && !initTraining.empty()) j["training"]["initialised_from"] = initTraining;
    writeTextAtomically(fs::path(o.outDir) / "manifest.json", jsonText(j));
    return m;
}

void updateMixerManifest(Mixer& mixer, const MixerMetrics& m, const std::string& command) {
    auto& I = mixer.impl();
    if (I.directory.empty()) throw Error("this mixer was not loaded from a folder");
    auto j = nlohmann::json::parse(I.manifest);
    j["metrics"] = nlohmann::json::parse(metricsJson(m));
    j["chunk_threshold"] = m.chunkThreshold;
    j["analogy_strength"] = m.analogyStrength;
    j["metrics_command"] = command;
    writeTextAtomically(fs::path(I.directory) / "manifest.json", jsonText(j));
    I.manifest = j.dump(2);
    I.threshold = m.chunkThreshold;
    I.strength = m.analogyStrength;
}

std::pair<float, float> mixerLossAfterSteps(const TrainMixerOptions& o, int steps) {
    auto train = loadFashionMnist(true, o.batch * 4);
    auto x = datasetPixels(train);
    auto y = labelsOf(train);
    torch::manual_seed(o.seed);
    Trainer t(o, 10);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    float first = 0, last = 0;
    for (int s = 0; s < steps; ++s) {
        const int64_t b = s % 4;
        const float l = t.step(x.slice(0, b * o.batch, (b + 1) * o.batch), y.slice(0, b * o.batch, (b + 1) * o.batch), gen);
        if (s == 0) first = l;
        last = l;
    }
    return {first, last};
}

}  // namespace preimage
