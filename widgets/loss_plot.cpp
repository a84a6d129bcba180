#include "widgets/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace preimage::widgets {

void lossPlot(const char* id, const std::vector<PlotSeries>& series, int totalIterations, ImVec2 size, const PlotAxis& axis) {
    ImGui::PushID(id);
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    if (size.x <= 0) size.x = std::max(50.f, avail.x + size.x + (size.x < 0 ? 1.f : 0.f));
    if (size.y <= 0) size.y = std::max(50.f, avail.y + size.y + (size.y < 0 ? 1.f : 0.f));
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##plot", size);
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), IM_COL32(20, 21, 26, 255), 4.f);
    const float left = 48.f, right = 10.f, top = 8.f, bottom = 22.f;
    const ImVec2 a(p.x + left, p.y + top), b(p.x + size.x - right, p.y + size.y - bottom);
    float lo = INFINITY, hi = -INFINITY;
    size_t n = 0;
    for (const auto& s : series)
        for (float v : s.values)
            if (v > 0 && std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v), n = std::max(n, s.values.size());
    const int iters = std::max<int>(totalIterations, int(n));
    if (!(lo < INFINITY) || iters < 2) {
        const char* msg = "loss terms appear here while an inversion runs";
        const ImVec2 ts = ImGui::CalcTextSize(msg);
        dl->AddText(ImVec2(p.x + (size.x - ts.x) * 0.5f, p.y + (size.y - ts.y) * 0.5f), IM_COL32(120, 120, 130, 255), msg);
        ImGui::PopID();
        return;
    }
    float l0 = std::floor(std::log10(lo)), l1 = std::ceil(std::log10(hi));
    if (l1 - l0 < 1) l1 = l0 + 1;
    l0 = std::max(l0, l1 - 6);  // six decades: tiny terms (the alpha-norm) sit on the floor
    // x of point i: its index, or the axis' value for it (evaluations, seconds) on [0, xEnd].
    const std::vector<float>* xs = axis.x && !axis.x->empty() ? axis.x : nullptr;
    const float xEnd = xs ? std::max({axis.max, xs->back(), 1e-6f}) : float(iters - 1);
    auto xOf = [&](size_t i) { return xs ? (i < xs->size() ? (*xs)[i] : xs->back()) : float(i); };
    auto X = [&](float i) { return a.x + (b.x - a.x) * xOf(size_t(i)) / xEnd; };
    auto Y = [&](float v) { return b.y - (b.y - a.y) * (std::log10(v) - l0) / (l1 - l0); };
    char buf[32];
    for (float d = l0; d <= l1; d += 1) {  // decade grid lines
        const float y = Y(std::pow(10.f, d));
        dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), IM_COL32(60, 62, 70, 255));
        std::snprintf(buf, sizeof buf, "1e%d", int(d));
        dl->AddText(ImVec2(p.x + 6.f, y - 7.f), IM_COL32(150, 150, 160, 255), buf);
    }
    if (xs) std::snprintf(buf, sizeof buf, xEnd < 100 ? "%.3g" : "%.0f", double(xEnd));
    else std::snprintf(buf, sizeof buf, "%d", iters);
    dl->AddText(ImVec2(b.x - ImGui::CalcTextSize(buf).x, b.y + 4.f), IM_COL32(150, 150, 160, 255), buf);
    dl->AddText(ImVec2(a.x, b.y + 4.f), IM_COL32(150, 150, 160, 255), axis.label);
    dl->PushClipRect(a, b, true);
    for (const auto& s : series) {
        std::vector<ImVec2> pts;
        const size_t step = std::max<size_t>(1, s.values.size() / 600);  // at most ~600 points per line
        for (size_t i = 0; i < s.values.size(); i += step)
            if (s.values[i] > 0 && std::isfinite(s.values[i]))
                pts.emplace_back(X(float(i)), std::min(b.y, Y(s.values[i])));
        if (pts.size() >= 2) dl->AddPolyline(pts.data(), int(pts.size()), s.colour, 0, 2.f);
    }
    dl->PopClipRect();
    float lx = b.x;  // legend, right-aligned
    for (auto it = series.rbegin(); it != series.rend(); ++it) {
        const float w = ImGui::CalcTextSize(it->label.c_str()).x;
        lx -= w + 22.f;
        dl->AddRectFilled(ImVec2(lx, a.y + 5.f), ImVec2(lx + 10.f, a.y + 15.f), it->colour);
        dl->AddText(ImVec2(lx + 14.f, a.y + 2.f), IM_COL32(220, 220, 225, 255), it->label.c_str());
    }
    if (hovered) {
        const float mx = ImGui::GetIO().MousePos.x;
        int i = int(std::lround((mx - a.x) / (b.x - a.x) * float(iters - 1)));
        if (xs) {  // the point nearest the mouse on the axis' scale
            const float want = (mx - a.x) / (b.x - a.x) * xEnd;
            i = int(std::lower_bound(xs->begin(), xs->end(), want) - xs->begin());
            if (i >= int(xs->size())) i = int(xs->size()) - 1;
        }
        if (i >= 0 && i < int(n)) {
            dl->AddLine(ImVec2(X(float(i)), a.y), ImVec2(X(float(i)), b.y), IM_COL32(200, 200, 200, 90));
            ImGui::BeginTooltip();
            ImGui::Text("iteration %d", i + 1);
            if (xs && i < int(xs->size())) ImGui::Text("%s %.4g", axis.label, double((*xs)[size_t(i)]));
            for (const auto& s : series)
                if (i < int(s.values.size())) ImGui::Text("%s  %.4g", s.label.c_str(), s.values[size_t(i)]);
            ImGui::EndTooltip();
        }
    }
    ImGui::PopID();
}

}  // namespace preimage::widgets
