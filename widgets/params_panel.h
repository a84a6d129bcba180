// The inversion parameters with tooltips. Plain values (widgets know nothing of the engine); the app
// maps them to the engine's parameters. ImGui only; UI thread.
#pragma once

namespace preimage::widgets {

struct InversionSettings {
    bool paperProtocol = false; // the paper's optimiser exactly; else the Sobolev optimiser (a third of the work)
    bool warmStart = true;      // Sobolev: a tap next to one already inverted starts from its pre-image (the app)
    bool learnedStart = true;   // Sobolev: from the layer's learned inverter's pre-image where the model has one
    int iterations = 0;         // 0: the optimiser's own
    int restarts = 1;
    int seed = 0;
    float learningRate = 0.004f;
    bool tvByDepth = true;      // the paper's lambda_tv for the layer's depth
    float lambdaTv = 1.f;       // used when !tvByDepth
    float lambdaAlpha = 1e-5f;
    int jitter = 0;
    float alpha = 6.f, beta = 2.f;  // the alpha-norm's exponent; the TV norm's exponent
    // The paper's masks: a window of the feature map ([x, x+w) x [y, y+h); w = 0: the whole map) and a channel
    // range [first, last] (last < 0: every channel). Drawn on the channel grid, edited here.
    int maskX = 0, maskY = 0, maskW = 0, maskH = 0, maskFirst = 0, maskLast = -1;
    bool maskActive() const { return maskW > 0 || maskLast >= 0 || maskFirst > 0; }
    bool operator==(const InversionSettings& o) const;
    bool operator!=(const InversionSettings& o) const { return !(*this == o); }
};

// paperTv: the layer's by-depth lambda_tv, shown next to the switch. Returns true when a value changed
// (after the edit is committed, so dragging a slider does not restart the job every pixel).
// defaultIterations: what iterations = 0 means for each optimiser ({sobolev, paper}).
bool inversionSettingsPanel(InversionSettings& s, float paperTv, const int (&defaultIterations)[2]);

// The mask's channel range and window as numbers, with a Clear button. channels: the tap's channel count (0 unknown).
bool maskPanel(InversionSettings& s, int channels);

}  // namespace preimage::widgets
