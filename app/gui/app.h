// The desktop app's window: the panels and the textures they show. What is open and what the Worker computes is
// the Session's (session.h, no GL); the App mirrors the images it names into textures after each poll().
// UI thread only (it owns GL textures); it never waits on the Worker or on a file.
#pragma once


#include "app/gui/session.h"
#include "render/gl/texture.h"
#include "widgets/analogy_slots.h"
#include "widgets/file_picker.h"
#include "widgets/image_view.h"
#include "widgets/layer_tree.h"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace preimage::app {

// The pixel under the mouse in an image view, as a tooltip (values in [0,1], as the model sees them).
void pixelTooltip(const widgets::ImageViewResult& view, const ImageF* image, const char* what);

// The tools' tabs, in the order they are drawn (Chunks and Analogy only where the model has a mixer).
enum class Tab { Run, Channels, Preferred, Chunks, Analogy };
const char* tabName(Tab t);  // "run", "channels", "preferred", "chunks", "analogy"

// Each panel's own state.
struct ChannelsPanel {  // the channel grid: the channel under the cursor and a mask being drawn
    int hoverChannel = -1;
    bool maskDrag = false;
    int dragChannel = -1, dragX0 = 0, dragY0 = 0, dragX1 = 0, dragY1 = 0;
};
struct DreamPanel {  // the preferred input: what is asked for
    int mode = 0;  // 0 a class, 1 a channel of the selected tap, 2 its centre neuron
    int channel = 0;
    int cls = 7;
    // Until a class is chosen (the combo, a script, an atlas cell) on this model, the class follows the open image's
    // top-1: on a photograph the first class offered is the one in it, not a fixed index.
    bool clsChosen = false;
    std::string clsModel;  // the model the choice was made on
    bool prior = true;  // the learned generator, when the model has one
    char judge[512] = "";  // the judge's path as typed
    int atlasHover = -1;   // the atlas cell under the cursor
    bool scrollToAtlas = false, scrollToTop = false;  // a job just started: show its section
};
// The latent views, as the pixel readouts and the report name them.
enum class LatentView { Input, Decoded, Second, A, B, C, D, Count };
struct LatentPanel {  // latent chunks and analogies (latent.cpp)
    bool show = false, showAnalogy = false;
    std::shared_ptr<const MixerInfo> info;
    Code base, second, edited;
    std::string secondPath;
    ImageF secondImage;
    std::vector<std::vector<float>> sliders;
    std::vector<bool> swapped;
    uint64_t mainEncodeId = 0, secondEncodeId = 0, decodeId = 0, analogyId = 0, traversalId = 0;
    int inputClass = -1, secondClass = -1, decodedClass = -1;
    double decodeMs = 0;
    uint64_t decodes = 0;
    render::Texture inputTex, secondTex, decodedTex;
    // Analogy slots a, b, c and the result d.
    std::string slotPath[3];
    Code slotCode[3];
    uint64_t slotEncodeId[3] = {0, 0, 0};
    int slotClass[4] = {-1, -1, -1, -1};
    render::Texture slotTex[4];
    widgets::AnalogyState analogy;
    std::vector<bool> copied;
    std::string pendingTraversal, traversalWritten;
    std::vector<float> traversalValues;
    std::map<int, uint64_t> outstanding;  // tag -> newest request id not yet answered
    uint64_t shownDecodeId = 0, shownAnalogyId = 0;
    ImVec2 secondMin, secondMax;  // the second image's box (drops)
    ImageF shown[int(LatentView::Count)];  // what the views show (pixel readouts)
    ImageF& view(LatentView v) { return shown[int(v)]; }
    uint64_t lastPosted = 0, staleBefore = 0;  // request ids: the newest, and the first of the open model's
};
struct PlotPanel {  // the loss plot: what its x axis counts
    enum class X { Iterations, Evaluations, Seconds } x = X::Iterations;
};
struct Pickers {
    widgets::FilePickerState image, model, second, slot;
    int slotTarget = 0;
};

class App {
public:
    // inverters: the learned inverters' folder for every model opened (--inverters DIR); empty = each model's own.
    App(Settings settings, const std::string& modelOverride, const std::string& imageOverride,
        const std::string& inverters = "");
    ~App();

    // One UI frame: poll the Session, mirror what changed into textures, draw every panel (ImGui frame begun by
    // the caller).
    void frame(int framebufferWidth, int framebufferHeight);

    // Actions (UI, keyboard, drag-and-drop and scripts all go through these; most are the Session's).
    void openImage(const std::string& path) { m_s.openImage(path); }
    void openModel(const std::string& nameOrPath) { m_s.openModel(nameOrPath); }
    void selectLayer(int index) { m_s.selectLayer(index); }
    void stepLayer(int delta);     // execution order (Left/Right, J/K)
    void stepSibling(int delta);   // the taps beside the selected one in the tree (Up/Down)
    void selectTab(const std::string& name);  // "run", "channels", "preferred", "chunks", "analogy"
    // As drawn on the channel grid; reruns when it changed (or always, with rerunSame: an edit already shown while dragging).
    void setMask(int x, int y, int w, int h, int firstChannel, int lastChannel, bool rerunSame = false) {
        m_s.setMask(x, y, w, h, firstChannel, lastChannel, rerunSame);
    }
    void setFilter(const std::string& text);  // the layer tree's filter box
    void setPlotX(const std::string& axis);   // the loss plot's x axis: "iterations", "evaluations", "seconds"
    void rerun() { m_s.rerun(); }
    void stop() { m_s.stop(); }
    void exportSweep(const std::string& pngPath) { m_s.exportSweep(pngPath); }
    bool exportRestarts(const std::string& pngPath) { return m_s.exportRestarts(pngPath); }
    void onDrop(const std::vector<std::string>& paths);
    void showPanel(const std::string& name);  // "image_picker", "model_picker", "" (none)
    // Preferred input of a unit (a class, or "LAYER:CHANNEL"), shown live on the Preferred tab.
    void startDream(const std::string& unit);
    void setDreamPrior(bool on) {
        m_dream.prior = on;
        if (!on && m_s.dreamSettings.param == int(DreamParametrisation::Generator)) m_s.dreamSettings.param = -1;
    }
    // The Dream tab's settings from a script step ({"param": "fourier", "iters": 64, "accentuate": true, "lambda": 50,
    // "contrast": true, "judge": FILE, "transforms": {"pad": true, ...}, "atlas_limit": 16, "atlas_side": 64, "atlas_iters": 32}).
    void setDreamSettings(const nlohmann::json& settings);
    void startAtlas();              // the selected tap's atlas (Dream tab)
    void openAtlasCell(int cell);   // that cell's unit: its preferred input at full settings
    void onDrop(const std::vector<std::string>& paths, float x, float y);  // routed to the analogy slot under (x, y)
    void dropOn(const std::string& target, const std::vector<std::string>& paths);  // "a" "b" "c" "second": drop at its centre
    void screenshot(render::Image image, const std::string& path) { m_s.writeScreenshot(std::move(image), path); }

    // Latent chunks (Hu et al. mixing autoencoder) and analogies; the worker answers between iterations.
    void showLatent(bool show);
    // Another model was opened: the codes belong to the old one's mixer. Re-encodes the image where a mixer is.
    void resetLatent();
    uint64_t postLatent(LatentRequest r);
    void showAnalogy(bool show);
    void setSecondImage(const std::string& path);
    void setChunkSlider(int chunk, int direction, float sd);
    void setChunkSwap(int chunk, bool fromSecond);
    void resetChunks();
    void exportTraversal(const std::string& pngPath);  // rows = chunks, columns = -3..3 sd along PC1
    void setAnalogySlot(int slot, const std::string& path);
    void setAnalogyMode(int mode, float strength);  // 0 vector, 1 chunks

    // Queries for scripts, tests and the frame loop.
    bool idle() const { return m_s.idle() && latentIdle(); }  // no job running or pending, no export or file job waiting
    const std::string& error() const { return m_s.error; }
    const std::vector<std::string>& errorLog() const { return m_s.errorLog; }
    const std::string& status() const { return m_s.status; }
    const Model::LearnedPreimage* learned() const {
        return m_s.learned && m_s.learnedLayer == m_s.layer ? &*m_s.learned : nullptr;
    }
    int layer() const { return m_s.layer; }
    int layerIndex(const std::string& name) const { return m_s.layerIndex(name); }
    const ModelSummary* model() const { return m_s.model.get(); }
    const InversionResult* currentResult() const { return m_s.currentResult(); }
    Settings& settings() { return m_s.settings; }
    FrameStats& stats() { return m_s.stats; }
    const float* preimageRect() const { return m_preimageRect; }  // x0, y0, x1, y1 in window pixels
    const std::string& uploadPath() const { return m_uploadPath; }  // "host", "CUDA-GL interop", or host with why
    std::string defaultExportPath(const std::string& what) const { return m_s.defaultExportPath(what); }
    struct LatentReport {
        int decodedClass = -1, analogyClass = -1;
        std::vector<int> slotClasses;
        std::vector<bool> swapped;
        double decodeMs = 0;
        uint64_t decodes = 0;
        std::string traversalWritten;
        std::vector<std::string> chunkLabels;  // the sliders' row labels (the factor each chunk carries, where known)
    };
    LatentReport latentReport() const;
    // What the views show, for scripts and tests: the tree, the channel grid, top-5, the mask, the panels' rectangles.
    nlohmann::json viewReport() const;
    nlohmann::json dreamReport() const;  // the finished preferred input's numbers (dreamResultJson), null before one

private:
    void syncTextures(const SessionUpdate& u);  // the Session's images into textures
    void drawMenu();
    // One region of the fixed layout: a window without title bar at (x, y, w, h), its rectangle in the report.
    void beginRegion(const char* title, const char* key, float x, float y, float w, float h);
    void drawTree(float x, float y, float w, float h);
    void drawTools(float x, float y, float w, float h);
    void drawRunTab();
    void drawChannelsTab();
    void drawDreamTab();
    void drawDreamResult();
    void drawAtlas();
    void drawMain(float x, float y, float w, float h);
    void drawStrip(float x, float y, float w, float h);
    void handleKeys();

    Session m_s;
    std::unique_ptr<render::TextureUploader> m_uploader;  // host uploads (every build)
    // CUDA builds: device previews copied into textures through CUDA-GL interop (render/gl/cuda_gl_uploader.h);
    // null where no CUDA device is usable or registration failed (then the host path, said once).
    std::unique_ptr<render::TextureUploader> m_interop;
    std::string m_uploadPath = "host";  // which path uploads the live pre-images (the status bar)
    bool uploadDevicePreviews();        // false: not on the interop path (the host path takes the frame)
    render::Texture m_originalTex, m_targetTex, m_varianceTex, m_learnedTex, m_gridTex, m_dreamTex;
    render::Texture m_transparencyTex, m_differenceTex, m_accentStartTex, m_atlasTex;  // the Dream tab's
    std::vector<render::Texture> m_restartTex;  // the current frame's pre-image per restart
    std::vector<render::Texture> m_thumbs;      // per layer: its finished pre-image (the strip)
    std::vector<render::Texture> m_sampleTex;
    // The layer tree, the tools' tabs and each panel's own state.
    widgets::LayerTree m_tree;
    widgets::LayerTreeState m_treeState;
    Tab m_tab = Tab::Run;
    std::optional<Tab> m_tabRequest;
    ChannelsPanel m_channels;
    DreamPanel m_dream;
    LatentPanel m_latent;
    Pickers m_pickers;
    PlotPanel m_plot;
    std::map<std::string, std::array<float, 4>> m_panelRects;  // name -> x0, y0, x1, y1 (the layout test)
    void pollLatent();
    bool latentAvailable();  // says what the latent tabs need when the model is not the default one
    void drawLatent();
    void drawAnalogy();
    void encodeMainForLatent();
    void requestLatentDecode();
    void requestAnalogy();
    uint64_t postEncode(int tag, const ImageF& image);
    bool latentIdle() const;
    int m_stripShownLayer = -1;  // the layer the strip last scrolled to
    float m_preimageRect[4] = {0, 0, 0, 0};
    int m_fbWidth = 0, m_fbHeight = 0;
};

}  // namespace preimage::app
