// An image shown at an integer zoom (crisp pixels for small inputs), fitted to a box, with a caption
// and a hover tooltip of the pixel under the mouse. ImGui only; UI thread.
#pragma once

#include <imgui.h>

#include <string>

namespace preimage::widgets {

struct ImageViewResult {
    bool hovered = false;
    int pixelX = -1, pixelY = -1;  // image pixel under the mouse when hovered
    ImVec2 min, max;               // screen rectangle of the drawn image
};

// tex may be null (draws a placeholder with `placeholder` text). maxSide: the box's side in pixels.
ImageViewResult imageView(const char* id, ImTextureID tex, int width, int height, float maxSide,
                          const std::string& caption, const char* placeholder = "");

}  // namespace preimage::widgets
