// App: the panels. Fixed layout (Dear ImGui 1.86 has no docking): menu bar, controls on the left, the
// original and pre-image with progress and the loss plot in the middle, the layer strip at the bottom.
#include "gui_app.h"

#include "widgets/image_view.h"
#include "widgets/layer_strip.h"
#include "widgets/loss_plot.h"
#include "widgets/params_panel.h"
#include "widgets/progress.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
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

// Tooltip with the pixel under the mouse (values in [0,1], as the model sees them before normalisation).
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

}  // namespace

void App::frame(int fbWidth, int fbHeight) {
    m_fbWidth = fbWidth;
    m_fbHeight = fbHeight;
    pollWorker();
    pollLatent();
    handleKeys();
    drawMenu();
    const float menuH = ImGui::GetFrameHeight();
    const float W = float(fbWidth), H = float(fbHeight);
    const float controlsW = std::clamp(W * 0.24f, 300.f, 380.f);
    const float stripH = 48.f + 3.f * ImGui::GetTextLineHeightWithSpacing() + 10.f + ImGui::GetStyle().ScrollbarSize + 52.f;
    drawControls(0, menuH, controlsW, H - menuH);
    drawMain(controlsW, menuH, W - controlsW, H - menuH - stripH);
    drawStrip(controlsW, H - stripH, W - controlsW, stripH);

    drawDream();
    drawLatent();
    drawAnalogy();
    std::string picked;
    if (widgets::filePicker(m_imagePicker, picked)) openImage(picked);
    if (widgets::filePicker(m_secondPicker, picked)) setSecondImage(picked);
    if (widgets::filePicker(m_slotPicker, picked)) setAnalogySlot(m_slotPickerTarget, picked);
    if (widgets::filePicker(m_modelPicker, picked)) openModel(picked);
}

void App::handleKeys() {
    ImGuiIO& io = ImGui::GetIO();
    if (io.WantTextInput || ImGui::IsPopupOpen(nullptr, ImGuiPopupFlags_AnyPopupId)) return;
    auto pressed = [](ImGuiKey k) { return ImGui::IsKeyPressed(ImGui::GetKeyIndex(k)); };
    if (io.KeyCtrl) {
        if (ImGui::IsKeyPressed('O')) showPanel(io.KeyShift ? "model_picker" : "image_picker");
        if (ImGui::IsKeyPressed('E')) exportSweep(defaultExportPath("sweep"));
        if (ImGui::IsKeyPressed('L')) showLatent(!m_latent.show);
        if (ImGui::IsKeyPressed('Y')) showAnalogy(!m_latent.showAnalogy);
        return;
    }
    if (pressed(ImGuiKey_RightArrow) || ImGui::IsKeyPressed('K') || ImGui::IsKeyPressed('L')) stepLayer(+1);
    if (pressed(ImGuiKey_LeftArrow) || ImGui::IsKeyPressed('J') || ImGui::IsKeyPressed('H')) stepLayer(-1);
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
        if (ImGui::MenuItem("Latent chunks", "Ctrl+L", m_latent.show)) showLatent(!m_latent.show);
        if (ImGui::MenuItem("Analogy a:b::c:d", "Ctrl+Y", m_latent.showAnalogy)) showAnalogy(!m_latent.showAnalogy);
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Layer")) {
        if (ImGui::MenuItem("Next layer", "Right / K")) stepLayer(+1);
        if (ImGui::MenuItem("Previous layer", "Left / J")) stepLayer(-1);
        if (ImGui::MenuItem("Run again", "R")) rerun();
        if (ImGui::MenuItem("Stop", "Esc", false, m_jobRunning)) stop();
        ImGui::EndMenu();
    }
    const std::string right = m_model ? m_model->name + "  |  " + m_model->device : std::string("loading model...");
    ImGui::SameLine(ImGui::GetWindowWidth() - ImGui::CalcTextSize(right.c_str()).x - 16.f);
    ImGui::TextDisabled("%s", right.c_str());
    ImGui::EndMainMenuBar();
}

void App::drawControls(float x, float y, float w, float h) {
    ImGui::SetNextWindowPos(ImVec2(x, y));
    ImGui::SetNextWindowSize(ImVec2(w, h));
    ImGui::Begin("Controls", nullptr, kPanel | ImGuiWindowFlags_NoTitleBar);

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
    ImGui::SameLine();
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
        ImGui::TextDisabled("samples (Fashion-MNIST test set)");
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
        const int perRow = std::max(1, int((w - 16.f) / (thumbW + 8.f + ImGui::GetStyle().ItemSpacing.x)));
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

    if (m_model && !m_model->classes.empty()) {
        sectionHeader("Preferred input (DGN-AM)");
        std::vector<const char*> names;
        for (const auto& c : m_model->classes) names.push_back(c.c_str());
        m_dreamClass = std::clamp(m_dreamClass, 0, int(names.size()) - 1);
        ImGui::SetNextItemWidth(-90.f);
        ImGui::Combo("class", &m_dreamClass, names.data(), int(names.size()));
        std::vector<int> generators;
        for (size_t i = 0; i < m_model->learnedInverters.size(); ++i)
            if (m_model->learnedInverters[i] && m_model->layers[i].shape.size() == 1) generators.push_back(int(i));
        if (m_dreamGenerator < 0 && !generators.empty()) m_dreamGenerator = layerIndex("relu4") >= 0 ? layerIndex("relu4") : generators[0];
        ImGui::BeginDisabled(generators.empty());
        if (ImGui::Button("Dream")) startDream(m_model->classes[size_t(m_dreamClass)]);
        ImGui::EndDisabled();
        if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
            ImGui::SetTooltip("Optimise the code of the %s learned inverter so that the class score fires, keeping the code\n"
                              "in the range seen on data (Nguyen et al. 2016).",
                              m_dreamGenerator >= 0 ? layerName(m_dreamGenerator).c_str() : "(none trained)");
    }

    sectionHeader("Learned latent code (Hu et al.)");
    // The mixing autoencoder is trained beside the default Fashion-MNIST model: with a user's network the panels
    // say what they need instead of acting on images they were not trained for.
    const bool mixerModel = m_model && m_model->name == "fashion";
    if (!mixerModel) {
        ImGui::TextDisabled("needs the default model's mixer:\nopen 'fashion' (Model section)");
        ImGui::BeginDisabled();
    }
    if (ImGui::Button(m_latent.show ? "Hide chunk sliders" : "Chunk sliders")) showLatent(!m_latent.show);
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("The image's code in the mixing autoencoder, as chunks with sliders along their principal\n"
                          "directions and swaps from a second image (Ctrl+L)");
    ImGui::SameLine();
    if (ImGui::Button(m_latent.showAnalogy ? "Hide analogies" : "Analogies")) showAnalogy(!m_latent.showAnalogy);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Compose a : b :: c : d (Ctrl+Y)");
    if (!mixerModel) {
        ImGui::EndDisabled();
        if (m_model && m_latent.show) showLatent(false);  // a user's model is loaded (not one still loading)
        if (m_model && m_latent.showAnalogy) showAnalogy(false);
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
    ImGui::End();
}

void App::drawMain(float x, float y, float w, float h) {
    ImGui::SetNextWindowPos(ImVec2(x, y));
    ImGui::SetNextWindowSize(ImVec2(w, h));
    ImGui::Begin("Pre-images", nullptr, kPanel | ImGuiWindowFlags_NoTitleBar);
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
    const float side = std::max(120.f, std::min((w - 80.f) / (hasLearned ? 3.6f : 3.f), h - plotH - 150.f));

    const render::Texture& orig = m_targetTex.valid() ? m_targetTex : m_originalTex;
    auto origView = widgets::imageView("original", orig.valid() ? orig.imguiId() : nullptr, orig.width(), orig.height(), side,
                                       "original (model input)", "no image: open one or drop it here");
    pixelTooltip(origView, m_targetTex.valid() ? &m_target : &m_image, "original");
    ImGui::SameLine(0, 20.f);
    const render::Texture* pre = live && best < int(m_restartTex.size()) ? &m_restartTex[size_t(best)] : nullptr;
    if (!pre && m_layer < int(m_slots.size()) && m_slots[size_t(m_layer)].thumbnail.valid()) pre = &m_slots[size_t(m_layer)].thumbnail;
    char caption[128];
    if (result)
        std::snprintf(caption, sizeof caption, "pre-image: feature error %.4f, pixel RMSE %.4f", double(result->featureError),
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
        std::snprintf(learnedCaption, sizeof learnedCaption, "learned: error %.4f, RMSE %.4f", double(m_learned->featureError),
                      double(m_learned->pixelRmse));
        ImGui::BeginGroup();
        auto lv = widgets::imageView("learned", m_learnedTex.imguiId(), m_learnedTex.width(), m_learnedTex.height(),
                                     side * 0.6f, learnedCaption);
        pixelTooltip(lv, &m_learned->image, "learned pre-image");
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

void App::drawDream() {
    if (!m_showDream) return;
    // Over the lower right of the loss plot, clear of the images; movable.
    const ImVec2 size(340.f, 400.f);
    ImGui::SetNextWindowSize(size, ImGuiCond_Appearing);
    ImGui::SetNextWindowPos(ImVec2(float(m_fbWidth) - size.x - 14.f, float(m_fbHeight) * 0.76f - size.y), ImGuiCond_Appearing);
    if (!ImGui::Begin("Preferred input", &m_showDream, ImGuiWindowFlags_NoSavedSettings)) {
        ImGui::End();
        return;
    }
    ImGui::Text("unit: %s", m_dreamUnit.c_str());
    widgets::imageView("dream", m_dreamTex.valid() ? m_dreamTex.imguiId() : nullptr, m_dreamTex.width(), m_dreamTex.height(),
                       170.f, "", "starting...");
    if (m_dreamResult)
        ImGui::TextWrapped("activation %.2f (training images: max %.2f, mean %.2f), from %.2f at the mean code",
                           double(m_dreamResult->activation), double(m_dreamResult->trainMax), double(m_dreamResult->trainMean),
                           double(m_dreamResult->startActivation));
    std::vector<widgets::PlotSeries> s{{"activation", IM_COL32(250, 170, 70, 255), {}}};
    // The plot is logarithmic: show the activation gained over the start (positive once it rises).
    if (!m_dreamActivations.empty())
        for (float a : m_dreamActivations) s[0].values.push_back(a - m_dreamActivations.front() + 1e-3f);
    widgets::lossPlot("dreamplot", s, 200, ImVec2(-1, -1));
    ImGui::End();
}

void App::drawStrip(float x, float y, float w, float h) {
    ImGui::SetNextWindowPos(ImVec2(x, y));
    ImGui::SetNextWindowSize(ImVec2(w, h));
    ImGui::Begin("Layers", nullptr, kPanel);
    if (!m_model) {
        ImGui::TextDisabled("loading model...");
        ImGui::End();
        return;
    }
    std::vector<widgets::LayerCard> cards;
    for (size_t i = 0; i < m_model->layers.size(); ++i) {
        const auto& l = m_model->layers[i];
        widgets::LayerCard c{l.name, l.kind, shapeText(l.shape)};
        if (i < m_slots.size() && m_slots[i].result) {
            c.error = m_slots[i].result->featureError;
            c.thumbnail = m_slots[i].thumbnail.imguiId();
        }
        c.running = m_jobRunning && ((m_jobKind == JobKind::Invert && int(i) == m_layer) ||
                                     (m_jobKind == JobKind::Sweep && int(i) == m_frame.layer));
        cards.push_back(std::move(c));
    }
    int selected = m_layer;
    const bool scroll = m_stripShownLayer != m_layer;
    m_stripShownLayer = m_layer;
    if (widgets::layerStrip(cards, selected, scroll)) {
        selectLayer(selected);
        m_stripShownLayer = m_layer;  // clicked: already in view
    }
    ImGui::End();
}

}  // namespace preimage::app
