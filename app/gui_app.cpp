// App: actions and the Worker plumbing. Drawing is in gui_panels.cpp, exports and the view report in gui_export.cpp.
#include "gui_app.h"
#include "inference/json_text.h"

#include "convert.h"
#include "report.h"
#include "render/grid.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

bool isImageFile(const std::string& path) {
    const std::string e = lower(fs::path(path).extension().string());
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga" || e == ".gif" || e == ".ppm" ||
           e == ".pgm";
}

// The status line of a finished inversion.
std::string resultStatus(const InversionResult& r) {
    return r.layer + ": feature error " + fmt("%.4f", r.featureError) + ", " + fmt("%.0f it/s", r.itersPerSecond);
}

bool isModelFile(const std::string& path) {
    const std::string e = lower(fs::path(path).extension().string());
    return e == ".pt" || e == ".pth" || e == ".ts" || e == ".torchscript";
}


}  // namespace

App::App(Settings settings, const std::string& modelOverride, const std::string& imageOverride, const std::string& inverters)
    : m_settings(std::move(settings)),
      // The automatic thread policy (inference/threads.h), leaving one core to the UI thread: its loops measure,
      // so they also move to fewer threads when another process keeps cores busy.
      m_worker(std::make_unique<Worker>(-1)),
      m_uploader(render::makeHostUploader()),
      m_inverters(inverters) {
    const fs::path assets(assetsDir());
    std::error_code ec;
    m_sampleCatalogue = loadSamples((assets / "samples").string());
    for (const auto& e : fs::directory_iterator(assets / "models", ec))
        if (fs::exists(e.path() / "manifest.json")) m_defaultModels.push_back(e.path().filename().string());
    std::sort(m_defaultModels.begin(), m_defaultModels.end());

    m_imagePicker.title = "Open image";
    m_imagePicker.extensions = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm"};
    m_imagePicker.directory = assets.string() + "/samples";
    m_secondPicker = m_imagePicker;
    m_secondPicker.title = "Second image (chunks to swap in)";
    m_slotPicker = m_imagePicker;
    m_slotPicker.title = "Analogy slot image";
    m_modelPicker.title = "Open model (TorchScript)";
    m_modelPicker.extensions = {".pt", ".pth", ".ts", ".torchscript"};

    m_wantLayer = m_settings.layer;
    openModel(modelOverride.empty() ? m_settings.model : modelOverride);
    std::string image = imageOverride.empty() ? m_settings.image : imageOverride;
    if (image.empty() || !fs::exists(image))
        m_openDefaultSample = true;  // the sample that fits the model, once it has loaded (a photograph or a garment)
    else
        openImage(image);
}

App::~App() {
    m_worker.reset();  // join the worker before the textures' GL context goes away
    m_settings.save();
}

void App::setError(const std::string& message) {
    m_error = message;
    m_errorLog.push_back(message);
    std::fprintf(stderr, "preimage: %s\n", message.c_str());
}

std::string App::layerName(int i) const {
    return m_model && i >= 0 && i < int(m_model->layers.size()) ? m_model->layers[size_t(i)].name : std::string();
}

int App::layerIndex(const std::string& name) const {
    if (!m_model) return -1;
    for (size_t i = 0; i < m_model->layers.size(); ++i)
        if (m_model->layers[i].name == name) return int(i);
    return -1;
}

void App::openImage(const std::string& path) {
    ImageF image;
    try {
        image = loadImageF(path);
    } catch (const Error& e) {
        setError(e.what());  // the current image stays
        return;
    }
    m_image = std::move(image);
    m_imagePath = fs::absolute(path).string();
    m_uploader->upload(m_originalTex, toBytes(m_image));
    m_target = {};
    m_targetTex.reset();
    m_settings.image = m_imagePath;
    Settings::remember(m_settings.recentImages, m_imagePath);
    m_settings.save();
    m_error.clear();
    resetResults();
    requestInversion();
    if (m_latent.show) encodeMainForLatent();
}

void App::openModel(const std::string& nameOrPath) {
    // The current model, image and results stay until the new model has loaded: a failed open changes nothing.
    Request r = baseRequest(JobKind::LoadModel);
    r.model = nameOrPath;
    m_loadingKey = nameOrPath;
    cancelExport("another model was opened");
    m_jobGeneration = m_worker->post(std::move(r));
    m_jobKind = JobKind::LoadModel;
    m_jobRunning = true;
    m_status = "loading model " + nameOrPath + "...";
}

void App::selectLayer(int index) {
    if (!m_model || index < 0 || index >= int(m_model->layers.size()) || index == m_layer) return;
    if (m_settings.inversion.maskActive()) {  // a mask is drawn on one tap's grid: it does not carry to another
        auto& s = m_settings.inversion;
        s.maskX = s.maskY = s.maskW = s.maskH = s.maskFirst = 0;
        s.maskLast = -1;
        resetResults();  // those were computed with the mask
    }
    m_layer = index;
    m_settings.layer = layerName(index);
    if (m_slots[size_t(index)].result && m_pendingExport.empty()) {
        // Already computed with these settings: show it without recomputing.
        m_jobGeneration = m_worker->cancel();
        m_jobRunning = false;
        m_frame = {};
        const auto& r = *m_slots[size_t(index)].result;
        m_frame.result = m_slots[size_t(index)].result;
        m_frame.previews = r.preimages;
        m_frame.history = r.history;
        m_frame.layer = index;
        m_frame.done = true;
        m_status = resultStatus(r);  // not the cancelled job's "inverting ..."
        m_restartTex.resize(r.preimages.size());
        for (size_t i = 0; i < r.preimages.size(); ++i) m_uploader->upload(m_restartTex[i], toBytes(r.preimages[i]));
        m_uploader->upload(m_varianceTex, toBytes(r.variance));
        m_learned = m_slots[size_t(index)].learned;
        m_learnedLayer = index;
        if (m_slots[size_t(index)].features) setFeatures(m_slots[size_t(index)].features, m_slots[size_t(index)].featureShape, index);
        if (m_learned) m_uploader->upload(m_learnedTex, toBytes(m_learned->image));
        return;
    }
    requestInversion();
}

void App::stepLayer(int delta) {
    if (!m_model || m_model->layers.empty()) return;
    selectLayer(std::clamp(m_layer + delta, 0, int(m_model->layers.size()) - 1));
}

void App::stepSibling(int delta) {
    const auto sib = m_tree.siblings(m_layer);
    const auto it = std::find(sib.begin(), sib.end(), m_layer);
    if (it == sib.end()) return;
    const long k = std::clamp(long(it - sib.begin()) + delta, 0L, long(sib.size()) - 1);
    selectLayer(sib[size_t(k)]);
}

void App::selectTab(const std::string& name) {
    static const char* names[] = {"run", "channels", "preferred", "chunks", "analogy"};
    for (int i = 0; i < 5; ++i)
        if (name == names[i] || (i == 2 && name == "dream")) {
            m_tabRequest = i;
            return;
        }
    throw Error("no tab '" + name + "' (run, channels, preferred, chunks, analogy)");
}

void App::setFilter(const std::string& text) {
    std::snprintf(m_treeState.filter, sizeof m_treeState.filter, "%s", text.c_str());
}

void App::setMask(int x, int y, int w, int h, int firstChannel, int lastChannel, bool rerunSame) {
    auto& s = m_settings.inversion;
    const widgets::InversionSettings before = s;
    s.maskX = std::max(0, x), s.maskY = std::max(0, y), s.maskW = std::max(0, w), s.maskH = std::max(0, h);
    s.maskFirst = std::max(0, firstChannel), s.maskLast = lastChannel < 0 ? -1 : std::max(s.maskFirst, lastChannel);
    if (s == before && !rerunSame) return;
    resetResults();
    requestInversion();
}

void App::setFeatures(std::shared_ptr<const std::vector<float>> values, const std::vector<int64_t>& shape, int layer) {
    m_features = std::move(values);
    m_featureShape = shape;
    m_featureLayer = layer;
    if (layer >= 0 && layer < int(m_slots.size())) {
        m_slots[size_t(layer)].features = m_features;
        m_slots[size_t(layer)].featureShape = shape;
    }
    try {
        m_grid = render::featureGrid(m_features->data(), shape);
        m_uploader->upload(m_gridTex, m_grid.image);
    } catch (const std::exception&) {  // nothing to show (an empty tap)
        m_grid = {};
        m_gridTex.reset();
    }
}

void App::rerun() {
    if (m_layer >= 0 && m_layer < int(m_slots.size())) m_slots[size_t(m_layer)].result.reset();
    requestInversion();
}

void App::stop() {
    m_jobGeneration = m_worker->cancel();  // its frame (cancelled) is the last one; older ones are dropped
    m_jobRunning = false;
    m_pendingExport.clear();
    m_status = "stopped";
}

void App::resetResults() {
    m_learned.reset();
    m_learnedLayer = -1;
    for (auto& s : m_slots) {
        s.result.reset();
        s.thumbnail.reset();
    }
    m_slots.resize(m_model ? m_model->layers.size() : 0);
    m_frame = {};
    m_restartTex.clear();
    m_varianceTex.reset();
}

InversionParams App::params() const {
    const auto& s = m_settings.inversion;
    InversionParams p;
    p.iterations = s.iterations;
    p.restarts = s.restarts;
    p.seed = uint64_t(s.seed);
    p.learningRate = s.learningRate;
    p.lambdaTv = s.tvByDepth ? -1.f : s.lambdaTv;
    p.lambdaAlpha = s.lambdaAlpha;
    p.jitter = s.jitter;
    p.alpha = s.alpha;
    p.beta = s.beta;
    p.mask = FeatureMask{s.maskX, s.maskY, s.maskW, s.maskH, s.maskFirst, s.maskLast};
    return p;
}

Request App::baseRequest(JobKind kind) const {
    Request r;
    r.kind = kind;
    r.model = m_modelKey.empty() ? m_settings.model : m_modelKey;
    r.modelOptions.size = m_settings.modelSize;
    r.modelOptions.gray = m_settings.modelGray;
    r.modelOptions.inverters = m_inverters;
    r.image = m_image;
    r.layer = m_layer;
    r.params = params();
    r.learnedKind = m_learnedKind;
    return r;
}

void App::requestInversion() {
    if (!m_model || m_image.empty()) return;  // runs once both are there
    if (m_jobRunning && m_jobKind == JobKind::LoadModel) return;  // after the model being opened has loaded
    Request r = baseRequest(JobKind::Invert);
    m_jobGeneration = m_worker->post(std::move(r));
    m_frame = {};  // the progress bar and plot start from zero, not from the last job's end
    m_restartTex.clear();
    m_jobKind = JobKind::Invert;
    m_jobRunning = true;
    cancelExport("the image, layer or settings changed before it finished");
    m_status = "inverting " + layerName(m_layer) + "...";
}

void App::onDrop(const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
        if (isModelFile(p))
            openModel(p);
        else if (isImageFile(p))
            openImage(p);
        else
            setError("cannot open '" + p + "': drop an image (png, jpg, bmp) or a TorchScript model (.pt)");
    }
}

void App::onDrop(const std::vector<std::string>& paths, float x, float y) {
    // Onto an analogy slot or the latent panel's second image: that slot takes the first image.
    if (!paths.empty() && isImageFile(paths[0])) {
        // Only the tab on screen takes drops: the other tabs' boxes are where they were last drawn.
        const int slot = m_latent.showAnalogy && m_tab == 4 ? widgets::dropTarget(m_latent.analogy, ImVec2(x, y)) : -1;
        if (slot >= 0) {
            setAnalogySlot(slot, paths[0]);
            return;
        }
        const auto& a = m_latent.secondMin;
        const auto& b = m_latent.secondMax;
        if (m_latent.show && m_tab == 3 && x >= a.x && x < b.x && y >= a.y && y < b.y) {
            setSecondImage(paths[0]);
            return;
        }
    }
    onDrop(paths);
}

void App::dropOn(const std::string& target, const std::vector<std::string>& paths) {
    // A target on a tab not on screen: that tab comes forward and takes the file (a user would switch to it first).
    if (target == "second" && m_tab != 3 && !paths.empty()) {
        setSecondImage(paths[0]);
        return;
    }
    if ((target == "a" || target == "b" || target == "c") && m_tab != 4 && !paths.empty()) {
        setAnalogySlot(target[0] - 'a', paths[0]);
        return;
    }
    ImVec2 lo, hi;
    if (target == "second") {
        lo = m_latent.secondMin;
        hi = m_latent.secondMax;
    } else if (target == "a" || target == "b" || target == "c") {
        const int i = target[0] - 'a';
        lo = m_latent.analogy.slotMin[i];
        hi = m_latent.analogy.slotMax[i];
    } else {
        throw Error("drop target must be a, b, c or second, got '" + target + "'");
    }
    onDrop(paths, 0.5f * (lo.x + hi.x), 0.5f * (lo.y + hi.y));
}

void App::startDream(const std::string& unit) {
    if (!m_model) return;
    Request r = baseRequest(JobKind::Dream);
    r.dream.unit = unit;
    if (m_dreamPrior && dreamGenerator() >= 0) {
        r.dream.generator = layerName(m_dreamGenerator);
    } else {  // pixel space: any model
        r.dream.generator.clear();
        r.dream.learningRate = 0.05f;
    }
    m_dreamUnit = unit;
    m_dreamActivations.clear();
    m_dreamResult.reset();
    m_dreamTex.reset();
    selectTab("preferred");
    m_jobGeneration = m_worker->post(std::move(r));
    m_dreamGeneration = m_jobGeneration;
    m_jobKind = JobKind::Dream;
    m_jobRunning = true;
    cancelExport("a preferred input was started");
    m_status = "dreaming " + unit + "...";
}

void App::showPanel(const std::string& name) {
    if (name == "image_picker") m_imagePicker.open = true;
    if (name == "model_picker") m_modelPicker.open = true;
}

bool App::idle() const { return !m_jobRunning && m_pendingExport.empty() && !m_worker->busy() && latentIdle(); }

const InversionResult* App::currentResult() const {
    if (m_layer >= 0 && m_layer < int(m_slots.size()) && m_slots[size_t(m_layer)].result)
        return m_slots[size_t(m_layer)].result.get();
    return nullptr;
}

void App::pollWorker() {
    auto f = m_worker->take();
    if (!f) return;
    if (f->generation != m_jobGeneration) {  // a superseded job's frame
        ++m_stats.staleFramesDropped;
        return;
    }
    if (f->cancelled) return;  // the frame cancel() leaves: the stopped job shows nothing more
    if (f->model && f->model != m_model) {
        m_model = f->model;
        if (f->kind == JobKind::LoadModel && !m_loadingKey.empty()) m_modelKey = m_loadingKey;
        m_loadingKey.clear();
        m_settings.model = m_modelKey;
        if (m_modelKey.find('/') != std::string::npos) Settings::remember(m_settings.recentModels, m_modelKey);
        m_settings.save();
        resetResults();
        std::vector<std::string> names, modules;
        for (const auto& l : m_model->layers) names.push_back(l.name), modules.push_back(l.module);
        m_tree = widgets::buildLayerTree(names, modules);
        m_treeState = {};
        m_imageTop5.clear();
        resetLatent();
        m_features.reset();
        m_featureLayer = -1;
        m_grid = {};
        m_gridTex.reset();
        int want = layerIndex(m_wantLayer);
        if (want < 0) want = layerIndex(m_model->defaultLayer);
        m_layer = want >= 0 ? want : 0;
        m_samples = samplesFor(m_sampleCatalogue, m_model->input.channels);
        m_sampleTex.clear();
        if (m_openDefaultSample && !m_samples.empty()) {
            m_openDefaultSample = false;
            openImage(defaultSampleFor(m_sampleCatalogue, m_model->input.channels));
        }
        m_wantLayer.clear();
        m_settings.layer = layerName(m_layer);
    }
    if (!f->error.empty()) {
        setError(f->error);
        m_jobRunning = false;
        m_pendingExport.clear();
        m_status.clear();
        if (f->kind == JobKind::LoadModel) {  // the current model, image and results stay
            m_loadingKey.clear();
            if (m_model) m_status = "model " + m_model->name + " on " + m_model->device + " (the model opened could not be loaded)";
        }
        return;
    }
    if (f->kind == JobKind::Dream) {
        if (!f->previews.empty()) m_uploader->upload(m_dreamTex, toBytes(f->previews[0]));
        m_dreamActivations = f->activations;
        if (f->done) {
            m_dreamResult = f->dream;
            m_jobRunning = false;
            m_status = "preferred input of " + m_dreamUnit + ": activation " + fmt("%.2f", f->dream->activation) +
                       (std::isnan(f->dream->trainMax) ? " (from " + fmt("%.2f", f->dream->startActivation) + ", pixel space)"
                                                       : " (training max " + fmt("%.2f", f->dream->trainMax) + ")");
        }
        return;
    }
    if (f->kind == JobKind::LoadModel) {
        m_jobRunning = false;
        m_loadingKey.clear();
        m_status = "model " + m_model->name + " on " + m_model->device;
        requestInversion();
        return;
    }
    if (f->learned && m_learnedGeneration != f->generation) {
        m_learned = f->learned;
        m_learnedLayer = f->layer;
        m_learnedGeneration = f->generation;
        m_uploader->upload(m_learnedTex, toBytes(m_learned->image));
        if (f->layer >= 0 && f->layer < int(m_slots.size())) m_slots[size_t(f->layer)].learned = f->learned;
    }
    if (f->kind == JobKind::Invert) {
        if (f->features && f->features != m_features && f->layer >= 0) setFeatures(f->features, f->featureShape, f->layer);
        if (!f->imageTop5.empty()) m_imageTop5 = f->imageTop5;
        if (f->result && f->layer >= 0 && f->layer < int(m_slots.size())) m_slots[size_t(f->layer)].preimageTop5 = f->preimageTop5;
    }
    if (!f->target.empty() && m_target.empty()) {
        m_target = f->target;
        m_uploader->upload(m_targetTex, toBytes(m_target));
    }
    for (const auto& r : f->sweep) {  // finished layers of a sweep (and of an inversion)
        auto& slot = m_slots.at(size_t(r->layerIndex));
        if (slot.result == r) continue;
        slot.result = r;
        m_uploader->upload(slot.thumbnail, toBytes(r->preimages[size_t(r->best)]));
        ++m_stats.uploads;
    }
    if (f->kind == JobKind::Invert || f->layer == m_layer) {
        const double sinceStart = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
        if (!f->previews.empty() && m_stats.firstPreviewSeconds < 0) m_stats.firstPreviewSeconds = sinceStart;
        if (f->result && m_stats.firstResultSeconds < 0) m_stats.firstResultSeconds = sinceStart;
        m_restartTex.resize(f->previews.size());
        for (size_t i = 0; i < f->previews.size(); ++i) {
            m_uploader->upload(m_restartTex[i], toBytes(f->previews[i]));
            ++m_stats.uploads;
        }
        if (f->result) m_uploader->upload(m_varianceTex, toBytes(f->result->variance));
        m_frame = std::move(*f);
    } else {
        m_frame.sweepDone = f->sweepDone;
        m_frame.sweepTotal = f->sweepTotal;
        m_frame.done = f->done;
    }
    if (m_frame.done || f->done) {
        m_jobRunning = false;
        if (const auto* r = currentResult()) m_status = resultStatus(*r);
        if (!m_pendingExport.empty()) finishExport();
    }
}

}  // namespace preimage::app
