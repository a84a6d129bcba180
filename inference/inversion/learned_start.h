// The learned start (InversionParams::learnedStart, README "The learned start"): where the model has a learned
// inverter for the tap, the Sobolev optimiser starts from the decoder's pre-image of the targets' features instead of
// noise. prepareProblem fits it (fitLearnedStart); invertBatch runs the images whose start explains little of the
// target from noise (withoutWeakStarts). Torch header: inference/inversion only.
#pragma once

#include "inference/inversion/problem.h"

namespace preimage::inversion {

// Sets P.warm to each image's decoding scaled towards black by the brightness factor with the lowest objective (a
// golden-section search), P.startBrightness, P.startKept (the start explains the target) and P.startEvaluations (the
// forward passes spent).
void fitLearnedStart(Model::Impl& M, int layerIndex, Problem& P, const InversionParams& params);

// The images of the batch whose learned start was not kept (P.startKept) from noise, the others from their learned
// starts, each group a batch of its own (the kept group fits again, so that each image gets what a batch of one
// gives); the fit's forward passes count for every image.
std::vector<InversionResult> withoutWeakStarts(Model& model, const std::vector<ImageF>& images, int layerIndex,
                                               const InversionParams& params, const std::vector<uint64_t>& seeds,
                                               const ProgressFn& progress, const std::atomic<bool>* cancel, const Problem& P);

}  // namespace preimage::inversion
