// Small drawing helpers shared by the app's panels (gui_panels.cpp, gui_tools.cpp). ImGui only; UI thread.
#pragma once

#include <imgui.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace preimage::app {

inline std::string shapeText(const std::vector<int64_t>& shape) {
    std::string s;
    for (size_t d = 0; d < shape.size(); ++d) s += (d ? "x" : "") + std::to_string(shape[d]);
    return s;
}

inline void sectionHeader(const char* text) {
    ImGui::Spacing();
    ImGui::TextColored(ImVec4(0.55f, 0.72f, 1.f, 1.f), "%s", text);
    ImGui::Separator();
}

inline std::string shortName(const std::string& path) { return std::filesystem::path(path).filename().string(); }

}  // namespace preimage::app
