#include "widgets/analogy_slots.h"

#include "widgets/image_view.h"

namespace preimage::widgets {

AnalogyResult analogySlots(AnalogyState& state, const AnalogySlotView slots[4], float side) {
    AnalogyResult r;
    const char* names[4] = {"a", "b", "c", "d"};
    const char* seps[3] = {":", "::", ":"};
    // Four in a row when they fit, else a : b over c : d (a narrow tools column).
    const ImGuiStyle& style = ImGui::GetStyle();
    const float sepW = ImGui::CalcTextSize("::").x + 2.f * style.ItemSpacing.x;
    const bool twoRows = ImGui::GetContentRegionAvail().x < 4.f * side + 3.f * sepW;
    for (int i = 0; i < 4; ++i) {
        if (i == 2 && twoRows) {
            ImGui::TextDisabled("::");
        } else if (i) {
            ImGui::SameLine();
            ImGui::BeginGroup();
            ImGui::Dummy(ImVec2(1.f, side * 0.5f - ImGui::GetTextLineHeight()));
            ImGui::TextUnformatted(seps[i - 1]);
            ImGui::EndGroup();
            ImGui::SameLine();
        }
        ImGui::BeginGroup();
        ImGui::PushID(i);
        const auto v = imageView(names[i], slots[i].texture, slots[i].width, slots[i].height, side,
                                 std::string(names[i]) + (slots[i].caption.empty() ? "" : ": " + slots[i].caption),
                                 i < 3 ? "drop an image" : "a, b, c first");
        r.views[i] = v;
        if (i < 3) {
            state.slotMin[i] = ImGui::GetItemRectMin();
            state.slotMax[i] = ImGui::GetItemRectMax();
            if (ImGui::SmallButton("open")) r.openSlot = i;
            ImGui::SameLine();
            if (ImGui::SmallButton("current")) r.useCurrent = i;
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("Use the image open in the main view");
        }
        ImGui::PopID();
        ImGui::EndGroup();
    }
    if (ImGui::RadioButton("vector: d = c + s (b - a)", state.mode == 0)) {
        state.mode = 0;
        r.changed = true;
    }
    if (!twoRows) ImGui::SameLine();
    if (ImGui::RadioButton("chunks: b's chunks where a, b differ", state.mode == 1)) {
        state.mode = 1;
        r.changed = true;
    }
    ImGui::BeginDisabled(state.mode != 0);
    ImGui::SetNextItemWidth(-80.f);
    if (ImGui::SliderFloat("strength", &state.strength, 0.f, 2.f, "s = %.2f")) r.changed = true;
    ImGui::EndDisabled();
    return r;
}

int dropTarget(const AnalogyState& state, ImVec2 p) {
    for (int i = 0; i < 3; ++i)
        if (p.x >= state.slotMin[i].x && p.x < state.slotMax[i].x && p.y >= state.slotMin[i].y && p.y < state.slotMax[i].y)
            return i;
    return -1;
}

}  // namespace preimage::widgets
