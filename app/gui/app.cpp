// App: the window's half of the app: textures mirrored from the Session, tabs, drops and pickers. Drawing is in
// panels.cpp, tools.cpp and dream_tab.cpp, latent views in latent.cpp, the view report in export.cpp.
#include "app/gui/app.h"

#include "inference/data/convert.h"
#ifdef PREIMAGE_CUDA_GL
#include "render/gl/cuda_gl_uploader.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

// TorchScript files as the model picker and drops know them (lower case, with the dot).
const std::vector<std::string> kModelExtensions = {".pt", ".pth", ".ts", ".torchscript"};

bool isModelFile(const std::string& path) {
    std::string e = fs::path(path).extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return std::find(kModelExtensions.begin(), kModelExtensions.end(), e) != kModelExtensions.end();
}

constexpr Tab kTabs[] = {Tab::Run, Tab::Channels, Tab::Preferred, Tab::Chunks, Tab::Analogy};

}  // namespace

const char* tabName(Tab t) {
    switch (t) {
        case Tab::Run: return "run";
        case Tab::Channels: return "channels";
        case Tab::Preferred: return "preferred";
        case Tab::Chunks: return "chunks";
        case Tab::Analogy: return "analogy";
    }
    return "";
}

App::App(Settings settings, const std::string& modelOverride, const std::string& imageOverride, const std::string& inverters)
    : m_s(std::move(settings), modelOverride, imageOverride, inverters), m_uploader(render::makeHostUploader()) {
#ifdef PREIMAGE_CUDA_GL
    // The interop path where a CUDA device is usable: the Worker then renders previews on the GPU.
    std::string why;
    if (auto interop = render::makeCudaGlUploader(&why)) {
        m_interop = std::move(interop);
        m_s.devicePreviews = true;
        m_uploadPath = "CUDA-GL interop";
    } else {
        m_uploadPath = "host (" + why + ")";
    }
#endif
    auto& p = m_pickers;
    p.image.title = "Open image";
    p.image.extensions = render::imageExtensions();
    p.image.directory = assetsDir() + "/samples";
    p.second = p.image;
    p.second.title = "Second image (chunks to swap in)";
    p.slot = p.image;
    p.slot.title = "Analogy slot image";
    p.model.title = "Open model (TorchScript)";
    p.model.extensions = kModelExtensions;
}

App::~App() {
    m_s.worker.reset();  // join the worker before the textures' GL context goes away
}

void App::syncTextures(const SessionUpdate& u) {
    auto upload = [&](render::Texture& t, const ImageF& image) {
        if (image.empty()) {
            t.reset();
            return;
        }
        m_uploader->upload(t, toBytes(image));
        ++m_s.stats.uploads;
    };
    if (u.model) {
        std::vector<std::string> names, modules;
        for (const auto& l : m_s.model->layers) names.push_back(l.name), modules.push_back(l.module);
        m_tree = widgets::buildLayerTree(names, modules);
        m_treeState = {};
        m_sampleTex.clear();
        m_thumbs.clear();
        resetLatent();
    }
    if (m_thumbs.size() != m_s.slots.size()) {
        m_thumbs.clear();
        m_thumbs.resize(m_s.slots.size());
    }
    for (size_t i = 0; i < m_thumbs.size(); ++i)  // results reset: thumbnails go with them
        if (m_thumbs[i].valid() && !m_s.slots[i].result) m_thumbs[i].reset();
    if (u.image) {
        upload(m_originalTex, *m_s.image);
        if (m_latent.show) encodeMainForLatent();
    }
    if (u.target) upload(m_targetTex, m_s.target);
    if (u.previews && !uploadDevicePreviews()) {
        m_restartTex.resize(m_s.frame.previews.size());
        for (size_t i = 0; i < m_s.frame.previews.size(); ++i) upload(m_restartTex[i], m_s.frame.previews[i]);
    }
    if (u.variance) {
        if (m_s.frame.result) upload(m_varianceTex, m_s.frame.result->variance);
        else m_varianceTex.reset();
    }
    if (u.learned) {
        if (m_s.learned) upload(m_learnedTex, m_s.learned->image);
        else m_learnedTex.reset();
    }
    if (u.grid) {
        if (m_s.grid.image.pixels.empty()) m_gridTex.reset();
        else m_uploader->upload(m_gridTex, m_s.grid.image);
    }
    if (u.dream) {
        upload(m_dreamTex, m_s.dreamPreview);
        const DreamResult* r = m_s.dreamResult.get();
        upload(m_transparencyTex, r ? r->transparency : ImageF{});
        upload(m_differenceTex, r ? r->difference : ImageF{});
        upload(m_accentStartTex, r ? r->start : ImageF{});
    }
    if (u.atlas) upload(m_atlasTex, m_s.atlasMosaic);
    for (int l : u.thumbnails) {
        const auto& r = m_s.slots.at(size_t(l)).result;
        if (r) upload(m_thumbs.at(size_t(l)), r->preimages[size_t(r->best)]);
    }
    if (u.samples) {
        m_sampleTex.clear();
        m_sampleTex.resize(m_s.sampleImages.size());
        for (size_t i = 0; i < m_s.sampleImages.size(); ++i)
            if (!m_s.sampleImages[i].pixels.empty()) m_uploader->upload(m_sampleTex[i], m_s.sampleImages[i]);
    }
}

bool App::uploadDevicePreviews() {
    const auto& device = m_s.frame.devicePreviews;
    if (device.empty()) return false;
#ifdef PREIMAGE_CUDA_GL
    auto* interop = static_cast<render::CudaGlUploader*>(m_interop.get());
    if (interop && interop->interopActive()) {
        m_restartTex.resize(device.size());
        bool ok = true;
        for (size_t i = 0; i < device.size() && ok; ++i) {
            const auto& d = device[i];
            ok = interop->uploadDevice(m_restartTex[i], render::DeviceImage{d.pixels, d.width, d.height, d.pitch, d.readyEvent, d.stream});
            if (ok) ++m_s.stats.uploads, ++m_s.stats.deviceUploads;
        }
        if (ok) return true;
    }
    // Registration or a copy failed (said once by the uploader): host previews from the next frame on.
    m_s.devicePreviews = false;
    m_uploadPath = "host (CUDA-GL interop failed)";
#endif
    return true;  // this frame's previews stay on the device; the next host frame replaces them
}

void App::stepLayer(int delta) {
    if (!m_s.model || m_s.model->layers.empty()) return;
    selectLayer(std::clamp(m_s.layer + delta, 0, int(m_s.model->layers.size()) - 1));
}

void App::stepSibling(int delta) {
    const auto sib = m_tree.siblings(m_s.layer);
    const auto it = std::find(sib.begin(), sib.end(), m_s.layer);
    if (it == sib.end()) return;
    const long k = std::clamp(long(it - sib.begin()) + delta, 0L, long(sib.size()) - 1);
    selectLayer(sib[size_t(k)]);
}

void App::selectTab(const std::string& name) {
    for (Tab t : kTabs)
        if (name == tabName(t) || (t == Tab::Preferred && name == "dream")) {
            m_tabRequest = t;
            return;
        }
    throw Error("no tab '" + name + "' (run, channels, preferred, chunks, analogy)");
}

void App::setPlotX(const std::string& axis) {
    if (axis == "iterations") m_plot.x = PlotPanel::X::Iterations;
    else if (axis == "evaluations") m_plot.x = PlotPanel::X::Evaluations;
    else if (axis == "seconds") m_plot.x = PlotPanel::X::Seconds;
    else throw Error("the plot's x axis is iterations, evaluations or seconds, not '" + axis + "'");
}

void App::setFilter(const std::string& text) {
    std::snprintf(m_treeState.filter, sizeof m_treeState.filter, "%s", text.c_str());
}

void App::onDrop(const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
        if (isModelFile(p))
            openModel(p);
        else if (render::isImageFile(p))
            openImage(p);
        else
            m_s.setError("cannot open '" + p + "': drop an image (png, jpg, bmp, gif, tga, ppm, pgm) or a TorchScript model (.pt)");
    }
}

void App::onDrop(const std::vector<std::string>& paths, float x, float y) {
    // Onto an analogy slot or the latent panel's second image: that slot takes the first image.
    if (!paths.empty() && render::isImageFile(paths[0])) {
        // Only the tab on screen takes drops: the other tabs' boxes are where they were last drawn.
        const int slot = m_latent.showAnalogy && m_tab == Tab::Analogy ? widgets::dropTarget(m_latent.analogy, ImVec2(x, y)) : -1;
        if (slot >= 0) {
            setAnalogySlot(slot, paths[0]);
            return;
        }
        const auto& a = m_latent.secondMin;
        const auto& b = m_latent.secondMax;
        if (m_latent.show && m_tab == Tab::Chunks && x >= a.x && x < b.x && y >= a.y && y < b.y) {
            setSecondImage(paths[0]);
            return;
        }
    }
    onDrop(paths);
}

void App::dropOn(const std::string& target, const std::vector<std::string>& paths) {
    // A target on a tab not on screen: that tab comes forward and takes the file (a user would switch to it first).
    if (target == "second" && m_tab != Tab::Chunks && !paths.empty()) {
        setSecondImage(paths[0]);
        return;
    }
    if ((target == "a" || target == "b" || target == "c") && m_tab != Tab::Analogy && !paths.empty()) {
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
    if (!m_s.model) return;
    // The panel shows the unit asked for (a script's, an atlas cell's): a class by name or index.
    const auto& classes = m_s.model->classes;
    if (const auto it = std::find(classes.begin(), classes.end(), unit); it != classes.end()) {
        m_dream.mode = 0;
        m_dream.cls = int(it - classes.begin());
        m_dream.clsChosen = true;
    } else if (!unit.empty() && unit.find_first_not_of("0123456789") == std::string::npos && m_s.model->classCount > 0) {
        m_dream.mode = 0;
        m_dream.cls = std::min(std::stoi(unit), m_s.model->classCount - 1);
        m_dream.clsChosen = true;
    }
    m_s.startDream(unit, m_dream.prior);
    m_dream.scrollToTop = true;
    selectTab("preferred");
}

void App::startAtlas() {
    if (!m_s.model) return;
    m_s.startAtlas();
    m_dream.scrollToAtlas = true;
    selectTab("preferred");
}

void App::openAtlasCell(int cell) {
    const std::string unit = m_s.atlasUnit(cell);
    if (unit.empty()) return;
    if (unit.find(':') == std::string::npos) {
        m_dream.mode = 0;
        m_dream.cls = cell;
        m_dream.clsChosen = true;
    } else {
        m_dream.mode = 1;
        m_dream.channel = cell;
    }
    startDream(unit);
}

void App::setDreamSettings(const nlohmann::json& j) {
    auto& d = m_s.dreamSettings;
    if (j.contains("param")) {  // first: it sets the transforms and the objective to its defaults, the other keys then override
        const std::string name = j["param"].get<std::string>();
        if (name == "default") d.param = -1;
        else d.setParam(parseParametrisation(name));
    }
    for (const auto& [key, v] : j.items()) {
        if (key == "param") continue;
        if (key == "iters") d.iterations = v.get<int>();
        else if (key == "accentuate") d.accentuate = v.get<bool>();
        else if (key == "contrast") d.contrastive = v.get<bool>();
        else if (key == "weight_noise") d.weightNoise = v.get<float>();
        else if (key == "feature_prior") d.featurePrior = v.get<float>();
        else if (key == "lambda") d.lambda = v.get<float>();
        else if (key == "judge") {
            d.judge = v.get<std::string>();
            std::snprintf(m_dream.judge, sizeof m_dream.judge, "%s", d.judge.c_str());
        } else if (key == "atlas_limit") d.atlasLimit = v.get<int>();
        else if (key == "atlas_side") d.atlasSide = v.get<int>();
        else if (key == "atlas_iters") d.atlasIterations = v.get<int>();
        else if (key == "atlas_batch") d.atlasBatch = v.get<int>();
        else if (key == "mode") m_dream.mode = v.get<int>();
        else if (key == "transforms") {
            for (const auto& [t, on] : v.items()) {
                bool* flag = t == "pad" ? &d.pad : t == "jitter" ? &d.jitter : t == "scale" ? &d.scale : t == "rotate" ? &d.rotate
                             : t == "crops" ? &d.crops : nullptr;
                if (!flag) throw Error("dream_settings: no transform '" + t + "' (pad, jitter, scale, rotate, crops)");
                *flag = on.get<bool>();
            }
        } else {
            throw Error("dream_settings: unknown key '" + key + "'");
        }
    }
}

void App::showPanel(const std::string& name) {
    if (name == "image_picker") m_pickers.image.open = true;
    if (name == "model_picker") m_pickers.model.open = true;
}

}  // namespace preimage::app
