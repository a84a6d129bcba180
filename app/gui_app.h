// The desktop app's state and behaviour: what is open, what the Worker computes, the textures shown.
// UI thread only (it owns GL textures); it talks to the Worker through post()/take() and never waits.
#pragma once

#include "samples.h"
#include "settings.h"

#include "inference/worker.h"
#include "render/feature_grid.h"
#include "render/texture.h"
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

// Per-layer results for the current model, image and parameters (the layer strip and exports).
struct LayerSlot {
    std::shared_ptr<const InversionResult> result;
    render::Texture thumbnail;
    std::optional<Model::LearnedPreimage> learned;  // the learned inverter's pre-image, when one exists
    std::shared_ptr<const std::vector<float>> features;  // the tap's value on the image (the channel grid)
    std::vector<int64_t> featureShape;
    std::vector<std::pair<int, float>> preimageTop5;  // the network's classes on the pre-image
};

struct FrameStats {
    std::vector<float> frameMs;      // UI work per frame (input to draw submission), every frame
    std::vector<float> busyFrameMs;  // the same, only frames while a job ran
    uint64_t uploads = 0, staleFramesDropped = 0;
    // Seconds from the app's start to the first pre-image shown (a live preview) and the first one finished.
    double firstPreviewSeconds = -1, firstResultSeconds = -1;
};

// The pixel under the mouse in an image view, as a tooltip (values in [0,1], as the model sees them).
void pixelTooltip(const widgets::ImageViewResult& view, const ImageF* image, const char* what);

class App {
public:
    // inverters: the learned inverters' folder for every model opened (--inverters DIR); empty = each model's own.
    App(Settings settings, const std::string& modelOverride, const std::string& imageOverride,
        const std::string& inverters = "");
    ~App();

    // One UI frame: take the Worker's newest frame, upload, draw every panel (ImGui frame begun by the caller).
    void frame(int framebufferWidth, int framebufferHeight);

    // Actions (UI, keyboard, drag-and-drop and scripts all go through these).
    void openImage(const std::string& path);
    void openModel(const std::string& nameOrPath);
    void selectLayer(int index);
    void stepLayer(int delta);     // execution order (Left/Right, J/K)
    void stepSibling(int delta);   // the taps beside the selected one in the tree (Up/Down)
    void selectTab(const std::string& name);  // "run", "channels", "preferred", "chunks", "analogy"
    // As drawn on the channel grid; reruns when it changed (or always, with rerunSame: an edit already shown while dragging).
    void setMask(int x, int y, int w, int h, int firstChannel, int lastChannel, bool rerunSame = false);
    void setFilter(const std::string& text);  // the layer tree's filter box
    void rerun();
    void stop();
    void exportSweep(const std::string& pngPath);  // computes missing layers first, then writes
    bool exportRestarts(const std::string& pngPath);
    void onDrop(const std::vector<std::string>& paths);
    void showPanel(const std::string& name);  // "image_picker", "model_picker", "" (none)
    // Preferred input of a unit (a class, or "LAYER:CHANNEL"), shown live: through the learned generator when
    // the model has one and it is switched on (DGN-AM), else in pixel space (any model).
    void startDream(const std::string& unit);
    void setDreamPrior(bool on) { m_dreamPrior = on; }
    void onDrop(const std::vector<std::string>& paths, float x, float y);  // routed to the analogy slot under (x, y)
    void dropOn(const std::string& target, const std::vector<std::string>& paths);  // "a" "b" "c" "second": drop at its centre

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
    bool idle() const;  // no job running or pending, no export waiting
    const std::string& error() const { return m_error; }
    const std::vector<std::string>& errorLog() const { return m_errorLog; }
    const std::string& status() const { return m_status; }
    const Model::LearnedPreimage* learned() const { return m_learned && m_learnedLayer == m_layer ? &*m_learned : nullptr; }
    int layer() const { return m_layer; }
    int layerIndex(const std::string& name) const;
    const ModelSummary* model() const { return m_model.get(); }
    const InversionResult* currentResult() const;
    Settings& settings() { return m_settings; }
    FrameStats& stats() { return m_stats; }
    const float* preimageRect() const { return m_preimageRect; }  // x0, y0, x1, y1 in window pixels
    std::string defaultExportPath(const std::string& what) const;
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

private:
    void pollWorker();
    void drawMenu();
    // One region of the fixed layout: a window without title bar at (x, y, w, h), its rectangle in the report.
    void beginRegion(const char* title, const char* key, float x, float y, float w, float h);
    void drawTree(float x, float y, float w, float h);
    void drawTools(float x, float y, float w, float h);
    void drawRunTab();
    void drawChannelsTab();
    void drawDreamTab();
    int dreamGenerator();  // the layer whose learned inverter is the preferred input's generator, -1 none
    void drawMain(float x, float y, float w, float h);
    void drawStrip(float x, float y, float w, float h);
    void setFeatures(std::shared_ptr<const std::vector<float>> values, const std::vector<int64_t>& shape, int layer);
    void handleKeys();
    void requestInversion();
    void resetResults();
    void setError(const std::string& message);
    void finishExport();
    InversionParams params() const;
    Request baseRequest(JobKind kind) const;
    std::string layerName(int i) const;

    Settings m_settings;
    std::unique_ptr<Worker> m_worker;
    std::unique_ptr<render::TextureUploader> m_uploader;
    std::shared_ptr<const ModelSummary> m_model;
    std::string m_modelKey;    // the loaded model's name or path (what jobs are requested with)
    std::string m_loadingKey;  // a model being opened: the current one stays until it has loaded

    std::string m_imagePath;
    ImageF m_image;  // as loaded, [0,1]
    render::Texture m_originalTex;
    ImageF m_target;  // the model's view of the image (prepared), once a job reports it
    render::Texture m_targetTex;

    int m_layer = 0;
    std::string m_wantLayer;  // layer to select once the model's layers are known
    uint64_t m_jobGeneration = 0;
    JobKind m_jobKind = JobKind::Invert;
    bool m_jobRunning = false;
    Frame m_frame;  // newest frame of the current job
    std::vector<render::Texture> m_restartTex;
    render::Texture m_varianceTex;
    std::optional<Model::LearnedPreimage> m_learned;  // for the current layer, when a decoder exists
    int m_learnedLayer = -1;
    uint64_t m_learnedGeneration = 0;  // the job whose learned pre-image is shown
    std::string m_inverters;  // --inverters DIR
    int m_learnedKind = 0;  // 0 decoder, 1 HyperNet, 2 HyperNet with z = 0 (the ablation)
    render::Texture m_learnedTex;
    // The layer tree, the tools' tabs, the channel grid and top-5.
    widgets::LayerTree m_tree;
    widgets::LayerTreeState m_treeState;
    int m_tab = 0, m_tabRequest = -1;  // 0 run, 1 channels, 2 preferred, 3 chunks, 4 analogy
    std::shared_ptr<const std::vector<float>> m_features;
    std::vector<int64_t> m_featureShape;
    int m_featureLayer = -1;
    render::FeatureGrid m_grid;
    render::Texture m_gridTex;
    int m_hoverChannel = -1;
    bool m_maskDrag = false;
    int m_dragChannel = -1, m_dragX0 = 0, m_dragY0 = 0, m_dragX1 = 0, m_dragY1 = 0;
    std::vector<std::pair<int, float>> m_imageTop5;
    std::map<std::string, std::array<float, 4>> m_panelRects;  // name -> x0, y0, x1, y1 (the layout test)
    // Preferred input (DGN-AM with a generator, else pixels).
    int m_dreamMode = 0;  // 0 a class, 1 a channel of the selected tap
    int m_dreamChannel = 0;
    bool m_dreamPrior = true;  // the learned generator, when the model has one
    uint64_t m_dreamGeneration = 0;
    int m_dreamClass = 7, m_dreamGenerator = -1;
    std::string m_dreamUnit;
    std::vector<float> m_dreamActivations;
    std::shared_ptr<const DreamResult> m_dreamResult;
    render::Texture m_dreamTex;
    // Latent chunks and analogies (gui_latent.cpp).
    struct Latent {
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
        ImageF shown[7];  // what the views show (pixel readouts): input, decoded, second, a, b, c, d
        uint64_t lastPosted = 0, staleBefore = 0;  // request ids: the newest, and the first of the open model's
    } m_latent;
    widgets::FilePickerState m_secondPicker, m_slotPicker;
    int m_slotPickerTarget = 0;
    void pollLatent();
    bool latentAvailable();  // says what the latent tabs need when the model is not the default one
    void drawLatent();
    void drawAnalogy();
    void encodeMainForLatent();
    void requestLatentDecode();
    void requestAnalogy();
    uint64_t postEncode(int tag, const ImageF& image);
    bool latentIdle() const;
    std::vector<LayerSlot> m_slots;
    std::string m_pendingExport;
    void cancelExport(const std::string& why);  // says so when an export was pending

    std::string m_error, m_status;
    std::vector<std::string> m_errorLog;
    widgets::FilePickerState m_imagePicker, m_modelPicker;
    std::vector<Sample> m_sampleCatalogue;  // assets/samples/samples.json
    std::vector<std::string> m_samples, m_defaultModels;  // m_samples: the ones that fit the open model
    bool m_openDefaultSample = false;  // no image yet: open the model's default sample once it has loaded
    std::vector<render::Texture> m_sampleTex;
    int m_stripShownLayer = -1;  // the layer the strip last scrolled to
    FrameStats m_stats;
    std::chrono::steady_clock::time_point m_started = std::chrono::steady_clock::now();
    float m_preimageRect[4] = {0, 0, 0, 0};
    int m_fbWidth = 0, m_fbHeight = 0;
};

}  // namespace preimage::app
