#include "params_panel.h"

#include <imgui.h>

namespace preimage::widgets {

bool InversionSettings::operator==(const InversionSettings& o) const {
    return iterations == o.iterations && restarts == o.restarts && seed == o.seed && learningRate == o.learningRate &&
           tvByDepth == o.tvByDepth && lambdaTv == o.lambdaTv && lambdaAlpha == o.lambdaAlpha && jitter == o.jitter;
}

namespace {

bool committed() { return ImGui::IsItemDeactivatedAfterEdit(); }

void tip(const char* text) {
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", text);
}

}  // namespace

bool inversionSettingsPanel(InversionSettings& s, float paperTv) {
    bool changed = false;
    ImGui::PushItemWidth(-90.f);
    ImGui::SliderInt("iterations", &s.iterations, 20, 2000, "%d", ImGuiSliderFlags_Logarithmic);
    changed |= committed();
    tip("SGD iterations. The paper runs 400: the rate is lr for the first 25%, lr/10 for the next 50%, lr/100 for the rest.");
    ImGui::SliderInt("restarts", &s.restarts, 1, 16);
    changed |= committed();
    tip("Random restarts, optimised together as one batch. Their spread (the variance map) shows what the layer is "
        "invariant to; the paper uses 4, and 6 for its invariance figure.");
    ImGui::InputInt("seed", &s.seed);
    if (s.seed < 0) s.seed = 0;
    changed |= committed();
    tip("Seed of the random starting noise: the same seed gives the same pre-image.");
    ImGui::SliderFloat("lr", &s.learningRate, 1e-4f, 1e-1f, "%.4f", ImGuiSliderFlags_Logarithmic);
    changed |= committed();
    tip("Base learning rate (momentum 0.9) on the sigma-normalised image. The paper: 0.004.");
    if (ImGui::Checkbox("lambda_tv by depth", &s.tvByDepth)) changed = true;
    tip("The paper's total-variation weight for the layer's depth: 1 up to relu2, 10 up to relu4, 100 beyond.");
    if (s.tvByDepth) {
        ImGui::SameLine();
        ImGui::TextDisabled("(%g)", double(paperTv));
    } else {
        ImGui::SliderFloat("lambda_tv", &s.lambdaTv, 1e-3f, 1e3f, "%.3g", ImGuiSliderFlags_Logarithmic);
        changed |= committed();
        tip("Total-variation weight: larger gives smoother, less detailed pre-images.");
    }
    ImGui::SliderFloat("lambda_a", &s.lambdaAlpha, 1e-7f, 1e-1f, "%.1e", ImGuiSliderFlags_Logarithmic);
    changed |= committed();
    tip("Weight of the alpha-norm (alpha = 6) that keeps pixel values in range.");
    ImGui::SliderInt("jitter", &s.jitter, 0, 4);
    changed |= committed();
    tip("Random shift of up to this many pixels each iteration (0 = off).");
    ImGui::PopItemWidth();
    return changed;
}

}  // namespace preimage::widgets
