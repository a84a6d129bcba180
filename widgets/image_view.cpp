#include "image_view.h"

#include <algorithm>
#include <cmath>

namespace preimage::widgets {

ImageViewResult imageView(const char* id, ImTextureID tex, int width, int height, float maxSide, const std::string& caption,
                          const char* placeholder) {
    ImageViewResult r;
    ImGui::PushID(id);
    ImGui::BeginGroup();
    float w = maxSide, h = maxSide;
    if (tex && width > 0 && height > 0) {
        const float fit = maxSide / float(std::max(width, height));
        const float zoom = fit >= 1.f ? std::floor(fit) : fit;  // integer zoom when enlarging
        w = float(width) * zoom;
        h = float(height) * zoom;
    }
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 box(maxSide, maxSide);
    dl->AddRectFilled(p, ImVec2(p.x + box.x, p.y + box.y), IM_COL32(18, 18, 22, 255), 4.f);
    const ImVec2 off((box.x - w) * 0.5f, (box.y - h) * 0.5f);
    r.min = ImVec2(p.x + off.x, p.y + off.y);
    r.max = ImVec2(r.min.x + w, r.min.y + h);
    if (tex && width > 0) {
        dl->AddImage(tex, r.min, r.max);
    } else if (placeholder && *placeholder) {
        const ImVec2 ts = ImGui::CalcTextSize(placeholder);
        dl->AddText(ImVec2(p.x + (box.x - ts.x) * 0.5f, p.y + (box.y - ts.y) * 0.5f), IM_COL32(140, 140, 150, 255), placeholder);
    }
    ImGui::InvisibleButton("##image", box);
    if (tex && width > 0 && ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetIO().MousePos;
        if (m.x >= r.min.x && m.x < r.max.x && m.y >= r.min.y && m.y < r.max.y) {
            r.hovered = true;
            r.pixelX = int((m.x - r.min.x) / w * float(width));
            r.pixelY = int((m.y - r.min.y) / h * float(height));
        }
    }
    if (!caption.empty()) {
        const ImVec2 ts = ImGui::CalcTextSize(caption.c_str());
        ImGui::SetCursorPosX(ImGui::GetCursorPosX() + std::max(0.f, (box.x - ts.x) * 0.5f));
        ImGui::TextUnformatted(caption.c_str());
    }
    ImGui::EndGroup();
    ImGui::PopID();
    return r;
}

}  // namespace preimage::widgets
