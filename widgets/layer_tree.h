// The layer tree: a network's taps by module path (layer3 > layer3.1 > layer3.1.conv2), collapsible, with a
// filter box, each tap's shape and, once computed, its feature error and a thumbnail. Built once per model
// (buildLayerTree, plain C++, tested); drawn every frame (layerTree, ImGui, UI thread).
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace preimage::widgets {

struct LayerTree {
    struct Node {
        std::string path;    // module path ("layer1.0"); "" for the network itself (node 0)
        std::string label;   // its last component ("0")
        int parent = -1;
        std::vector<int> children;  // nodes, in execution order (of their first tap)
        std::vector<int> taps;      // this module's own taps (one per call: "relu#1", "relu#2")
        int first = -1;             // the first tap in this subtree (execution order)
    };
    std::vector<Node> nodes;        // nodes[0] is the root
    std::vector<int> nodeOfTap;     // tap index -> node

    // The taps whose node shares the parent of `tap`'s node, in execution order: a module's own taps, or the first
    // tap below a module that has none (what Up/Down steps through and the depth strip shows).
    std::vector<int> siblings(int tap) const;
    // The nodes from the root's child down to `tap`'s node.
    std::vector<int> ancestors(int tap) const;
};

// names[i], modules[i]: tap i's name (--layer) and module path ("" = the name, up to a '#' call suffix).
LayerTree buildLayerTree(const std::vector<std::string>& names, const std::vector<std::string>& modules);

struct TreeTap {
    std::string name, kind, shape;
    float error = -1.f;          // < 0: not computed
    ImTextureID thumbnail = nullptr;
    bool running = false;
};

struct LayerTreeState {
    char filter[128] = {};
    int shownSelection = -1;     // the selection last scrolled to (a new one opens its branch and scrolls)
    int visibleRows = 0;         // rows submitted in the last frame (tests, stats)
};

// Returns true when the user picked another tap (written to `selected`).
bool layerTree(const LayerTree& tree, const std::vector<TreeTap>& taps, int& selected, LayerTreeState& state);

// Whether every space-separated term of `filter` occurs in `name` (case-insensitive); an empty filter matches all.
bool filterMatches(const std::string& filter, const std::string& name);

}  // namespace preimage::widgets
