#include "widgets/image_view.h"

#include <imgui_internal.h>

#include <algorithm>
#include <cmath>

namespace preimage::widgets {

ImageViewResult imageView(const char* id, ImTextureID tex, int width, int height, float maxSide, const std::string& caption,
                          const char* placeholder) {
    ImageViewResult r;
    ImGui::PushID(id);
    ImGui::BeginGroup();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const ImVec2 box(maxSide, maxSide);
    r.boxMin = p;
    r.boxMax = ImVec2(p.x + box.x, p.y + box.y);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(r.boxMin, r.boxMax, IM_COL32(18, 18, 22, 255), 4.f);
    ImGui::InvisibleButton("##image", box, ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight |
                                               ImGuiButtonFlags_MouseButtonMiddle);
    const bool hoveredBox = ImGui::IsItemHovered();
    const bool active = ImGui::IsItemActive();
    const bool has = tex && width > 0 && height > 0;
    // Zoom (relative to the fit) and the pan offset (screen pixels) of this view, kept between frames.
    ImGuiStorage* st = ImGui::GetStateStorage();
    const ImGuiID zoomId = ImGui::GetID("zoom"), panX = ImGui::GetID("panx"), panY = ImGui::GetID("pany");
    float rel = st->GetFloat(zoomId, 1.f), ox = st->GetFloat(panX, 0.f), oy = st->GetFloat(panY, 0.f);
    float fitZoom = 1.f;
    if (has) {
        const float fit = maxSide / float(std::max(width, height));
        fitZoom = fit >= 1.f ? std::floor(fit) : fit;  // integer zoom when enlarging
    }
    const ImGuiIO& io = ImGui::GetIO();
    if (has && hoveredBox) {
        if (io.MouseWheel != 0.f) {  // about the cursor: the image point under it stays under it
            const float before = fitZoom * rel;
            rel = std::clamp(rel * std::pow(1.25f, io.MouseWheel), 1.f, 64.f);
            const float after = fitZoom * rel;
            const ImVec2 c(p.x + box.x * 0.5f + ox, p.y + box.y * 0.5f + oy);  // the image centre on screen
            const ImVec2 m = io.MousePos;
            ox += (m.x - c.x) * (1.f - after / before);
            oy += (m.y - c.y) * (1.f - after / before);
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) rel = 1.f, ox = oy = 0.f;
    }
    if (has && active && (ImGui::IsMouseDragging(ImGuiMouseButton_Right, 0.f) || ImGui::IsMouseDragging(ImGuiMouseButton_Middle, 0.f)))
        ox += io.MouseDelta.x, oy += io.MouseDelta.y;
    const float zoom = fitZoom * rel;
    const float w = float(width) * zoom, h = float(height) * zoom;
    if (has) {  // keep some of the image in the box
        const float mx = std::max(0.f, (w - box.x) * 0.5f), my = std::max(0.f, (h - box.y) * 0.5f);
        ox = std::clamp(ox, -mx, mx), oy = std::clamp(oy, -my, my);
        if (rel <= 1.f) ox = oy = 0.f;
    }
    st->SetFloat(zoomId, rel), st->SetFloat(panX, ox), st->SetFloat(panY, oy);
    r.zoom = has ? zoom : 1.f;
    r.min = ImVec2(p.x + (box.x - w) * 0.5f + ox, p.y + (box.y - h) * 0.5f + oy);
    r.max = ImVec2(r.min.x + w, r.min.y + h);
    if (has) {
        dl->PushClipRect(r.boxMin, r.boxMax, true);
        dl->AddImage(tex, r.min, r.max);
        dl->PopClipRect();
        if (rel > 1.f) {
            char z[32];
            std::snprintf(z, sizeof z, "%.0f%%", double(zoom) * 100.0);
            dl->AddText(ImVec2(r.boxMin.x + 4.f, r.boxMin.y + 2.f), IM_COL32(200, 200, 210, 220), z);
        }
    } else if (placeholder && *placeholder) {
        const ImVec2 ts = ImGui::CalcTextSize(placeholder);
        dl->AddText(ImVec2(p.x + (box.x - ts.x) * 0.5f, p.y + (box.y - ts.y) * 0.5f), IM_COL32(140, 140, 150, 255), placeholder);
    }
    if (has && hoveredBox) {
        const ImVec2 m = io.MousePos;
        if (m.x >= r.min.x && m.x < r.max.x && m.y >= r.min.y && m.y < r.max.y) {
            r.hovered = true;
            r.pixelX = std::min(width - 1, int((m.x - r.min.x) / zoom));
            r.pixelY = std::min(height - 1, int((m.y - r.min.y) / zoom));
        }
    }
    r.leftClicked = hoveredBox && ImGui::IsMouseClicked(ImGuiMouseButton_Left);
    r.leftDragging = active && ImGui::IsMouseDown(ImGuiMouseButton_Left);
    r.leftReleased = active && ImGui::IsMouseReleased(ImGuiMouseButton_Left);
    // The caption line by line ('\n' separates them): each centred when it fits the box, else wrapped inside it.
    for (size_t begin = 0; begin < caption.size();) {
        size_t end = caption.find('\n', begin);
        if (end == std::string::npos) end = caption.size();
        const std::string line = caption.substr(begin, end - begin);
        const ImVec2 ts = ImGui::CalcTextSize(line.c_str());
        if (ts.x <= box.x) {
            ImGui::SetCursorPosX(ImGui::GetCursorPosX() + (box.x - ts.x) * 0.5f);
            ImGui::TextUnformatted(line.c_str());
        } else {  // never runs under the next view
            ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + box.x);
            ImGui::TextWrapped("%s", line.c_str());
            ImGui::PopTextWrapPos();
        }
        begin = end + 1;
    }
    ImGui::EndGroup();
    ImGui::PopID();
    return r;
}

}  // namespace preimage::widgets
