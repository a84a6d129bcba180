#include "app/gui/script.h"

#include "inference/inversion/params.h"

#include "app/gui/app.h"

#include <imgui.h>

#include <fstream>
#include <thread>

namespace preimage::app {

Script::Script(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read script '" + path + "'");
    try {
        m_steps = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error("script '" + path + "' is not valid JSON: " + e.what());
    }
    if (!m_steps.is_array()) throw Error("script '" + path + "' must be a JSON array of steps");
}

void Script::applyInput() {
    if (!m_mouse) return;
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(m_mouseX, m_mouseY);
    io.MouseDown[0] = m_mouseDown;
    io.MouseWheel += m_wheel;
    m_wheel = 0.f;  // one notch per step
}

std::string Script::takeScreenshotRequest() {
    std::string s;
    s.swap(m_screenshot);
    return s;
}

bool Script::update(App& app) {
    if (!m_failure.empty() || m_index >= m_steps.size()) return true;
    const auto& step = m_steps[m_index];
    auto next = [&] {
        m_log.push_back({{"step", m_index}, {"done", step}, {"error", app.error()}});
        ++m_index;
        m_waiting = false;
        m_framesLeft = -1;
    };
    try {
        if (step.contains("wait_idle")) {
            if (!m_waiting) {
                m_waiting = true;
                m_waitStart = std::chrono::steady_clock::now();
                return false;  // let the posted request reach the worker first
            }
            const double limit = step["wait_idle"].get<double>();
            if (app.idle()) {
                next();
            } else if (std::chrono::duration<double>(std::chrono::steady_clock::now() - m_waitStart).count() > limit) {
                m_failure = "wait_idle timed out after " + std::to_string(limit) + " s at step " + std::to_string(m_index);
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
            return !m_failure.empty();
        }
        // Steps about layers wait for the (asynchronous) model load, as a user would.
        const bool needsModel = step.contains("select_layer") || step.contains("key") || step.contains("keys") || step.contains("set") ||
                                step.contains("mask") || step.contains("filter") ||
                                step.contains("export_sweep") || step.contains("export_restarts") || step.contains("dream") ||
                                step.contains("atlas") || step.contains("atlas_click");
        if (needsModel && !app.model()) {
            if (!m_waiting) {
                m_waiting = true;
                m_waitStart = std::chrono::steady_clock::now();
            } else if (std::chrono::duration<double>(std::chrono::steady_clock::now() - m_waitStart).count() > 120) {
                m_failure = "no model loaded after 120 s (" + app.error() + ")";
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return false;
        }
        if (step.contains("frames")) {
            if (m_framesLeft < 0) m_framesLeft = step["frames"].get<int>();
            if (m_framesLeft-- <= 0) next();
            return false;
        }
        if (step.contains("sleep_ms")) {
            std::this_thread::sleep_for(std::chrono::milliseconds(step["sleep_ms"].get<int>()));
        } else if (step.contains("open_image")) {
            app.openImage(step["open_image"].get<std::string>());
        } else if (step.contains("open_model")) {
            app.openModel(step["open_model"].get<std::string>());
        } else if (step.contains("select_layer")) {
            const int i = app.layerIndex(step["select_layer"].get<std::string>());
            if (i < 0) throw Error("script: no layer '" + step["select_layer"].get<std::string>() + "'");
            app.selectLayer(i);
        } else if (step.contains("keys")) {  // several presses within one frame (faster than frames)
            for (const auto& k : step["keys"]) {
                const std::string key = k.get<std::string>();
                if (key == "Left" || key == "Right") app.stepLayer(key == "Left" ? -1 : +1);
                else if (key == "Up" || key == "Down") app.stepSibling(key == "Up" ? -1 : +1);
                else throw Error("script: unknown key '" + key + "' in keys");
            }
        } else if (step.contains("key")) {
            const std::string k = step["key"];
            if (k == "Left" || k == "Right")
                app.stepLayer(k == "Left" ? -1 : +1);
            else if (k == "Up" || k == "Down")
                app.stepSibling(k == "Up" ? -1 : +1);
            else
                throw Error("script: key must be Left, Right, Up or Down, got '" + k + "'");
        } else if (step.contains("set")) {
            // The one mapping of parameters (params.h): unknown keys and out-of-range values are refused.
            auto& s = app.settings().inversion;
            s = toSettings(paramsFromJson(step["set"], toParams(s)), s);
            app.rerun();
        } else if (step.contains("dream_settings")) {
            app.setDreamSettings(step["dream_settings"]);
        } else if (step.contains("dream")) {
            if (step.contains("prior")) app.setDreamPrior(step["prior"].get<bool>());
            app.startDream(step["dream"].get<std::string>());
        } else if (step.contains("atlas")) {
            app.startAtlas();
        } else if (step.contains("atlas_click")) {
            app.openAtlasCell(step["atlas_click"].get<int>());
        } else if (step.contains("tab")) {
            app.selectTab(step["tab"].get<std::string>());
        } else if (step.contains("plot_x")) {
            app.setPlotX(step["plot_x"].get<std::string>());
        } else if (step.contains("filter")) {
            app.setFilter(step["filter"].get<std::string>());
        } else if (step.contains("mask")) {
            const auto& v = step["mask"];
            app.setMask(v.value("x", 0), v.value("y", 0), v.value("w", 0), v.value("h", 0), v.value("first", 0), v.value("last", -1));
        } else if (step.contains("mouse")) {
            const auto& v = step["mouse"];
            m_mouse = true;
            m_mouseX = v.at(0).get<float>(), m_mouseY = v.at(1).get<float>();
            m_mouseDown = step.value("down", false);
            m_wheel = step.value("wheel", 0.f);
        } else if (step.contains("mouse_free")) {
            m_mouse = false;
        } else if (step.contains("panel")) {
            app.showPanel(step["panel"].get<std::string>());
        } else if (step.contains("drop")) {
            app.onDrop(step["drop"].get<std::vector<std::string>>());
        } else if (step.contains("screenshot")) {
            m_screenshot = step["screenshot"].get<std::string>();
        } else if (step.contains("export_sweep")) {
            app.exportSweep(step["export_sweep"].get<std::string>());
        } else if (step.contains("export_restarts")) {
            app.exportRestarts(step["export_restarts"].get<std::string>());
        } else if (step.contains("latent")) {
            app.showLatent(step["latent"].get<bool>());
        } else if (step.contains("analogy_panel")) {
            app.showAnalogy(step["analogy_panel"].get<bool>());
        } else if (step.contains("second_image")) {
            app.setSecondImage(step["second_image"].get<std::string>());
        } else if (step.contains("chunk_slider")) {
            const auto& v = step["chunk_slider"];
            app.setChunkSlider(v.at("chunk").get<int>(), v.value("direction", 0), v.at("value").get<float>());
        } else if (step.contains("chunk_swap")) {
            const auto& v = step["chunk_swap"];
            app.setChunkSwap(v.at("chunk").get<int>(), v.value("from_second", true));
        } else if (step.contains("reset_chunks")) {
            app.resetChunks();
        } else if (step.contains("export_traversal")) {
            app.exportTraversal(step["export_traversal"].get<std::string>());
        } else if (step.contains("analogy_slot")) {
            const auto& v = step["analogy_slot"];
            const std::string slot = v.at("slot");
            if (slot.size() != 1 || slot[0] < 'a' || slot[0] > 'c') throw Error("analogy_slot: slot must be a, b or c");
            app.setAnalogySlot(slot[0] - 'a', v.at("path").get<std::string>());
        } else if (step.contains("analogy_mode")) {
            const auto& v = step["analogy_mode"];
            app.setAnalogyMode(v.value("mode", std::string("vector")) == "chunks" ? 1 : 0, v.value("strength", 1.f));
        } else if (step.contains("drop_on")) {
            const auto& v = step["drop_on"];
            app.dropOn(v.at("target").get<std::string>(), v.at("paths").get<std::vector<std::string>>());
        } else if (step.contains("quit")) {
            m_index = m_steps.size();
            return true;
        } else {
            throw Error("script: unknown step " + step.dump());
        }
    } catch (const std::exception& e) {
        m_failure = e.what();
        return true;
    }
    next();
    return false;
}

}  // namespace preimage::app
