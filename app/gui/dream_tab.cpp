// App: the Dream tab (preferred inputs). What to raise (a class, a channel of the selected tap, its centre neuron),
// how (the parametrisation: generator prior where the model has one, pixels, Fourier, MACO; the transforms; feature
// accentuation of the open image; a judge network), the result beside its transparency map (and, accentuating, the
// image and where it changed) with its numbers, and the atlas of the selected tap beside its channel grid.
#include "app/gui/app.h"
#include "app/gui/util.h"
#include "app/cli/report.h"

#include "widgets/image_view.h"
#include "widgets/loss_plot.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace preimage::app {

void App::drawDreamTab() {
    if (!m_s.model) return;
    if (m_dream.scrollToTop) ImGui::SetScrollY(0.f);
    m_dream.scrollToTop = false;
    sectionHeader("Preferred input");
    // Class scores in any layout the top-5 knows ([K], [K,1,1], [1,K]: ModelSummary::classCount).
    const bool classifier = m_s.model->classCount > 0;
    if (!classifier && m_dream.mode == 0) m_dream.mode = 1;
    ImGui::BeginDisabled(!classifier);
    ImGui::RadioButton("class", &m_dream.mode, 0);
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::RadioButton("channel", &m_dream.mode, 1);
    ImGui::SameLine();
    const auto& shape = m_s.model->layers[size_t(m_s.layer)].shape;
    ImGui::BeginDisabled(shape.size() != 3);
    ImGui::RadioButton("neuron", &m_dream.mode, 2);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("One neuron: the centre of the channel's map (taps with [C, H, W] maps)");
    if (m_dream.mode == 2 && shape.size() != 3) m_dream.mode = 1;
    std::string unit;
    if (m_dream.mode == 0) {
        const int classes = m_s.model->classCount;
        if (m_dream.clsModel != m_s.model->name) m_dream.clsChosen = false, m_dream.clsModel = m_s.model->name;
        if (!m_dream.clsChosen && !m_s.imageTop5.empty()) m_dream.cls = m_s.imageTop5[0].first;
        m_dream.cls = std::clamp(m_dream.cls, 0, classes - 1);
        ImGui::SetNextItemWidth(-60.f);
        if (!m_s.model->classes.empty()) {
            std::vector<const char*> names;
            for (const auto& c : m_s.model->classes) names.push_back(c.c_str());
            if (ImGui::Combo("class", &m_dream.cls, names.data(), int(names.size()))) m_dream.clsChosen = true;
            unit = m_s.model->classes[size_t(std::min(m_dream.cls, int(names.size()) - 1))];
        } else {
            if (ImGui::InputInt("class", &m_dream.cls)) m_dream.clsChosen = true;
            m_dream.cls = std::clamp(m_dream.cls, 0, classes - 1);
            unit = std::to_string(m_dream.cls);
        }
    } else {
        const int channels = shape.empty() ? 1 : int(shape[0]);
        ImGui::SetNextItemWidth(-60.f);
        ImGui::InputInt("channel", &m_dream.channel);
        m_dream.channel = std::clamp(m_dream.channel, 0, channels - 1);
        if (ImGui::IsItemHovered())
            ImGui::SetTooltip("0-%d of %s (click a cell of the atlas below to open its unit)", channels - 1, m_s.layerName(m_s.layer).c_str());
        unit = m_s.layerName(m_s.layer) + ":" + std::to_string(m_dream.channel) + (m_dream.mode == 2 ? "@center" : "");
    }

    // How: the parametrisation and its transforms.
    auto& d = m_s.dreamSettings;
    const bool hasGenerator = m_s.dreamGenerator() >= 0;
    const DreamParametrisation shown = m_s.dreamParam(m_dream.prior);
    if (d.param < 0) d.setParam(shown);  // the toggles show what will run
    int param = int(shown);
    const char* params[] = {"generator prior (DGN-AM)", "pixels (sigmoid, TV, jitter)", "Fourier (lucid)", "MACO (phase only)"};
    ImGui::SetNextItemWidth(-90.f);
    if (ImGui::BeginCombo("image as", params[param])) {
        for (int i = 0; i < 4; ++i) {
            const bool available = i != 0 || hasGenerator;
            if (ImGui::Selectable(params[i], i == param, available ? 0 : ImGuiSelectableFlags_Disabled)) {
                d.setParam(DreamParametrisation(i));
                m_dream.prior = i == 0;
            }
            if (!available && ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
                ImGui::SetTooltip("Needs a learned inverter of a vector layer as the generator (the Fashion-MNIST model has one)");
        }
        ImGui::EndCombo();
    }
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("generator: the code of a learned inverter, kept in the range seen on data (Nguyen et al. 2016)\n"
                          "pixels: sigmoid of the pixels, total variation and a random shift (what Lucent calls pixel)\n"
                          "Fourier: a 1/f-scaled spectrum in decorrelated colours (lucid), with the transforms below\n"
                          "MACO: only the phase, the magnitude fixed to natural images' spectrum (Fel et al. 2023)");
    const bool image = shown != DreamParametrisation::Generator;
    ImGui::BeginDisabled(!image);
    ImGui::Checkbox("pad", &d.pad);
    ImGui::SameLine();
    ImGui::Checkbox("jitter", &d.jitter);
    ImGui::SameLine();
    ImGui::Checkbox("scale", &d.scale);
    ImGui::SameLine();
    ImGui::Checkbox("rotate", &d.rotate);
    ImGui::SameLine();
    ImGui::Checkbox("crops", &d.crops);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Applied every step before the network sees the image: pad 12 (grey), jitter 8 then 4 px, scale 0.95-1.05,\n"
                          "rotation +-5 degrees (lucid's standard transforms); crops: 4 crops of 50-90%% of the side, noise 0.05 (MACO)");
    ImGui::BeginDisabled(!image);
    ImGui::Checkbox("contrast with the other classes", &d.contrastive);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Class units: raise the class's score less the mean of all class scores (features that raise every\n"
                          "score gain nothing); a second network agrees more often. Off: the score itself.");
    ImGui::BeginDisabled(!image || d.accentuate);
    ImGui::SetNextItemWidth(120.f);
    ImGui::SliderFloat("weight noise", &d.weightNoise, 0.f, 0.5f, "%.2f");
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Each step the network's weights are multiplied by 1 + N(0, s^2): a nearby network every step, so\n"
                          "the image keeps what they share (ghost networks); a second network agrees far more often.\n"
                          "0: the network as it is. Not when accentuating (its penalty's bound is for the network itself).");
    ImGui::BeginDisabled(!image || d.accentuate || !featurePriorApplies(m_s.model->input));
    ImGui::SetNextItemWidth(120.f);
    ImGui::SliderFloat("feature prior", &d.featurePrior, 0.f, 50.f, "%.1f");
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Class images: keeps the per-channel mean and variance of the network's early layers near those of\n"
                          "photographs (the sample photographs): photographic colours; a second network agrees far more often.\n"
                          "3-channel networks of 64 px or more; 0: none. Not for channels, nor when accentuating.");
    ImGui::SetNextItemWidth(90.f);
    ImGui::InputInt("iterations (0: default)", &d.iterations, 0);
    d.iterations = std::clamp(d.iterations, 0, 100000);
    const bool canAccentuate = shown == DreamParametrisation::Pixels || shown == DreamParametrisation::Fourier;
    ImGui::BeginDisabled(!canAccentuate || !m_s.image);
    ImGui::Checkbox("accentuate the open image", &d.accentuate);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Feature accentuation (Hamblin et al. 2024): start from the open image and raise the unit while\n"
                          "lambda * mean((x - x0)^2) keeps the result near it (pixels or Fourier)");
    if (d.accentuate && canAccentuate) {
        ImGui::SameLine();
        ImGui::SetNextItemWidth(70.f);
        ImGui::InputFloat("lambda", &d.lambda, 0.f, 0.f, "%.3g");
        d.lambda = std::max(0.f, d.lambda);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("0: 100 x the unit's activation on the image");
    }
    ImGui::SetNextItemWidth(-90.f);
    if (ImGui::InputTextWithHint("judge", "a second classifier (.pt)", m_dream.judge, sizeof m_dream.judge)) d.judge = m_dream.judge;
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("A TorchScript classifier of the same classes: its rank of the intended class on the result (transfer)");
    if (ImGui::Button("Start")) startDream(unit);
    ImGui::SameLine();
    ImGui::BeginDisabled(!(m_s.jobRunning && (m_s.jobKind == JobKind::Dream || m_s.jobKind == JobKind::Atlas)));
    if (ImGui::Button("Stop")) stop();
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::TextDisabled("%s", unit.c_str());
    drawDreamResult();
    drawAtlas();
}

void App::drawDreamResult() {
    if (m_s.dreamUnit.empty()) return;
    ImGui::Separator();
    const DreamResult* r = m_s.dreamResult.get();
    const bool superseded = m_s.dreamGeneration != m_s.jobGeneration && !r;
    ImGui::Text("unit: %s", m_s.dreamUnit.c_str());
    if (r) {
        ImGui::SameLine();
        ImGui::TextDisabled("(%s, %d iterations, %.1f s)", r->param.c_str(), r->iterations, r->seconds);
    }
    const char* placeholder = superseded ? "stopped: another job started" : "starting...";
    const bool accent = r && !r->start.empty();
    const float avail = ImGui::GetContentRegionAvail().x;
    const float side = std::min(200.f, (avail - 12.f) / (accent ? 3.f : 2.f));
    ImGui::BeginGroup();
    if (accent) {
        auto sv = widgets::imageView("accentstart", m_accentStartTex.imguiId(), m_accentStartTex.width(), m_accentStartTex.height(), side,
                                     "the image");
        pixelTooltip(sv, &r->start, "the image");
        ImGui::SameLine(0, 6.f);
    }
    auto dv = widgets::imageView("dream", m_dreamTex.valid() ? m_dreamTex.imguiId() : nullptr, m_dreamTex.width(), m_dreamTex.height(),
                                 side, accent ? "accentuated" : "preferred input", placeholder);
    pixelTooltip(dv, r ? &r->image : nullptr, "preferred input");
    m_panelRects["dream_image"] = {dv.boxMin.x, dv.boxMin.y, dv.boxMax.x, dv.boxMax.y};
    if (r && m_transparencyTex.valid()) {
        ImGui::SameLine(0, 6.f);
        const bool diff = accent && m_differenceTex.valid();
        const render::Texture& t = diff ? m_differenceTex : m_transparencyTex;
        auto tv = widgets::imageView(diff ? "difference" : "transparency", t.imguiId(), t.width(), t.height(), side,
                                     diff ? "what changed |x - x0|" : "transparency (gradient)");
        pixelTooltip(tv, diff ? &r->difference : &r->transparency, diff ? "change" : "transparency");
        m_panelRects["dream_transparency"] = {tv.boxMin.x, tv.boxMin.y, tv.boxMax.x, tv.boxMax.y};
        if (tv.hovered)
            ImGui::SetTooltip(diff ? "Where the image changed (summed over channels; brightest = %.3f)"
                                   : "Where the unit looked: the gradient's magnitude on the image, accumulated over the run",
                              double(r->differenceMax));
    }
    ImGui::EndGroup();
    if (superseded) ImGui::TextColored(ImVec4(1.f, 0.75f, 0.3f, 1.f), "superseded by another job: Start again");
    if (r) {  // the numbers (README "Preferred inputs"): activation, robustness, transfer, accentuation's distance
        ImGui::TextWrapped("activation %.3g (from %.3g)", double(r->activation), double(r->startActivation));
        if (!std::isnan(r->trainMax))
            ImGui::TextWrapped("training images: max %.2f, mean %.2f", double(r->trainMax), double(r->trainMean));
        if (!std::isnan(r->probability))
            ImGui::TextWrapped("probability %.3f; under %d random crops and scales %.3f", double(r->probability), r->robustCrops,
                               double(r->robustProbability));
        else if (!std::isnan(r->robustActivation))
            ImGui::TextWrapped("activation under %d random crops and scales %.3g", r->robustCrops, double(r->robustActivation));
        if (r->judgeRank > 0) {
            std::string top;
            for (const auto& [k, p] : r->judgeTop5)
                top += (top.empty() ? "" : ", ") + (k < int(m_s.model->classes.size()) ? m_s.model->classes[size_t(k)] : std::to_string(k));
            ImGui::TextWrapped("judge: rank %d (p %.3f); its top 5: %s", r->judgeRank, double(r->judgeProbability), top.c_str());
        }
        if (accent)
            ImGui::TextWrapped("RMS change %.4f (the penalty allows %.4f at lambda %.3g)", double(r->distance), double(r->penaltyBound),
                               double(r->accentLambda));
    }
    std::vector<widgets::PlotSeries> series{{"activation gain", IM_COL32(250, 170, 70, 255), {}}};
    // The plot is logarithmic: show the activation gained over the start (positive once it rises).
    for (float a : m_s.dreamActivations) series[0].values.push_back(a - m_s.dreamActivations.front() + 1e-3f);
    widgets::lossPlot("dreamplot", series, r ? r->iterations : 200, ImVec2(-1, 110.f));
}

void App::drawAtlas() {
    const LayerInfo& info = m_s.model->layers[size_t(m_s.layer)];
    if (m_dream.scrollToAtlas) ImGui::SetScrollHereY(0.f);  // the atlas's section at the top of the tab
    m_dream.scrollToAtlas = false;
    sectionHeader(("Atlas of " + info.name).c_str());
    auto& d = m_s.dreamSettings;
    const int channels = info.shape.empty() ? 0 : int(info.shape[0]);
    ImGui::BeginDisabled(channels == 0);
    if (ImGui::Button("Atlas")) startAtlas();
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Every channel's preferred input (the first %d), %d at a time as one batch, with the parametrisation and\n"
                          "transforms above; %d iterations at %d px where the network takes any size", std::min(channels, d.atlasLimit),
                          d.atlasBatch, d.atlasIterations, d.atlasSide);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(60.f);
    ImGui::InputInt("units", &d.atlasLimit, 0);
    d.atlasLimit = std::clamp(d.atlasLimit, 1, 4096);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(50.f);
    ImGui::InputInt("iters", &d.atlasIterations, 0);
    d.atlasIterations = std::clamp(d.atlasIterations, 1, 100000);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(50.f);
    ImGui::InputInt("px", &d.atlasSide, 0);
    d.atlasSide = std::clamp(d.atlasSide, 16, 1024);
    if (m_s.atlasLayer < 0) return;
    if (m_s.atlasLayer != m_s.layer) {
        ImGui::TextDisabled("(the atlas shown is of %s)", m_s.layerName(m_s.atlasLayer).c_str());
    }
    ImGui::TextDisabled("%zu / %d units, %.2f units/s (%s)", m_s.atlas.size(), m_s.atlasTotal, m_s.atlasUnitsPerSecond, m_s.atlasParam.c_str());
    // The channel grid (the tap's activations on the image) beside the atlas (what each channel wants).
    const float avail = ImGui::GetContentRegionAvail().x;
    const bool grid = m_s.featureLayer == m_s.atlasLayer && m_gridTex.valid();
    const float side = std::max(80.f, (avail - (grid ? 8.f : 0.f)) / (grid ? 2.f : 1.f));
    if (grid) {
        auto gv = widgets::imageView("atlasgrid", m_gridTex.imguiId(), m_gridTex.width(), m_gridTex.height(), side, "on the image");
        m_panelRects["atlas_channel_grid"] = {gv.boxMin.x, gv.boxMin.y, gv.boxMax.x, gv.boxMax.y};
        int c = -1, fx = 0, fy = 0;
        if (gv.hovered && m_s.grid.locate(gv.pixelX, gv.pixelY, c, fx, fy)) ImGui::SetTooltip("channel %d (click: its preferred input)", c);
        if (gv.leftReleased && c >= 0 && c < int(m_s.atlas.size())) openAtlasCell(c);
        ImGui::SameLine(0, 8.f);
    }
    auto av = widgets::imageView("atlas", m_atlasTex.valid() ? m_atlasTex.imguiId() : nullptr, m_atlasTex.width(), m_atlasTex.height(), side,
                                 "preferred inputs", "rendering...");
    m_panelRects["atlas"] = {av.boxMin.x, av.boxMin.y, av.boxMax.x, av.boxMax.y};
    m_dream.atlasHover = -1;
    if (av.hovered && m_s.atlasTile > 0) {
        const int step = m_s.atlasTile + 1;
        const int col = av.pixelX / step, row = av.pixelY / step;
        const int cell = row * m_s.atlasColumns + col;
        if (col < m_s.atlasColumns && av.pixelX % step < m_s.atlasTile && av.pixelY % step < m_s.atlasTile && cell < int(m_s.atlas.size())) {
            m_dream.atlasHover = cell;
            const auto& r = *m_s.atlas[size_t(cell)];
            ImGui::BeginTooltip();
            ImGui::Text("%s: activation %.3g", r.unit.c_str(), double(r.activation));
            if (r.judgeRank > 0) ImGui::Text("judge rank %d", r.judgeRank);
            ImGui::TextDisabled("click: open this unit");
            ImGui::EndTooltip();
            if (av.leftReleased) openAtlasCell(cell);
        }
    }
}

}  // namespace preimage::app
