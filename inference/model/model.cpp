// Loading models and walking them layer by layer.
#include "inference/model/model_impl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn.h>
#include <torch/serialize.h>


#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// TorchScript errors start with "The following operation failed in the TorchScript interpreter" and
// a traceback; the cause is the last "...Error: " line.
std::string causeLine(const std::string& what) {
    std::stringstream ss(what);
    std::string line, cause;
    while (std::getline(ss, line))
        if (auto p = line.find("Error: "); p != std::string::npos && p < 40) cause = line.substr(p + 7);
    return firstLine(cause.empty() ? what : cause);
}

// The input spec a TorchScript archive may carry as the extra file preimage.json:
// {"size": 224 | "width"/"height", "channels": 3, "mean": [...], "std": [...], "classes": [...], "image_norm": s}.
void applyInputSpec(Model::Impl& impl, const std::string& text) {
    const std::string where = "model '" + impl.name + "': its preimage.json ";
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + "is not valid JSON: " + firstLine(e.what()));
    }
    if (!j.is_object()) throw Error(where + "must be a JSON object");
    // Other keys are the file's own notes; but an object that holds the spec's keys is a spec one level too deep
    // ({"input": {"width": 227, ...}}), which would otherwise be ignored in silence.
    static const char* const kKeys[] = {"size", "width", "height", "channels", "mean", "std", "classes", "image_norm"};
    for (const auto& [key, value] : j.items())
        if (value.is_object())
            for (const char* k : kKeys)
                if (value.contains(k))
                    throw Error(where + "holds the input spec under \"" + key + "\"; its keys (" + k +
                                ", ...) go at the top level: {\"width\": 227, \"height\": 227, \"mean\": [...], ...}");
    try {
        auto& in = impl.input;
        if (j.contains("size")) in.width = in.height = j.at("size").get<int>();
        in.width = j.value("width", in.width);
        in.height = j.value("height", in.height);
        in.channels = j.value("channels", in.channels);
        if (j.contains("mean")) in.mean = j.at("mean").get<std::vector<float>>();
        if (j.contains("std")) in.std = j.at("std").get<std::vector<float>>();
        in.imageNorm = j.value("image_norm", in.imageNorm);
        if (j.contains("classes")) impl.classNames = j.at("classes").get<std::vector<std::string>>();
        if (in.width < 1 || in.height < 1 || in.width > 8192 || in.height > 8192)
            throw Error(where + "gives an input size outside 1-8192");
        if (in.channels != 1 && in.channels != 3) throw Error(where + "gives " + std::to_string(in.channels) +
                                                              " channels; Preimage handles 1 or 3");
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + "has a field of the wrong type: " + firstLine(e.what()));
    }
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
    if (taps) return taps->forwardTo(x, layerTap.at(size_t(layerIndex)));
    int last = layerStage.at(size_t(layerIndex));
    torch::Tensor y = x;
    for (int i = 0; i <= last; ++i) y = stages[size_t(i)].forward(y);
    return y;
}

torch::Tensor Model::Impl::forwardAll(const torch::Tensor& x) const {
    if (taps) return taps->forward(x);
    torch::Tensor y = x;
    for (const auto& s : stages) y = s.forward(y);
    return y;
}

torch::Tensor Model::Impl::forwardCollect(const torch::Tensor& x, const std::vector<int>& layerIndices,
                                          std::vector<torch::Tensor>& values) const {
    values.clear();
    if (taps) {
        std::vector<torch::Tensor> all;
        auto out = taps->forward(x, &all);
        for (int l : layerIndices) values.push_back(all.at(size_t(layerTap.at(size_t(l)))));
        return out;
    }
    std::vector<torch::Tensor> byStage;
    torch::Tensor y = x;
    for (const auto& stage : stages) byStage.push_back(y = stage.forward(y));
    for (int l : layerIndices) values.push_back(byStage.at(size_t(layerStage.at(size_t(l)))));
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

torch::Tensor Model::Impl::toRgba8(const torch::Tensor& x) const {
    torch::NoGradGuard noGrad;
    auto mean = torch::tensor(input.mean).view({-1, 1, 1}).to(x.device());
    auto std = torch::tensor(input.std).view({-1, 1, 1}).to(x.device());
    auto rgb = (x.detach() * std + mean).clamp(0, 1).mul(255.f).round().to(torch::kUInt8);  // [C,H,W]
    if (rgb.size(0) == 1) rgb = rgb.expand({3, rgb.size(1), rgb.size(2)});
    else if (rgb.size(0) != 3) rgb = rgb.slice(0, 0, 1).expand({3, rgb.size(1), rgb.size(2)});  // many channels: the first, grey
    auto alpha = torch::full({1, rgb.size(1), rgb.size(2)}, 255, rgb.options());
    return torch::cat({rgb, alpha}).permute({1, 2, 0}).contiguous();  // [H,W,4]
}

void Model::Impl::describeLayers() {
    torch::InferenceMode guard;
    layers.clear();
    layerStage.clear();
    layerTap.clear();
    // A local generator: loading a model never moves the global one (which other jobs draw from).
    auto generator = at::detail::createCPUGenerator(0);
    auto x = at::randn({1, input.channels, input.height, input.width}, generator).to(device);
    auto rejects = [&](const std::exception& e) {
        return Error("model '" + name + "' rejects a " + std::to_string(input.channels) + "x" + std::to_string(input.height) +
                     "x" + std::to_string(input.width) + " input (set --size/--gray, or the input in preimage.json): " +
                     causeLine(e.what()));
    };
    auto shapeOf = [](const torch::Tensor& t) {
        std::vector<int64_t> shape;
        for (int d = 1; d < t.dim(); ++d) shape.push_back(t.size(d));
        return shape;
    };
    torch::Tensor out;
    if (taps) {
        std::vector<torch::Tensor> values;
        try {
            out = taps->forward(x, &values);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw rejects(e);
        }
        const auto& all = taps->taps();
        for (size_t i = 0; i < all.size(); ++i) {
            const auto& t = all[i];
            if (!t.problem.empty() || values[i].dim() < 1 || values[i].size(0) != 1) continue;
            layers.push_back({t.name, t.kind, shapeOf(values[i]), t.weightDepth, t.module, t.parent});
            layerTap.push_back(int(i));
        }
        totalWeightLayers = taps->totalWeightLayers();
    } else {
        int depth = 0;
        out = x;
        for (size_t i = 0; i < stages.size(); ++i) {
            const auto& s = stages[i];
            try {
                out = s.forward(out);
            } catch (const std::exception& e) {
                throw rejects(e);
            }
            if (isWeightKind(s.kind)) ++depth;
            if (!s.listed) continue;
            layers.push_back({s.name, s.kind, shapeOf(out), depth, s.name, ""});
            layerStage.push_back(int(i));
        }
        totalWeightLayers = depth;
    }
    if (layers.empty()) throw Error("model '" + name + "' has no layers to invert");
    outputShape = shapeOf(out);
    if (!torch::isfinite(out).all().item<bool>())
        throw Error("model '" + name + "' gives a non-finite output (NaN or infinity) on a random input: its weights "
                    "are probably broken");
}

// ---- Model ----------------------------------------------------------------------------------------

Model::Model(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Model::~Model() = default;

const std::string& Model::name() const { return m_impl->name; }
const InputSpec& Model::input() const { return m_impl->input; }
const std::vector<LayerInfo>& Model::layers() const { return m_impl->layers; }
const std::vector<int64_t>& Model::outputShape() const { return m_impl->outputShape; }

int Model::classCount() const {
    // Class scores whatever the head's shape: [K], [K,1,1] (a global pool), [1,K]: one dimension above 1.
    int64_t k = 1, big = 0;
    for (int64_t d : m_impl->outputShape) {
        k *= d;
        big += d > 1;
    }
    return big == 1 && k >= 2 ? int(k) : 0;
}
const std::string& Model::manifestJson() const { return m_impl->manifestText; }
const std::vector<std::string>& Model::classNames() const { return m_impl->classNames; }
std::string Model::deviceName() const { return m_impl->device.str(); }

int Model::layerIndex(const std::string& layer) const {
    const auto& ls = m_impl->layers;
    for (size_t i = 0; i < ls.size(); ++i)
        if (ls[i].name == layer) return int(i);
    if (m_impl->taps) {
        const int t = m_impl->taps->find(layer);  // throws naming what to choose
        const auto& tap = m_impl->taps->taps()[size_t(t)];
        throw Error("model '" + m_impl->name + "': " +
                    (tap.problem.empty() ? "layer '" + layer + "' has no batch dimension to invert" : tap.problem));
    }
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
    // A default model may be a TorchScript file in its folder (the manifest's "torchscript": the converted
    // ImageNet SqueezeNet): it loads as any TorchScript file does, under the default model's name, with its
    // learned inverters in the folder's inverters/.
    std::string scriptPath = nameOrPath, defaultScriptDir;
    if (isDefault) {
        std::string text = readText(manifest);
        nlohmann::json m = nlohmann::json::parse(text, nullptr, false);
        if (m.is_object() && m.contains("torchscript") && m["torchscript"].is_string()) {
            isDefault = false;
            defaultScriptDir = manifest.parent_path().string();
            scriptPath = (manifest.parent_path() / m["torchscript"].get<std::string>()).string();
            impl->manifestText = std::move(text);
            if (!fs::exists(scriptPath))
                throw Error("default model '" + nameOrPath + "' has no TorchScript file at '" + scriptPath + "'");
        }
    }

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
        if (!fs::exists(scriptPath)) {
            throw Error("model '" + nameOrPath + "' not found: it is neither a default model (in " + assetsDir() +
                        "/models) nor an existing file");
        }
        if (fs::is_directory(scriptPath)) throw Error("model '" + nameOrPath + "' is a directory, not a TorchScript file");
        impl->name = defaultScriptDir.empty() ? fs::path(scriptPath).filename().string() : nameOrPath;
        torch::jit::ExtraFilesMap extra{{"preimage.json", ""}};
        try {
            impl->script = torch::jit::load(scriptPath, impl->device, extra);
        } catch (const std::exception& e) {
            throw Error("'" + scriptPath + "' is not a TorchScript file (save it with torch.jit.script or torch.jit.trace): " +
                        firstLine(e.what()));
        }
        if (!extra["preimage.json"].empty()) applyInputSpec(*impl, extra["preimage.json"]);
        if (options.gray) {
            impl->input.channels = 1;
            impl->input.mean = {0.5f};
            impl->input.std = {0.25f};
        }
        impl->script.eval();
        for (auto p : impl->script.parameters()) p.set_requires_grad(false);
        impl->taps = std::make_unique<GraphTaps>(impl->script, impl->name);
    }
    if (isDefault && ((options.size > 0 && (options.size != impl->input.width || options.size != impl->input.height)) ||
                      (options.gray && impl->input.channels != 1)))
        throw Error("the default model '" + nameOrPath + "' takes " + std::to_string(impl->input.channels) + "x" +
                    std::to_string(impl->input.height) + "x" + std::to_string(impl->input.width) +
                    " input; --size and --gray apply to TorchScript files (images are resized to the model's input)");
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

    impl->inverterDirectory = !options.inverters.empty() ? options.inverters
                              : isDefault ? (fs::path(impl->directory) / "inverters").string()
                              : !defaultScriptDir.empty() ? (fs::path(defaultScriptDir) / "inverters").string()
                                          : (fs::path(scriptPath).parent_path() / (fs::path(scriptPath).stem().string() + ".inverters")).string();
    impl->describeLayers();
    return std::shared_ptr<Model>(new Model(std::move(impl)));
}

ImageF Model::prepare(const ImageF& image) const { return prepareImage(image, m_impl->input); }

ImageF prepareImage(const ImageF& image, const InputSpec& in) {
    if (image.empty() || image.width <= 0 || image.height <= 0) throw Error("empty image");
    if (image.channels != 1 && image.channels != 3) throw Error("images must have 1 or 3 channels");
    torch::InferenceMode guard;
    // A view of the pixels, [C,H,W], no copy: a 64 Mpx photograph is 768 MB of floats already.
    auto hwc = torch::from_blob(const_cast<float*>(image.pixels.data()), {image.height, image.width, image.channels},
                                torch::kFloat);
    auto t = hwc.permute({2, 0, 1});
    if (in.channels == 1 && t.size(0) == 3) {
        t = hwc.matmul(torch::tensor({0.299f, 0.587f, 0.114f})).unsqueeze(0);  // no 3-channel temporary
    } else if (in.channels == 3 && t.size(0) == 1) {
        t = t.expand({3, t.size(1), t.size(2)});
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

std::vector<float> Model::features(const ImageF& prepared, int layerIndex, std::vector<int64_t>& shape) {
    torch::InferenceMode guard;
    auto f = m_impl->forwardTo(m_impl->toInput({prepared}), layerIndex).to(torch::kCPU, torch::kFloat).contiguous();
    shape.assign(f.sizes().begin(), f.sizes().end());
    return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
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
        } else if (type == "resize") {
            add(torch::nn::Upsample(torch::nn::UpsampleOptions()
                                        .size(std::vector<int64_t>{int64_t(l.at("height")), int64_t(l.at("width"))})
                                        .mode(torch::kBilinear)
                                        .align_corners(false)));
        } else if (type == "tokens_to_map") {  // [N, T, D] -> [N, D, s, s], dropping the first `drop` tokens
            const int64_t drop = l.at("drop"), side = l.at("side");
            add(torch::nn::Functional([drop, side](const torch::Tensor& x) {
                return x.slice(1, drop).transpose(1, 2).reshape({x.size(0), x.size(2), side, side});
            }));
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

nlohmann::json defaultClassifierArchitecture() { return classifierArchitecture(1, 28, 10); }

nlohmann::json classifierArchitecture(int channels, int side, int classes) {
    using nlohmann::json;
    return json::array({
        {{"name", "conv1"}, {"type", "conv"}, {"in", channels}, {"out", 32}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu1"}, {"type", "relu"}},
        {{"name", "pool1"}, {"type", "maxpool"}, {"kernel", 2}},
        {{"name", "conv2"}, {"type", "conv"}, {"in", 32}, {"out", 64}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu2"}, {"type", "relu"}},
        {{"name", "pool2"}, {"type", "maxpool"}, {"kernel", 2}},
        {{"name", "conv3"}, {"type", "conv"}, {"in", 64}, {"out", 64}, {"kernel", 3}, {"pad", 1}},
        {{"name", "relu3"}, {"type", "relu"}},
        {{"name", "flatten"}, {"type", "flatten"}},
        {{"name", "fc4"}, {"type", "linear"}, {"in", 64 * (side / 4) * (side / 4)}, {"out", 256}},
        {{"name", "relu4"}, {"type", "relu"}},
        {{"name", "drop4"}, {"type", "dropout"}, {"p", 0.3}},
        {{"name", "fc5"}, {"type", "linear"}, {"in", 256}, {"out", classes}},
    });
}

const std::string& Model::directory() const { return m_impl->directory; }

const std::string& Model::inverterDirectory() const { return m_impl->inverterDirectory; }

void Model::setInverterDirectory(const std::string& directory) {
    m_impl->inverterDirectory = directory;
    m_impl->decoders.clear();
}

}  // namespace preimage
