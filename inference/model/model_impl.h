// Torch-side view of a Model: a forward pass that can stop at any layer. Default models are a chain of
// stages; TorchScript files are expanded into graph taps (graph_taps.h). Included only by inference/*.cpp
// and torch tests. One thread at a time, as Model (engine.h).
#pragma once

#include "inference/engine.h"
#include "inference/model/graph_taps.h"

#include <torch/script.h>
#include <torch/nn/modules/container/sequential.h>

#include <nlohmann/json.hpp>

#include <map>

namespace preimage {

// One step of a default model's chain.
struct Stage {
    std::string name, kind;
    std::function<torch::Tensor(const torch::Tensor&)> forward;
    bool listed = true;  // false for Dropout/Identity/Flatten: run, but not offered as a layer
};

struct Model::Impl {
    std::string name;
    InputSpec input;
    std::vector<Stage> stages;    // default models
    std::vector<LayerInfo> layers;
    std::vector<int> layerStage;  // default models: layers[i] is the output of stages[layerStage[i]]
    std::unique_ptr<GraphTaps> taps;  // TorchScript files
    std::vector<int> layerTap;        // TorchScript files: layers[i] is taps->taps()[layerTap[i]]
    int totalWeightLayers = 0;
    std::vector<int64_t> outputShape;  // the network's output for one image (without the batch dimension)
    std::string manifestText;
    std::vector<std::string> classNames;  // from the manifest
    std::string directory;  // default models: assets/models/<name>
    std::string inverterDirectory;  // learned inverters: <directory>/inverters, or FILE.inverters beside a TorchScript file
    std::map<int, torch::nn::Sequential> decoders;  // learned inverters, loaded on first use
    torch::Device device = torch::kCPU;
    // Exactly one of these holds the network (script: with `taps`).
    torch::jit::Module script;
    torch::nn::Sequential native{nullptr};

    // Input in model units [N, C, H, W] -> output of layer `layerIndex`.
    torch::Tensor forwardTo(const torch::Tensor& x, int layerIndex) const;
    torch::Tensor forwardAll(const torch::Tensor& x) const;
    // Input -> the network's output, and in `values` the outputs of layers `layerIndices` (in that order), from one pass.
    torch::Tensor forwardCollect(const torch::Tensor& x, const std::vector<int>& layerIndices,
                                 std::vector<torch::Tensor>& values) const;
    // [0,1] prepared images -> normalised input tensor on the device, and back.
    torch::Tensor toInput(const std::vector<ImageF>& prepared) const;
    ImageF fromInput(const torch::Tensor& x) const;  // one image [C,H,W], clamped to [0,1]
    // One image [C,H,W] in the model's input space as RGBA8 [H,W,4] on its device (grey repeated, alpha 255),
    // contiguous: what the CUDA-GL interop path copies into a texture without visiting the host.
    torch::Tensor toRgba8(const torch::Tensor& x) const;
    void describeLayers();                           // fills layers from one forward pass
};

// ---- The default-model architecture, described in the manifest as a list of layer specs ----------
// {"name": "conv1", "type": "conv", "in": 1, "out": 32, "kernel": 3, "pad": 1} | relu | maxpool
// {"kernel": 2} | flatten | linear {"in", "out"} | dropout {"p"}
torch::nn::Sequential buildSequential(const nlohmann::json& architecture);
nlohmann::json defaultClassifierArchitecture();
// The same plain chain for `channels` x side x side images (side a multiple of 4) and `classes` outputs.
nlohmann::json classifierArchitecture(int channels, int side, int classes);
// A decoder from a layer's features (shape without batch) back to an image of `image` channels/size:
// convolutions and nearest-neighbour 2x upsampling, narrower at higher resolution, sigmoid output.
nlohmann::json decoderArchitecture(const std::vector<int64_t>& featureShape, const InputSpec& image);
torch::nn::Sequential loadDecoder(const std::string& directory, const std::string& layer);
// The learned inverter of layer `layerIndex` (Model::hasLearnedInverter: check first) on its features [N, ...]: the
// pre-images [N,C,H,W] in [0,1] pixels (no gradient; the decoder is loaded on first use). inference/learned.
torch::Tensor decodeLearned(Model::Impl& M, int layerIndex, const torch::Tensor& features);
// [N,C,H,W] pixels in [0,1] -> the model's input units (its declared mean and std).
torch::Tensor normalisedInput(const Model::Impl& M, const torch::Tensor& pixels);

torch::Device resolveDevice(const std::string& device);
ImageF tensorToImage(const torch::Tensor& chw01);  // [C,H,W] in [0,1] -> ImageF
torch::Tensor imageToTensor(const ImageF& image);   // ImageF -> [C,H,W] float

}  // namespace preimage
