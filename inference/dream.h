// Preferred inputs with a generator prior (Nguyen et al. 2016, DGN-AM): optimise the code z of a learned
// inverter (the generator) so that a chosen unit of the classifier fires on Dec(z), keeping z inside the
// per-dimension range seen on training data. Torch-free API; one thread at a time.
#pragma once

#include "engine.h"

namespace preimage {

struct DreamParams {
    std::string unit;                // "3" or a class name: that class's score; "layer:channel": a unit
    std::string generator = "relu4"; // the layer whose learned inverter generates the images
    int iterations = 200;
    float learningRate = 0.05f;      // Adam on z, in units of the code's per-dimension range
    uint64_t seed = 0;
    int dataImages = 5000;           // training images for the code range and the activation statistics
};

struct DreamResult {
    ImageF image;
    std::string layer;
    int channel = 0;
    float activation = 0;            // the unit's activation on the final image
    float trainMax = 0, trainMean = 0;  // the unit's activation over the training images
    float startActivation = 0;       // on Dec(mean code), where the optimisation starts
    std::vector<float> history;      // activation per iteration
    double seconds = 0;
    bool cancelled = false;
};

struct DreamProgress {
    int iteration = 0, iterations = 0;
    float activation = 0;
    ImageF preview;  // every 10th iteration and the last
};

DreamResult dream(Model& classifier, const DreamParams& params,
                  const std::function<void(const DreamProgress&)>& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace preimage
