// The layer strip: one card per layer (name, kind, shape, feature error once computed, thumbnail),
// the selected one highlighted and kept in view. ImGui only; UI thread.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace preimage::widgets {

struct LayerCard {
    std::string name, kind, shape;
    std::string tooltip{};         // the full name, when `name` is shortened
    float error = -1.f;            // < 0: not computed yet
    ImTextureID thumbnail = nullptr;
    bool running = false;          // being computed now
};

// Returns true when the user clicked a different layer (written to `selected`).
// scrollToSelected: bring the selected card into view (pass true when the selection changed elsewhere,
// e.g. by the keyboard).
bool layerStrip(const std::vector<LayerCard>& cards, int& selected, bool scrollToSelected, float cardWidth = 112.f);

}  // namespace preimage::widgets
