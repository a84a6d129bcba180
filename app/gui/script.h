// Scripted sessions for tests and demos: `preimage gui --script steps.json --screenshot out.png`.
// A script is a JSON array of steps, run one per frame in order; some steps wait for a condition:
//   {"open_image": PATH} {"open_model": NAME_OR_PATH} {"select_layer": NAME} {"key": "Right"|"Left"}
//   {"set": {"iterations": N, "restarts": R, "seed": S, "lr": X, "lambda_tv": X}}
//   {"wait_idle": SECONDS}   wait until no job runs (fails the script after SECONDS)
//   {"frames": N}            render N frames      {"sleep_ms": MS}
//   {"panel": "image_picker"|"model_picker"}      {"drop": [PATHS]}
//   {"screenshot": PATH}     the window as PNG    {"export_sweep": PATH}  {"export_restarts": PATH}
//   {"dream": UNIT}          preferred input of a class (name or index), shown live
//   {"latent": true|false}  chunk sliders panel   {"analogy_panel": true|false}
//   {"second_image": PATH}  {"chunk_slider": {"chunk": K, "direction": J, "value": SD}}
//   {"chunk_swap": {"chunk": K, "from_second": true}}  {"reset_chunks": true}  {"export_traversal": PATH}
//   {"analogy_slot": {"slot": "a"|"b"|"c", "path": P}}  {"analogy_mode": {"mode": "vector"|"chunks", "strength": S}}
//   {"drop_on": {"target": "a"|"b"|"c"|"second", "paths": [P]}}  a drop at the centre of that box
//   {"keys": ["Right", "Left", ...]}  several presses within one frame
//   {"key": "Up"|"Down"}   the selected tap's siblings   {"tab": "run"|"channels"|"preferred"|"chunks"|"analogy"}
//   {"filter": TEXT}         the layer tree's filter     {"dream": UNIT, "prior": false}  (pixel space)
//   {"mask": {"x", "y", "w", "h", "first", "last"}}   the mask, as drawn on the channel grid
//   {"set": {PARAMETER: VALUE, ...}}  any key of inference/inversion/params.h (iterations, learning_rate, lambda_tv...)
//   {"plot_x": "iterations"|"evaluations"|"seconds"}  the loss plot's x axis
//   {"mouse": [X, Y], "down": true|false, "wheel": W}  the mouse as ImGui sees it (held until {"mouse_free": true}):
//                            real clicks and drags through every widget
//   {"quit": true}
// UI thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace preimage::app {

class App;

class Script {
public:
    explicit Script(const std::string& path);  // throws preimage::Error on a missing or malformed file
    // Advances by at most one step; returns true when the script has finished (or failed).
    bool update(App& app);
    // A screenshot requested by the current step, to take after this frame is drawn ("" = none).
    std::string takeScreenshotRequest();
    bool failed() const { return !m_failure.empty(); }
    const std::string& failure() const { return m_failure; }
    nlohmann::json log() const { return m_log; }
    // Between the platform backend's NewFrame and ImGui::NewFrame: the scripted mouse replaces the real one.
    void applyInput();

private:
    nlohmann::json m_steps;
    size_t m_index = 0;
    int m_framesLeft = -1;
    bool m_waiting = false;
    std::chrono::steady_clock::time_point m_waitStart;
    std::string m_screenshot, m_failure;
    nlohmann::json m_log = nlohmann::json::array();
    bool m_mouse = false, m_mouseDown = false;
    float m_mouseX = 0, m_mouseY = 0, m_wheel = 0;
};

}  // namespace preimage::app
