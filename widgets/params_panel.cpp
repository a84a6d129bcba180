#include "widgets/params_panel.h"

#include <imgui.h>

#include <algorithm>

namespace preimage::widgets {

bool InversionSettings::operator==(const InversionSettings& o) const {
    return paperProtocol == o.paperProtocol && warmStart == o.warmStart && learnedStart == o.learnedStart &&
           iterations == o.iterations &&
           restarts == o.restarts && seed == o.seed && learningRate == o.learningRate && tvByDepth == o.tvByDepth &&
           lambdaTv == o.lambdaTv && lambdaAlpha == o.lambdaAlpha && jitter == o.jitter && alpha == o.alpha &&
           beta == o.beta && maskX == o.maskX && maskY == o.maskY && maskW == o.maskW && maskH == o.maskH &&
           maskFirst == o.maskFirst && maskLast == o.maskLast;
}

namespace {

bool committed() { return ImGui::IsItemDeactivatedAfterEdit(); }

void tip(const char* text) {
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", text);
}

// A switch that only the Sobolev optimiser reads: disabled (its tooltip still shown) under the paper's protocol.
bool sobolevCheckbox(const char* label, bool& value, bool paper, const char* text) {
    ImGui::BeginDisabled(paper);
    const bool changed = ImGui::Checkbox(label, &value);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) ImGui::SetTooltip("%s", text);
    return changed;
}

}  // namespace

bool inversionSettingsPanel(InversionSettings& s, float paperTv, const int (&defaultIterations)[2]) {
    bool changed = false;
    ImGui::PushItemWidth(-90.f);
    int optimizer = s.paperProtocol ? 1 : 0;
    if (ImGui::Combo("optimizer", &optimizer, "sobolev (fast)\0paper (exact)\0")) {
        s.paperProtocol = optimizer == 1;
        changed = true;
    }
    tip("sobolev: momentum SGD on the gradient smoothed by (I + tau L)^-1, at 10x the rate: on the networks measured\n"
        "(README, Time to quality) the paper's final objective in a third of the evaluations; where its first phase\n"
        "does not lower the objective (MobileNet V2's early taps) it runs the paper's protocol instead. paper: the authors' protocol exactly (400 iterations, rates lr, lr/10, lr/100).");
    changed |= sobolevCheckbox("warm start from the next tap", s.warmStart, s.paperProtocol,
        "Sobolev: a step to a tap next to one inverted from noise starts from that tap's pre-image, at 3x the\n"
        "paper's rates (10x would throw it away; 1x where that tap fell back to the protocol): on SqueezeNet it\n"
        "reaches the protocol's objective in a fraction of the evaluations from noise (README, Warm starts).\n"
        "The result says where it started. The paper's protocol always starts from noise.");
    changed |= sobolevCheckbox("start from the learned inverter", s.learnedStart, s.paperProtocol,
        "Sobolev, where the model has a learned inverter for the tap (the default model): start from its\n"
        "pre-image, its brightness fitted to the objective, instead of noise (one restart, no mask). On the\n"
        "default model's last taps it reaches the protocol's objective where noise does not on some images\n"
        "(relu4: 30 of 30 runs against 24; README, The learned start). Off: from noise, as the paper.");
    int shown = s.iterations > 0 ? s.iterations : defaultIterations[optimizer];
    if (ImGui::SliderInt("iterations", &shown, 20, 2000, "%d", ImGuiSliderFlags_Logarithmic)) s.iterations = shown;
    changed |= committed();
    tip("Iterations (each one forward and backward pass). The rate is lr for the first 25%, lr/10 for the next 50%,\n"
        "lr/100 for the rest. The paper runs 400; the Sobolev optimiser 130.");
    if (s.iterations > 0 && s.iterations != defaultIterations[optimizer]) {
        ImGui::SameLine();
        if (ImGui::SmallButton("default")) {
            s.iterations = 0;
            changed = true;
        }
    }
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
    tip("lambda_alpha: weight of the alpha-norm term lambda_a * ||x||_alpha^alpha / (H W B^alpha) that keeps pixel\n"
        "values in range (the paper: 2.16e8 / 1e-5 depending on normalisation; here on the sigma-normalised image).");
    ImGui::SliderFloat("alpha", &s.alpha, 1.f, 12.f, "%.1f");
    changed |= committed();
    tip("alpha: the exponent of the alpha-norm. The paper uses 6: a large exponent leaves mid-range pixels free and\n"
        "pushes hard on the few that leave the range.");
    ImGui::SliderFloat("beta", &s.beta, 1.f, 3.f, "%.2f");
    changed |= committed();
    tip("beta: the exponent of the total-variation norm. The paper: 2 (smooth); 1 allows sharp edges but leaves\n"
        "spikes, values between trade the two.");
    ImGui::SliderInt("jitter", &s.jitter, 0, 4);
    changed |= committed();
    tip("Random shift of up to this many pixels each iteration (0 = off).");
    ImGui::PopItemWidth();
    return changed;
}

bool maskPanel(InversionSettings& s, int channels) {
    bool changed = false;
    ImGui::PushItemWidth(-90.f);
    int range[2] = {s.maskFirst, s.maskLast < 0 ? std::max(0, channels - 1) : s.maskLast};
    const int hi = std::max(0, channels - 1);
    if (ImGui::DragInt2("channels", range, 0.25f, 0, hi)) {
        s.maskFirst = std::clamp(range[0], 0, hi);
        s.maskLast = std::clamp(std::max(range[1], s.maskFirst), 0, hi);
        if (s.maskFirst == 0 && s.maskLast == hi) s.maskLast = -1;  // every channel
    }
    changed |= committed();
    tip("The channel group whose features the pre-image must match (the paper's channel masks): drag, or click a\n"
        "channel in the channel grid. All channels: no mask.");
    int window[4] = {s.maskX, s.maskY, s.maskW, s.maskH};
    if (ImGui::DragInt4("window", window, 0.1f, 0, 4096)) {
        s.maskX = std::max(0, window[0]), s.maskY = std::max(0, window[1]);
        s.maskW = std::max(0, window[2]), s.maskH = std::max(0, window[3]);
    }
    changed |= committed();
    tip("x, y, w, h of the feature-map window that must match (drag a rectangle on the channel grid); w = 0: the\n"
        "whole map. The pre-image then shows what that neighbourhood of the layer sees (the paper's Fig. 8).");
    ImGui::PopItemWidth();
    if (s.maskActive() && ImGui::SmallButton("Clear mask")) {
        s.maskX = s.maskY = s.maskW = s.maskH = s.maskFirst = 0;
        s.maskLast = -1;
        changed = true;
    }
    return changed;
}

}  // namespace preimage::widgets
