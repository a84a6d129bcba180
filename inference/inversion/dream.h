// Preferred inputs: the input that most excites a unit (a class score, or a channel of any tap).
// With a generator prior (Nguyen et al. 2016, DGN-AM): optimise the code z of a learned inverter (the
// generator) so that the unit fires on Dec(z), keeping z inside the per-dimension range seen on training data.
// Without one (any network): optimise the pixels themselves, as Lucent does: a sigmoid parametrisation keeps
// them in [0,1], a total-variation penalty and a random jitter each step keep high frequencies out.
// Torch-free API; one thread at a time.
#pragma once

#include "inference/engine.h"

namespace preimage {

struct DreamParams {
    std::string unit;                // "3" or a class name: that class's score; "layer:channel": a unit
    std::string generator = "relu4"; // the layer whose learned inverter generates the images; "" = pixels (any model)
    int iterations = 200;
    float learningRate = 0.05f;      // Adam on z, in units of the code's per-dimension range
    uint64_t seed = 0;
    int dataImages = 5000;           // training images for the code range and the activation statistics
    float tv = 0.05f;                // pixels: total-variation weight, relative to the unit's activation scale
    int jitter = -1;                 // pixels: random shift each step, up to this many pixels (-1: 1/16 of the side)
};

struct DreamResult {
    ImageF image;
    std::string layer;
    int channel = 0;
    float activation = 0;            // the unit's activation on the final image
    float trainMax = 0, trainMean = 0;  // the unit's activation over the training images (NaN: pixels, none used)
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
