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

// The x axis: the iteration (null `x`), or a value per point (evaluations of the network, seconds) up to `xMax`,
// labelled `xLabel`.
struct PlotAxis {
    const char* label = "iteration";
    const std::vector<float>* x = nullptr;  // one per point, increasing; null: the point's index
    float max = 0;                          // the axis' end (0: the largest x)
};

void lossPlot(const char* id, const std::vector<PlotSeries>& series, int totalIterations, ImVec2 size, const PlotAxis& axis = {});

}  // namespace preimage::widgets
