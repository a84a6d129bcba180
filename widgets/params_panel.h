// The inversion parameters with tooltips. Plain values (widgets know nothing of the engine); the app
// maps them to the engine's parameters. ImGui only; UI thread.
#pragma once

namespace preimage::widgets {

struct InversionSettings {
    int iterations = 400;
    int restarts = 1;
    int seed = 0;
    float learningRate = 0.004f;
    bool tvByDepth = true;      // the paper's lambda_tv for the layer's depth
    float lambdaTv = 1.f;       // used when !tvByDepth
    float lambdaAlpha = 1e-5f;
    int jitter = 0;
    bool operator==(const InversionSettings& o) const;
    bool operator!=(const InversionSettings& o) const { return !(*this == o); }
};

// paperTv: the layer's by-depth lambda_tv, shown next to the switch. Returns true when a value changed
// (after the edit is committed, so dragging a slider does not restart the job every pixel).
bool inversionSettingsPanel(InversionSettings& s, float paperTv);

}  // namespace preimage::widgets
