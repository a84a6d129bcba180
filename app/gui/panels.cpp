// App: the fixed layout (Dear ImGui 1.86 has no docking) and its regions: the menu bar, the layer tree on the
// left, the inversion (original, pre-image, restarts, progress, loss plot) and the depth strip in the centre.
// The tools column on the right (its tabs) is in tools.cpp, the latent tabs in latent.cpp.
#include "app/gui/app.h"
#include "app/gui/util.h"
#include "app/cli/report.h"
#include "inference/inversion/params.h"

#include "widgets/image_view.h"
#include "widgets/layer_strip.h"
#include "widgets/loss_plot.h"
#include "widgets/progress.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>

namespace preimage::app {
namespace {

constexpr ImGuiWindowFlags kPanel = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
                                    ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;

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
    syncTextures(m_s.poll());
    pollLatent();
    handleKeys();
    drawMenu();
    // A fixed layout, nothing floats over the work: the layer tree on the left, the inversion (images, progress,
    // plot) and the depth strip in the centre, the tools in tabs on the right.
    const float menuH = ImGui::GetFrameHeight();
    const float W = float(fbWidth), H = float(fbHeight);
    const float treeW = std::clamp(W * 0.19f, 210.f, 340.f);
    const float toolsW = std::clamp(W * 0.28f, 360.f, 440.f);  // the five tab names whole
    const float centreW = std::max(200.f, W - treeW - toolsW);
    const float stripH = 40.f + 2.f * ImGui::GetTextLineHeightWithSpacing() + 10.f + ImGui::GetStyle().ScrollbarSize + 8.f +
                         ImGui::GetTextLineHeightWithSpacing() + 2.f * ImGui::GetStyle().WindowPadding.y;
    drawTree(0, menuH, treeW, H - menuH);
    drawMain(treeW, menuH, centreW, H - menuH - stripH);
    drawStrip(treeW, H - stripH, centreW, stripH);
    drawTools(treeW + centreW, menuH, W - treeW - centreW, H - menuH);
    std::string picked;
    if (widgets::filePicker(m_pickers.image, picked)) openImage(picked);
    if (widgets::filePicker(m_pickers.second, picked)) setSecondImage(picked);
    if (widgets::filePicker(m_pickers.slot, picked)) setAnalogySlot(m_pickers.slotTarget, picked);
    if (widgets::filePicker(m_pickers.model, picked)) openModel(picked);
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
        if (ImGui::BeginMenu("Recent images", !m_s.settings.recentImages.empty())) {
            for (const auto& p : std::vector<std::string>(m_s.settings.recentImages))
                if (ImGui::MenuItem(shortName(p).c_str())) openImage(p);
            ImGui::EndMenu();
        }
        ImGui::Separator();
        if (ImGui::MenuItem("Export layer grid", "Ctrl+E")) exportSweep(defaultExportPath("sweep"));
        if (ImGui::MenuItem("Export restarts grid", nullptr, false, currentResult() != nullptr))
            exportRestarts(defaultExportPath(m_s.layerName(m_s.layer) + "_restarts"));
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("View")) {
        if (ImGui::MenuItem("Run (model, image, parameters)", nullptr, m_tab == Tab::Run)) selectTab("run");
        if (ImGui::MenuItem("Channels and predictions", nullptr, m_tab == Tab::Channels)) selectTab("channels");
        if (ImGui::MenuItem("Preferred input (Dream)", nullptr, m_tab == Tab::Preferred)) selectTab("preferred");
        const bool mixer = m_s.model && m_s.model->hasMixer;  // the latent tabs need the model's mixer
        if (ImGui::MenuItem("Latent chunks", "Ctrl+L", m_tab == Tab::Chunks, mixer)) showLatent(true);
        if (ImGui::MenuItem("Analogy a:b::c:d", "Ctrl+Y", m_tab == Tab::Analogy, mixer)) showAnalogy(true);
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Layer")) {
        if (ImGui::MenuItem("Next tap", "Right / K")) stepLayer(+1);
        if (ImGui::MenuItem("Previous tap", "Left / J")) stepLayer(-1);
        if (ImGui::MenuItem("Next sibling", "Down")) stepSibling(+1);
        if (ImGui::MenuItem("Previous sibling", "Up")) stepSibling(-1);
        if (ImGui::MenuItem("Run again", "R")) rerun();
        if (ImGui::MenuItem("Stop", "Esc", false, m_s.jobRunning)) stop();
        ImGui::EndMenu();
    }
    const std::string right = m_s.model ? m_s.model->name + "  |  " + m_s.model->device + "  |  upload: " + m_uploadPath
                                        : std::string("loading model...");
    ImGui::SameLine(ImGui::GetWindowWidth() - ImGui::CalcTextSize(right.c_str()).x - 16.f);
    ImGui::TextDisabled("%s", right.c_str());
    ImGui::EndMainMenuBar();
}

void App::drawTree(float x, float y, float w, float h) {
    beginRegion("Layers##tree", "tree", x, y, w, h);
    if (!m_s.model) {
        ImGui::TextDisabled(m_s.loadingKey.empty() ? "no model" : "loading model...");
        ImGui::End();
        return;
    }
    ImGui::Text("%zu taps", m_s.model->layers.size());
    ImGui::SameLine();
    ImGui::TextDisabled("(keys)");
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Left/Right or J/K: the previous/next tap in execution order\nUp/Down: the previous/next tap beside "
                          "this one in the tree (its siblings)\nR: run again, Esc: stop");
    std::vector<widgets::TreeTap> taps;
    taps.reserve(m_s.model->layers.size());
    for (size_t i = 0; i < m_s.model->layers.size(); ++i) {
        const auto& l = m_s.model->layers[i];
        widgets::TreeTap t{l.name, l.kind, shapeText(l.shape)};
        if (i < m_s.slots.size() && m_s.slots[i].result) {
            t.error = m_s.slots[i].result->featureError;
            t.thumbnail = m_thumbs[i].imguiId();
        }
        t.running = m_s.jobRunning && ((m_s.jobKind == JobKind::Invert && int(i) == m_s.layer) ||
                                     (m_s.jobKind == JobKind::Sweep && int(i) == m_s.frame.layer));
        taps.push_back(std::move(t));
    }
    int selected = m_s.layer;
    if (widgets::layerTree(m_tree, taps, selected, m_treeState)) selectLayer(selected);
    ImGui::End();
}

void App::drawMain(float x, float y, float w, float h) {
    beginRegion("Pre-images", "main", x, y, w, h);
    if (!m_s.error.empty()) {
        // The message wraps left of its button: a long one (a path, a reason) is never hidden under it.
        const ImGuiStyle& style = ImGui::GetStyle();
        const float button = ImGui::CalcTextSize("Dismiss").x + style.FramePadding.x * 2.f;
        const float wrap = ImGui::GetContentRegionAvail().x - button - style.WindowPadding.x * 2.f - style.ItemSpacing.x;
        const float textH = ImGui::CalcTextSize(m_s.error.c_str(), nullptr, false, wrap).y;
        ImGui::PushStyleColor(ImGuiCol_ChildBg, ImVec4(0.45f, 0.12f, 0.12f, 1.f));
        ImGui::BeginChild("##error", ImVec2(0, std::max(textH, ImGui::GetFrameHeight()) + style.WindowPadding.y * 2.f), true);
        ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + wrap);
        ImGui::TextColored(ImVec4(1.f, 0.85f, 0.85f, 1.f), "%s", m_s.error.c_str());
        ImGui::PopTextWrapPos();
        ImGui::SameLine(ImGui::GetWindowWidth() - button - style.WindowPadding.x);
        ImGui::SetCursorPosY(style.WindowPadding.y);
        if (ImGui::SmallButton("Dismiss")) m_s.error.clear();
        ImGui::EndChild();
        ImGui::PopStyleColor();
    }
    const std::string layer = m_s.layerName(m_s.layer);
    const LayerInfo* info = m_s.model && m_s.layer < int(m_s.model->layers.size()) ? &m_s.model->layers[size_t(m_s.layer)] : nullptr;
    if (m_s.model)
        ImGui::Text("Layer %d/%zu  %s", m_s.layer + 1, m_s.model->layers.size(), layer.c_str());
    else
        ImGui::TextDisabled("no model yet");  // not "Layer 1/0" while the first model loads
    if (info) {
        ImGui::SameLine();
        ImGui::TextDisabled("%s, output %s", info->kind.c_str(), shapeText(info->shape).c_str());
    }

    const InversionResult* result = currentResult();
    const bool live = m_s.frame.layer == m_s.layer && !m_restartTex.empty();
    const int best = result ? result->best : 0;
    const float plotH = std::max(140.f, h * 0.26f);
    const bool hasLearned = m_s.learned && m_s.learnedLayer == m_s.layer && m_learnedTex.valid();
    // Original and pre-image (and the learned pre-image at 0.6 the size) fill the width; restarts need a third column.
    const bool restartsShown = m_restartTex.size() > 1 && m_s.frame.layer == m_s.layer;
    const float columns = (restartsShown ? 3.f : 2.f) + (hasLearned ? 0.6f : 0.f);
    const float side = std::max(120.f, std::min((w - 100.f) / columns, h - plotH - 150.f));

    const render::Texture& orig = m_targetTex.valid() ? m_targetTex : m_originalTex;
    auto origView = widgets::imageView("original", orig.valid() ? orig.imguiId() : nullptr, orig.width(), orig.height(), side,
                                       "original (model input)", "no image: open one or drop it here");
    pixelTooltip(origView, m_targetTex.valid() ? &m_s.target : m_s.image.get(), "original");
    ImGui::SameLine(0, 20.f);
    const render::Texture* pre = live && best < int(m_restartTex.size()) ? &m_restartTex[size_t(best)] : nullptr;
    if (!pre && m_s.layer < int(m_s.slots.size()) && m_thumbs[size_t(m_s.layer)].valid()) pre = &m_thumbs[size_t(m_s.layer)];
    char caption[128];
    if (result)
        std::snprintf(caption, sizeof caption, "pre-image\nfeature error %.4f\npixel RMSE %.4f", double(result->featureError),
                      double(result->pixelRmse));
    else if (m_s.jobRunning && m_s.jobKind == JobKind::LoadModel)
        std::snprintf(caption, sizeof caption, "pre-image (once the model has loaded)");
    else if (m_s.jobRunning)
        std::snprintf(caption, sizeof caption, "pre-image (optimising...)");
    else
        std::snprintf(caption, sizeof caption, "pre-image (not computed: Run again, R)");
    auto view = widgets::imageView("preimage", pre ? pre->imguiId() : nullptr, pre ? pre->width() : 0, pre ? pre->height() : 0,
                                   side, caption, m_s.jobRunning ? "starting..." : "");
    const ImageF* preImage = live && best < int(m_s.frame.previews.size()) ? &m_s.frame.previews[size_t(best)]
                             : result                                  ? &result->preimages[size_t(best)]
                                                                       : nullptr;
    pixelTooltip(view, preImage, "pre-image");
    if (hasLearned) {  // the learned inverter's instant pre-image, beside the optimised one
        ImGui::SameLine(0, 20.f);
        char learnedCaption[128];
        std::snprintf(learnedCaption, sizeof learnedCaption, "learned\nerror %.4f\nRMSE %.4f", double(m_s.learned->featureError),
                      double(m_s.learned->pixelRmse));
        ImGui::BeginGroup();
        auto lv = widgets::imageView("learned", m_learnedTex.imguiId(), m_learnedTex.width(), m_learnedTex.height(),
                                     side * 0.6f, learnedCaption);
        pixelTooltip(lv, &m_s.learned->image, "learned pre-image");
        m_panelRects["learned"] = {lv.boxMin.x, lv.boxMin.y, lv.boxMax.x, lv.boxMax.y};
        if (m_s.layer < int(m_s.model->hyperNets.size()) && m_s.model->hyperNets[size_t(m_s.layer)]) {
            const char* kinds[] = {"decoder", "HyperNet", "HyperNet, z = 0"};
            ImGui::SetNextItemWidth(side * 0.6f);
            if (ImGui::Combo("##learnedkind", &m_s.learnedKind, kinds, 3)) rerun();
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
    if (result && result->learningRate > 0 && result->learningRate < 0.99f * m_s.settings.inversion.learningRate)
        ImGui::TextColored(ImVec4(1.f, 0.75f, 0.3f, 1.f), "ran at learning rate %.1e (set: %.1e) after divergence",
                           double(result->learningRate), double(m_s.settings.inversion.learningRate));

    // Progress and the loss plot.
    const ProgressEvent& p = m_s.frame.progress;
    char status[160];
    if (m_s.jobRunning && m_s.jobKind == JobKind::Sweep)
        std::snprintf(status, sizeof status, "export: layer %d of %d", m_s.frame.sweepDone + 1, std::max(1, m_s.frame.sweepTotal));
    else if (m_s.jobRunning && p.iterations > 0)
        std::snprintf(status, sizeof status, "%s: iteration %d / %d   %.0f it/s   loss %.3e",
                      m_s.settings.inversion.paperProtocol ? "paper" : "sobolev", p.iteration, p.iterations,
                      double(p.itersPerSecond), double(p.loss));
    else
        std::snprintf(status, sizeof status, "%s", m_s.status.empty() ? "idle" : m_s.status.c_str());
    float fraction = m_s.jobKind == JobKind::Sweep && m_s.frame.sweepTotal > 0 ? float(m_s.frame.sweepDone) / float(m_s.frame.sweepTotal)
                     : p.iterations > 0                                      ? float(p.iteration) / float(p.iterations)
                                                                             : 0.f;
    if (!m_s.jobRunning && result) fraction = 1.f;
    ImGui::Spacing();
    if (widgets::jobProgress(fraction, status, m_s.jobRunning)) stop();

    // The optimised loss terms (squared and weighted), not the feature error of the captions.
    std::vector<widgets::PlotSeries> series{{"total loss", IM_COL32(235, 235, 235, 255), {}},
                                            {"feature loss", IM_COL32(90, 170, 255, 255), {}},
                                            {"TV loss", IM_COL32(250, 170, 70, 255), {}},
                                            {"alpha loss", IM_COL32(150, 220, 120, 255), {}}};
    const auto& hist = live || (result && m_s.frame.layer == m_s.layer) ? m_s.frame.history : (result ? result->history : m_s.frame.history);
    std::vector<float> xs;  // evaluations of the network, or seconds: the cost of the quality reached
    for (const auto& e : hist) {
        series[0].values.push_back(e.loss);
        series[1].values.push_back(e.featureLoss);
        series[2].values.push_back(e.tvLoss);
        series[3].values.push_back(e.alphaLoss);
        if (m_plot.x == PlotPanel::X::Evaluations) xs.push_back(float(e.evaluations));
        if (m_plot.x == PlotPanel::X::Seconds) xs.push_back(float(e.seconds));
    }
    int axis = int(m_plot.x);
    ImGui::SetNextItemWidth(130.f);
    if (ImGui::Combo("##plotx", &axis, "iterations\0evaluations\0seconds\0")) m_plot.x = PlotPanel::X(axis);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("The loss plot's x axis: iterations, evaluations of the network (forward + backward), or seconds");
    widgets::PlotAxis plotAxis;
    if (m_plot.x != PlotPanel::X::Iterations) {
        plotAxis.label = m_plot.x == PlotPanel::X::Evaluations ? "evaluations" : "seconds";
        plotAxis.x = &xs;
    }
    widgets::lossPlot("loss", series, iterationsFor(toParams(m_s.settings.inversion)), ImVec2(-1.f, std::max(100.f, ImGui::GetContentRegionAvail().y)),
                      plotAxis);
    ImGui::End();
}

void App::drawStrip(float x, float y, float w, float h) {
    beginRegion("Depth strip", "strip", x, y, w, h);
    if (!m_s.model) {
        ImGui::TextDisabled("loading model...");
        ImGui::End();
        return;
    }
    // The selected tap's branch: the taps beside it in the tree (every layer of a plain chain).
    const auto branch = m_tree.siblings(m_s.layer);
    const auto path = m_tree.ancestors(m_s.layer);
    const std::string parent = path.size() >= 2 ? m_tree.nodes[size_t(path[path.size() - 2])].path : std::string();
    ImGui::TextDisabled("%s  (%zu taps)", parent.empty() ? "top level" : parent.c_str(), branch.size());
    std::vector<widgets::LayerCard> cards;
    int selected = -1;
    for (size_t k = 0; k < branch.size(); ++k) {
        const size_t i = size_t(branch[k]);
        if (int(i) == m_s.layer) selected = int(k);
        const auto& l = m_s.model->layers[i];
        // Named within the branch ("relu1", not "features.denseblock3.denselayer12.relu1"); the full name in the tooltip.
        const bool inside = !parent.empty() && l.name.compare(0, parent.size() + 1, parent + ".") == 0;
        widgets::LayerCard c{inside ? l.name.substr(parent.size() + 1) : l.name, l.kind, shapeText(l.shape)};
        c.tooltip = l.name;
        if (i < m_s.slots.size() && m_s.slots[i].result) {
            c.error = m_s.slots[i].result->featureError;
            c.thumbnail = m_thumbs[i].imguiId();
        }
        c.running = m_s.jobRunning && ((m_s.jobKind == JobKind::Invert && int(i) == m_s.layer) ||
                                     (m_s.jobKind == JobKind::Sweep && int(i) == m_s.frame.layer));
        cards.push_back(std::move(c));
    }
    const bool scroll = m_stripShownLayer != m_s.layer;
    m_stripShownLayer = m_s.layer;
    if (widgets::layerStrip(cards, selected, scroll) && selected >= 0) {
        selectLayer(branch[size_t(selected)]);
        m_stripShownLayer = m_s.layer;  // clicked: already in view
    }
    ImGui::End();
}

}  // namespace preimage::app
