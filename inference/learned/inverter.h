// Learned inverters (Dosovitskiy & Brox 2016): a decoder per layer trained to map the classifier's
// features Phi_l(x) back to x, giving a pre-image in one forward pass. Decoders of a default model live
// in assets/models/<model>/inverters/<layer>.{json,pt}. Torch-free API; one thread at a time.
#pragma once

#include "inference/data/image_stream.h"
#include "inference/learned/training.h"

namespace preimage::dist {
class Group;
}

namespace preimage {

struct TrainInverterOptions {
    std::string layer;
    std::string outDir;          // receives <layer>.pt and <layer>.json (written atomically)
    int epochs = 2;
    int batch = 128;
    float learningRate = 1e-3f;  // Adam, cosine decay
    uint64_t seed = 1;
    int trainLimit = 0, testLimit = 0;
    // Weight of the feature loss added to the pixel MSE (Dosovitskiy & Brox): the mean relative squared error
    // ||Phi(dec(z)) - z||^2 / ||z||^2 of the decoded batch, which pulls pre-images towards what the layer keeps.
    // 0: pixel loss only. Streaming trainer only.
    float featureWeight = 0;
    std::string command;         // recorded in the manifest
};

struct InverterMetrics {
    float testRmse = 0;               // pixel RMSE of the decoded test images, [0,1] units
    float testFeatureError = 0;       // mean ||Phi(dec(z)) - z|| / ||z|| on the test images
    float firstLoss = 0, lastLoss = 0;
    double seconds = 0;
};

struct StreamInverterMetrics : InverterMetrics {
    float meanImageRmse = 0;  // the baseline: the mean training image as everyone's pre-image
    int trainImages = 0, testImages = 0;
    int firstEpoch = 1;       // > 1 when resumed from a checkpoint
};

// Trains the decoder for `options.layer` of any model (a TorchScript file or a default model) on a stream of
// images, evaluating on a held-out stream. Pixel MSE; Adam with cosine decay. After every epoch a checkpoint
// (weights, optimiser, epoch, the mean image) is written atomically to <outDir>/<layer>.ckpt.*; `resume` starts
// from it. The decoder and its manifest (architecture, training, metrics) go to <outDir>/<layer>.{pt,json}.
// With a `group` (a distributed job) the training is data-parallel: every rank takes its slice of each global
// batch of `options.batch` images, the gradients of the batch's summed loss are summed by one all-reduce of a
// flat buffer and divided by the batch's image count (as one process computes them), the decoder starts from
// rank 0's weights, rank 0 alone writes checkpoints and the decoder, and the held-out metrics are summed over
// the ranks' slices. A resumed run needs the checkpoint visible to every rank (a shared folder).
StreamInverterMetrics trainInverter(Model& model, const TrainInverterOptions& options, ImageStream& train, ImageStream& test,
                                    bool resume, const TrainProgressFn& progress = {}, dist::Group* group = nullptr);
// The decoders in `directory` evaluated on a stream: pixel RMSE and feature error.
InverterMetrics evaluateInverter(Model& model, const std::string& directory, int layerIndex, ImageStream& data);

// Trains the decoder for `options.layer` of a default classifier on Fashion-MNIST.
InverterMetrics trainInverter(Model& classifier, const TrainInverterOptions& options, const TrainProgressFn& progress = {});

// Decodes the test set with a trained decoder: the metrics above (first/lastLoss unset).
InverterMetrics evaluateInverter(Model& classifier, int layerIndex, const Dataset& test);

}  // namespace preimage
