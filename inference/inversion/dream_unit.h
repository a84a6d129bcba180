// The units a preferred input raises (dream.h's DreamParams::unit), parsed against a model, and their activation
// on a batch of the tap's values. Torch side: inference/*.cpp and torch tests only; any thread (no state).
#pragma once

#include "inference/model/model_impl.h"

#include <string>

namespace preimage {

struct DreamUnit {
    enum class Kind { Channel, Neuron, Direction };
    Kind kind = Kind::Channel;
    int layer = -1, channel = 0;
    int x = 0, y = 0;             // Neuron: the position in the channel's map
    torch::Tensor direction;      // Direction: [C], unit length
    bool classUnit = false;       // a class score (the output layer, by index or name)
};

// Throws Error naming the valid range (classes, channels, positions, the direction's length) or the syntax.
DreamUnit parseDreamUnit(const Model& model, const std::string& spec);

// The unit's activation for each row of `features` (the tap's value for a batch, [N, ...]): a channel's mean (a
// class score), one neuron, or the mean over positions of the projection on the direction. [N].
torch::Tensor unitActivation(const torch::Tensor& features, const DreamUnit& unit);

// What a unit reads for a batch of model inputs: a class unit the network's output, [N, K] (what its softmax and a judge
// read; it may drop or reshape what the last tap holds: MobileNet V2's 1001-channel logits tap keeps the background
// class that its output drops), any other unit its tap's value.
torch::Tensor unitFeatures(const Model::Impl& M, const torch::Tensor& input, const DreamUnit& unit);

}  // namespace preimage
