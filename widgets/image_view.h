// An image shown at an integer zoom (crisp pixels for small inputs), fitted to a box, with a caption and
// the pixel under the mouse. The wheel zooms about the cursor (nearest-neighbour: textures are GL_NEAREST),
// a right- or middle-button drag pans, a double-click fits again; the zoom lives in ImGui's storage under the
// view's id. ImGui only; UI thread.
#pragma once

#include <imgui.h>

#include <string>

namespace preimage::widgets {

struct ImageViewResult {
    bool hovered = false;
    int pixelX = -1, pixelY = -1;  // image pixel under the mouse when hovered
    ImVec2 min, max;               // screen rectangle of the whole image at the current zoom (may exceed the box)
    ImVec2 boxMin, boxMax;         // the view's box (what is visible)
    float zoom = 1.f;              // screen pixels per image pixel
    bool leftClicked = false, leftDragging = false, leftReleased = false;  // the left button over the image
};

// tex may be null (draws a placeholder with `placeholder` text). maxSide: the box's side in pixels.
ImageViewResult imageView(const char* id, ImTextureID tex, int width, int height, float maxSide,
                          const std::string& caption, const char* placeholder = "");

// Screen position of image pixel coordinates (fractional) under a view's current zoom.
inline ImVec2 imageToScreen(const ImageViewResult& v, float x, float y) {
    return ImVec2(v.min.x + x * v.zoom, v.min.y + y * v.zoom);
}

}  // namespace preimage::widgets
