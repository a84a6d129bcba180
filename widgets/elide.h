// Text that must fit a width keeps its end: "...downsample.0", "...expanded_conv_10: objective 0.22 (...)". ImGui
// only (the current font); UI thread.
#pragma once

#include <imgui.h>

#include <string>

namespace preimage::widgets {

// s as it is when it fits `room` pixels; else its longest ending that fits after "...".
inline std::string elideFront(std::string s, float room) {
    if (ImGui::CalcTextSize(s.c_str()).x <= room) return s;
    while (s.size() > 1 && ImGui::CalcTextSize(("..." + s).c_str()).x > room) s.erase(0, 1);
    return "..." + s;
}

}  // namespace preimage::widgets
