// The analogy composer a : b :: c : d. Four image slots in a row; a, b and c take images (an open
// button each, and drops: the caller routes a drop to the slot under the mouse through dropTarget());
// d is the composed result. Mode (vector arithmetic with a strength, or chunk transfer) below.
// ImGui only; UI thread.
#pragma once

#include "widgets/image_view.h"

#include <imgui.h>

#include <string>

namespace preimage::widgets {

struct AnalogySlotView {
    ImTextureID texture = nullptr;
    int width = 0, height = 0;
    std::string caption;  // e.g. the classifier's class
};

struct AnalogyState {
    int mode = 0;           // 0 vector, 1 chunks
    float strength = 1.f;   // vector mode
    ImVec2 slotMin[3], slotMax[3];  // screen rectangles of a, b, c (for drops)
};

struct AnalogyResult {
    int openSlot = -1;      // "Open..." pressed on slot 0..2
    int useCurrent = -1;    // "current" pressed on slot 0..2: take the main image
    bool changed = false;   // mode or strength changed
    ImageViewResult views[4];  // where each slot's image was drawn (pixel readouts)
};

AnalogyResult analogySlots(AnalogyState& state, const AnalogySlotView slots[4], float side);

// Slot 0..2 whose rectangle (as last drawn) contains the point, or -1.
int dropTarget(const AnalogyState& state, ImVec2 point);

}  // namespace preimage::widgets
