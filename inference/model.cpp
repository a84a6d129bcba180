// Loading models and walking them layer by layer.
#include "model_impl.h"

#include <torch/cuda.h>
#include <torch/nn.h>
#include <torch/serialize.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace preimage {
namespace {

std::string firstLine(const std::string& s) {
    auto end = s.find('\n');
    std::string line = s.substr(0, end);
    return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

std::string readText(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read '" + path.string() + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool isWeightKind(const std::string& kind) {
    return kind.rfind("Conv", 0) == 0 || kind == "Linear";
}

bool isUnlistedKind(const std::string& kind) {
    return kind.rfind("Dropout", 0) == 0 || kind == "Identity" || kind == "Flatten";
}

std::string typeName(const torch::jit::Module& m) {
    auto qn = m.type()->name();
    return qn ? qn->name() : std::string("?");
}

// The leaf modules of a TorchScript module in registration order, as stages. A flatten is inserted
// before the first Linear, as torchvision's forward() does with torch.flatten(x, 1).
std::vector<Stage> walkScript(const torch::jit::Module& root) {
    std::vector<Stage> stages;
    bool flattened = false;
    for (const auto& item : root.named_modules()) {
        if (item.name.empty()) continue;
        if (item.value.children().size() != 0) continue;
        std::string kind = typeName(item.value);
        if (kind == "Linear" && !flattened) {
            stages.push_back({"flatten@" + item.name, "Flatten",
                              [](const torch::Tensor& x) { return x.dim() > 2 ? x.flatten(1) : x; }, false});
        }
        if (kind == "Linear" || kind == "Flatten") flattened = true;
        torch::jit::Module m = item.value;
        stages.push_back({item.name, kind,
                          [m](const torch::Tensor& x) mutable { return m.forward({x}).toTensor(); },
                          !isUnlistedKind(kind)});
    }
    return stages;
}

// TorchScript errors start with "The following operation failed in the TorchScript interpreter" and
// a traceback; the cause is the last "...Error: " line.
std::string causeLine(const std::string& what) {
    std::stringstream ss(what);
    std::string line, cause;
    while (std::getline(ss, line))
        if (auto p = line.find("Error: "); p != std::string::npos && p < 40) cause = line.substr(p + 7);
    return firstLine(cause.empty() ? what : cause);
}

fs::path exeDir() {
    std::error_code ec;
    auto p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : p.parent_path();
}

}  // namespace

std::string assetsDir() {
    if (const char* env = std::getenv("PREIMAGE_ASSETS"); env && *env) return env;
    std::vector<fs::path> candidates;
    auto dir = exeDir();
    if (!dir.empty()) {
        candidates.push_back(dir / "../../assets");  // build/bin/preimage -> repo/assets
        candidates.push_back(dir / "../share/preimage/assets");
    }
#ifdef PREIMAGE_SOURCE_ASSETS
    candidates.push_back(PREIMAGE_SOURCE_ASSETS);
#endif
    for (const auto& c : candidates)
        if (fs::exists(c / "models")) return fs::weakly_canonical(c).string();
    return candidates.empty() ? std::string("assets") : candidates.back().string();
}

void setThreads(int n) {
    if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
}

int threads() { return at::get_num_threads(); }

torch::Device resolveDevice(const std::string& device) {
    if (device == "cpu") return torch::kCPU;
    bool cuda = torch::cuda::is_available();
    if (device == "cuda") {
        if (!cuda) throw Error("--device cuda: no CUDA device is available (this build or machine is CPU-only)");
        return torch::kCUDA;
    }
    if (device == "auto" || device.empty()) return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    throw Error("unknown device '" + device + "' (expected cpu, cuda or auto)");
}

ImageF tensorToImage(const torch::Tensor& chw01) {
    auto t = chw01.detach().to(torch::kCPU, torch::kFloat).clamp(0, 1).permute({1, 2, 0}).contiguous();
    ImageF out;
    out.height = int(t.size(0));
    out.width = int(t.size(1));
    out.channels = int(t.size(2));
    out.pixels.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    return out;
}

torch::Tensor imageToTensor(const ImageF& image) {
    if (image.empty()) throw Error("empty image");
    return torch::from_blob(const_cast<float*>(image.pixels.data()), {image.height, image.width, image.channels},
                            torch::kFloat)
        .permute({2, 0, 1})
        .clone();
}

// ---- Model::Impl ----------------------------------------------------------------------------------

torch::Tensor Model::Impl::forwardTo(const torch::Tensor& x, int layerIndex) const {
    int last = layerStage.at(size_t(layerIndex));
    torch::Tensor y = x;
    for (int i = 0; i <= last; ++i) y = stages[size_t(i)].forward(y);
    return y;
}

torch::Tensor Model::Impl::forwardAll(const torch::Tensor& x) const {
    torch::Tensor y = x;
    for (const auto& s : stages) y = s.forward(y);
    return y;
}

torch::Tensor Model::Impl::toInput(const std::vector<ImageF>& prepared) const {
    std::vector<torch::Tensor> items;
    for (const auto& im : prepared) {
        if (im.width != input.width || im.height != input.height || im.channels != input.channels)
            throw Error("internal: image not prepared for the model's input");
        items.push_back(imageToTensor(im));
    }
    auto x = torch::stack(items).to(device);
    auto mean = torch::tensor(input.mean).view({1, -1, 1, 1}).to(device);
    auto std = torch::tensor(input.std).view({1, -1, 1, 1}).to(device);
    return (x - mean) / std;
}

ImageF Model::Impl::fromInput(const torch::Tensor& x) const {
    auto mean = torch::tensor(input.mean).view({-1, 1, 1}).to(x.device());
    auto std = torch::tensor(input.std).view({-1, 1, 1}).to(x.device());
    return tensorToImage(x * std + mean);
}

void Model::Impl::describeLayers() {
    torch::InferenceMode guard;
    layers.clear();
    layerStage.clear();
    auto x = torch::zeros({1, input.channels, input.height, input.width}, torch::TensorOptions().device(device));
    int depth = 0;
    for (size_t i = 0; i < stages.size(); ++i) {
        const auto& s = stages[i];
        try {
            x = s.forward(x);
        } catch (const std::exception& e) {
            throw Error("model '" + name + "' cannot be walked layer by layer: module '" + s.name + "' (" + s.kind +
                        ") fails on its predecessor's output: " + causeLine(e.what()));
        }
        if (isWeightKind(s.kind)) ++depth;
        if (!s.listed) continue;
        LayerInfo info{s.name, s.kind, {}, depth};
        for (int d = 1; d < x.dim(); ++d) info.shape.push_back(x.size(d));
        layers.push_back(info);
        layerStage.push_back(int(i));
    }
    totalWeightLayers = depth;
    if (layers.empty()) throw Error("model '" + name + "' has no layers to invert");
}

// ---- Model ----------------------------------------------------------------------------------------

Model::Model(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Model::~Model() = default;

const std::string& Model::name() const { return m_impl->name; }
const InputSpec& Model::input() const { return m_impl->input; }
const std::vector<LayerInfo>& Model::layers() const { return m_impl->layers; }
const std::string& Model::manifestJson() const { return m_impl->manifestText; }
const std::vector<std::string>& Model::classNames() const { return m_impl->classNames; }
std::string Model::deviceName() const { return m_impl->device.str(); }

int Model::layerIndex(const std::string& layer) const {
    const auto& ls = m_impl->layers;
    for (size_t i = 0; i < ls.size(); ++i)
        if (ls[i].name == layer) return int(i);
    std::string valid;
    for (size_t i = 0; i < ls.size() && i < 8; ++i) valid += (i ? ", " : "") + ls[i].name;
    if (ls.size() > 8) valid += ", ... (" + std::to_string(ls.size()) + " in all; see `preimage layers`)";
    throw Error("model '" + m_impl->name + "' has no layer '" + layer + "'; layers are: " + valid);
}

float Model::defaultLambdaTv(int layerIndex) const {
    // The paper sets lambda_tv = 1 for conv1..relu2, 10 for pool2..relu4, 100 for conv5..fc8 on AlexNet
    // (8 weight layers). Generalised by relative depth: d = weight layers so far (+0.5 past a pooling
    // layer); d/W < 0.3 -> 1, < 0.6 -> 10, else 100. On AlexNet this gives exactly the paper's split.
    const auto& l = m_impl->layers.at(size_t(layerIndex));
    float d = float(l.weightDepth) + (l.kind.find("Pool") != std::string::npos ? 0.5f : 0.f);
    float f = d / float(std::max(1, m_impl->totalWeightLayers));
    return f < 0.3f ? 1.f : (f < 0.6f ? 10.f : 100.f);
}

std::shared_ptr<Model> Model::load(const std::string& nameOrPath, const ModelOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->device = resolveDevice(options.device);
    fs::path manifest = fs::path(assetsDir()) / "models" / nameOrPath / "manifest.json";
    bool isDefault = nameOrPath.find('/') == std::string::npos && fs::exists(manifest);

    if (isDefault) {
        impl->name = nameOrPath;
        impl->directory = manifest.parent_path().string();
        impl->manifestText = readText(manifest);
        nlohmann::json m;
        try {
            m = nlohmann::json::parse(impl->manifestText);
            const auto& in = m.at("input");
            impl->input.width = in.at("width");
            impl->input.height = in.at("height");
            impl->input.channels = in.at("channels");
            impl->input.mean = in.at("mean").get<std::vector<float>>();
            impl->input.std = in.at("std").get<std::vector<float>>();
            impl->input.imageNorm = in.value("image_norm", 0.f);
            impl->classNames = m.value("classes", std::vector<std::string>{});
            impl->native = buildSequential(m.at("architecture"));
        } catch (const nlohmann::json::exception& e) {
            throw Error("manifest '" + manifest.string() + "' is malformed: " + e.what());
        }
        fs::path weights = manifest.parent_path() / m.value("weights", std::string("weights.pt"));
        if (!fs::exists(weights))
            throw Error("default model '" + nameOrPath + "' has no weights at '" + weights.string() +
                        "': train it with `preimage train classifier`");
        try {
            torch::load(impl->native, weights.string());
        } catch (const c10::Error& e) {
            throw Error("cannot load weights '" + weights.string() + "': " + firstLine(e.what_without_backtrace()));
        }
        impl->native->eval();
        impl->native->to(impl->device);
        for (auto& p : impl->native->parameters()) p.set_requires_grad(false);
        auto named = impl->native->named_children();
        for (size_t i = 0; i < impl->native->size(); ++i) {
            auto* any = &*(impl->native->begin() + long(i));
            std::string kind = named[i].value()->name();
            // C++ module names are e.g. "torch::nn::Conv2dImpl": keep the Python-style class name.
            if (auto p = kind.rfind("::"); p != std::string::npos) kind = kind.substr(p + 2);
            if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "Impl") == 0) kind.resize(kind.size() - 4);
            impl->stages.push_back({named[i].key(), kind, [any](const torch::Tensor& x) { return any->forward(x); },
                                    !isUnlistedKind(kind)});
        }
    } else {
        if (!fs::exists(nameOrPath)) {
            throw Error("model '" + nameOrPath + "' not found: it is neither a default model (in " + assetsDir() +
                        "/models) nor an existing file");
        }
        if (fs::is_directory(nameOrPath)) throw Error("model '" + nameOrPath + "' is a directory, not a TorchScript file");
        impl->name = fs::path(nameOrPath).filename().string();
        try {
            impl->script = torch::jit::load(nameOrPath, impl->device);
        } catch (const std::exception& e) {
            throw Error("'" + nameOrPath + "' is not a TorchScript file (save it with torch.jit.script or torch.jit.trace): " +
                        firstLine(e.what()));
        }
        impl->script.eval();
        for (auto p : impl->script.parameters()) p.set_requires_grad(false);
        impl->stages = walkScript(impl->script);
        if (impl->stages.empty())
            throw Error("model '" + nameOrPath + "' cannot be walked layer by layer: it has no submodules");
        if (options.gray) {
            impl->input.channels = 1;
            impl->input.mean = {0.5f};
            impl->input.std = {0.25f};
        }
    }
    if (options.size > 0) impl->input.width = impl->input.height = options.size;
    if (!options.mean.empty()) impl->input.mean = options.mean;
    if (!options.std.empty()) impl->input.std = options.std;
    for (auto* v : {&impl->input.mean, &impl->input.std}) {
        if (v->size() == 1) v->resize(size_t(impl->input.channels), v->front());
        if (int(v->size()) != impl->input.channels)
            throw Error("--mean/--std need 1 or " + std::to_string(impl->input.channels) + " values");
    }
    for (float s : impl->input.std)
        if (!(s > 0)) throw Error("--std values must be positive");

    impl->describeLayers();
    if (!isDefault) {
        // The chain of leaf modules must reproduce forward(): otherwise the network has skip
        // connections or functional ops between modules, and per-layer pre-images would be wrong.
        torch::InferenceMode guard;
        torch::manual_seed(0);
        auto x = torch::randn({1, impl->input.channels, impl->input.height, impl->input.width},
                              torch::TensorOptions().device(impl->device));
        torch::Tensor full;
        try {
            auto out = impl->script.forward({x});
            if (!out.isTensor()) throw Error("forward() does not return a single tensor");
            full = out.toTensor();
        } catch (const Error& e) {
            throw Error("model '" + nameOrPath + "' cannot be walked: " + e.what());
        } catch (const std::exception& e) {
            throw Error("model '" + nameOrPath + "' rejects a " + std::to_string(impl->input.channels) + "x" +
                        std::to_string(impl->input.height) + "x" + std::to_string(impl->input.width) +
                        " input (set --size/--gray): " + causeLine(e.what()));
        }
        auto chained = impl->forwardAll(x);
        bool same = chained.sizes() == full.sizes() &&
                    (chained - full).abs().max().item<float>() <= 1e-4f * (1.f + full.abs().max().item<float>());
        if (!same)
            throw Error("model '" + nameOrPath +
                        "' cannot be walked layer by layer: its forward() is not the sequence of its leaf modules "
                        "(skip connections or functional ops between modules)");
    }
    return std::shared_ptr<Model>(new Model(std::move(impl)));
}

ImageF Model::prepare(const ImageF& image) const {
    if (image.empty() || image.width <= 0 || image.height <= 0) throw Error("empty image");
    if (image.channels != 1 && image.channels != 3) throw Error("images must have 1 or 3 channels");
    torch::InferenceMode guard;
    auto t = imageToTensor(image);  // [C,H,W]
    const auto& in = m_impl->input;
    if (in.channels == 1 && t.size(0) == 3) {
        auto w = torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1});
        t = (t * w).sum(0, true);
    } else if (in.channels == 3 && t.size(0) == 1) {
        t = t.expand({3, t.size(1), t.size(2)}).contiguous();
    }
    // Resize the shorter side to the input size, then centre-crop (torchvision's Resize + CenterCrop).
    int64_t h = t.size(1), w = t.size(2);
    if (h != in.height || w != in.width) {
        double scale = std::max(double(in.height) / double(h), double(in.width) / double(w));
        int64_t nh = std::max<int64_t>(in.height, std::llround(double(h) * scale));
        int64_t nw = std::max<int64_t>(in.width, std::llround(double(w) * scale));
        namespace F = torch::nn::functional;
        t = F::interpolate(t.unsqueeze(0), F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{nh, nw})
                                               .mode(torch::kBilinear)
                                               .align_corners(false)
                                               .antialias(scale < 1.0))
                .squeeze(0);
        int64_t y0 = (nh - in.height) / 2, x0 = (nw - in.width) / 2;
        t = t.slice(1, y0, y0 + in.height).slice(2, x0, x0 + in.width);
    }
    return tensorToImage(t);
}

std::vector<std::vector<float>> Model::logits(const std::vector<ImageF>& prepared) {
    torch::InferenceMode guard;
    auto out = m_impl->forwardAll(m_impl->toInput(prepared)).to(torch::kCPU).contiguous();
    std::vector<std::vector<float>> rows;
    for (int64_t i = 0; i < out.size(0); ++i) {
        auto r = out[i].flatten();
        rows.emplace_back(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
    }
    return rows;
}

// ---- Architecture specs -----------------------------------------------------------------------------

torch::nn::Sequential buildSequential(const nlohmann::json& architecture) {
    torch::nn::Sequential seq;
    for (const auto& l : architecture) {
        std::string type = l.at("type"), name = l.at("name");
        auto add = [&](auto module) { seq->push_back(name, torch::nn::AnyModule(module)); };
        if (type == "conv") {
            add(torch::nn::Conv2d(torch::nn::Conv2dOptions(l.at("in"), l.at("out"), int64_t(l.at("kernel")))
                                                       .padding(int64_t(l.value("pad", 0)))));
        } else if (type == "relu") {
            add(torch::nn::ReLU());
        } else if (type == "maxpool") {
            add(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(int64_t(l.at("kernel")))));
        } else if (type == "flatten") {
            add(torch::nn::Flatten());
        } else if (type == "linear") {
            add(torch::nn::Linear(int64_t(l.at("in")), int64_t(l.at("out"))));
        } else if (type == "upsample") {
            add(torch::nn::Upsample(torch::nn::UpsampleOptions()
                                        .scale_factor(std::vector<double>{double(l.at("scale")), double(l.at("scale"))})
                                        .mode(torch::kNearest)));
        } else if (type == "unflatten") {
            add(torch::nn::Unflatten(torch::nn::UnflattenOptions(1, l.at("shape").get<std::vector<int64_t>>())));
        } else if (type == "sigmoid") {
            add(torch::nn::Sigmoid());
        } else if (type == "dropout") {
            add(torch::nn::Dropout(double(l.value("p", 0.5))));
        } else {
            throw Error("unknown layer type '" + type + "' in architecture");
        }
    }
    return seq;
}

nlohmann::json defaultClassifierArchitecture() {
    using nlohmann::json;
    return json::array({
        {{"name", "conv1"}, {"type", "conv"}, {"in", 1}, {"out", 32}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu1"}, {"type", "relu"}},
        {{"name", "pool1"}, {"type", "maxpool"}, {"kernel", 2}},
        {{"name", "conv2"}, {"type", "conv"}, {"in", 32}, {"out", 64}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu2"}, {"type", "relu"}},
        {{"name", "pool2"}, {"type", "maxpool"}, {"kernel", 2}},
        {{"name", "conv3"}, {"type", "conv"}, {"in", 64}, {"out", 64}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu3"}, {"type", "relu"}},
        {{"name", "flatten"}, {"type", "flatten"}},
        {{"name", "fc4"}, {"type", "linear"}, {"in", 64 * 7 * 7}, {"out", 256}},
        {{"name", "relu4"}, {"type", "relu"}},
        {{"name", "drop4"}, {"type", "dropout"}, {"p", 0.3}},
        {{"name", "fc5"}, {"type", "linear"}, {"in", 256}, {"out", 10}},
    });
}

}  // namespace preimage
