#include "widgets/progress.h"

#include "widgets/elide.h"

#include <imgui.h>

namespace preimage::widgets {

bool jobProgress(float fraction, const char* status, bool running) {
    const float stopWidth = 70.f;
    // The bar's colour follows the worker: amber while a job runs, muted once it has ended.
    if (!running) ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ImVec4(0.24f, 0.30f, 0.40f, 1.f));
    // A status wider than the bar keeps its end (the numbers; the tap's name is in the header above).
    const ImGuiStyle& style = ImGui::GetStyle();
    const float barWidth = ImGui::GetContentRegionAvail().x - stopWidth - style.ItemSpacing.x;
    const std::string text = status ? elideFront(status, barWidth - 2.f * style.FramePadding.x) : std::string();
    ImGui::ProgressBar(fraction, ImVec2(barWidth, 0), status ? text.c_str() : nullptr);
    if (!running) ImGui::PopStyleColor();
    ImGui::SameLine();
    ImGui::BeginDisabled(!running);
    const bool stop = ImGui::Button("Stop", ImVec2(stopWidth, 0));
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) ImGui::SetTooltip("Stop the running job (Esc)");
    return stop;
}

}  // namespace preimage::widgets
