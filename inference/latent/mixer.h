// The chunked, disentangled autoencoder of Hu et al. 2018 ("Disentangling factors of variation by mixing
// them"): trained on Fashion-MNIST beside the default classifier (assets/models/fashion/mixer/), or on any
// image folder, unsupervised (assets/models/shapes/mixer/, on the tool's own shapes dataset); and the same
// encoder and decoder trained as a plain autoencoder, the baseline of the paper's table (`--baseline ae`).
//
// Training step (design.md point 3): f1 = Enc(x1), f2 = Enc(x2); a random chunk mask m mixes them,
// x3 = Dec(m*f1 + (1-m)*f2); unmixing re-encodes x3, puts f1's chunks back where m took f2's, and must
// reconstruct x1: Dec(m*Enc(x3) + (1-m)*f1) ~ x1. Plus plain reconstruction, an adversarial loss on x3
// (a discriminator against real images) and a chunk classifier that tells, from (x1, x2, x3), which image
// each chunk of x3 came from. One documented addition (weak supervision, on by default): a linear class
// head on chunk 0 of Enc(x1) and of Enc(x3) (whose chunk 0 came from x1 or x2), so that one known chunk
// carries the class; the evaluation still finds the class chunk by nearest-neighbour mAP. On a folder the
// class weight is 0: the mixer sees images only.
// Torch-free API; one thread at a time.
#pragma once

#include "inference/latent/latent.h"
#include "inference/learned/training.h"

#include <memory>

namespace preimage::dist {
class Group;
}

namespace preimage {

struct TrainMixerOptions {
    std::string outDir;     // receives weights.pt and manifest.json (written atomically), and the checkpoint
    ChunkLayout layout;     // 8 chunks of 8 dims (the paper's MNIST setting)
    bool baseline = false;  // a plain autoencoder: the same encoder and decoder, reconstruction loss only
    std::string decoder = "deconv";  // or "broadcast" (spatial broadcast decoder; see mixer_net.h)
    bool resume = false;    // continue from the checkpoint in outDir (written after every epoch)
    int stopAfter = 0;      // > 0: stop after this epoch of the schedule, leaving the checkpoint (a time-sliced job)
    std::string data;       // what the images are (recorded in the manifest)
    int epochs = 6, batch = 64;
    float learningRate = 1e-3f;  // autoencoder; the discriminator runs at a fifth of it
    float lambdaGan = 0.1f, lambdaChunk = 1.f, lambdaClass = 300.f;  // lambdaClass = 0: purely unsupervised
    uint64_t seed = 1;
    int trainLimit = 0, testLimit = 0;
    int evalPairs = 2000;   // swap pairs and analogy triples in the evaluation
    std::string initDir;    // non-empty: start from this mixer's weights (fine-tuning; critics start afresh)
    std::string command;
};

struct MixerMetrics {
    float reconRmse = 0;              // test pixel RMSE of Dec(Enc(x))
    float reconAccuracy = 0;          // the classifier's accuracy on Dec(Enc(x)): the ceiling for the swap (-1: no classifier)
    std::vector<float> chunkMap;      // per chunk: nearest-neighbour mAP of the class on that chunk alone
    float fullCodeMap = 0;            // the same on the whole code
    int classChunk = 0;               // the chunk with the highest class mAP
    float swapAccuracy = 0;           // class chunk from b, rest from a: classifier says b's class
    std::vector<float> swapByClass;   // swap accuracy by b's class (NaN where no pair has that class)
    float swapOtherKeepsA = 0;        // all other chunks from b, class chunk from a: classifier says a's class
    float analogyVectorAccuracy = 0;  // d = c + s (b - a) classified as b's class
    float analogyStrength = 1;        // the s those figures used
    float analogyChunksAccuracy = 0;  // d = c with b's differing chunks classified as b's class
    float analogyChunksCopied = 0;    // mean number of chunks that chunk transfer took from b
    float chunkThreshold = 0;         // the chunk-transfer threshold these figures used
    int pairs = 0, queries = 0, gallery = 0;  // pairs 0: no classifier, so no swap or analogy figures
    int classes = 10;
    float firstLoss = 0, lastLoss = 0;  // total generator-side loss: first batch, last epoch's mean
    double seconds = 0;
    int stoppedAt = 0;                // > 0: training stopped after this epoch (stopAfter); nothing evaluated
};

// The metrics as a JSON object (the manifest's "metrics" and `eval mixer --json`).
std::string metricsJson(const MixerMetrics& metrics);

class Mixer {
public:
    // The mixer trained for a default classifier (<model dir>/mixer). Throws Error when there is none.
    static std::shared_ptr<Mixer> load(const Model& classifier);
    static std::shared_ptr<Mixer> loadDirectory(const std::string& dir);
    static bool exists(const Model& classifier);
    ~Mixer();

    const ChunkLayout& layout() const;
    int classChunk() const;
    const std::vector<ChunkBasis>& bases() const;   // per chunk, from the training set
    float chunkThreshold() const;                   // analogy by chunks (differingChunks): the ratio that counts as differing
    float analogyStrength() const;                  // analogy by vectors: the default s in d = c + s (b - a)
    const std::string& manifestJson() const;
    int imageSide() const;                          // images are channels x side x side in [0,1]
    int imageChannels() const;
    bool isBaseline() const;                        // a plain autoencoder (`train mixer --baseline ae`)
    // Per chunk, the factor it carries most (the manifest's factor table), or "" where none is known.
    std::vector<std::string> chunkFactors() const;

    // Images must be prepared (channels, side x side); see Model::prepare.
    std::vector<Code> encode(const std::vector<ImageF>& prepared);
    std::vector<ImageF> decode(const std::vector<Code>& codes);
    Code encode(const ImageF& prepared) { return encode(std::vector<ImageF>{prepared})[0]; }
    ImageF decode(const Code& code) { return decode(std::vector<Code>{code})[0]; }

    struct Impl;
    Impl& impl() { return *m_impl; }

private:
    explicit Mixer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Trains on `train` (images of one size and channel count; labels are used only with lambdaClass > 0) and
// evaluates on `test`. `classifier` (may be null) must take the images as they are; it gives the class metrics
// (reconstruction accuracy, swaps, analogies). A checkpoint (weights, critics, optimisers, random state, epoch)
// is written atomically after every epoch; `resume` continues from it, to the same weights an unbroken run gives.
// In a distributed job (`group`) the training is data-parallel (the same global batches and masks on every
// rank, each its slice; one all-reduce per optimiser and step); rank 0 evaluates and writes the mixer.
MixerMetrics trainMixer(const Dataset& train, const Dataset& test, Model* classifier, const TrainMixerOptions& options,
                        const TrainProgressFn& progress = {}, dist::Group* group = nullptr);
// threshold < 0, strength < 0: the manifest's chunk-transfer threshold and vector-analogy strength.
// Needs at least kMinMixerEvalImages images (the first fifth query the rest for the mAP) and pairs >= 1.
// `progress(done, total, stage)` after each stage.
constexpr int kMinMixerEvalImages = 50;
using StageProgressFn = std::function<void(int, int, const std::string&)>;
// `classifier` may be null (no class metrics).
MixerMetrics evaluateMixer(Model* classifier, Mixer& mixer, const Dataset& test, int pairs = 2000, uint64_t seed = 1,
                           float threshold = -1.f, float strength = -1.f, const StageProgressFn& progress = {});

// The codes of a dataset's images (N x layout.size(), row-major).
std::vector<float> encodeDataset(Mixer& mixer, const Dataset& data);

// Rewrites the metrics (and the chunk-transfer threshold and analogy strength they used) in the mixer's manifest, atomically,
// recording the command that did it (`preimage eval mixer --update-manifest`). `factorsJson` (if not empty): the
// factor table and scores, kept under "factors".
void updateMixerManifest(Mixer& mixer, const MixerMetrics& metrics, const std::string& command,
                         const std::string& factorsJson = "");

// A few training steps from scratch on Fashion-MNIST (tests): generator-side loss of the first and the last step.
std::pair<float, float> mixerLossAfterSteps(const TrainMixerOptions& options, int steps);

}  // namespace preimage
