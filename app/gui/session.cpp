// Session: actions, the Worker plumbing and the file thread's jobs. No GL, no ImGui.
#include "app/gui/session.h"

#include "app/cli/report.h"
#include "inference/inversion/params.h"
#include "inference/data/convert.h"
#include "inference/json_text.h"
#include "render/grid.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

// The status line of a finished inversion.
std::string resultStatus(const InversionResult& r) {
    return r.layer + ": objective " + fmt("%.4f", r.objective.total) + ", feature error " + fmt("%.4f", r.featureError) + " (" +
           r.optimizer + (r.start == "noise" ? "" : " from " + r.start) + ", " + std::to_string(r.evaluations) +
           " evaluations, " + fmt("%.1f s", r.seconds) + ")";
}

}  // namespace

void SessionUpdate::merge(const SessionUpdate& o) {
    model |= o.model, image |= o.image, target |= o.target, previews |= o.previews, variance |= o.variance;
    learned |= o.learned, grid |= o.grid, dream |= o.dream, atlas |= o.atlas, samples |= o.samples;
    thumbnails.insert(thumbnails.end(), o.thumbnails.begin(), o.thumbnails.end());
}

Session::Session(Settings s, const std::string& modelOverride, const std::string& imageOverride, const std::string& inv)
    : settings(std::move(s)),
      // The automatic thread policy (inference/runtime/threads.h), leaving one core to the UI thread: its loops
      // measure, so they also move to fewer threads when another process keeps cores busy.
      worker(std::make_unique<Worker>(-1)),
      inverters(inv),
      m_files([this](const std::string& message) { setError(message); }) {
    const fs::path assets(assetsDir());
    std::error_code ec;
    sampleCatalogue = loadSamples((assets / "samples").string());
    for (const auto& e : fs::directory_iterator(assets / "models", ec))
        if (fs::exists(e.path() / "manifest.json")) defaultModels.push_back(e.path().filename().string());
    std::sort(defaultModels.begin(), defaultModels.end());

    wantLayer = settings.layer;
    openModel(modelOverride.empty() ? settings.model : modelOverride);
    const std::string path = imageOverride.empty() ? settings.image : imageOverride;
    if (path.empty() || !fs::exists(path))
        openDefaultSample = true;  // the sample that fits the model, once it has loaded (a photograph or a garment)
    else
        openImage(path);
}

Session::~Session() {
    worker.reset();
    saveSettings();  // m_files finishes it before its thread ends
}

void Session::setError(const std::string& message) {
    error = message;
    errorLog.push_back(message);
    std::fprintf(stderr, "preimage: %s\n", message.c_str());
}

void Session::saveSettings() {
    m_files.post([s = settings]() -> FileThread::Continuation {
        s.save();
        return {};
    });
}

std::string Session::layerName(int i) const {
    return model && i >= 0 && i < int(model->layers.size()) ? model->layers[size_t(i)].name : std::string();
}

int Session::layerIndex(const std::string& name) const {
    if (!model) return -1;
    for (size_t i = 0; i < model->layers.size(); ++i)
        if (model->layers[i].name == name) return int(i);
    return -1;
}

void Session::decodeImage(const std::string& path, std::function<void(std::shared_ptr<const ImageF>)> then) {
    m_files.post([path, then = std::move(then)]() -> FileThread::Continuation {
        auto decoded = std::make_shared<const ImageF>(loadImageF(path));  // an Error goes to setError
        return [then, decoded] { then(decoded); };
    });
}

void Session::loadSampleImages() {
    m_files.post([this, paths = samples]() -> FileThread::Continuation {
        std::vector<render::Image> images;
        for (const auto& p : paths) {
            try {
                images.push_back(render::loadImage(p));
            } catch (const std::exception&) {
                images.push_back({});  // a sample that cannot be read has no thumbnail; opening it says why
            }
        }
        return [this, paths, images = std::move(images)] {
            if (paths != samples) return;  // another model's samples meanwhile
            sampleImages = images;
            m_update.samples = true;
        };
    });
}

void Session::openImage(const std::string& path) {
    const uint64_t id = ++m_imageRequest;
    decodeImage(path, [this, id, path](std::shared_ptr<const ImageF> decoded) {  // the current image stays on failure
        if (id != m_imageRequest) return;  // another image was opened meanwhile
        image = decoded;
        imagePath = fs::absolute(path).string();
        m_update.image = true;
        target = {};
        m_update.target = true;
        settings.image = imagePath;
        Settings::remember(settings.recentImages, imagePath);
        saveSettings();
        error.clear();
        resetResults();
        requestInversion();
    });
}

void Session::openModel(const std::string& nameOrPath) {
    // The current model, image and results stay until the new model has loaded: a failed open changes nothing.
    Request r = baseRequest(JobKind::LoadModel);
    r.model = nameOrPath;
    loadingKey = nameOrPath;
    cancelExport("another model was opened");
    jobGeneration = worker->post(std::move(r));
    jobKind = JobKind::LoadModel;
    jobRunning = true;
    status = "loading model " + nameOrPath + "...";
}

void Session::clearMask() {
    auto& s = settings.inversion;
    s.maskX = s.maskY = s.maskW = s.maskH = s.maskFirst = 0;
    s.maskLast = -1;
}

void Session::selectLayer(int index) {
    if (!model || index < 0 || index >= int(model->layers.size()) || index == layer) return;
    if (settings.inversion.maskActive()) {  // a mask is drawn on one tap's grid: it does not carry to another
        clearMask();
        resetResults();  // those were computed with the mask
    }
    previousLayer = layer;
    layer = index;
    settings.layer = layerName(index);
    if (slots[size_t(index)].result && pendingExport.empty()) {
        showCached(index);
        return;
    }
    requestInversion();
}

void Session::showCached(int index) {
    // Already computed with these settings: shown without recomputing.
    jobGeneration = worker->cancel();
    jobRunning = false;
    frame = {};
    const auto& slot = slots[size_t(index)];
    const auto& r = *slot.result;
    frame.result = slot.result;
    frame.previews = r.preimages;
    frame.history = r.history;
    frame.layer = index;
    frame.done = true;
    status = resultStatus(r);  // not the cancelled job's "inverting ..."
    m_update.previews = m_update.variance = true;
    learned = slot.learned;
    learnedLayer = index;
    m_update.learned = true;
    if (slot.features) setFeatures(slot.features, slot.featureShape, index);
}

void Session::setMask(int x, int y, int w, int h, int firstChannel, int lastChannel, bool rerunSame) {
    auto& s = settings.inversion;
    const widgets::InversionSettings before = s;
    s.maskX = std::max(0, x), s.maskY = std::max(0, y), s.maskW = std::max(0, w), s.maskH = std::max(0, h);
    s.maskFirst = std::max(0, firstChannel), s.maskLast = lastChannel < 0 ? -1 : std::max(s.maskFirst, lastChannel);
    if (s == before && !rerunSame) return;
    resetResults();
    requestInversion();
}

void Session::setLearnedKind(int kind) {
    learnedKind = std::clamp(kind, 0, 2);
    rerun();
}

void Session::setFeatures(std::shared_ptr<const std::vector<float>> values, const std::vector<int64_t>& shape, int at) {
    features = std::move(values);
    featureShape = shape;
    featureLayer = at;
    if (at >= 0 && at < int(slots.size())) {
        slots[size_t(at)].features = features;
        slots[size_t(at)].featureShape = shape;
    }
    gridNote.clear();
    if (features->empty()) {
        grid = {};
        gridNote = layerName(at) + " is empty on this image";
    } else {
        try {
            grid = render::featureGrid(features->data(), shape);
        } catch (const std::exception& e) {
            grid = {};
            gridNote = "the channel grid of " + layerName(at) + " cannot be shown: " + e.what();
        }
    }
    m_update.grid = true;
}

void Session::rerun() {
    if (layer >= 0 && layer < int(slots.size())) slots[size_t(layer)].result.reset();
    requestInversion();
}

void Session::stop() {
    jobGeneration = worker->cancel();  // its frame (cancelled) is the last one; older ones are dropped
    jobRunning = false;
    pendingExport.clear();
    status = "stopped";
}

void Session::resetResults() {
    learned.reset();
    learnedLayer = -1;
    m_update.learned = true;
    slots.assign(model ? model->layers.size() : 0, LayerSlot{});
    frame = {};
    m_update.previews = m_update.variance = true;
}

InversionParams Session::params() const { return toParams(settings.inversion); }

Request Session::baseRequest(JobKind kind) const {
    Request r;
    r.kind = kind;
    r.model = modelKey.empty() ? settings.model : modelKey;
    r.modelOptions.size = settings.modelSize;
    r.modelOptions.gray = settings.modelGray;
    r.modelOptions.inverters = inverters;
    r.image = image;
    r.layer = layer;
    r.params = params();
    r.learnedKind = learnedKind;
    r.devicePreviews = devicePreviews;
    if (kind == JobKind::Invert) r.start = warmStartFor(layer);
    return r;
}

bool Session::adjacentTaps(int a, int b) const {
    if (!model || a < 0 || b < 0 || a >= int(model->layers.size()) || b >= int(model->layers.size()) || a == b) return false;
    if (std::abs(a - b) == 1) return true;  // the next or previous layer (Left / Right)
    // Or the next sibling in the module tree (Up / Down): the same parent path, none of its children in between.
    auto parent = [&](int i) {
        const std::string& n = model->layers[size_t(i)].name;
        const size_t dot = n.rfind('.');
        return dot == std::string::npos ? std::string() : n.substr(0, dot);
    };
    if (parent(a) != parent(b)) return false;
    for (int i = std::min(a, b) + 1; i < std::max(a, b); ++i)
        if (parent(i) == parent(a)) return false;
    return true;
}

std::shared_ptr<const WarmStart> Session::warmStartFor(int at) const {
    if (!settings.inversion.warmStart || settings.inversion.paperProtocol) return nullptr;
    for (int from : {previousLayer, at - 1, at + 1}) {
        if (!adjacentTaps(from, at) || from >= int(slots.size())) continue;
        const auto& r = slots[size_t(from)].result;
        if (!r) continue;
        if (auto start = warmStartFrom(*r)) return std::make_shared<const WarmStart>(std::move(*start));
    }
    return nullptr;
}

void Session::requestInversion() {
    if (!model || !image) return;  // runs once both are there
    if (jobRunning && jobKind == JobKind::LoadModel) return;  // after the model being opened has loaded
    Request request = baseRequest(JobKind::Invert);
    status = "inverting " + layerName(layer) + (request.start ? " from " + request.start->from : "") + "...";
    jobGeneration = worker->post(std::move(request));
    frame = {};  // the progress bar and plot start from zero, not from the last job's end
    m_update.previews = true;
    jobKind = JobKind::Invert;
    jobRunning = true;
    cancelExport("the image, layer or settings changed before it finished");
}

int Session::dreamGenerator() const {
    // The default model's learned inverter of a vector layer (relu4 first) generates; user models have none.
    if (!model || model->name != "fashion") return -1;
    if (m_dreamGenerator != -2) return m_dreamGenerator;
    m_dreamGenerator = -1;
    for (size_t i = 0; i < model->learnedInverters.size(); ++i)
        if (model->learnedInverters[i] && model->layers[i].shape.size() == 1 &&
            (m_dreamGenerator < 0 || model->layers[i].name == "relu4"))
            m_dreamGenerator = int(i);
    return m_dreamGenerator;
}

bool Session::idle() const { return !jobRunning && pendingExport.empty() && !worker->busy() && m_files.idle(); }

const InversionResult* Session::currentResult() const {
    if (layer >= 0 && layer < int(slots.size()) && slots[size_t(layer)].result) return slots[size_t(layer)].result.get();
    return nullptr;
}

SessionUpdate Session::poll() {
    m_files.poll();
    if (auto f = worker->take()) {
        if (f->generation != jobGeneration)  // a superseded job's frame
            ++stats.staleFramesDropped;
        else if (!f->cancelled)  // the frame cancel() leaves: the stopped job shows nothing more
            applyFrame(std::move(*f));
    }
    SessionUpdate u = std::move(m_update);
    m_update = {};
    return u;
}

void Session::onModelLoaded() {
    if (jobKind == JobKind::LoadModel && !loadingKey.empty()) modelKey = loadingKey;
    loadingKey.clear();
    settings.model = modelKey;
    if (modelKey.find('/') != std::string::npos) Settings::remember(settings.recentModels, modelKey);
    saveSettings();
    resetResults();
    m_dreamGenerator = -2;
    dreamSettings.param = -1;  // the new model's default parametrisation (its generator prior, where it has one)
    atlas.clear();
    atlasLayer = -1;
    atlasMosaic = {};
    m_update.atlas = true;
    imageTop5.clear();
    features.reset();
    featureLayer = -1;
    grid = {};
    m_update.model = m_update.grid = true;
    int want = layerIndex(wantLayer);
    if (want < 0) want = layerIndex(model->defaultLayer);
    layer = want >= 0 ? want : 0;
    samples = samplesFor(sampleCatalogue, model->input.channels);
    sampleImages.clear();
    loadSampleImages();
    if (openDefaultSample && !samples.empty()) {
        openDefaultSample = false;
        openImage(defaultSampleFor(sampleCatalogue, model->input.channels));
    }
    wantLayer.clear();
    settings.layer = layerName(layer);
}

void Session::applyFrame(Frame f) {
    if (f.model && f.model != model) {
        model = f.model;
        onModelLoaded();
    }
    if (!f.error.empty()) {
        setError(f.error);
        jobRunning = false;
        pendingExport.clear();
        status.clear();
        if (f.kind == JobKind::LoadModel) {  // the current model, image and results stay
            loadingKey.clear();
            if (model) status = "model " + model->name + " on " + model->device + " (the model opened could not be loaded)";
        }
        return;
    }
    if (f.kind == JobKind::Dream || f.kind == JobKind::Atlas) {
        applyDreamFrame(f);
        return;
    }
    if (f.kind == JobKind::LoadModel) {
        jobRunning = false;
        loadingKey.clear();
        status = "model " + model->name + " on " + model->device;
        requestInversion();
        return;
    }
    if (f.learned && learnedGeneration != f.generation) {
        learned = f.learned;
        learnedLayer = f.layer;
        learnedGeneration = f.generation;
        m_update.learned = true;
        if (f.layer >= 0 && f.layer < int(slots.size())) slots[size_t(f.layer)].learned = f.learned;
    }
    if (f.kind == JobKind::Invert) {
        if (f.features && f.features != features && f.layer >= 0) setFeatures(f.features, f.featureShape, f.layer);
        if (!f.featuresError.empty() && f.layer >= 0) {
            grid = {};
            gridNote = "the channel grid of " + layerName(f.layer) + " cannot be shown: " + f.featuresError;
            featureLayer = f.layer;
            m_update.grid = true;
        }
        if (!f.imageTop5.empty()) imageTop5 = f.imageTop5;
        if (f.result && f.layer >= 0 && f.layer < int(slots.size())) slots[size_t(f.layer)].preimageTop5 = f.preimageTop5;
    }
    if (!f.target.empty() && target.empty()) {
        target = f.target;
        m_update.target = true;
    }
    for (const auto& r : f.sweep) {  // finished layers of a sweep (and of an inversion)
        auto& slot = slots.at(size_t(r->layerIndex));
        if (slot.result == r) continue;
        slot.result = r;
        m_update.thumbnails.push_back(r->layerIndex);
    }
    if (f.kind == JobKind::Invert || f.layer == layer) {
        const double sinceStart = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if ((!f.previews.empty() || !f.devicePreviews.empty()) && stats.firstPreviewSeconds < 0) stats.firstPreviewSeconds = sinceStart;
        if (f.result && stats.firstResultSeconds < 0) {
            stats.firstResultSeconds = sinceStart;
            stats.firstOptimizer = f.result->optimizer;
            stats.firstObjective = f.result->objective.total;
            for (const auto& h : f.result->history)
                if (double(h.loss) <= 1.1 * f.result->objective.total) {
                    stats.firstWithin10PercentSeconds = h.seconds;
                    break;
                }
        }
        m_update.previews = true;
        if (f.result) m_update.variance = true;
        const bool done = f.done;
        frame = std::move(f);
        frame.done = done;
    } else {
        frame.sweepDone = f.sweepDone;
        frame.sweepTotal = f.sweepTotal;
        frame.done = f.done;
    }
    if (frame.done) {
        jobRunning = false;
        if (const auto* r = currentResult()) status = resultStatus(*r);
        if (!pendingExport.empty()) finishExport();
    }
}

// Exports.

void Session::cancelExport(const std::string& why) {
    if (pendingExport.empty()) return;  // an export is never dropped without a word
    setError("the export to " + pendingExport + " was cancelled: " + why);
    pendingExport.clear();
}

void Session::writeExport(std::function<render::Image()> makeImage, const std::string& pngPath, std::string json) {
    status = "exporting " + pngPath + "...";
    m_files.post([this, makeImage = std::move(makeImage), pngPath, json = std::move(json)]() -> FileThread::Continuation {
        render::savePng(makeImage(), pngPath);
        if (!json.empty()) render::writeFileAtomically(fs::path(pngPath).replace_extension(".json").string(), json);
        return [this, pngPath, withJson = !json.empty()] { status = "exported " + pngPath + (withJson ? " (+ .json)" : ""); };
    });
}

void Session::writeScreenshot(render::Image image, const std::string& pngPath) {
    m_files.post([image = std::move(image), pngPath]() -> FileThread::Continuation {
        render::savePng(image, pngPath);
        return {};
    });
}

void Session::exportSweep(const std::string& pngPath) {
    if (!model || !image) {
        setError("open a model and an image before exporting");
        return;
    }
    Request r = baseRequest(JobKind::Sweep);
    for (size_t i = 0; i < slots.size(); ++i)
        if (!slots[i].result) r.layers.push_back(int(i));
    pendingExport = pngPath;
    if (r.layers.empty()) {
        finishExport();
        return;
    }
    jobGeneration = worker->post(std::move(r));
    jobKind = JobKind::Sweep;
    jobRunning = true;
    status = "computing every layer for the export...";
}

void Session::finishExport() {
    const std::string path = pendingExport;
    pendingExport.clear();
    std::vector<std::shared_ptr<const InversionResult>> results;
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& slot : slots) {
        const auto& r = slot.result;
        if (!r) continue;
        results.push_back(r);
        layers.push_back(inversionResultJson(*r));
    }
    // The schema of `sweep --json` (app/cli/invert.cpp): the same keys, the same mapping (params.h).
    nlohmann::json j{{"model", model->name}, {"image", imagePath}, {"grid", path},
                     {"device", model->device}, {"parameters", paramsToJson(params())}, {"layers", layers}};
    // The grid is composed and encoded on the file thread from results that no one changes (shared, const).
    const std::shared_ptr<const ImageF> original = target.empty() ? image : std::make_shared<const ImageF>(target);
    writeExport(
        [original, results, name = model->name] {
            std::vector<render::GridCell> cells{{toBytes(*original), "original", name}};
            for (const auto& r : results)
                cells.push_back({toBytes(r->preimages[size_t(r->best)]), r->layer, fmt("err %.3f", r->featureError)});
            return render::composeGrid(cells, std::min(8, int(cells.size())));
        },
        path, jsonText(j));
}

bool Session::exportRestarts(const std::string& pngPath) {
    const auto& slot = layer >= 0 && layer < int(slots.size()) ? slots[size_t(layer)].result : nullptr;
    if (!slot) {
        setError("no finished pre-image to export yet");
        return false;
    }
    nlohmann::json j = inversionResultJson(*slot);
    j["model"] = model->name;
    j["image"] = imagePath;
    j["parameters"] = paramsToJson(params());
    writeExport([slot] { return restartsGrid(*slot); }, pngPath, jsonText(j));
    return true;
}

std::string Session::defaultExportPath(const std::string& what) const {
    const std::string dir = settings.exportDir.empty() ? fs::current_path().string() : settings.exportDir;
    const std::string m = model ? fs::path(model->name).stem().string() : "model";
    const std::string im = imagePath.empty() ? "image" : fs::path(imagePath).stem().string();
    return (fs::path(dir) / ("preimage_" + m + "_" + im + "_" + what + ".png")).string();
}

}  // namespace preimage::app
