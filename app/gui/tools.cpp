// App: the tools column on the right, as tabs: Run (model, image, samples, the inversion's parameters, export),
// Channels (the tap's activations as a channel grid with the mask drawn on it, top-5 predictions). Dream (preferred
// inputs and the atlas) is drawn by dream_tab.cpp, the Chunks and Analogy tabs by latent.cpp.
#include "app/gui/app.h"
#include "app/gui/util.h"
#include "app/cli/report.h"
#include "inference/inversion/params.h"

#include "widgets/image_view.h"
#include "widgets/loss_plot.h"
#include "widgets/params_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {

void App::drawTools(float x, float y, float w, float h) {
    beginRegion("Tools", "tools", x, y, w, h);
    // Narrow tab padding: the five names fit a 320 px column whole.
    ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(4.f, ImGui::GetStyle().FramePadding.y));
    ImGui::PushStyleVar(ImGuiStyleVar_ItemInnerSpacing, ImVec2(2.f, ImGui::GetStyle().ItemInnerSpacing.y));
    const bool tabs = ImGui::BeginTabBar("##tools", ImGuiTabBarFlags_FittingPolicyResizeDown);
    ImGui::PopStyleVar(2);
    if (tabs) {
        const char* names[] = {"Run", "Channels", "Dream", "Chunks", "Analogy"};  // whole at 320 px
        const char* tips[] = {"Model, image, the inversion's parameters, export",
                              "The tap's activations as a channel grid (draw a mask on it) and the network's top-5",
                              "Preferred input: the input that most excites a class or a channel (activation maximisation)",
                              "The image's code in the mixing autoencoder, as chunks with sliders (Ctrl+L)",
                              "Compose a : b :: c : d (Ctrl+Y)"};
        const bool mixer = m_s.model && m_s.model->hasMixer;
        // Chunks and Analogy exist only where a mixer does; a request for them waits while the model is still loading.
        if (m_s.model && !mixer && (m_tabRequest == Tab::Chunks || m_tabRequest == Tab::Analogy)) m_tabRequest.reset();
        for (int i = 0; i < (mixer ? 5 : 3); ++i) {
            const Tab tab = Tab(i);
            const ImGuiTabItemFlags f = m_tabRequest == tab ? ImGuiTabItemFlags_SetSelected : 0;
            const bool open = ImGui::BeginTabItem(names[i], nullptr, f);
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tips[i]);
            if (!open) continue;
            if (m_tabRequest == tab || !m_tabRequest) m_tab = tab;
            ImGui::BeginChild("##tab", ImVec2(0, 0), false);
            switch (tab) {
                case Tab::Run: drawRunTab(); break;
                case Tab::Channels: drawChannelsTab(); break;
                case Tab::Preferred: drawDreamTab(); break;
                case Tab::Chunks:
                    if (!m_latent.show && m_s.model && m_s.model->hasMixer) showLatent(true);
                    drawLatent();
                    break;
                case Tab::Analogy:
                    if (!m_latent.showAnalogy && m_s.model && m_s.model->hasMixer) showAnalogy(true);
                    drawAnalogy();
            }
            ImGui::EndChild();
            ImGui::EndTabItem();
        }
        if (m_tabRequest == m_tab) m_tabRequest.reset();
        ImGui::EndTabBar();
    }
    ImGui::End();
}

void App::drawRunTab() {
    sectionHeader("Model");
    ImGui::TextWrapped("%s", m_s.model ? m_s.model->name.c_str() : "loading...");
    if (m_s.model)
        ImGui::TextDisabled("input %dx%dx%d, %zu layers", m_s.model->input.channels, m_s.model->input.height, m_s.model->input.width,
                            m_s.model->layers.size());
    for (size_t i = 0; i < m_s.defaultModels.size(); ++i) {
        const auto& name = m_s.defaultModels[i];
        if (ImGui::Button(name.c_str())) openModel(name);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("Default model %s (assets/models/%s)", name.c_str(), name.c_str());
        if (i + 1 < m_s.defaultModels.size()) ImGui::SameLine();
    }
    if (ImGui::Button("Open TorchScript...")) showPanel("model_picker");
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("A network saved with torch.jit.script or torch.jit.trace (or drop the file on the window)");
    // The input of TorchScript files opened from here: the file's own spec (preimage.json) unless overridden.
    bool override = m_s.settings.modelSize > 0 || m_s.settings.modelGray;
    if (ImGui::Checkbox("override input", &override)) {
        m_s.settings.modelSize = override ? (m_s.model ? m_s.model->input.width : 224) : 0;
        if (!override) m_s.settings.modelGray = false;
    }
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("For TorchScript files opened next: the input side (and grey) instead of the file's own preimage.json "
                          "(without one: 224 px RGB, ImageNet statistics)");
    ImGui::SameLine();
    if (override) {
        int side = m_s.settings.modelSize > 0 ? m_s.settings.modelSize : 224;
        ImGui::SetNextItemWidth(60.f);
        if (ImGui::InputInt("px##model", &side, 0)) m_s.settings.modelSize = std::clamp(side, 8, 4096);
        ImGui::SameLine();
        ImGui::Checkbox("gray", &m_s.settings.modelGray);
    } else {
        ImGui::TextDisabled("the file's own");
    }

    sectionHeader("Image");
    ImGui::TextWrapped("%s", m_s.imagePath.empty() ? "(none)" : shortName(m_s.imagePath).c_str());
    if (ImGui::Button("Open image...")) showPanel("image_picker");
    ImGui::SameLine();
    ImGui::TextDisabled("or drop a file");
    if (!m_s.samples.empty()) {
        ImGui::TextDisabled(m_s.model && m_s.model->input.channels == 1 ? "samples (Fashion-MNIST test set)"
                                                                    : "samples (photographs, public domain and CC0)");
        const float thumbW = 40.f;
        const int perRow = std::max(1, int(ImGui::GetContentRegionAvail().x / (thumbW + 2.f * ImGui::GetStyle().FramePadding.x +
                                                                              ImGui::GetStyle().ItemSpacing.x)));
        for (size_t i = 0; i < m_s.samples.size(); ++i) {
            if (i % size_t(perRow)) ImGui::SameLine();
            ImGui::PushID(int(i));
            const bool current = m_s.samples[i] == m_s.imagePath;
            if (current) ImGui::PushStyleColor(ImGuiCol_Button, ImVec4(0.25f, 0.45f, 0.8f, 1.f));
            const bool thumb = i < m_sampleTex.size() && m_sampleTex[i].valid();  // decoded on the file thread
            if (thumb ? ImGui::ImageButton(m_sampleTex[i].imguiId(), ImVec2(thumbW, thumbW))
                      : ImGui::Button("...", ImVec2(thumbW + 2.f * ImGui::GetStyle().FramePadding.x, thumbW + 2.f * ImGui::GetStyle().FramePadding.y)))
                openImage(m_s.samples[i]);
            if (current) ImGui::PopStyleColor();
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", shortName(m_s.samples[i]).c_str());
            ImGui::PopID();
        }
    }
    if (!m_s.settings.recentImages.empty() && ImGui::BeginCombo("##recent", "recent images")) {
        for (const auto& p : std::vector<std::string>(m_s.settings.recentImages))
            if (ImGui::Selectable(shortName(p).c_str())) openImage(p);
        ImGui::EndCombo();
    }

    sectionHeader("Inversion (Mahendran & Vedaldi)");
    const float paperTv = m_s.model && m_s.layer < int(m_s.model->lambdaTv.size()) ? m_s.model->lambdaTv[size_t(m_s.layer)] : 1.f;
    const widgets::InversionSettings before = m_s.settings.inversion;
    const int defaultIterations[2] = {preimage::defaultIterations("sobolev"), preimage::defaultIterations("paper")};
    if (widgets::inversionSettingsPanel(m_s.settings.inversion, paperTv, defaultIterations) && m_s.settings.inversion != before) {
        m_s.saveSettings();
        m_s.resetResults();
        m_s.requestInversion();  // newest request wins: the running job is cancelled
    }
    if (ImGui::Button("Run again (R)")) rerun();
    ImGui::SameLine();
    if (ImGui::Button("Defaults")) {
        m_s.settings.inversion = {};
        m_s.resetResults();
        m_s.requestInversion();
    }

    sectionHeader("Export");
    if (ImGui::Button("Export layer grid")) exportSweep(defaultExportPath("sweep"));
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Original + every layer's pre-image, labelled, as PNG, with the numbers in a JSON beside it "
                          "(computes the layers not done yet)");
    ImGui::SameLine();
    ImGui::BeginDisabled(currentResult() == nullptr);
    if (ImGui::Button("Export restarts")) exportRestarts(defaultExportPath(m_s.layerName(m_s.layer) + "_restarts"));
    ImGui::EndDisabled();
    ImGui::TextDisabled("to %s", m_s.settings.exportDir.empty() ? fs::current_path().string().c_str() : m_s.settings.exportDir.c_str());
}

void App::drawChannelsTab() {
    const LayerInfo* info = m_s.model && m_s.layer < int(m_s.model->layers.size()) ? &m_s.model->layers[size_t(m_s.layer)] : nullptr;
    if (!info) {
        ImGui::TextDisabled("no model");
        return;
    }
    sectionHeader("Activations on the image");
    ImGui::TextWrapped("%s  (%s, %s)", info->name.c_str(), info->kind.c_str(), shapeText(info->shape).c_str());
    const bool current = m_s.featureLayer == m_s.layer && m_gridTex.valid();
    if (!current) {
        if (!m_s.gridNote.empty() && m_s.featureLayer == m_s.layer)
            ImGui::TextWrapped("%s", m_s.gridNote.c_str());  // why there is no grid
        else
            ImGui::TextDisabled(!m_s.image ? "open an image"
                                : m_s.jobRunning || !currentResult() ? "computing..."
                                                                   : "this tap's activations could not be read");
    } else {
        const char* what = m_s.grid.kind == render::FeatureGrid::Maps     ? "each channel's map, normalised on its own"
                           : m_s.grid.kind == render::FeatureGrid::Tokens ? "tokens (rows) x features (columns)"
                                                                        : "the vector, row by row";
        ImGui::TextDisabled("%s%s", what, m_s.grid.shown < m_s.grid.channels ? fmt(" (first %.0f channels)", m_s.grid.shown).c_str() : "");
        const float side = ImGui::GetContentRegionAvail().x;
        auto v = widgets::imageView("channels", m_gridTex.imguiId(), m_gridTex.width(), m_gridTex.height(), side, "");
        m_panelRects["channel_grid"] = {v.boxMin.x, v.boxMin.y, v.boxMax.x, v.boxMax.y};
        m_panelRects["channel_grid_image"] = {v.min.x, v.min.y, v.zoom, 0.f};  // image origin on screen and its zoom
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->PushClipRect(v.boxMin, v.boxMax, true);
        const auto& s = m_s.settings.inversion;
        // The mask on the grid: channels outside the range dimmed, the window outlined on every tile.
        if (m_s.grid.kind == render::FeatureGrid::Maps && s.maskActive()) {
            for (int c = 0; c < m_s.grid.shown; ++c) {
                int ox, oy;
                m_s.grid.tileOrigin(c, ox, oy);
                const ImVec2 a = widgets::imageToScreen(v, float(ox), float(oy));
                const ImVec2 b = widgets::imageToScreen(v, float(ox + m_s.grid.mapW), float(oy + m_s.grid.mapH));
                if (c < s.maskFirst || (s.maskLast >= 0 && c > s.maskLast)) {
                    dl->AddRectFilled(a, b, IM_COL32(0, 0, 0, 170));
                } else if (s.maskW > 0) {
                    const ImVec2 wa = widgets::imageToScreen(v, float(ox + s.maskX), float(oy + s.maskY));
                    const ImVec2 wb = widgets::imageToScreen(v, float(ox + std::min(m_s.grid.mapW, s.maskX + s.maskW)),
                                                             float(oy + std::min(m_s.grid.mapH, s.maskY + s.maskH)));
                    dl->AddRect(wa, wb, IM_COL32(80, 255, 120, 255));
                }
            }
        }
        // Under the cursor: the channel (or token, or element) named, with its value.
        m_channels.hoverChannel = -1;
        int c = -1, fx = 0, fy = 0;
        if (v.hovered && m_s.grid.locate(v.pixelX, v.pixelY, c, fx, fy)) {
            m_channels.hoverChannel = c;
            const auto& f = *m_s.features;
            ImGui::BeginTooltip();
            if (m_s.grid.kind == render::FeatureGrid::Maps) {
                const size_t hw = size_t(m_s.grid.mapW) * size_t(m_s.grid.mapH);
                const float* m = f.data() + size_t(c) * hw;
                float mx = m[0], sum = 0;
                for (size_t i = 0; i < hw; ++i) mx = std::max(mx, m[i]), sum += m[i];
                ImGui::Text("channel %d  (x %d, y %d): %.4g", c, fx, fy, double(m[size_t(fy) * size_t(m_s.grid.mapW) + size_t(fx)]));
                ImGui::TextDisabled("max %.4g, mean %.4g", double(mx), double(sum / float(hw)));
                ImGui::TextDisabled("click: match only this channel; drag: a window");
            } else if (m_s.grid.kind == render::FeatureGrid::Tokens) {
                ImGui::Text("token %d, feature %d: %.4g", c, fx, double(f[size_t(c) * size_t(m_s.grid.mapW) + size_t(fx)]));
            } else {
                const std::string name = m_s.layer == int(m_s.model->layers.size()) - 1 && c < int(m_s.model->classes.size())
                                             ? " (" + m_s.model->classes[size_t(c)] + ")"
                                             : "";
                ImGui::Text("element %d%s: %.4g", c, name.c_str(), double(f[size_t(c)]));
            }
            ImGui::EndTooltip();
        }
        // Drawing the mask: a click picks a channel, a drag inside one tile a window of the feature map.
        if (m_s.grid.kind == render::FeatureGrid::Maps) {
            if (v.leftClicked && c >= 0) {
                m_channels.maskDrag = true;
                m_channels.dragChannel = c, m_channels.dragX0 = m_channels.dragX1 = fx, m_channels.dragY0 = m_channels.dragY1 = fy;
            }
            if (m_channels.maskDrag && v.leftDragging) {
                int ox, oy;
                m_s.grid.tileOrigin(m_channels.dragChannel, ox, oy);
                const ImVec2 mouse = ImGui::GetIO().MousePos;
                m_channels.dragX1 = std::clamp(int((mouse.x - v.min.x) / v.zoom) - ox, 0, m_s.grid.mapW - 1);
                m_channels.dragY1 = std::clamp(int((mouse.y - v.min.y) / v.zoom) - oy, 0, m_s.grid.mapH - 1);
                const ImVec2 a = widgets::imageToScreen(v, float(ox + std::min(m_channels.dragX0, m_channels.dragX1)), float(oy + std::min(m_channels.dragY0, m_channels.dragY1)));
                const ImVec2 b = widgets::imageToScreen(v, float(ox + std::max(m_channels.dragX0, m_channels.dragX1) + 1),
                                                        float(oy + std::max(m_channels.dragY0, m_channels.dragY1) + 1));
                dl->AddRect(a, b, IM_COL32(255, 220, 80, 255), 0.f, 0, 2.f);
            }
            if (m_channels.maskDrag && (v.leftReleased || !ImGui::IsMouseDown(ImGuiMouseButton_Left))) {
                m_channels.maskDrag = false;
                if (m_channels.dragX0 == m_channels.dragX1 && m_channels.dragY0 == m_channels.dragY1)
                    setMask(s.maskX, s.maskY, s.maskW, s.maskH, m_channels.dragChannel, m_channels.dragChannel);
                else
                    setMask(std::min(m_channels.dragX0, m_channels.dragX1), std::min(m_channels.dragY0, m_channels.dragY1), std::abs(m_channels.dragX1 - m_channels.dragX0) + 1,
                            std::abs(m_channels.dragY1 - m_channels.dragY0) + 1, s.maskFirst, s.maskLast);
            }
        }
        dl->PopClipRect();
        ImGui::TextDisabled("wheel: zoom, right-drag: pan, double-click: fit");
    }
    sectionHeader("Mask (the paper's Fig. 8-9)");
    const int channels = info->shape.empty() ? 0 : int(info->shape[0]);
    widgets::InversionSettings edited = m_s.settings.inversion;
    if (widgets::maskPanel(edited, channels))  // committed: the values shown while dragging were already stored
        setMask(edited.maskX, edited.maskY, edited.maskW, edited.maskH, edited.maskFirst, edited.maskLast, true);
    else  // mid-drag values show, the job starts when the edit is committed
        m_s.settings.inversion = edited;

    sectionHeader("Top-5 predictions");
    const auto& pre = m_s.layer < int(m_s.slots.size()) ? m_s.slots[size_t(m_s.layer)].preimageTop5 : std::vector<std::pair<int, float>>{};
    if (m_s.imageTop5.empty()) {
        if (m_s.model->classCount > 0) {
            ImGui::TextDisabled("computing...");
        } else {
            std::string shape;
            for (int64_t d : m_s.model->outputShape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
            ImGui::TextDisabled("the network's output (%s) is not a vector of class scores", shape.c_str());
        }
    } else {
        const float barW = ImGui::GetContentRegionAvail().x * 0.5f - ImGui::GetStyle().ItemSpacing.x;
        auto column = [&](const char* title, const std::vector<std::pair<int, float>>& top) {
            ImGui::BeginGroup();
            ImGui::TextUnformatted(title);
            for (const auto& [k, prob] : top) {
                const std::string name = k < int(m_s.model->classes.size()) ? m_s.model->classes[size_t(k)] : "class " + std::to_string(k);
                ImGui::ProgressBar(prob, ImVec2(barW, 0.f), (name + fmt(prob < 0.1f ? " %.3f" : " %.2f", prob)).c_str());
            }
            if (top.empty()) ImGui::TextDisabled("once the pre-image is done");
            ImGui::EndGroup();
        };
        column("on the image", m_s.imageTop5);
        ImGui::SameLine();
        column("on the pre-image", pre);
        if (m_s.model->classes.empty()) ImGui::TextDisabled("class indices (no class names in the model's preimage.json)");
    }
}

}  // namespace preimage::app
