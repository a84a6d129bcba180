// The app's session without GL: what is open, the jobs it asks of the Worker and the results they bring back
// (requests, generations, cached per-layer results, stale frames dropped, exports). The window (app.h) owns a
// Session, draws its state and mirrors the images it names into textures; tests drive a Session alone.
//
// Threading contract. Every method is called from one thread, the UI thread, and none waits: model work runs on
// the Worker's thread, file work (decoding an opened image, encoding and writing exports, saving settings) on
// the Session's file thread (FileThread). poll() takes what both have finished and applies it. State members are
// public for the panels to read; only the Session's own methods write them, except `settings`, which the parameters
// panel edits in place (then saveSettings() and resetResults()/requestInversion()).
#pragma once

#include "app/gui/file_thread.h"
#include "app/gui/samples.h"
#include "app/gui/settings.h"

#include "inference/runtime/worker.h"
#include "render/feature_grid.h"
#include "render/image.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace preimage::app {

// Per-layer results for the current model, image and parameters (the layer strip and exports).
struct LayerSlot {
    std::shared_ptr<const InversionResult> result;
    std::optional<Model::LearnedPreimage> learned;  // the learned inverter's pre-image, when one exists
    std::shared_ptr<const std::vector<float>> features;  // the tap's value on the image (the channel grid)
    std::vector<int64_t> featureShape;
    std::vector<std::pair<int, float>> preimageTop5;  // the network's classes on the pre-image
};

// The Dream tab's settings (what the next preferred input or atlas asks for).
struct DreamSettings {
    int param = -1;                 // a DreamParametrisation; -1: the model's default (the generator prior where there is one)
    bool pad = true, jitter = true, scale = true, rotate = true, crops = false;  // transformation robustness, each step
    int iterations = 0;             // 0: the parametrisation's default
    bool contrastive = true;        // class units: the score less the mean of all scores (DreamParams::contrastive)
    float weightNoise = 0.2f;       // the weights times 1 + N(0, s^2) each step (DreamParams::weightNoise); not when accentuating
    float featurePrior = 15.f;      // early layers' statistics kept near photographs' (DreamParams::featurePrior); 3-channel networks
    bool accentuate = false;        // start from the open image and stay near it (pixels, Fourier)
    float lambda = 0;               // accentuation's penalty weight; 0: 100 x the unit's activation on the image
    std::string judge;              // a second classifier (TorchScript file) that ranks class images; "" none
    int atlasLimit = 64;            // the atlas: the tap's first channels
    int atlasSide = 112;            // its images' side where the network takes any size (else the model's)
    int atlasIterations = 96;
    int atlasBatch = 8;
    // Sets the parametrisation and its default transforms (DreamDefaults).
    void setParam(DreamParametrisation p);
    DreamTransforms transforms() const;  // the toggles as transforms (lucid's values; MACO's crops)
};

struct FrameStats {
    std::vector<float> frameMs;      // UI work per frame (input to draw submission), every frame
    std::vector<float> busyFrameMs;  // the same, only frames while a job ran
    uint64_t uploads = 0, staleFramesDropped = 0;
    uint64_t deviceUploads = 0;  // of those, device images copied through CUDA-GL interop (CUDA builds)
    // Seconds from the app's start to the first pre-image shown (a live preview) and the first one finished.
    double firstPreviewSeconds = -1, firstResultSeconds = -1;
    // The first finished inversion: its optimiser, final objective, and the seconds into it at which its objective
    // first came within 10% of that final value (a recognisable pre-image).
    std::string firstOptimizer;
    double firstObjective = -1, firstWithin10PercentSeconds = -1;
};

// What changed since the last poll(), for the window to mirror into textures and widgets.
struct SessionUpdate {
    bool model = false;      // another model was loaded (rebuild the tree, the sample thumbnails, the latent views)
    bool image = false;      // the opened image (Session::image)
    bool target = false;     // the model's view of it (Session::target)
    bool previews = false;   // Session::frame.previews (per restart), or frame.devicePreviews on the interop path
    bool variance = false;   // the current result's variance map
    bool learned = false;    // Session::learned
    bool grid = false;       // Session::grid (the channel grid)
    bool dream = false;      // Session::dreamPreview (and, when done, dreamResult's transparency and difference maps)
    bool atlas = false;      // Session::atlasMosaic
    bool samples = false;    // Session::sampleImages
    std::vector<int> thumbnails;  // layers whose result is new (the strip)
    void merge(const SessionUpdate& o);
};

class Session {
public:
    // inverters: the learned inverters' folder for every model opened (--inverters DIR); empty = each model's own.
    Session(Settings settings, const std::string& modelOverride, const std::string& imageOverride,
            const std::string& inverters = "");
    ~Session();  // stops the worker, then saves the settings (the file thread finishes its queue first)
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Takes the Worker's newest frame and the file thread's finished jobs; returns what changed since the last
    // call (actions in between included).
    SessionUpdate poll();

    // Actions (the UI, keyboard, drag-and-drop and scripts all go through these).
    void openImage(const std::string& path);  // decoded on the file thread; the current image stays until then
    void openModel(const std::string& nameOrPath);
    void selectLayer(int index);
    void setMask(int x, int y, int w, int h, int firstChannel, int lastChannel, bool rerunSame = false);
    void clearMask();
    void setLearnedKind(int kind);  // 0 decoder, 1 HyperNet, 2 HyperNet with z = 0 (the ablation); reruns
    void rerun();
    void stop();
    void resetResults();            // the settings changed: every layer is computed anew
    void requestInversion();
    // Preferred input of a unit (a class, or "LAYER:CHANNEL"): through the learned generator when the model has
    // one and `prior` is on (DGN-AM), else in pixel space (any model).
    // With `dreamSettings`: the parametrisation, transforms, accentuation of the open image, the judge.
    void startDream(const std::string& unit, bool prior);
    int dreamGenerator() const;     // the layer whose learned inverter is the preferred input's generator, -1 none
    // The parametrisation the next dream runs (dreamSettings.param, or the model's default given `prior`).
    DreamParametrisation dreamParam(bool prior) const;
    DreamParams dreamParams(bool prior) const;
    // The selected tap's atlas: its first dreamSettings.atlasLimit channels (classes, for the class scores) as one
    // job, a batch at a time; atlasMosaic fills as batches finish.
    void startAtlas();
    // The unit of atlas cell c ("LAYER:C", or the class index), "" when there is none.
    std::string atlasUnit(int cell) const;
    void exportSweep(const std::string& pngPath);    // computes missing layers first, then writes (file thread)
    bool exportRestarts(const std::string& pngPath); // false (and an error) when nothing is finished to export
    // Composes, encodes and writes a PNG (and, when `json` is not empty, its numbers beside it as .json) on the
    // file thread; the status line says when it is written, the error line when it is not.
    void writeExport(std::function<render::Image()> image, const std::string& pngPath, std::string json = "");
    // A screenshot (the script's), encoded and written on the file thread without a word in the status line.
    void writeScreenshot(render::Image image, const std::string& pngPath);
    // Decodes an image file on the file thread; `then` runs on the UI thread with it (a failure goes to setError).
    void decodeImage(const std::string& path, std::function<void(std::shared_ptr<const ImageF>)> then);
    // The open model's samples, decoded on the file thread for the thumbnails (SessionUpdate::samples).
    void loadSampleImages();
    void setError(const std::string& message);
    void saveSettings();            // on the file thread

    // Queries.
    bool idle() const;  // no job running or pending, no export waiting, no file job pending
    const InversionResult* currentResult() const;
    std::string layerName(int i) const;
    int layerIndex(const std::string& name) const;
    std::string defaultExportPath(const std::string& what) const;
    InversionParams params() const;
    Request baseRequest(JobKind kind) const;
    // The warm start of an inversion of tap `at` (settings.inversion.warmStart, the Sobolev optimiser): the best
    // pre-image of a tap a step away (adjacentTaps) finished from noise with these settings, the tap stepped from
    // first; null: noise.
    std::shared_ptr<const WarmStart> warmStartFor(int at) const;
    // Whether taps a and b are a step apart: consecutive layers, or consecutive children of one module (siblings).
    bool adjacentTaps(int a, int b) const;

    // State (read by the panels).
    Settings settings;
    std::unique_ptr<Worker> worker;
    std::shared_ptr<const ModelSummary> model;
    std::string modelKey;    // the loaded model's name or path (what jobs are requested with)
    std::string loadingKey;  // a model being opened: the current one stays until it has loaded
    std::string imagePath;
    std::shared_ptr<const ImageF> image;  // as loaded, [0,1]; shared with every request, never copied
    ImageF target;                        // the model's view of the image (prepared), once a job reports it
    int layer = 0;
    int previousLayer = -1;  // the tap selected before `layer` (a warm start prefers it)
    std::string wantLayer;  // layer to select once the model's layers are known
    uint64_t jobGeneration = 0;
    JobKind jobKind = JobKind::Invert;
    bool jobRunning = false;
    Frame frame;  // newest frame of the current job
    std::optional<Model::LearnedPreimage> learned;  // for the current layer, when a decoder exists
    int learnedLayer = -1;
    uint64_t learnedGeneration = 0;  // the job whose learned pre-image is shown
    std::string inverters;           // --inverters DIR
    bool devicePreviews = false;     // ask for previews as device images (the window has a CUDA-GL interop path)
    int learnedKind = 0;
    std::shared_ptr<const std::vector<float>> features;
    std::vector<int64_t> featureShape;
    int featureLayer = -1;
    render::FeatureGrid grid;
    std::string gridNote;  // why the grid is empty (said on the Channels tab), else ""
    std::vector<std::pair<int, float>> imageTop5;
    uint64_t dreamGeneration = 0;
    std::string dreamUnit;
    std::vector<float> dreamActivations;
    std::shared_ptr<const DreamResult> dreamResult;
    ImageF dreamPreview;
    DreamSettings dreamSettings;
    std::vector<std::shared_ptr<const DreamResult>> atlas;  // finished cells, in channel order
    int atlasLayer = -1, atlasTotal = 0, atlasColumns = 1, atlasTile = 0;
    uint64_t atlasGeneration = 0;
    double atlasSeconds = 0, atlasUnitsPerSecond = 0;
    std::string atlasParam;
    ImageF atlasMosaic;  // the cells as tiles, atlasColumns a row (about square), in channel order
    std::vector<LayerSlot> slots;
    std::string pendingExport;
    std::string error, status;
    std::vector<std::string> errorLog;
    std::vector<Sample> sampleCatalogue;  // assets/samples/samples.json
    std::vector<std::string> samples, defaultModels;  // samples: the ones that fit the open model
    std::vector<render::Image> sampleImages;          // decoded samples (loadSampleImages), empty when unreadable
    bool openDefaultSample = false;  // no image yet: open the model's default sample once it has loaded
    FrameStats stats;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

private:
    void applyFrame(Frame f);
    void applyDreamFrame(const Frame& f);  // Dream and Atlas frames (session_dream.cpp)
    ImageF atlasMosaicImage(const std::vector<std::shared_ptr<const DreamResult>>& cells) const;
    void onModelLoaded();
    void setFeatures(std::shared_ptr<const std::vector<float>> values, const std::vector<int64_t>& shape, int layer);
    void finishExport();
    void cancelExport(const std::string& why);  // says so when an export was pending
    void showCached(int index);                  // a layer already computed with these settings

    SessionUpdate m_update;
    FileThread m_files;
    uint64_t m_imageRequest = 0;  // the newest openImage(): older decodes that finish later are dropped
    mutable int m_dreamGenerator = -2;  // cached per model (-2: not looked up yet)
};

}  // namespace preimage::app
