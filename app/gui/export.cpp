// App: the view report that scripts and tests read (what each panel shows). UI thread. The exports themselves
// are the Session's (session.cpp), written on its file thread.
#include "app/gui/app.h"
#include "app/cli/dream_report.h"
#include "inference/json_text.h"

#include "inference/data/convert.h"
#include "app/cli/report.h"
#include "render/grid.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {

nlohmann::json App::viewReport() const {
    nlohmann::json path = nlohmann::json::array();
    for (int n : m_tree.ancestors(m_s.layer)) path.push_back(m_tree.nodes[size_t(n)].path);
    nlohmann::json panels = nlohmann::json::object();
    for (const auto& [name, r] : m_panelRects) panels[name] = {r[0], r[1], r[2], r[3]};
    auto top = [&](const std::vector<std::pair<int, float>>& t) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& [c, p] : t)
            a.push_back({{"class", c}, {"name", m_s.model && c < int(m_s.model->classes.size()) ? m_s.model->classes[size_t(c)] : std::to_string(c)},
                         {"p", p}});
        return a;
    };
    const auto& s = m_s.settings.inversion;
    static const char* kinds[] = {"maps", "tokens", "vector"};
    nlohmann::json tabs = {"run", "channels", "preferred"};  // as drawn by drawTools
    if (m_s.model && m_s.model->hasMixer) tabs.push_back("chunks"), tabs.push_back("analogy");
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& p : m_s.samples) samples.push_back(fs::path(p).filename().string());
    return {{"tree", {{"nodes", m_tree.nodes.size()}, {"visible_rows", m_treeState.visibleRows}, {"path", path},
                      {"siblings", m_tree.siblings(m_s.layer).size()}, {"filter", m_treeState.filter}}},
            {"tab", int(m_tab)},  // Run 0, Channels 1, Preferred 2, Chunks 3, Analogy 4
            {"plot_x", m_plot.x == PlotPanel::X::Iterations ? "iterations" : m_plot.x == PlotPanel::X::Evaluations ? "evaluations" : "seconds"},
            {"evaluations", currentResult() ? currentResult()->evaluations : 0},
            {"objective", currentResult() ? currentResult()->objective.total : 0.0},
            {"tabs", tabs},
            {"shown_layer", m_s.layerName(m_s.frame.layer)},  // the layer of the pre-image and loss plot shown
            {"samples", samples},
            {"input", m_s.model ? nlohmann::json{m_s.model->input.channels, m_s.model->input.height, m_s.model->input.width}
                              : nlohmann::json()},
            {"class_count", m_s.model ? m_s.model->classCount : 0},
            {"channel_grid", {{"layer", m_s.layerName(m_s.featureLayer)}, {"kind", kinds[m_s.grid.kind]}, {"channels", m_s.grid.channels},
                              {"shown", m_s.grid.shown}, {"cols", m_s.grid.cols}, {"width", m_s.grid.image.width},
                              {"height", m_s.grid.image.height}}},
            {"image_top5", top(m_s.imageTop5)},
            {"preimage_top5", top(m_s.layer >= 0 && m_s.layer < int(m_s.slots.size()) ? m_s.slots[size_t(m_s.layer)].preimageTop5
                                                                                 : std::vector<std::pair<int, float>>{})},
            {"mask", {s.maskX, s.maskY, s.maskW, s.maskH, s.maskFirst, s.maskLast}},
            {"panels", panels},
            {"dream_unit", m_s.dreamUnit},
            {"dream_panel_class", m_s.model && m_dream.cls >= 0 && m_dream.cls < int(m_s.model->classes.size())
                                      ? m_s.model->classes[size_t(m_dream.cls)] : std::string()},
            {"dream_activation", m_s.dreamResult ? m_s.dreamResult->activation : 0.f},
            {"dream_start_activation", m_s.dreamResult ? m_s.dreamResult->startActivation : 0.f},
            {"dream", dreamReport()},
            {"atlas", {{"layer", m_s.layerName(m_s.atlasLayer)}, {"units", m_s.atlas.size()}, {"total", m_s.atlasTotal},
                       {"param", m_s.atlasParam}, {"units_per_second", m_s.atlasUnitsPerSecond},
                       {"mosaic", {m_s.atlasMosaic.width, m_s.atlasMosaic.height}}, {"texture", m_atlasTex.valid()}}}};
}

nlohmann::json App::dreamReport() const {
    if (!m_s.dreamResult) return nullptr;
    nlohmann::json j = dreamResultJson(*m_s.dreamResult, m_s.model ? m_s.model->classes : std::vector<std::string>{});
    j["transparency"] = {m_s.dreamResult->transparency.width, m_s.dreamResult->transparency.height};
    j["difference"] = {m_s.dreamResult->difference.width, m_s.dreamResult->difference.height};
    j["textures"] = {{"image", m_dreamTex.valid()}, {"transparency", m_transparencyTex.valid()}, {"difference", m_differenceTex.valid()}};
    return j;
}

}  // namespace preimage::app
