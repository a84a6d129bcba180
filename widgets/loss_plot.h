// A line plot of loss terms per iteration on a log scale, drawn with ImDrawList (ImPlot is not
// packaged), with a legend and decade grid lines. ImGui only; UI thread.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace preimage::widgets {

struct PlotSeries {
    std::string label;
    ImU32 colour;
    std::vector<float> values;  // one per iteration; non-positive values are skipped
};

void lossPlot(const char* id, const std::vector<PlotSeries>& series, int totalIterations, ImVec2 size);

}  // namespace preimage::widgets
