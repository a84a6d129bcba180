#include "widgets/chunk_sliders.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace preimage::widgets {
namespace {

// The chunk's values as small signed bars around a centre line.
void codeBars(const float* values, int dims, float range, ImU32 colour) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFrameHeight(), barW = 5.f, gap = 1.f;
    const float w = float(dims) * (barW + gap);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), IM_COL32(18, 18, 22, 255), 2.f);
    const float mid = p.y + h * 0.5f;
    dl->AddLine(ImVec2(p.x, mid), ImVec2(p.x + w, mid), IM_COL32(70, 70, 80, 255));
    for (int i = 0; i < dims; ++i) {
        const float v = std::clamp(values[i] / std::max(1e-6f, range), -1.f, 1.f) * (h * 0.5f - 1.f);
        const float x = p.x + float(i) * (barW + gap);
        dl->AddRectFilled(ImVec2(x, std::min(mid, mid - v)), ImVec2(x + barW, std::max(mid, mid - v)), colour);
    }
    ImGui::Dummy(ImVec2(w, h));
}

}  // namespace

ChunkSlidersResult chunkSliders(const char* id, const std::vector<float>& code, int chunks, int dims, int classChunk,
                                std::vector<std::vector<float>>& sliders, std::vector<bool>& swapped, bool canSwap,
                                const std::vector<float>& valueRange, const std::vector<std::string>& factors) {
    ChunkSlidersResult r;
    ImGui::PushID(id);
    sliders.resize(size_t(chunks));
    swapped.resize(size_t(chunks), false);
    for (int k = 0; k < chunks; ++k) {
        ImGui::PushID(k);
        const bool isClass = k == classChunk;
        char label[48];
        const char* factor = k < int(factors.size()) && !factors[size_t(k)].empty() ? factors[size_t(k)].c_str() : nullptr;
        if (factor) std::snprintf(label, sizeof label, "%d: %s", k, factor);
        else std::snprintf(label, sizeof label, "chunk %d%s", k, isClass ? " (class)" : "");
        ImGui::AlignTextToFramePadding();
        ImGui::TextColored(isClass ? ImVec4(1.f, 0.75f, 0.35f, 1.f) : ImVec4(0.8f, 0.8f, 0.85f, 1.f), "%-15s", label);
        ImGui::SameLine();
        if (int(code.size()) >= (k + 1) * dims)
            codeBars(code.data() + size_t(k * dims), dims, k < int(valueRange.size()) ? valueRange[size_t(k)] : 1.f,
                     swapped[size_t(k)] ? IM_COL32(120, 200, 120, 255) : IM_COL32(110, 160, 240, 255));
        ImGui::SameLine();
        ImGui::BeginDisabled(!canSwap);
        bool s = swapped[size_t(k)];
        if (ImGui::Checkbox("from 2nd", &s)) {
            swapped[size_t(k)] = s;
            r.changed = true;
        }
        ImGui::EndDisabled();
        if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
            ImGui::SetTooltip(canSwap ? "Take this chunk from the second image's code" : "Choose a second image first");
        ImGui::SameLine();
        if (ImGui::SmallButton("reset")) {
            std::fill(sliders[size_t(k)].begin(), sliders[size_t(k)].end(), 0.f);
            if (swapped[size_t(k)]) swapped[size_t(k)] = false;
            r.changed = true;
        }
        const float avail = ImGui::GetContentRegionAvail().x;
        const int n = int(sliders[size_t(k)].size());
        const float sw = (avail - float(n - 1) * ImGui::GetStyle().ItemSpacing.x) / float(std::max(1, n));
        for (int j = 0; j < n; ++j) {
            if (j) ImGui::SameLine();
            ImGui::PushID(j);
            ImGui::SetNextItemWidth(sw);
            char fmt[32];
            std::snprintf(fmt, sizeof fmt, "PC%d %%+.2f sd", j + 1);
            if (ImGui::SliderFloat("##s", &sliders[size_t(k)][size_t(j)], -3.f, 3.f, fmt)) r.changed = true;
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("Principal direction %d of chunk %d (training set); double-click to type", j + 1, k);
            ImGui::PopID();
        }
        ImGui::PopID();
    }
    ImGui::PopID();
    return r;
}

}  // namespace preimage::widgets
