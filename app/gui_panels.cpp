// App: the panels. Fixed layout (Dear ImGui 1.86 has no docking): menu bar, controls on the left, the
// original and pre-image with progress and the loss plot in the middle, the layer strip at the bottom.
#include "gui_app.h"
#include "report.h"

#include "widgets/image_view.h"
#include "widgets/layer_strip.h"
#include "widgets/loss_plot.h"
#include "widgets/params_panel.h"
#include "widgets/progress.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

constexpr ImGuiWindowFlags kPanel = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
                                    ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;

std::string shapeText(const std::vector<int64_t>& shape) {
    std::string s;
    for (size_t d = 0; d < shape.size(); ++d) s += (d ? "x" : "") + std::to_string(shape[d]);
    return s;
}

void sectionHeader(const char* text) {
    ImGui::Spacing();
    ImGui::TextColored(ImVec4(0.55f, 0.72f, 1.f, 1.f), "%s", text);
    ImGui::Separator();
}

std::string shortName(const std::string& path) { return fs::path(path).filename().string(); }

}  // namespace

void pixelTooltip(const widgets::ImageViewResult& view, const ImageF* image, const char* what) {
    if (!view.hovered || !image || image->empty() || view.pixelX >= image->width || view.pixelY >= image->height) return;
    ImGui::BeginTooltip();
    ImGui::Text("%s  x %d  y %d", what, view.pixelX, view.pixelY);
    if (image->channels == 1)
        ImGui::Text("value %.3f", double(image->at(view.pixelY, view.pixelX, 0)));
    else
        ImGui::Text("rgb %.3f %.3f %.3f", double(image->at(view.pixelY, view.pixelX, 0)),
                    double(image->at(view.pixelY, view.pixelX, 1)), double(image->at(view.pixelY, view.pixelX, 2)));
    ImGui::EndTooltip();
}

void App::frame(int fbWidth, int fbHeight) {
    m_fbWidth = fbWidth;
    m_fbHeight = fbHeight;
    m_panelRects.clear();  // what this frame draws
    pollWorker();
    pollLatent();
    handleKeys();
    drawMenu();
    // A fixed layout, nothing floats over the work: the layer tree on the left, the inversion (images, progress,
    // plot) and the depth strip in the centre, the tools in tabs on the right.
    const float menuH = ImGui::GetFrameHeight();
    const float W = float(fbWidth), H = float(fbHeight);
    const float treeW = std::clamp(W * 0.19f, 220.f, 340.f);
    const float toolsW = std::clamp(W * 0.28f, 320.f, 440.f);
    const float centreW = std::max(200.f, W - treeW - toolsW);
    const float stripH = 40.f + 2.f * ImGui::GetTextLineHeightWithSpacing() + 10.f + ImGui::GetStyle().ScrollbarSize + 8.f +
                         ImGui::GetTextLineHeightWithSpacing() + 2.f * ImGui::GetStyle().WindowPadding.y;
    drawTree(0, menuH, treeW, H - menuH);
    drawMain(treeW, menuH, centreW, H - menuH - stripH);
    drawStrip(treeW, H - stripH, centreW, stripH);
    drawTools(treeW + centreW, menuH, W - treeW - centreW, H - menuH);
    std::string picked;
    if (widgets::filePicker(m_imagePicker, picked)) openImage(picked);
    if (widgets::filePicker(m_secondPicker, picked)) setSecondImage(picked);
    if (widgets::filePicker(m_slotPicker, picked)) setAnalogySlot(m_slotPickerTarget, picked);
    if (widgets::filePicker(m_modelPicker, picked)) openModel(picked);
}

void App::beginRegion(const char* title, const char* key, float x, float y, float w, float h) {
    ImGui::SetNextWindowPos(ImVec2(x, y));
    ImGui::SetNextWindowSize(ImVec2(w, h));
    ImGui::Begin(title, nullptr, kPanel | ImGuiWindowFlags_NoTitleBar);
    m_panelRects[key] = {x, y, x + w, y + h};
}

void App::handleKeys() {
    ImGuiIO& io = ImGui::GetIO();
    if (io.WantTextInput || ImGui::IsPopupOpen(nullptr, ImGuiPopupFlags_AnyPopupId)) return;
    auto pressed = [](ImGuiKey k) { return ImGui::IsKeyPressed(ImGui::GetKeyIndex(k)); };
    if (io.KeyCtrl) {
        if (ImGui::IsKeyPressed('O')) showPanel(io.KeyShift ? "model_picker" : "image_picker");
        if (ImGui::IsKeyPressed('E')) exportSweep(defaultExportPath("sweep"));
        if (ImGui::IsKeyPressed('L')) showLatent(true);
        if (ImGui::IsKeyPressed('Y')) showAnalogy(true);
        return;
    }
    // Left/Right (J/K): taps in execution order; Up/Down: the taps beside this one in the tree (its siblings).
    if (pressed(ImGuiKey_RightArrow) || ImGui::IsKeyPressed('K') || ImGui::IsKeyPressed('L')) stepLayer(+1);
    if (pressed(ImGuiKey_LeftArrow) || ImGui::IsKeyPressed('J') || ImGui::IsKeyPressed('H')) stepLayer(-1);
    if (pressed(ImGuiKey_DownArrow)) stepSibling(+1);
    if (pressed(ImGuiKey_UpArrow)) stepSibling(-1);
    if (pressed(ImGuiKey_Escape)) stop();
    if (ImGui::IsKeyPressed('R') || pressed(ImGuiKey_Enter)) rerun();
}

void App::drawMenu() {
    if (!ImGui::BeginMainMenuBar()) return;
    if (ImGui::BeginMenu("File")) {
        if (ImGui::MenuItem("Open image...", "Ctrl+O")) showPanel("image_picker");
        if (ImGui::MenuItem("Open model...", "Ctrl+Shift+O")) showPanel("model_picker");
        if (ImGui::BeginMenu("Recent images", !m_settings.recentImages.empty())) {
            for (const auto& p : std::vector<std::string>(m_settings.recentImages))
                if (ImGui::MenuItem(shortName(p).c_str())) openImage(p);
            ImGui::EndMenu();
        }
        ImGui::Separator();
        if (ImGui::MenuItem("Export layer grid", "Ctrl+E")) exportSweep(defaultExportPath("sweep"));
        if (ImGui::MenuItem("Export restarts grid", nullptr, false, currentResult() != nullptr))
            exportRestarts(defaultExportPath(layerName(m_layer) + "_restarts"));
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("View")) {
        if (ImGui::MenuItem("Run (model, image, parameters)", nullptr, m_tab == 0)) selectTab("run");
        if (ImGui::MenuItem("Channels and predictions", nullptr, m_tab == 1)) selectTab("channels");
        if (ImGui::MenuItem("Preferred input (Dream)", nullptr, m_tab == 2)) selectTab("preferred");
        if (ImGui::MenuItem("Latent chunks", "Ctrl+L", m_tab == 3)) showLatent(true);
        if (ImGui::MenuItem("Analogy a:b::c:d", "Ctrl+Y", m_tab == 4)) showAnalogy(true);
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Layer")) {
        if (ImGui::MenuItem("Next tap", "Right / K")) stepLayer(+1);
        if (ImGui::MenuItem("Previous tap", "Left / J")) stepLayer(-1);
        if (ImGui::MenuItem("Next sibling", "Down")) stepSibling(+1);
        if (ImGui::MenuItem("Previous sibling", "Up")) stepSibling(-1);
        if (ImGui::MenuItem("Run again", "R")) rerun();
        if (ImGui::MenuItem("Stop", "Esc", false, m_jobRunning)) stop();
        ImGui::EndMenu();
    }
    const std::string right = m_model ? m_model->name + "  |  " + m_model->device : std::string("loading model...");
    ImGui::SameLine(ImGui::GetWindowWidth() - ImGui::CalcTextSize(right.c_str()).x - 16.f);
    ImGui::TextDisabled("%s", right.c_str());
    ImGui::EndMainMenuBar();
}

void App::drawTree(float x, float y, float w, float h) {
    beginRegion("Layers##tree", "tree", x, y, w, h);
    if (!m_model) {
        ImGui::TextDisabled(m_loadingKey.empty() ? "no model" : "loading model...");
        ImGui::End();
        return;
    }
    ImGui::Text("%zu taps", m_model->layers.size());
    ImGui::SameLine();
    ImGui::TextDisabled("(keys)");
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Left/Right or J/K: the previous/next tap in execution order\nUp/Down: the previous/next tap beside "
                          "this one in the tree (its siblings)\nR: run again, Esc: stop");
    std::vector<widgets::TreeTap> taps;
    taps.reserve(m_model->layers.size());
    for (size_t i = 0; i < m_model->layers.size(); ++i) {
        const auto& l = m_model->layers[i];
        widgets::TreeTap t{l.name, l.kind, shapeText(l.shape)};
        if (i < m_slots.size() && m_slots[i].result) {
            t.error = m_slots[i].result->featureError;
            t.thumbnail = m_slots[i].thumbnail.imguiId();
        }
        t.running = m_jobRunning && ((m_jobKind == JobKind::Invert && int(i) == m_layer) ||
                                     (m_jobKind == JobKind::Sweep && int(i) == m_frame.layer));
        taps.push_back(std::move(t));
    }
    int selected = m_layer;
    if (widgets::layerTree(m_tree, taps, selected, m_treeState)) selectLayer(selected);
    ImGui::End();
}

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
        for (int i = 0; i < 5; ++i) {
            const ImGuiTabItemFlags f = m_tabRequest == i ? ImGuiTabItemFlags_SetSelected : 0;
            const bool open = ImGui::BeginTabItem(names[i], nullptr, f);
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tips[i]);
            if (!open) continue;
            if (m_tabRequest == i || m_tabRequest < 0) m_tab = i;
            ImGui::BeginChild("##tab", ImVec2(0, 0), false);
            switch (i) {
                case 0: drawRunTab(); break;
                case 1: drawChannelsTab(); break;
                case 2: drawDreamTab(); break;
                case 3:
                    if (!m_latent.show && m_model && m_model->name == "fashion") showLatent(true);
                    drawLatent();
                    break;
                default:
                    if (!m_latent.showAnalogy && m_model && m_model->name == "fashion") showAnalogy(true);
                    drawAnalogy();
            }
            ImGui::EndChild();
            ImGui::EndTabItem();
        }
        if (m_tabRequest >= 0 && m_tab == m_tabRequest) m_tabRequest = -1;
        ImGui::EndTabBar();
    }
    ImGui::End();
}

void App::drawRunTab() {
    sectionHeader("Model");
    ImGui::TextWrapped("%s", m_model ? m_model->name.c_str() : "loading...");
    if (m_model)
        ImGui::TextDisabled("input %dx%dx%d, %zu layers", m_model->input.channels, m_model->input.height, m_model->input.width,
                            m_model->layers.size());
    for (const auto& name : m_defaultModels) {
        if (ImGui::Button(name.c_str())) openModel(name);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("Default model %s (assets/models/%s)", name.c_str(), name.c_str());
        ImGui::SameLine();
    }
    if (ImGui::Button("Open TorchScript...")) showPanel("model_picker");
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("A network saved with torch.jit.script or torch.jit.trace (or drop the file on the window)");
    ImGui::TextDisabled("TorchScript input:");
    int side = m_settings.modelSize > 0 ? m_settings.modelSize : 224;
    ImGui::SetNextItemWidth(60.f);
    if (ImGui::InputInt("px##model", &side, 0)) m_settings.modelSize = std::clamp(side, 8, 4096);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Input side for TorchScript models (ImageNet normalisation); applies when one is opened");
    ImGui::SameLine();
    ImGui::Checkbox("gray", &m_settings.modelGray);

    sectionHeader("Image");
    ImGui::TextWrapped("%s", m_imagePath.empty() ? "(none)" : shortName(m_imagePath).c_str());
    if (ImGui::Button("Open image...")) showPanel("image_picker");
    ImGui::SameLine();
    ImGui::TextDisabled("or drop a file");
    if (!m_samples.empty()) {
        ImGui::TextDisabled(m_model && m_model->name != "fashion" ? "samples (Fashion-MNIST test set, any model takes them)"
                                                                  : "samples (Fashion-MNIST test set)");
        if (m_sampleTex.size() != m_samples.size()) {  // first draw: small textures of the samples
            m_sampleTex.resize(m_samples.size());
            for (size_t i = 0; i < m_samples.size(); ++i) {
                try {
                    m_uploader->upload(m_sampleTex[i], render::loadImage(m_samples[i]));
                } catch (const std::exception&) {
                }
            }
        }
        const float thumbW = 40.f;
        const int perRow = std::max(1, int(ImGui::GetContentRegionAvail().x / (thumbW + 2.f * ImGui::GetStyle().FramePadding.x +
                                                                              ImGui::GetStyle().ItemSpacing.x)));
        for (size_t i = 0; i < m_samples.size(); ++i) {
            if (i % size_t(perRow)) ImGui::SameLine();
            ImGui::PushID(int(i));
            const bool current = m_samples[i] == m_imagePath;
            if (current) ImGui::PushStyleColor(ImGuiCol_Button, ImVec4(0.25f, 0.45f, 0.8f, 1.f));
            if (ImGui::ImageButton(m_sampleTex[i].imguiId(), ImVec2(thumbW, thumbW))) openImage(m_samples[i]);
            if (current) ImGui::PopStyleColor();
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", shortName(m_samples[i]).c_str());
            ImGui::PopID();
        }
    }
    if (!m_settings.recentImages.empty() && ImGui::BeginCombo("##recent", "recent images")) {
        for (const auto& p : std::vector<std::string>(m_settings.recentImages))
            if (ImGui::Selectable(shortName(p).c_str())) openImage(p);
        ImGui::EndCombo();
    }

    sectionHeader("Inversion (Mahendran & Vedaldi)");
    const float paperTv = m_model && m_layer < int(m_model->lambdaTv.size()) ? m_model->lambdaTv[size_t(m_layer)] : 1.f;
    const widgets::InversionSettings before = m_settings.inversion;
    if (widgets::inversionSettingsPanel(m_settings.inversion, paperTv) && m_settings.inversion != before) {
        m_settings.save();
        resetResults();
        requestInversion();  // newest request wins: the running job is cancelled
    }
    if (ImGui::Button("Run again (R)")) rerun();
    ImGui::SameLine();
    if (ImGui::Button("Defaults")) {
        m_settings.inversion = {};
        resetResults();
        requestInversion();
    }

    sectionHeader("Export");
    if (ImGui::Button("Export layer grid")) exportSweep(defaultExportPath("sweep"));
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Original + every layer's pre-image, labelled, as PNG, with the numbers in a JSON beside it "
                          "(computes the layers not done yet)");
    ImGui::SameLine();
    ImGui::BeginDisabled(currentResult() == nullptr);
    if (ImGui::Button("Export restarts")) exportRestarts(defaultExportPath(layerName(m_layer) + "_restarts"));
    ImGui::EndDisabled();
    ImGui::TextDisabled("to %s", m_settings.exportDir.empty() ? fs::current_path().string().c_str() : m_settings.exportDir.c_str());
}

void App::drawMain(float x, float y, float w, float h) {
    beginRegion("Pre-images", "main", x, y, w, h);
    if (!m_error.empty()) {
        // The message wraps left of its button: a long one (a path, a reason) is never hidden under it.
        const ImGuiStyle& style = ImGui::GetStyle();
        const float button = ImGui::CalcTextSize("Dismiss").x + style.FramePadding.x * 2.f;
        const float wrap = ImGui::GetContentRegionAvail().x - button - style.WindowPadding.x * 2.f - style.ItemSpacing.x;
        const float textH = ImGui::CalcTextSize(m_error.c_str(), nullptr, false, wrap).y;
        ImGui::PushStyleColor(ImGuiCol_ChildBg, ImVec4(0.45f, 0.12f, 0.12f, 1.f));
        ImGui::BeginChild("##error", ImVec2(0, std::max(textH, ImGui::GetFrameHeight()) + style.WindowPadding.y * 2.f), true);
        ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + wrap);
        ImGui::TextColored(ImVec4(1.f, 0.85f, 0.85f, 1.f), "%s", m_error.c_str());
        ImGui::PopTextWrapPos();
        ImGui::SameLine(ImGui::GetWindowWidth() - button - style.WindowPadding.x);
        ImGui::SetCursorPosY(style.WindowPadding.y);
        if (ImGui::SmallButton("Dismiss")) m_error.clear();
        ImGui::EndChild();
        ImGui::PopStyleColor();
    }
    const std::string layer = layerName(m_layer);
    const LayerInfo* info = m_model && m_layer < int(m_model->layers.size()) ? &m_model->layers[size_t(m_layer)] : nullptr;
    ImGui::Text("Layer %d/%zu  %s", m_layer + 1, m_model ? m_model->layers.size() : size_t(0), layer.c_str());
    if (info) {
        ImGui::SameLine();
        ImGui::TextDisabled("%s, output %s", info->kind.c_str(), shapeText(info->shape).c_str());
    }

    const InversionResult* result = currentResult();
    const bool live = m_frame.layer == m_layer && !m_restartTex.empty();
    const int best = result ? result->best : 0;
    const float plotH = std::max(140.f, h * 0.26f);
    const bool hasLearned = m_learned && m_learnedLayer == m_layer && m_learnedTex.valid();
    // Original and pre-image (and the learned pre-image at 0.6 the size) fill the width; restarts need a third column.
    const bool restartsShown = m_restartTex.size() > 1 && m_frame.layer == m_layer;
    const float columns = (restartsShown ? 3.f : 2.f) + (hasLearned ? 0.6f : 0.f);
    const float side = std::max(120.f, std::min((w - 100.f) / columns, h - plotH - 150.f));

    const render::Texture& orig = m_targetTex.valid() ? m_targetTex : m_originalTex;
    auto origView = widgets::imageView("original", orig.valid() ? orig.imguiId() : nullptr, orig.width(), orig.height(), side,
                                       "original (model input)", "no image: open one or drop it here");
    pixelTooltip(origView, m_targetTex.valid() ? &m_target : &m_image, "original");
    ImGui::SameLine(0, 20.f);
    const render::Texture* pre = live && best < int(m_restartTex.size()) ? &m_restartTex[size_t(best)] : nullptr;
    if (!pre && m_layer < int(m_slots.size()) && m_slots[size_t(m_layer)].thumbnail.valid()) pre = &m_slots[size_t(m_layer)].thumbnail;
    char caption[128];
    if (result)
        std::snprintf(caption, sizeof caption, "pre-image\nfeature error %.4f\npixel RMSE %.4f", double(result->featureError),
                      double(result->pixelRmse));
    else if (m_jobRunning && m_jobKind == JobKind::LoadModel)
        std::snprintf(caption, sizeof caption, "pre-image (once the model has loaded)");
    else if (m_jobRunning)
        std::snprintf(caption, sizeof caption, "pre-image (optimising...)");
    else
        std::snprintf(caption, sizeof caption, "pre-image (not computed: Run again, R)");
    auto view = widgets::imageView("preimage", pre ? pre->imguiId() : nullptr, pre ? pre->width() : 0, pre ? pre->height() : 0,
                                   side, caption, m_jobRunning ? "starting..." : "");
    const ImageF* preImage = live && best < int(m_frame.previews.size()) ? &m_frame.previews[size_t(best)]
                             : result                                  ? &result->preimages[size_t(best)]
                                                                       : nullptr;
    pixelTooltip(view, preImage, "pre-image");
    if (hasLearned) {  // the learned inverter's instant pre-image, beside the optimised one
        ImGui::SameLine(0, 20.f);
        char learnedCaption[128];
        std::snprintf(learnedCaption, sizeof learnedCaption, "learned\nerror %.4f\nRMSE %.4f", double(m_learned->featureError),
                      double(m_learned->pixelRmse));
        ImGui::BeginGroup();
        auto lv = widgets::imageView("learned", m_learnedTex.imguiId(), m_learnedTex.width(), m_learnedTex.height(),
                                     side * 0.6f, learnedCaption);
        pixelTooltip(lv, &m_learned->image, "learned pre-image");
        m_panelRects["learned"] = {lv.boxMin.x, lv.boxMin.y, lv.boxMax.x, lv.boxMax.y};
        if (m_layer < int(m_model->hyperNets.size()) && m_model->hyperNets[size_t(m_layer)]) {
            const char* kinds[] = {"decoder", "HyperNet", "HyperNet, z = 0"};
            ImGui::SetNextItemWidth(side * 0.6f);
            if (ImGui::Combo("##learnedkind", &m_learnedKind, kinds, 3)) rerun();
            if (ImGui::IsItemHovered())
                ImGui::SetTooltip("decoder: trained from this layer's features alone\n"
                                  "HyperNet: a 4-dim code of the image modulates the decoder's weights\n"
                                  "HyperNet, z = 0: the ablation, features replaced by zeros");
        }
        ImGui::EndGroup();
        if (!lv.hovered && ImGui::IsItemHovered())  // over the caption
            ImGui::SetTooltip("Learned inverter (a decoder trained to map this layer's features back to images): instant,\n"
                              "the average image with these features rather than one that matches them exactly.");
    }
    m_preimageRect[0] = view.min.x, m_preimageRect[1] = view.min.y, m_preimageRect[2] = view.max.x, m_preimageRect[3] = view.max.y;

    // Restarts: small grid plus the variance map (what the layer is invariant to).
    if (m_restartTex.size() > 1 && live) {
        ImGui::SameLine(0, 20.f);
        ImGui::BeginGroup();
        ImGui::TextDisabled("%zu restarts", m_restartTex.size());
        const float cell = std::max(40.f, std::min((side - 30.f) / 3.f, (ImGui::GetContentRegionAvail().x - 30.f) / 3.f));
        for (size_t i = 0; i < m_restartTex.size(); ++i) {
            if (i % 3) ImGui::SameLine();
            ImGui::Image(m_restartTex[i].imguiId(), ImVec2(cell, cell), ImVec2(0, 0), ImVec2(1, 1), ImVec4(1, 1, 1, 1),
                         result && int(i) == best ? ImVec4(0.5f, 0.75f, 1.f, 1.f) : ImVec4(0.25f, 0.25f, 0.3f, 1.f));
            if (result && ImGui::IsItemHovered())
                ImGui::SetTooltip("restart %zu%s: feature error %.4f", i, int(i) == best ? " (best)" : "",
                                  double(result->featureErrorPerRestart[i]));
        }
        if (result && m_varianceTex.valid()) {
            ImGui::Image(m_varianceTex.imguiId(), ImVec2(cell, cell));
            ImGui::SameLine();
            ImGui::TextWrapped("variance across restarts\n(bright = not determined\nby the layer; max %.2e)", double(result->varianceMax));
        }
        ImGui::EndGroup();
    }

    // What the run had to do to converge: divergence restarts and the rate actually used.
    if (result && !result->warnings.empty()) {
        ImGui::PushTextWrapPos(0.f);
        for (const auto& w : result->warnings) ImGui::TextColored(ImVec4(1.f, 0.75f, 0.3f, 1.f), "%s", w.c_str());
        ImGui::PopTextWrapPos();
    }
    if (result && result->learningRate > 0 && result->learningRate < 0.99f * m_settings.inversion.learningRate)
        ImGui::TextColored(ImVec4(1.f, 0.75f, 0.3f, 1.f), "ran at learning rate %.1e (set: %.1e) after divergence",
                           double(result->learningRate), double(m_settings.inversion.learningRate));

    // Progress and the loss plot.
    const ProgressEvent& p = m_frame.progress;
    char status[160];
    if (m_jobRunning && m_jobKind == JobKind::Sweep)
        std::snprintf(status, sizeof status, "export: layer %d of %d", m_frame.sweepDone + 1, std::max(1, m_frame.sweepTotal));
    else if (m_jobRunning && p.iterations > 0)
        std::snprintf(status, sizeof status, "iteration %d / %d   %.0f it/s   loss %.3e", p.iteration, p.iterations,
                      double(p.itersPerSecond), double(p.loss));
    else
        std::snprintf(status, sizeof status, "%s", m_status.empty() ? "idle" : m_status.c_str());
    float fraction = m_jobKind == JobKind::Sweep && m_frame.sweepTotal > 0 ? float(m_frame.sweepDone) / float(m_frame.sweepTotal)
                     : p.iterations > 0                                      ? float(p.iteration) / float(p.iterations)
                                                                             : 0.f;
    if (!m_jobRunning && result) fraction = 1.f;
    ImGui::Spacing();
    if (widgets::jobProgress(fraction, status, m_jobRunning)) stop();

    // The optimised loss terms (squared and weighted), not the feature error of the captions.
    std::vector<widgets::PlotSeries> series{{"total loss", IM_COL32(235, 235, 235, 255), {}},
                                            {"feature loss", IM_COL32(90, 170, 255, 255), {}},
                                            {"TV loss", IM_COL32(250, 170, 70, 255), {}},
                                            {"alpha loss", IM_COL32(150, 220, 120, 255), {}}};
    const auto& hist = live || (result && m_frame.layer == m_layer) ? m_frame.history : (result ? result->history : m_frame.history);
    for (const auto& e : hist) {
        series[0].values.push_back(e.loss);
        series[1].values.push_back(e.featureLoss);
        series[2].values.push_back(e.tvLoss);
        series[3].values.push_back(e.alphaLoss);
    }
    widgets::lossPlot("loss", series, m_settings.inversion.iterations, ImVec2(-1.f, std::max(100.f, ImGui::GetContentRegionAvail().y)));
    ImGui::End();
}

void App::drawChannelsTab() {
    const LayerInfo* info = m_model && m_layer < int(m_model->layers.size()) ? &m_model->layers[size_t(m_layer)] : nullptr;
    if (!info) {
        ImGui::TextDisabled("no model");
        return;
    }
    sectionHeader("Activations on the image");
    ImGui::TextWrapped("%s  (%s, %s)", info->name.c_str(), info->kind.c_str(), shapeText(info->shape).c_str());
    const bool current = m_featureLayer == m_layer && m_gridTex.valid();
    if (!current) {
        ImGui::TextDisabled(m_image.empty() ? "open an image" : "computing...");
    } else {
        const char* what = m_grid.kind == render::FeatureGrid::Maps     ? "each channel's map, normalised on its own"
                           : m_grid.kind == render::FeatureGrid::Tokens ? "tokens (rows) x features (columns)"
                                                                        : "the vector, row by row";
        ImGui::TextDisabled("%s%s", what, m_grid.shown < m_grid.channels ? fmt(" (first %.0f channels)", m_grid.shown).c_str() : "");
        const float side = ImGui::GetContentRegionAvail().x;
        auto v = widgets::imageView("channels", m_gridTex.imguiId(), m_gridTex.width(), m_gridTex.height(), side, "");
        m_panelRects["channel_grid"] = {v.boxMin.x, v.boxMin.y, v.boxMax.x, v.boxMax.y};
        m_panelRects["channel_grid_image"] = {v.min.x, v.min.y, v.zoom, 0.f};  // image origin on screen and its zoom
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->PushClipRect(v.boxMin, v.boxMax, true);
        const auto& s = m_settings.inversion;
        // The mask on the grid: channels outside the range dimmed, the window outlined on every tile.
        if (m_grid.kind == render::FeatureGrid::Maps && s.maskActive()) {
            for (int c = 0; c < m_grid.shown; ++c) {
                int ox, oy;
                m_grid.tileOrigin(c, ox, oy);
                const ImVec2 a = widgets::imageToScreen(v, float(ox), float(oy));
                const ImVec2 b = widgets::imageToScreen(v, float(ox + m_grid.mapW), float(oy + m_grid.mapH));
                if (c < s.maskFirst || (s.maskLast >= 0 && c > s.maskLast)) {
                    dl->AddRectFilled(a, b, IM_COL32(0, 0, 0, 170));
                } else if (s.maskW > 0) {
                    const ImVec2 wa = widgets::imageToScreen(v, float(ox + s.maskX), float(oy + s.maskY));
                    const ImVec2 wb = widgets::imageToScreen(v, float(ox + std::min(m_grid.mapW, s.maskX + s.maskW)),
                                                             float(oy + std::min(m_grid.mapH, s.maskY + s.maskH)));
                    dl->AddRect(wa, wb, IM_COL32(80, 255, 120, 255));
                }
            }
        }
        // Under the cursor: the channel (or token, or element) named, with its value.
        m_hoverChannel = -1;
        int c = -1, fx = 0, fy = 0;
        if (v.hovered && m_grid.locate(v.pixelX, v.pixelY, c, fx, fy)) {
            m_hoverChannel = c;
            const auto& f = *m_features;
            ImGui::BeginTooltip();
            if (m_grid.kind == render::FeatureGrid::Maps) {
                const size_t hw = size_t(m_grid.mapW) * size_t(m_grid.mapH);
                const float* m = f.data() + size_t(c) * hw;
                float mx = m[0], sum = 0;
                for (size_t i = 0; i < hw; ++i) mx = std::max(mx, m[i]), sum += m[i];
                ImGui::Text("channel %d  (x %d, y %d): %.4g", c, fx, fy, double(m[size_t(fy) * size_t(m_grid.mapW) + size_t(fx)]));
                ImGui::TextDisabled("max %.4g, mean %.4g", double(mx), double(sum / float(hw)));
                ImGui::TextDisabled("click: match only this channel; drag: a window");
            } else if (m_grid.kind == render::FeatureGrid::Tokens) {
                ImGui::Text("token %d, feature %d: %.4g", c, fx, double(f[size_t(c) * size_t(m_grid.mapW) + size_t(fx)]));
            } else {
                const std::string name = m_layer == int(m_model->layers.size()) - 1 && c < int(m_model->classes.size())
                                             ? " (" + m_model->classes[size_t(c)] + ")"
                                             : "";
                ImGui::Text("element %d%s: %.4g", c, name.c_str(), double(f[size_t(c)]));
            }
            ImGui::EndTooltip();
        }
        // Drawing the mask: a click picks a channel, a drag inside one tile a window of the feature map.
        if (m_grid.kind == render::FeatureGrid::Maps) {
            if (v.leftClicked && c >= 0) {
                m_maskDrag = true;
                m_dragChannel = c, m_dragX0 = m_dragX1 = fx, m_dragY0 = m_dragY1 = fy;
            }
            if (m_maskDrag && v.leftDragging) {
                int ox, oy;
                m_grid.tileOrigin(m_dragChannel, ox, oy);
                const ImVec2 mouse = ImGui::GetIO().MousePos;
                m_dragX1 = std::clamp(int((mouse.x - v.min.x) / v.zoom) - ox, 0, m_grid.mapW - 1);
                m_dragY1 = std::clamp(int((mouse.y - v.min.y) / v.zoom) - oy, 0, m_grid.mapH - 1);
                const ImVec2 a = widgets::imageToScreen(v, float(ox + std::min(m_dragX0, m_dragX1)), float(oy + std::min(m_dragY0, m_dragY1)));
                const ImVec2 b = widgets::imageToScreen(v, float(ox + std::max(m_dragX0, m_dragX1) + 1),
                                                        float(oy + std::max(m_dragY0, m_dragY1) + 1));
                dl->AddRect(a, b, IM_COL32(255, 220, 80, 255), 0.f, 0, 2.f);
            }
            if (m_maskDrag && (v.leftReleased || !ImGui::IsMouseDown(ImGuiMouseButton_Left))) {
                m_maskDrag = false;
                if (m_dragX0 == m_dragX1 && m_dragY0 == m_dragY1)
                    setMask(s.maskX, s.maskY, s.maskW, s.maskH, m_dragChannel, m_dragChannel);
                else
                    setMask(std::min(m_dragX0, m_dragX1), std::min(m_dragY0, m_dragY1), std::abs(m_dragX1 - m_dragX0) + 1,
                            std::abs(m_dragY1 - m_dragY0) + 1, s.maskFirst, s.maskLast);
            }
        }
        dl->PopClipRect();
        ImGui::TextDisabled("wheel: zoom, right-drag: pan, double-click: fit");
    }
    sectionHeader("Mask (the paper's Fig. 8-9)");
    const int channels = info->shape.empty() ? 0 : int(info->shape[0]);
    widgets::InversionSettings edited = m_settings.inversion;
    if (widgets::maskPanel(edited, channels))  // committed: the values shown while dragging were already stored
        setMask(edited.maskX, edited.maskY, edited.maskW, edited.maskH, edited.maskFirst, edited.maskLast, true);
    else  // mid-drag values show, the job starts when the edit is committed
        m_settings.inversion = edited;

    sectionHeader("Top-5 predictions");
    const auto& pre = m_layer < int(m_slots.size()) ? m_slots[size_t(m_layer)].preimageTop5 : std::vector<std::pair<int, float>>{};
    if (m_imageTop5.empty()) {
        ImGui::TextDisabled(m_model->layers.back().shape.size() == 1 ? "computing..." : "the network's output is not a vector of class scores");
    } else {
        const float barW = ImGui::GetContentRegionAvail().x * 0.5f - ImGui::GetStyle().ItemSpacing.x;
        auto column = [&](const char* title, const std::vector<std::pair<int, float>>& top) {
            ImGui::BeginGroup();
            ImGui::TextUnformatted(title);
            for (const auto& [k, prob] : top) {
                const std::string name = k < int(m_model->classes.size()) ? m_model->classes[size_t(k)] : "class " + std::to_string(k);
                ImGui::ProgressBar(prob, ImVec2(barW, 0.f), (name + fmt(prob < 0.1f ? " %.3f" : " %.2f", prob)).c_str());
            }
            if (top.empty()) ImGui::TextDisabled("once the pre-image is done");
            ImGui::EndGroup();
        };
        column("on the image", m_imageTop5);
        ImGui::SameLine();
        column("on the pre-image", pre);
        if (m_model->classes.empty()) ImGui::TextDisabled("class indices (no class names in the model's preimage.json)");
    }
}

int App::dreamGenerator() {
    // The default model's learned inverter of a vector layer (relu4 first) generates; user models have none.
    if (!m_model || m_model->name != "fashion") return m_dreamGenerator = -1;
    if (m_dreamGenerator >= 0) return m_dreamGenerator;
    for (size_t i = 0; i < m_model->learnedInverters.size(); ++i)
        if (m_model->learnedInverters[i] && m_model->layers[i].shape.size() == 1 && (m_dreamGenerator < 0 || m_model->layers[i].name == "relu4"))
            m_dreamGenerator = int(i);
    return m_dreamGenerator;
}

void App::drawDreamTab() {
    if (!m_model) return;
    sectionHeader("Preferred input");
    ImGui::TextWrapped("The input that most excites a unit: a class score, or a channel of the selected tap.");
    const bool classifier = !m_model->layers.empty() && m_model->layers.back().shape.size() == 1;
    if (!classifier) m_dreamMode = 1;
    ImGui::BeginDisabled(!classifier);
    ImGui::RadioButton("class", &m_dreamMode, 0);
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::RadioButton("channel of the selected tap", &m_dreamMode, 1);
    std::string unit;
    if (m_dreamMode == 0) {
        const int classes = int(m_model->layers.back().shape[0]);
        m_dreamClass = std::clamp(m_dreamClass, 0, classes - 1);
        ImGui::SetNextItemWidth(-60.f);
        if (!m_model->classes.empty()) {
            std::vector<const char*> names;
            for (const auto& c : m_model->classes) names.push_back(c.c_str());
            ImGui::Combo("class", &m_dreamClass, names.data(), int(names.size()));
            unit = m_model->classes[size_t(std::min(m_dreamClass, int(names.size()) - 1))];
        } else {
            ImGui::InputInt("class", &m_dreamClass);
            m_dreamClass = std::clamp(m_dreamClass, 0, classes - 1);
            unit = std::to_string(m_dreamClass);
        }
    } else {
        const auto& shape = m_model->layers[size_t(m_layer)].shape;
        const int channels = shape.empty() ? 1 : int(shape[0]);
        ImGui::SetNextItemWidth(-60.f);
        ImGui::InputInt("channel", &m_dreamChannel);
        m_dreamChannel = std::clamp(m_dreamChannel, 0, channels - 1);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("0-%d of %s (the channel under the cursor in the Channels tab is named)", channels - 1,
                                                      layerName(m_layer).c_str());
        unit = layerName(m_layer) + ":" + std::to_string(m_dreamChannel);
    }
    const bool hasGenerator = dreamGenerator() >= 0;
    ImGui::BeginDisabled(!hasGenerator);
    bool prior = m_dreamPrior && hasGenerator;  // shown off where there is none; the choice is kept for the default model
    if (ImGui::Checkbox("generator prior", &prior)) m_dreamPrior = prior;
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip(!hasGenerator ? "Needs a learned inverter of a vector layer as the generator (the default model has one);\n"
                                               "without it the pixels are optimised, with TV and jitter (as Lucent does)."
                                             : "On: optimise the code of the %s learned inverter, kept in the range seen on data\n"
                                               "(DGN-AM, Nguyen et al. 2016). Off: optimise the pixels, with TV and jitter.",
                          m_dreamGenerator >= 0 ? layerName(m_dreamGenerator).c_str() : "");
    if (ImGui::Button("Start")) startDream(unit);
    ImGui::SameLine();
    ImGui::BeginDisabled(!(m_jobRunning && m_jobKind == JobKind::Dream));
    if (ImGui::Button("Stop")) stop();
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::TextDisabled("%s", unit.c_str());
    if (m_dreamUnit.empty()) return;
    ImGui::Separator();
    const bool superseded = m_dreamGeneration != m_jobGeneration && !m_dreamResult;
    ImGui::Text("unit: %s", m_dreamUnit.c_str());
    const char* placeholder = superseded ? "stopped: another job started" : "starting...";
    auto dv = widgets::imageView("dream", m_dreamTex.valid() ? m_dreamTex.imguiId() : nullptr, m_dreamTex.width(),
                                 m_dreamTex.height(), std::min(200.f, ImGui::GetContentRegionAvail().x), "", placeholder);
    pixelTooltip(dv, m_dreamResult ? &m_dreamResult->image : nullptr, "preferred input");
    if (superseded) ImGui::TextColored(ImVec4(1.f, 0.75f, 0.3f, 1.f), "superseded by another job: Start again");
    if (m_dreamResult && std::isnan(m_dreamResult->trainMax))
        ImGui::TextWrapped("activation %.3g, from %.3g at the start (pixel space, %zu iterations)", double(m_dreamResult->activation),
                           double(m_dreamResult->startActivation), m_dreamResult->history.size());
    else if (m_dreamResult)
        ImGui::TextWrapped("activation %.2f (training images: max %.2f, mean %.2f), from %.2f at the mean code",
                           double(m_dreamResult->activation), double(m_dreamResult->trainMax), double(m_dreamResult->trainMean),
                           double(m_dreamResult->startActivation));
    std::vector<widgets::PlotSeries> series{{"activation gain", IM_COL32(250, 170, 70, 255), {}}};
    // The plot is logarithmic: show the activation gained over the start (positive once it rises).
    for (float a : m_dreamActivations) series[0].values.push_back(a - m_dreamActivations.front() + 1e-3f);
    widgets::lossPlot("dreamplot", series, 200, ImVec2(-1, std::max(100.f, ImGui::GetContentRegionAvail().y)));
}

void App::drawStrip(float x, float y, float w, float h) {
    beginRegion("Depth strip", "strip", x, y, w, h);
    if (!m_model) {
        ImGui::TextDisabled("loading model...");
        ImGui::End();
        return;
    }
    // The selected tap's branch: the taps beside it in the tree (every layer of a plain chain).
    const auto branch = m_tree.siblings(m_layer);
    const auto path = m_tree.ancestors(m_layer);
    const std::string parent = path.size() >= 2 ? m_tree.nodes[size_t(path[path.size() - 2])].path : std::string();
    ImGui::TextDisabled("%s  (%zu taps)", parent.empty() ? "top level" : parent.c_str(), branch.size());
    std::vector<widgets::LayerCard> cards;
    int selected = -1;
    for (size_t k = 0; k < branch.size(); ++k) {
        const size_t i = size_t(branch[k]);
        if (int(i) == m_layer) selected = int(k);
        const auto& l = m_model->layers[i];
        // Named within the branch ("relu1", not "features.denseblock3.denselayer12.relu1"); the full name in the tooltip.
        const bool inside = !parent.empty() && l.name.compare(0, parent.size() + 1, parent + ".") == 0;
        widgets::LayerCard c{inside ? l.name.substr(parent.size() + 1) : l.name, l.kind, shapeText(l.shape)};
        c.tooltip = l.name;
        if (i < m_slots.size() && m_slots[i].result) {
            c.error = m_slots[i].result->featureError;
            c.thumbnail = m_slots[i].thumbnail.imguiId();
        }
        c.running = m_jobRunning && ((m_jobKind == JobKind::Invert && int(i) == m_layer) ||
                                     (m_jobKind == JobKind::Sweep && int(i) == m_frame.layer));
        cards.push_back(std::move(c));
    }
    const bool scroll = m_stripShownLayer != m_layer;
    m_stripShownLayer = m_layer;
    if (widgets::layerStrip(cards, selected, scroll) && selected >= 0) {
        selectLayer(branch[size_t(selected)]);
        m_stripShownLayer = m_layer;  // clicked: already in view
    }
    ImGui::End();
}

}  // namespace preimage::app
