// Training the mixer (and its baseline, the plain autoencoder): the objective, the loop, checkpoints and resume.
#include "inference/latent/mixer.h"
#include "inference/json_text.h"

#include "inference/latent/mixer_net.h"
#include "inference/learned/training_util.h"

#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace preimage {

namespace {

// One optimisation step of the whole objective; owns the nets and both optimisers.
struct Trainer {
    Trainer(const TrainMixerOptions& o, int classes, const MixerImage& image)
        : o(o), net(o.layout, o.lambdaClass > 0 && !o.baseline ? classes : 0, image, o.decoder == "broadcast"), critics(o.layout.chunks, image),
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

    // The baseline: reconstruction alone (per-image sum of squared pixel errors), the same data-parallel scheme.
    float baselineStep(const torch::Tensor& x1g, dist::Group* group) {
        const auto [first, last] = rankSlice(x1g.size(0), group);
        auto x1 = x1g.slice(0, first, last);
        auto loss = (net->decode(net->encode(x1)) - x1).pow(2).sum() / double(x1g.size(0));
        optim.zero_grad();
        loss.backward();
        std::vector<float> total{loss.item<float>()};
        allReduceGradients(net->parameters(), group, total);
        optim.step();
        return total[0];
    }

    // x1 [B,C,S,S] in [0,1], y1 [B] labels: the global batch. x2 is x1 rolled by one: every image is mixed
    // with another. In a distributed job (`group`) every rank draws the same masks and takes its slice of the
    // batch; each loss is its slice's sum over the global count, so that the gradients added by one all-reduce
    // per optimiser are the ones one process computes.
    float step(const torch::Tensor& x1g, const torch::Tensor& y1g, at::Generator& gen, dist::Group* group = nullptr) {
        if (o.baseline) return baselineStep(x1g, group);
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
        if (o.lambdaClass > 0 && !net->head.is_empty()) {
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


// A float option as a double that survives a JSON round trip unchanged (the checkpoint's identity).
double rounded(float v) { return std::round(double(v) * 1e6) / 1e6; }

nlohmann::json basesJson(const std::vector<ChunkBasis>& bases) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& b : bases) j.push_back({{"mean", b.mean}, {"directions", b.directions}, {"sigma", b.sigma}});
    return j;
}

// The checkpoint after an epoch: weights, critics, both optimisers and the random state, each file replaced
// atomically, then the state file that names the epoch (a reader that finds it finds the rest complete).
struct Checkpoint {
    explicit Checkpoint(const std::string& dir)
        : net(fs::path(dir) / "checkpoint.net.pt"), critics(fs::path(dir) / "checkpoint.critics.pt"),
          optim(fs::path(dir) / "checkpoint.optim.pt"), optimD(fs::path(dir) / "checkpoint.optimD.pt"),
          random(fs::path(dir) / "checkpoint.random.pt"), state(fs::path(dir) / "checkpoint.json") {}

    void save(Trainer& t, at::Generator& gen, const nlohmann::json& st) const {
        saveAtomically(t.net, net);
        saveAtomically(t.critics, critics);
        saveAtomically(t.optim, optim);
        saveAtomically(t.optimD, optimD);
        {
            torch::serialize::OutputArchive a;
            a.write("generator", gen.get_state());
            saveAtomically(a, random);
        }
        writeTextAtomically(state, jsonText(st));
    }
    nlohmann::json load(Trainer& t, at::Generator& gen) const {
        std::ifstream in(state);
        auto st = nlohmann::json::parse(in);
        torch::load(t.net, net.string());
        torch::load(t.critics, critics.string());
        torch::load(t.optim, optim.string());
        torch::load(t.optimD, optimD.string());
        torch::serialize::InputArchive a;
        a.load_from(random.string());
        torch::Tensor g;
        a.read("generator", g);
        gen.set_state(g);
        return st;
    }
    void remove() const {
        for (const auto& p : {net, critics, optim, optimD, random, state}) fs::remove(p);
    }
    fs::path net, critics, optim, optimD, random, state;
};

}  // namespace

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



MixerMetrics trainMixer(const Dataset& train, const Dataset& test, Model* classifier, const TrainMixerOptions& o,
                        const TrainProgressFn& progress, dist::Group* group) {
    const MixerImage image{train.channels, train.width};
    if (train.width != train.height || train.width < 16 || train.width > 128 || train.width % 4 != 0 ||
        (train.channels != 1 && train.channels != 3))
        throw Error("the mixer models square images of 1 or 3 channels whose side is a multiple of 4 in [16, 128]; got " +
                    std::to_string(train.channels) + "x" + std::to_string(train.height) + "x" + std::to_string(train.width));
    if (test.channels != train.channels || test.width != train.width || test.height != train.height)
        throw Error("the mixer's test images differ in size from its training images");
    if (o.layout.chunks < 2 || o.layout.dims < 1 || o.layout.size() > 1024) throw Error("--chunks must be >= 2 and --dims >= 1");
    if (test.count < kMinMixerEvalImages)
        throw Error("the evaluation after training needs at least " + std::to_string(kMinMixerEvalImages) + " test images, got " +
                    std::to_string(test.count));
    if (o.evalPairs < 1) throw Error("--pairs must be 1 or more, got " + std::to_string(o.evalPairs));
    if (classifier && (classifier->input().channels != train.channels || classifier->input().width != train.width))
        throw Error("the classifier '" + classifier->name() + "' takes other images than the mixer's");
    ensureDirectory(o.outDir);
    auto x = datasetPixels(train);
    auto y = datasetLabels(train);
    const auto start = std::chrono::steady_clock::now();
    torch::manual_seed(o.seed);
    Trainer t(o, train.classes, image);
    nlohmann::json initTraining;
    if (!o.initDir.empty()) {
        auto init = Mixer::loadDirectory(o.initDir);
        const auto& L = init->layout();
        if (L.chunks != o.layout.chunks || L.dims != o.layout.dims || init->imageSide() != image.side ||
            init->imageChannels() != image.channels || init->impl().broadcast != (o.decoder == "broadcast"))
            throw Error("--init: the mixer in '" + o.initDir + "' has another chunk layout, image size or decoder");
        torch::NoGradGuard g;
        auto src = init->impl().net->named_parameters();
        for (auto& p : t.net->named_parameters())
            if (src.contains(p.key())) p.value().copy_(src[p.key()]);
        initTraining = nlohmann::json::parse(init->manifestJson()).value("training", nlohmann::json::object());
        initTraining["directory"] = o.initDir;
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    const int steps = int(x.size(0) / o.batch);
    if (steps < 1) throw Error("fewer training images than one batch");
    // What a checkpoint must agree on to be continued.
    const nlohmann::json identity{{"chunks", o.layout.chunks}, {"dims", o.layout.dims}, {"baseline", o.baseline},
                                  {"seed", o.seed},           {"batch", o.batch},      {"epochs", o.epochs},
                                  {"train_images", train.count}, {"side", image.side}, {"channels", image.channels}, {"decoder", o.decoder},
                                  {"lambda_gan", rounded(o.lambdaGan)}, {"lambda_chunk", rounded(o.lambdaChunk)},
                                  {"lambda_class", rounded(o.lambdaClass)}, {"lr", rounded(o.learningRate)}};
    const Checkpoint ckpt(o.outDir);
    MixerMetrics r;
    int firstEpoch = 1, step = 0;
    double earlierSeconds = 0;
    const bool haveCheckpoint = o.resume && fs::exists(ckpt.state);
    if (group && o.resume) {
        double seen = haveCheckpoint ? 1.0 : 0.0;
        group->allReduceSum(&seen, 1);
        if (seen > 0 && seen < group->size())
            throw Error("--resume: the checkpoint " + ckpt.state.string() + " is not visible to every rank (resuming needs --out on a folder all ranks share)");
    }
    if (haveCheckpoint) {
        nlohmann::json st;
        try {
            st = ckpt.load(t, gen);
        } catch (const std::exception& e) {
            throw Error("--resume: the checkpoint in '" + o.outDir + "' cannot be read (" + std::string(e.what()).substr(0, 200) +
                        "); start without --resume");
        }
        if (st.value("identity", nlohmann::json()) != identity)
            throw Error("--resume: the checkpoint in '" + o.outDir + "' is of another run (" + st.value("identity", nlohmann::json()).dump() +
                        "); start without --resume or with the same options");
        firstEpoch = st.at("epoch").get<int>() + 1;
        step = st.at("step").get<int>();
        r.firstLoss = st.at("first_loss").get<float>();
        r.lastLoss = st.value("last_loss", 0.f);
        earlierSeconds = st.value("seconds", 0.0);
    } else if (o.resume) {
        throw Error("--resume: no checkpoint in '" + o.outDir + "' (train without --resume first)");
    }
    {
        auto all = t.collect();
        for (auto& p : t.critics->disc->parameters()) all.push_back(p);
        broadcastParameters(all, group);
    }
    const bool writer = !group || group->rank() == 0;
    for (int epoch = firstEpoch; epoch <= o.epochs; ++epoch) {
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
        if (writer) {
            const double secs = earlierSeconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            ckpt.save(t, gen, {{"epoch", epoch}, {"step", step}, {"first_loss", r.firstLoss}, {"last_loss", r.lastLoss},
                               {"seconds", secs}, {"identity", identity}});
        }
        if (o.stopAfter > 0 && epoch >= o.stopAfter && epoch < o.epochs) {
            r.stoppedAt = epoch;
            return r;
        }
    }
    // Principal directions from (up to) 10,000 training codes, then the evaluation on the test set: rank 0's.
    t.net->eval();
    if (!writer) return r;
    auto trainCodes = encodeAll(t.net, x.slice(0, 0, std::min<int64_t>(10000, x.size(0))));
    const auto bases = chunkBases(trainCodes, o.layout);
    const float threshold = 1.f, strength = 1.f;  // the analogy rules' natural values; `eval mixer` can re-choose them
    const double trainSeconds = earlierSeconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto m = evaluateMixerNet(classifier ? &classifier->impl() : nullptr, t.net, o.layout, threshold, strength, test,
                              o.evalPairs, o.seed);
    m.firstLoss = r.firstLoss;
    m.lastLoss = r.lastLoss;
    m.seconds = trainSeconds;
    saveAtomically(t.net, fs::path(o.outDir) / "weights.pt");
    const bool classHead = !t.net->head.is_empty();
    const std::string side = std::to_string(image.side), bottom = std::to_string(image.bottom());
    nlohmann::json j{
        {"kind", o.baseline ? "plain autoencoder (the mixer's baseline: its encoder and decoder, reconstruction loss only)"
                            : "chunked mixing autoencoder (Hu et al. 2018)"},
        {"baseline", o.baseline},
        {"classifier", classifier ? classifier->name() : ""},
        {"classes", classHead ? train.classes : 0},
        {"class_names", train.classNames},
        {"image", {{"channels", image.channels}, {"side", image.side}, {"range", "[0,1]"}}},
        {"layout", {{"chunks", o.layout.chunks}, {"dims", o.layout.dims}}},
        {"decoder", o.decoder},
        {"architecture",
         "Enc: conv3x3(C,32), " + std::to_string(image.downsamples()) + " x conv4x4s2 to 64 channels at " + bottom + "x" + bottom +
             ", LeakyReLU(0.2), linear(code); Dec: " +
             (o.decoder == "broadcast"
                  ? "the code tiled over " + side + "x" + side + " with x and y planes in [-1,1], 3 x conv3x3 ReLU (32 channels), conv3x3(32,C), sigmoid"
                  : "linear(code) ReLU, " + std::to_string(image.downsamples()) + " x deconv4x4s2 ReLU to 32 channels at " + side + "x" +
                        side + ", conv3x3(32,C), sigmoid") +
             (classHead ? "; head: linear(chunk dims, classes) on chunk 0" : "") +
             (o.baseline ? "" : "; critics (not saved): discriminator and chunk classifier, conv4x4s2 LeakyReLU(0.2) trunks, linear")},
        {"class_chunk", m.classChunk},
        {"chunk_threshold", threshold},
        {"analogy_strength", strength},
        {"bases", basesJson(bases)},
        {"metrics", nlohmann::json::parse(metricsJson(m))},
        {"training",
         {{"command", o.command},
          {"data", o.data},
          {"seed", o.seed},
          {"epochs", o.epochs},
          {"batch", o.batch},
          {"ranks", group ? group->size() : 1},
          {"lr", o.learningRate},
          {"loss", o.baseline ? "per-image sum of squared pixel errors of Dec(Enc(x))"
                              : "per-image sum of squared pixel errors of Dec(Enc(x1)) and of the unmixed reconstruction, + lambda_gan * "
                                "non-saturating GAN loss on the mixed image + lambda_chunk * chunk-classifier BCE + lambda_class * class "
                                "CE on chunk 0 of Enc(x1) and Enc(x3); masks Bernoulli(0.5) per chunk; x2 = the batch rolled by one"},
          {"lambda_gan", o.baseline ? 0.f : o.lambdaGan},
          {"lambda_chunk", o.baseline ? 0.f : o.lambdaChunk},
          {"lambda_class", classHead ? o.lambdaClass : 0.f},
          {"train_images", train.count},
          {"test_images", test.count},
          {"first_loss", m.firstLoss},
          {"last_epoch_loss", m.lastLoss},
          {"threads", at::get_num_threads()},
          {"seconds", std::round(trainSeconds)}}}};
    if (!initTraining.is_null() && !initTraining.empty()) j["training"]["initialised_from"] = initTraining;
    writeTextAtomically(fs::path(o.outDir) / "manifest.json", jsonText(j));
    ckpt.remove();  // the run is complete: its weights and manifest are the result
    return m;
}

std::pair<float, float> mixerLossAfterSteps(const TrainMixerOptions& o, int steps) {
    auto train = loadFashionMnist(true, o.batch * 4);
    auto x = datasetPixels(train);
    auto y = datasetLabels(train);
    torch::manual_seed(o.seed);
    Trainer t(o, 10, MixerImage{});
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
