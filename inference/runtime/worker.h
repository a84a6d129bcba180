// The Worker: the one background thread that owns the models and runs every model job.
//
// Threading contract. post(), cancel(), take() and busy() may be called from any thread (the app
// calls them from the UI thread) and never wait for a job: requests go through a one-slot mailbox
// (the newest wins; posting cancels the running job between two optimisation iterations) and
// results come back through a one-slot mailbox of Frames (the newest wins, tagged with the
// request's generation so the UI can drop stale ones). Exceptions never cross threads: they travel
// in Frame::error. Models are created, used and destroyed on the worker thread only.
#pragma once

#include "inference/inversion/dream.h"
#include "inference/engine.h"
#include "inference/latent/latent.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace preimage {

class Mixer;

enum class JobKind { LoadModel, Invert, Sweep, Dream, Atlas };

struct Request {
    JobKind kind = JobKind::Invert;
    std::string model = "fashion";
    ModelOptions modelOptions;
    std::shared_ptr<const ImageF> image;  // Invert, Sweep: shared with the caller, never copied per request
    int layer = 0;               // Invert
    std::vector<int> layers;     // Sweep: empty = all
    InversionParams params;
    DreamParams dream;           // Dream, Atlas (accentuation: dream.accentuate, the open image)
    std::vector<std::string> units;  // Atlas: the units, rendered `atlasBatch` at a time
    int atlasBatch = 8;
    std::string judge;           // Dream, Atlas: a second classifier (TorchScript file) ranks class units; "" none
    int learnedKind = 0;         // Invert: 0 the layer's learned inverter, 1 its HyperNet, 2 the HyperNet with z = 0
    std::shared_ptr<const WarmStart> start;  // Invert: begin at this image (a neighbouring tap's pre-image), else noise
    int previewEveryMs = 100;    // live pre-images this often
    bool devicePreviews = false; // live pre-images as device RGBA8 (Frame::devicePreviews) when the model is on a GPU
};

struct ModelSummary {
    std::string name;
    InputSpec input;
    std::vector<LayerInfo> layers;
    std::vector<float> lambdaTv;  // the paper's value for each layer
    std::vector<std::string> classes;  // class names (a default model's manifest or the file's preimage.json), else empty
    int classCount = 0;                // > 0: the output is a vector of this many class scores (top-5 shown)
    std::vector<int64_t> outputShape;  // the network's output for one image
    std::vector<bool> learnedInverters;  // per layer: a trained decoder exists
    std::vector<bool> hyperNets;         // per layer: HyperNet decoders exist
    std::string defaultLayer;            // the tap a first run selects (a default model's manifest), else ""
    bool hasMixer = false;               // a chunked autoencoder beside the model (<model dir>/mixer)
    std::string device;
};

struct Frame {
    uint64_t generation = 0;
    JobKind kind = JobKind::Invert;
    bool done = false;     // the job's last frame
    bool cancelled = false;  // the frame cancel() leaves: the job of the previous generation was stopped
    std::string error;     // non-empty: the job failed with this message (shown in the UI)
    std::shared_ptr<const ModelSummary> model;
    ImageF target;                          // the image as the model sees it (prepared), Invert/Sweep
    std::optional<Model::LearnedPreimage> learned;  // Invert: the learned inverter's pre-image, if trained
    int layer = -1;
    ProgressEvent progress;                 // latest event, previews moved to `previews`
    std::vector<ImageF> previews;           // current pre-image per restart
    std::vector<DeviceRgba> devicePreviews; // the same on the GPU instead (Request::devicePreviews, CUDA builds)
    std::vector<ProgressEvent> history;     // every iteration so far (for the loss plot)
    std::shared_ptr<const InversionResult> result;  // Invert, when done
    int sweepDone = 0, sweepTotal = 0;               // Sweep progress in layers
    std::vector<std::shared_ptr<const InversionResult>> sweep;
    // Invert: the tap's value on the image (the channel grid) with its shape (no batch dimension), and the network's
    // top-5 classes (index, probability) on the image and, in the last frame, on the best pre-image; empty when the
    // network's output is not a vector of class scores.
    std::shared_ptr<const std::vector<float>> features;
    std::vector<int64_t> featureShape;
    std::string featuresError;  // why `features` is missing (the tap could not be read on this image), else ""
    std::vector<std::pair<int, float>> imageTop5, preimageTop5;
    std::vector<float> activations;                  // Dream: the unit's activation per iteration
    std::shared_ptr<const DreamResult> dream;        // Dream, when done (with its numbers: measureDream)
    // Atlas: the units finished so far (in order; each frame carries them all), of `atlasTotal`, and the rate.
    std::vector<std::shared_ptr<const DreamResult>> atlas;
    int atlasTotal = 0;
    double atlasSeconds = 0, atlasUnitsPerSecond = 0;
};

// Latent-code jobs on the chunked autoencoder (inference/latent/mixer.h): short (a few ms), so they never cancel
// the running inversion; the worker serves them between two of its iterations. Requests are keyed by
// (op, tag): a newer request with the same key replaces a pending one (dragging a slider: newest wins).
enum class LatentOp { Encode, Decode };

struct LatentRequest {
    LatentOp op = LatentOp::Decode;
    int tag = 0;                   // the caller's purpose (which slot, which view)
    std::string model = "fashion"; // the classifier whose mixer is used (and which classifies the results)
    std::vector<ImageF> images;    // Encode: any size, prepared by the classifier
    std::vector<Code> codes;       // Decode
};

struct MixerInfo {
    ChunkLayout layout;
    std::vector<ChunkBasis> bases;
    int classChunk = 0;
    float chunkThreshold = 1.f;
    float analogyStrength = 1.f;  // the vector analogy's default s
    std::vector<std::string> classes;
    std::vector<std::string> chunkFactors;  // per chunk: the known factor it carries most (factor table), or ""
};

struct LatentFrame {
    uint64_t id = 0;  // of the request
    LatentOp op = LatentOp::Decode;
    int tag = 0;
    std::string error;
    std::shared_ptr<const MixerInfo> mixer;
    std::vector<Code> codes;      // Encode: one per image
    std::vector<ImageF> images;   // Encode: the prepared inputs; Decode: the decoded images
    std::vector<int> predicted;   // the classifier's class for each image
    double ms = 0;                // time the job took on the worker
};

class Worker {
public:
    // threads: LibTorch intra-op threads for the worker, as setThreads takes them: 0 = the automatic policy of
    // threads.h (its loops measure and move to fewer threads when other work keeps cores busy), -1 = the same
    // leaving one core free (the app, for its UI thread), N > 0 = exactly N.
    explicit Worker(int threads = 0);
    ~Worker();  // cancels the running job and joins
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // UI thread (any one thread). post() returns the request's generation; the running job is cancelled at its
    // next iteration and its frames are dropped from then on. cancel() cancels the running and the pending job,
    // advances the generation (returned) and leaves one final frame of that generation with cancelled = true.
    uint64_t post(Request request);
    uint64_t cancel();
    std::optional<Frame> take();     // the newest frame not yet taken
    bool busy() const;               // a job is pending or running
    uint64_t generation() const;     // of the newest request

    uint64_t postLatent(LatentRequest request);  // returns the request's id
    std::vector<LatentFrame> takeLatent();       // finished latent jobs, oldest first (never blocks)
    bool latentBusy() const;                     // a latent job is pending or running

private:
    void run();
    void execute(const Request& request, uint64_t generation);
    void publish(Frame frame);
    void serveLatent();  // worker thread: runs every pending latent request
    std::shared_ptr<Model> model(const Request& request, std::shared_ptr<const ModelSummary>& summary);

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::optional<Request> m_pending;
    uint64_t m_generation = 0;
    bool m_running = false, m_quit = false;
    std::atomic<bool> m_cancel{false};
    std::optional<Frame> m_frame;
    std::deque<std::pair<uint64_t, LatentRequest>> m_latentPending;
    std::deque<LatentFrame> m_latentDone;
    uint64_t m_latentId = 0;
    bool m_latentRunning = false;
    // Worker thread only.
    std::shared_ptr<Model> m_model;
    std::string m_modelKey;
    std::shared_ptr<const ModelSummary> m_summary;
    std::shared_ptr<Model> judge(const Request& request, const Model& model);  // the request's judge, cached
    std::shared_ptr<Model> m_judge;
    std::string m_judgeKey;
    std::shared_ptr<Model> m_latentModel;  // the classifier beside the mixer (its own copy)
    std::shared_ptr<Mixer> m_mixer;
    std::shared_ptr<const MixerInfo> m_mixerInfo;
    std::string m_mixerKey;
    int m_threads;
    std::thread m_thread;
};

}  // namespace preimage
