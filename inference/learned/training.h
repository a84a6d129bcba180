// Training and evaluating the default models. Torch-free API; call from one thread.
#pragma once

#include "inference/data/dataset.h"
#include "inference/engine.h"

#include <functional>
#include <string>

namespace preimage::dist {
class Group;
}

namespace preimage {

struct TrainProgress {
    int epoch = 0, epochs = 0;  // 1-based epoch
    int step = 0, steps = 0;    // within the epoch
    float loss = 0;             // running mean of the epoch's loss
    float imagesPerSecond = 0;
    float testAccuracy = -1;    // set at the end of each epoch
};
using TrainProgressFn = std::function<void(const TrainProgress&)>;

struct TrainClassifierOptions {
    std::string outDir;          // receives weights.pt and manifest.json (written atomically)
    int epochs = 12;
    int batch = 128;
    float learningRate = 1e-3f;  // Adam; cosine decay to zero over the run
    uint64_t seed = 1;
    int trainLimit = 0;          // > 0: train on the first N images only (tests)
    int testLimit = 0;
    std::string command;         // recorded in the manifest
    std::string fashionDir;      // Fashion-MNIST's IDX folder ("" = Debian's, or $PREIMAGE_FASHION_MNIST)
    // Data other than Fashion-MNIST (both or neither): images of one size and channel count, labels < classes.
    const Dataset* train = nullptr;
    const Dataset* test = nullptr;
    std::string data, description;  // what the data and the model are (the manifest's words)
};

struct ClassifierMetrics {
    float testAccuracy = 0;
    float firstLoss = 0, lastLoss = 0;  // first batch's loss, last epoch's mean loss
    double seconds = 0;
};

// In a distributed job (`group`) the training is data-parallel: every rank draws the same global batches and
// flips and takes its slice; the summed loss's gradients are added by one all-reduce and divided by the batch's
// count, as one process computes them; rank 0 writes the model.
ClassifierMetrics trainClassifier(const TrainClassifierOptions& options, const TrainProgressFn& progress = {},
                                  dist::Group* group = nullptr);

// Top-1 accuracy of a classifier model on a dataset (images prepared to the model's input).
// Top-1 accuracy; `progress(done, total)` after each batch.
float evaluateAccuracy(Model& model, const Dataset& data, int batch = 500,
                       const std::function<void(int, int)>& progress = {});

}  // namespace preimage
