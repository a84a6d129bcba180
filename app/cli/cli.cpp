#include "app/cli/cli.h"

#include "inference/data/convert.h"
#include "inference/runtime/distributed.h"
#include "inference/data/npy.h"
#include "inference/runtime/threads.h"
#include "app/cli/report.h"
#include "render/image.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include <iomanip>
#include <iostream>
#include <sstream>

namespace preimage::app {

const std::set<std::string> kModelOptions = {"model", "size", "mean", "std", "device", "threads"};
const std::set<std::string> kInversionOptions = {"iters",  "restarts", "seed",    "lr",     "momentum", "tv",
                                                 "lambda-alpha", "alpha", "beta", "jitter", "window",   "channels", "optimizer",
                                                 "start"};

std::set<std::string> unite(std::initializer_list<std::set<std::string>> sets) {
    std::set<std::string> out;
    for (const auto& s : sets) out.insert(s.begin(), s.end());
    return out;
}

std::string commandLine(const std::vector<std::string>& argv) {
    std::string s = "preimage";
    for (size_t i = 1; i < argv.size(); ++i) s += " " + argv[i];
    return s;
}

ModelOptions modelOptions(const Args& a) {
    ModelOptions o;
    o.size = a.integer("size", 0);
    if (a.has("size") && (o.size < 8 || o.size > 4096)) throw Error("--size must be between 8 and 4096");
    o.gray = a.has("gray");
    o.mean = a.numbers("mean");
    o.std = a.numbers("std");
    o.device = a.str("device", "auto");
    return o;
}

std::vector<int> layerList(const Model& model, const std::string& which) {
    std::vector<int> layers;
    if (which == "all") {
        for (size_t i = 0; i < model.layers().size(); ++i) layers.push_back(int(i));
        return layers;
    }
    size_t start = 0;
    while (start <= which.size()) {
        const size_t comma = which.find(',', start);
        const std::string name = which.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!name.empty()) layers.push_back(model.layerIndex(name));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (layers.empty()) throw Error("--layers names no layer");
    return layers;
}

InversionParams inversionParams(const Args& a) {
    InversionParams p;
    p.iterations = a.integer("iters", p.iterations);
    p.restarts = a.integer("restarts", p.restarts);
    const int seed = a.integer("seed", 0);
    if (seed < 0) throw Error("--seed must be non-negative");
    p.seed = uint64_t(seed);
    p.learningRate = a.number("lr", p.learningRate);
    p.momentum = a.number("momentum", p.momentum);
    p.lambdaTv = a.number("tv", p.lambdaTv);
    if (a.has("tv") && p.lambdaTv < 0) throw Error("--tv must be non-negative");
    p.lambdaAlpha = a.number("lambda-alpha", p.lambdaAlpha);
    p.alpha = a.number("alpha", p.alpha);
    p.beta = a.number("beta", p.beta);
    p.jitter = a.integer("jitter", p.jitter);
    p.optimizer = a.str("optimizer", p.optimizer);
    // --start noise: the paper's start where the model has a learned inverter (InversionParams::learnedStart); learned:
    // the default. A file is a warm start: `invert` only (cmdInvert).
    const std::string start = a.str("start", "");
    if (start == "noise") p.learnedStart = false;
    else if (!start.empty() && start != "learned" && a.command() != "invert")
        throw Error("--start takes noise or learned here, not '" + start + "' (a warm start from a file: preimage invert --start FILE)");
    if (a.has("window")) {
        auto w = a.integers("window");
        if (w.size() != 4 || w[2] <= 0 || w[3] <= 0) throw Error("--window expects x,y,w,h with w, h > 0");
        p.mask.x = w[0], p.mask.y = w[1], p.mask.w = w[2], p.mask.h = w[3];
    }
    if (a.has("channels")) {
        const std::string c = a.str("channels");
        auto dash = c.find('-');
        try {
            p.mask.firstChannel = std::stoi(c.substr(0, dash));
            p.mask.lastChannel = dash == std::string::npos ? p.mask.firstChannel : std::stoi(c.substr(dash + 1));
        } catch (const std::exception&) {
            throw Error("--channels expects FIRST-LAST (or one channel), got '" + c + "'");
        }
    }
    return p;
}

int cmdLayers(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, kModelOptions, {"gray"}, "layers");
    const auto start = std::chrono::steady_clock::now();
    auto model = Model::load(a.required("model"), modelOptions(a));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto& in = model->input();
    out << "# " << model->name() << ": input " << in.channels << "x" << in.height << "x" << in.width << ", "
        << model->layers().size() << " layers in execution order (listed in " << std::fixed << std::setprecision(2)
        << seconds << " s)\n";
    out.unsetf(std::ios::floatfield);
    out << std::setprecision(6);  // lambda_tv 100, not 1e+02
    size_t nameWidth = 22, kindWidth = 20;
    for (const auto& l : model->layers()) {
        nameWidth = std::max(nameWidth, l.name.size() + 2);
        kindWidth = std::max(kindWidth, l.kind.size() + 2);
    }
    out << std::left << std::setw(5) << "#" << std::setw(int(nameWidth)) << "layer" << std::setw(int(kindWidth)) << "kind"
        << std::setw(18) << "shape"
        << "lambda_tv\n";
    for (size_t i = 0; i < model->layers().size(); ++i) {
        const auto& l = model->layers()[i];
        std::string shape;
        for (size_t d = 0; d < l.shape.size(); ++d) shape += (d ? "x" : "") + std::to_string(l.shape[d]);
        out << std::left << std::setw(5) << i << std::setw(int(nameWidth)) << l.name << std::setw(int(kindWidth)) << l.kind
            << std::setw(18) << shape << model->defaultLambdaTv(int(i)) << "\n";
    }
    return 0;
}

int cmdFeatures(const std::vector<std::string>& argv, size_t first, std::ostream& out) {
    Args a(argv, first, unite({kModelOptions, {"image", "layer", "out"}}), {"gray"}, "features");
    checkOutputs(a, {{"out", ".npy"}});
    const std::string path = a.required("out");
    const std::string imagePath = a.required("image");
    auto model = Model::load(a.required("model"), modelOptions(a));
    const int layer = model->layerIndex(a.required("layer"));
    const ImageF prepared = model->prepare(loadImageF(imagePath));
    std::vector<int64_t> shape;
    auto values = model->features(prepared, layer, shape);
    writeNpy(path, shape, values);
    std::string dims;
    for (size_t d = 0; d < shape.size(); ++d) dims += (d ? "x" : "") + std::to_string(shape[d]);
    out << "layer " << model->layers()[size_t(layer)].name << ": " << dims << " float32 written to " << path << "\n";
    return 0;
}

namespace {

const char* kUsage = R"(preimage: understand deep image representations by inverting them

usage: preimage [gui] [--model M] [--image I]        the desktop app (default)
       preimage layers --model M                     list the layers (every module's output) with shapes
       preimage features --model M --image I --layer L --out F.npy   the layer's output (float32, [1,...])
       preimage invert --model M --image I --layer L [--restarts R] [--iters N] [--seed S]
                       [--out pre.png] [--json metrics.json] [--scale K] [--start S.png|learned|noise]   (--start:
                       a warm start, e.g. a neighbouring tap's pre-image, instead of noise; the Sobolev optimiser then
                       steps at 3x --lr, not 10x; learned: the layer's learned inverter's pre-image, brightness
                       fitted, the default where the model has one; noise: the paper's start)
       preimage sweep  --model M --image I [--layers all|L1,L2,...] --out grid.png [--csv errors.csv] [--json J]
                       [--warm]   (a tap after one inverted from noise starts from its pre-image)
       preimage sweep  --model M --data DIR|fashion-mnist[:train|:test] --csv stats.csv [--json J] [--plot P.png]
                       [--grid G.png] [--layers ...] [--limit N] [--batch B] [--fresh]   per-layer table, resumable
       preimage train classifier --data fashion-mnist --out DIR [--epochs E] [--seed S]
       preimage eval classifier --model M [--limit N]
       preimage bench [--model M] [--layer L] [--iters N] [--restarts R] [--json J]
       preimage bench --quality [--model M] [--image I] [--layers L1,L2|all] [--optimizers sobolev]
                       [--json J]   evaluations and seconds to the paper protocol's objective, per tap
       preimage train inverter --model fashion --layer L|all [--epochs E] [--seed S]
       preimage eval inverter --model fashion                per-layer pixel RMSE of the learned inverters
       preimage train inverter --model M --data D --layer L|all [--epochs E] [--batch 64] [--out DIR] [--resume]
                       [--feature-weight W]             any network, streamed data, checkpointed every epoch
       preimage eval inverter --model M --inverters DIR --data D [--json J]
       preimage dream --unit U [--param generator|pixels|fourier|maco] --out u.png [--json J] [--judge FILE.pt]
                       [--transparency T.png] [--accentuate IMAGE [--lambda L] [--difference D.png]]
                       [--transforms standard|maco|none[,]pad=12,jitter=8,scale=0.95-1.05,rotate=5,jitter2=4,crops=4,
                       crop=0.5-0.9,noise=0.05,blur=1] [--objective contrast|score] [--iters N] [--lr R] [--seed S]
                       [--side S] [--generator relu4|none] [--weight-noise 0.2] [--feature-prior 15]
                       preferred input of a unit: a class (index, name or part of one), LAYER:CHANNEL, LAYER:C@X,Y,
                       LAYER:dir=v0,v1,...|FILE.npy (a direction); through the learned generator where the model has
                       one (the default model), else a decorrelated Fourier image with transformation robustness;
                       --accentuate: start from an image and stay near it; --judge: a second classifier's rank;
                       --weight-noise S: the weights times 1 + N(0, S^2) each step (fourier: 0.2; 0: the network as is)
                       --feature-prior W [--prior-layers L1,L2]: keep early layers' channel statistics near photographs'
                       (fourier on 3-channel networks of 64 px or more: 15; 0: none)
       preimage atlas --model M --layer L|--classes A,B,... --out atlas.png [--json J] [--batch 8] [--limit N]
                       [--compare K] [--judge FILE.pt] + dream's options   every unit of a tap (or the classes) at once
       preimage train hypernet --model fashion --layer relu4  /  eval hypernet --layer relu4
       preimage train mixer --model fashion [--chunks 8 --dims 8] [--epochs E] [--seed S]
                       or --data DIR [--baseline ae] [--decoder deconv|broadcast] [--resume] [--stop-after E]
       preimage eval mixer --model fashion [--json out.json]  chunk autoencoder: RMSE, per-chunk mAP, swap accuracy
                       [--split test|train] [--limit N] [--threshold T] [--strength S] [--update-manifest]
                       [--data DIR [--baseline DIR]]  with a factors.csv: the chunk x factor mAP table, MIG, DCI
       preimage analogy --a A --b B --c C --out fig.png [--mode vector|chunks] [--strength S]  a : b :: c : d figure
       preimage traverse --image I --out grid.png [--values -3,...,3]   rows = chunks, columns = slider values
       preimage data shapes --out DIR [--n 10000] [--size 64] [--seed 0]   sprites with known factors (shape, colour,
                       scale, rotation, x, y, background): ImageFolder by shape + factors.csv, deterministic

models:    a default model name (fashion, shapes, squeezenet) or a TorchScript file (torch.jit.script / torch.jit.trace); its
           layers are the outputs of its modules by path (layer3.1, features.denseblock2, blocks.0#2, m[0])
           TorchScript input: preimage.json in the file, else --size S (224) --gray --mean a,b,c --std a,b,c
           --device cpu|cuda|auto, --threads N (default: chosen by measuring; N fixes it, runs repeat bitwise)
inversion: --optimizer sobolev (the default: smoothed gradients, 130 iterations) | paper (the authors' protocol,
           400 iterations) --iters N --restarts 1 --seed 0 --lr 0.004 --momentum 0.9 --tv (by depth: 1/10/100)
           --lambda-alpha 1e-5 --alpha 6 --beta 2 --jitter 0
           --window x,y,w,h (feature-map neighbourhood) --channels FIRST-LAST (channel group)
           --start learned|noise (sobolev, one restart, no mask: from the layer's learned inverter's pre-image where
           the model has one, the default; noise: the paper's start)
)";

// `preimage CMD --help`: the usage lines of the command, then every option it takes.
std::string commandHelp(const std::string& command, const std::vector<std::string>& options) {
    std::string text = "usage:\n";
    std::stringstream ss(kUsage);
    bool inCommand = false;
    for (std::string line; std::getline(ss, line);) {
        const bool starts = line.find("preimage " + command) != std::string::npos;
        const bool continuation = line.rfind("                 ", 0) == 0;
        if (starts || (inCommand && continuation)) text += line + "\n";
        inCommand = starts || (inCommand && continuation);
    }
    text += "options:";
    for (const auto& o : options) text += " " + o;
    text += "\n";
    std::stringstream tail(kUsage);
    bool notes = false;
    for (std::string line; std::getline(tail, line);) {
        if (line.rfind("models:", 0) == 0) notes = true;
        if (notes) text += line + "\n";
    }
    return text;
}

}  // namespace

int runCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

namespace {
dist::Group* g_job = nullptr;

// Whether the command scales out over a distributed job.
bool scalesOut(const std::vector<std::string>& argv) {
    if (argv.size() < 2) return false;
    if (argv[1] == "train") return argv.size() > 2 && (argv[2] == "inverter" || argv[2] == "classifier" || argv[2] == "mixer");
    if (argv[1] == "sweep") return std::find(argv.begin(), argv.end(), "--data") != argv.end();
    return false;
}
}  // namespace

dist::Group* job() { return g_job; }

bool leadRank() { return !g_job || g_job->rank() == 0; }

void checkGlobalBatch(int batch) {
    if (g_job && batch < g_job->size())
        throw Error("--batch " + std::to_string(batch) + " is the global batch: at least one image per rank (" +
                    std::to_string(g_job->size()) + ")");
}

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    std::unique_ptr<dist::Group> group;
    struct Clear {
        ~Clear() { g_job = nullptr; }
    } clear;
    // A failure on one rank of a job stops the others at once, naming it (and this process exits here).
    auto failed = [&](const std::string& message, int code) {
        if (group) group->abort(message, code);
        err << "preimage: " << message << "\n";
        return code;
    };
    try {
        if (argv.size() < 2 || argv[1] == "help" || argv[1] == "--help" || argv[1] == "-h") {
            out << kUsage;
            return 0;
        }
        // --threads is read here for every command (both --threads N and --threads=N).
        int threadCount = 0;
        for (size_t i = 2; i < argv.size(); ++i) {
            std::string value;
            if (argv[i] == "--threads" && i + 1 < argv.size()) value = argv[i + 1];
            else if (argv[i].rfind("--threads=", 0) == 0) value = argv[i].substr(10);
            else continue;
            char* end = nullptr;
            const long n = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || n < 1 || n > 256)
                throw Error("--threads must be a whole number between 1 and 256, got '" + value + "'");
            threadCount = int(n);
        }
        // The policy is the command's: restored when it returns (an in-process caller keeps its own).
        struct RestorePolicy {
            int policy = threadPolicy();
            ~RestorePolicy() { setThreads(policy); }
        } restorePolicy;
        setThreads(threadCount);

        // A distributed job named by the environment: joined by the commands that scale out.
        if (auto launch = dist::launchFromEnvironment()) {
            if (!scalesOut(argv))
                throw Error("'" + argv[1] + "' runs on one process, and the environment names a distributed job of " +
                            std::to_string(launch->size) + " ranks (" + launch->launcher +
                            "): of the commands, `sweep --data` and `train inverter|classifier|mixer` scale out");
            group = dist::Group::join(*launch, dist::timeoutFromEnvironment());
            g_job = group.get();
            // Ranks sharing a machine share its cores: one thread per core each, unless --threads says.
            const int perRank = std::max(1, usableCores() / std::max(1, launch->localSize));
            if (threadCount == 0 && launch->localSize > 1) setThreads(perRank);
            if (group->rank() == 0)
                out << "joined a distributed job of " << group->size() << " ranks (" << launch->launcher << ", "
                    << launch->localSize << " on this machine), " << threads() << " thread(s) per rank" << std::endl;
            const int code = runCommand(argv, out, err);
            if (code != 0)
                return failed(code > 128 ? "stopped by signal " + std::to_string(code - 128) + " (the same command resumes)"
                                         : "ended with exit code " + std::to_string(code),
                              code);
            group->finish();
            return code;
        }
        return runCommand(argv, out, err);
    } catch (const HelpRequest& h) {
        out << commandHelp(h.command, h.options);
        return 0;
    } catch (const Error& e) {
        return failed(e.what(), e.exitCode());
    } catch (const render::IoError& e) {
        return failed(e.what(), 2);
    } catch (const std::exception& e) {
        std::string what = e.what();
        if (std::getenv("PREIMAGE_DEBUG")) err << what << "\n";
        return failed("internal error: " + what.substr(0, what.find('\n')), 1);
    }
}

// The command itself (argv[1]), on one process or one rank of a job.
int runCommand(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    const std::string& cmd = argv[1];
    if (cmd == "layers") return cmdLayers(argv, 2, out);
    if (cmd == "features") return cmdFeatures(argv, 2, out);
    if (cmd == "invert") return cmdInvert(argv, 2, out);
    if (cmd == "sweep") return cmdSweep(argv, 2, out);
    if (cmd == "train") return cmdTrain(argv, 2, out);
    if (cmd == "eval") return cmdEval(argv, 2, out);
    if (cmd == "dream") return cmdDream(argv, 2, out);
    if (cmd == "atlas") return cmdAtlas(argv, 2, out);
    if (cmd == "samples") return cmdSamples(argv, 2, out);
    if (cmd == "bench") return cmdBench(argv, 2, out);
    if (cmd == "analogy") return cmdAnalogy(argv, 2, out);
    if (cmd == "traverse") return cmdTraverse(argv, 2, out);
    if (cmd == "data") return cmdData(argv, 2, out);
    const std::string guess = closest(cmd, {"layers", "features", "invert", "sweep", "train", "eval", "dream", "atlas", "samples",
                                             "bench", "analogy", "traverse", "data", "gui", "help"});
    err << "preimage: unknown command '" << cmd << "'" << (guess.empty() ? "" : "; did you mean '" + guess + "'?")
        << " (see `preimage help`)\n";
    return 2;
}

}  // namespace preimage::app
