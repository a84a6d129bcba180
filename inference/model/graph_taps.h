// Taps on a TorchScript network's forward graph: the output of any submodule call, computed by a graph
// that stops there. The only file that touches TorchScript's JIT IR is graph_taps.cpp; this header
// exposes taps as plain descriptions plus "forward to tap" functions. Like a Model, a tapped network is used
// by one thread at a time (the Worker's in the app).
//
// How (graph_taps.cpp): the top-level forward graph is copied; every prim::CallMethod is inlined with the
// callee's own graph while the module path of each call is recorded, and the call's result is
// snapshotted by a clone at the call site (later in-place ops such as relu_ or `out += identity` cannot
// reach the snapshot); simple attributes of known modules (training, flags, sizes) are folded into
// constants and propagated, which removes `if self.training` branches. A tap's graph is the expanded
// graph with every node after the tap's snapshot deleted and dead code eliminated, so the work after the
// tap is never done. Graphs run through the TorchScript interpreter, so autograd reaches the input.
//
// Torch-side header (uses torch::jit::Module and at::Tensor): inference/*.cpp and torch tests only.
// Thread contract: one thread at a time (the Model's owner).
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

namespace preimage {

struct GraphTap {
    std::string name;      // what the user types: module path, "#k" for the k-th call, "[i]" for a tuple element
    std::string module;    // module path as in named_modules(), e.g. "layer3.1"
    std::string parent;    // module path of the parent ("" = the network itself)
    std::string kind;      // the module's class name (Conv2d, BasicBlock, EncoderBlock, ...)
    int call = 0;          // 1-based call number when the module is called more than once, else 0
    int calls = 1;         // how often the module is called
    int element = -1;      // tuple element, or -1 for the whole output
    int weightDepth = 0;   // weight ops (convolution, linear) executed up to and including the tap
    // Why this tap cannot be inverted (inside data-dependent control flow, not a tensor); empty = usable.
    std::string problem;
};

class GraphTaps {
public:
    // Expands `module`'s forward (the module must be in eval mode). Throws Error naming the problem for
    // frozen or fully inlined files, a forward taking more than one input, or a model traced in training
    // mode. `modelName` is used in messages.
    GraphTaps(const torch::jit::Module& module, const std::string& modelName);
    ~GraphTaps();
    GraphTaps(const GraphTaps&) = delete;
    GraphTaps& operator=(const GraphTaps&) = delete;

    // Every call of every submodule's forward (tuple outputs as their tensor elements), in execution
    // order: a module's children come before the module itself.
    const std::vector<GraphTap>& taps() const;
    int totalWeightLayers() const;

    // The whole network's output and, with `tapValues`, every tap's value (one forward pass).
    at::Tensor forward(const at::Tensor& x, std::vector<at::Tensor>* tapValues = nullptr);
    // Tap i's value; its graph (cut after the tap) is built on first use and cached. Throws Error with
    // the tap's problem when it has one.
    at::Tensor forwardTo(const at::Tensor& x, int tap);
    // The index of a tap by name. A bare module path called several times, a tuple-returning module without
    // an element, an unknown name: Error naming what to choose instead.
    int find(const std::string& name) const;

    // The graph of tap i as text (tests and debugging).
    std::string graphText(int tap);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace preimage
