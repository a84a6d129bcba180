// Learned inverters (Dosovitskiy & Brox 2016): a decoder per layer trained to map the classifier's
// features Phi_l(x) back to x, giving a pre-image in one forward pass. Decoders of a default model live
// in assets/models/<model>/inverters/<layer>.{json,pt}. Torch-free API; one thread at a time.
#pragma once

#include "training.h"

namespace preimage {

struct TrainInverterOptions {
    std::string layer;
    std::string outDir;          // receives <layer>.pt and <layer>.json (written atomically)
    int epochs = 2;
    int batch = 128;
    float learningRate = 1e-3f;  // Adam, cosine decay
    uint64_t seed = 1;
    int trainLimit = 0, testLimit = 0;
    std::string command;         // recorded in the manifest
};

struct InverterMetrics {
    float testRmse = 0;               // pixel RMSE of the decoded test images, [0,1] units
    float testFeatureError = 0;       // mean ||Phi(dec(z)) - z|| / ||z|| on the test images
    float firstLoss = 0, lastLoss = 0;
    double seconds = 0;
};

// Trains the decoder for `options.layer` of a default classifier on Fashion-MNIST.
InverterMetrics trainInverter(Model& classifier, const TrainInverterOptions& options, const TrainProgressFn& progress = {});

// Decodes the test set with a trained decoder: the metrics above (first/lastLoss unset).
InverterMetrics evaluateInverter(Model& classifier, int layerIndex, const Dataset& test);

}  // namespace preimage
