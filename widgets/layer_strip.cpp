#include "widgets/layer_strip.h"

#include "widgets/elide.h"

#include <cstdio>

namespace preimage::widgets {

bool layerStrip(const std::vector<LayerCard>& cards, int& selected, bool scrollToSelected, float cardWidth) {
    bool changed = false;
    const float thumb = 40.f;
    const float cardHeight = thumb + 2.f * ImGui::GetTextLineHeightWithSpacing() + 10.f;  // the shape: in the tooltip
    ImGui::BeginChild("##layerstrip", ImVec2(0, cardHeight + ImGui::GetStyle().ScrollbarSize + 8.f), false,
                      ImGuiWindowFlags_HorizontalScrollbar);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    for (int i = 0; i < int(cards.size()); ++i) {
        const LayerCard& c = cards[size_t(i)];
        if (i) ImGui::SameLine();
        ImGui::PushID(i);
        const ImVec2 p = ImGui::GetCursorScreenPos();
        if (ImGui::InvisibleButton("##card", ImVec2(cardWidth, cardHeight)) && selected != i) {
            selected = i;
            changed = true;
        }
        const bool hovered = ImGui::IsItemHovered();
        if (hovered) ImGui::SetTooltip("%s (%s)\noutput %s\nclick or use Left/Right (J/K)", (c.tooltip.empty() ? c.name : c.tooltip).c_str(), c.kind.c_str(),
                                       c.shape.c_str());
        const bool sel = i == selected;
        if (sel && (scrollToSelected || ImGui::IsWindowAppearing())) ImGui::SetScrollHereX(0.5f);
        const ImU32 bg = sel ? IM_COL32(52, 86, 140, 255) : (hovered ? IM_COL32(48, 50, 58, 255) : IM_COL32(36, 38, 44, 255));
        dl->AddRectFilled(p, ImVec2(p.x + cardWidth, p.y + cardHeight), bg, 5.f);
        if (sel) dl->AddRect(p, ImVec2(p.x + cardWidth, p.y + cardHeight), IM_COL32(120, 170, 255, 255), 5.f, 0, 2.f);
        const ImVec2 tp(p.x + (cardWidth - thumb) * 0.5f, p.y + 5.f);
        dl->AddRectFilled(tp, ImVec2(tp.x + thumb, tp.y + thumb), IM_COL32(16, 16, 20, 255));
        if (c.thumbnail) dl->AddImage(c.thumbnail, tp, ImVec2(tp.x + thumb, tp.y + thumb));
        float y = tp.y + thumb + 4.f;
        const float lh = ImGui::GetTextLineHeightWithSpacing();
        // A label wider than the card keeps its end (the distinguishing part of a module path: "...downsample.0"),
        // the whole name is in the tooltip.
        auto centred = [&](const std::string& text, ImU32 col) {
            const std::string s = elideFront(text, cardWidth - 8.f);
            const ImVec2 ts = ImGui::CalcTextSize(s.c_str());
            dl->AddText(ImVec2(p.x + (cardWidth - ts.x) * 0.5f, y), col, s.c_str());
            y += lh;
        };
        centred(c.name, IM_COL32(235, 235, 240, 255));
        char err[32];
        if (c.running)
            std::snprintf(err, sizeof err, "running...");
        else if (c.error >= 0)
            std::snprintf(err, sizeof err, "err %.3f", c.error);
        else
            std::snprintf(err, sizeof err, "-");
        centred(err, c.running ? IM_COL32(250, 200, 90, 255) : IM_COL32(140, 210, 150, 255));
        ImGui::PopID();
    }
    ImGui::EndChild();
    return changed;
}

}  // namespace preimage::widgets
