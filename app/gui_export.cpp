// App: exports (the layer grid and the restarts grid, PNG + the numbers as JSON, computed on the worker first where
// missing) and the view report that scripts and tests read. UI thread.
#include "gui_app.h"
#include "inference/json_text.h"

#include "convert.h"
#include "report.h"
#include "render/grid.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {

void App::cancelExport(const std::string& why) {
    if (m_pendingExport.empty()) return;  // an export is never dropped without a word
    setError("the export to " + m_pendingExport + " was cancelled: " + why);
    m_pendingExport.clear();
}

void App::exportSweep(const std::string& pngPath) {
    if (!m_model || m_image.empty()) {
        setError("open a model and an image before exporting");
        return;
    }
    Request r = baseRequest(JobKind::Sweep);
    for (size_t i = 0; i < m_slots.size(); ++i)
        if (!m_slots[i].result) r.layers.push_back(int(i));
    m_pendingExport = pngPath;
    if (r.layers.empty()) {
        finishExport();
        return;
    }
    m_jobGeneration = m_worker->post(std::move(r));
    m_jobKind = JobKind::Sweep;
    m_jobRunning = true;
    m_status = "computing every layer for the export...";
}

void App::finishExport() {
    const std::string path = m_pendingExport;
    m_pendingExport.clear();
    std::vector<render::GridCell> cells{{toBytes(m_target.empty() ? m_image : m_target), "original", m_model->name}};
    nlohmann::json layers = nlohmann::json::array();
    for (size_t i = 0; i < m_slots.size(); ++i) {
        const auto& r = m_slots[i].result;
        if (!r) continue;
        cells.push_back({toBytes(r->preimages[size_t(r->best)]), r->layer, fmt("err %.3f", r->featureError)});
        layers.push_back({{"layer", r->layer},
                          {"feature_error", r->featureError},
                          {"feature_error_per_restart", r->featureErrorPerRestart},
                          {"pixel_rmse", r->pixelRmse},
                          {"lambda_tv", r->lambdaTv},
                          {"iters", r->iterations},
                          {"seconds", r->seconds},
                          {"iters_per_second", r->itersPerSecond}});
    }
    const auto& s = m_settings.inversion;
    nlohmann::json j{{"model", m_model->name},
                     {"image", m_imagePath},
                     {"parameters",
                      {{"iterations", s.iterations},
                       {"restarts", s.restarts},
                       {"seed", s.seed},
                       {"learning_rate", s.learningRate},
                       {"lambda_tv", s.tvByDepth ? "by depth (1/10/100)" : fmt("%g", s.lambdaTv)},
                       {"lambda_alpha", s.lambdaAlpha},
                       {"jitter", s.jitter}}},
                     {"layers", layers}};
    try {
        render::savePng(render::composeGrid(cells, std::min(8, int(cells.size()))), path);
        render::writeFileAtomically(fs::path(path).replace_extension(".json").string(), jsonText(j));
        m_status = "exported " + path + " (+ .json)";
    } catch (const std::exception& e) {
        setError(e.what());
    }
}

bool App::exportRestarts(const std::string& pngPath) {
    const InversionResult* r = currentResult();
    if (!r) {
        setError("no finished pre-image to export yet");
        return false;
    }
    nlohmann::json j{{"model", m_model->name},  {"image", m_imagePath},          {"layer", r->layer},
                     {"feature_error", r->featureError}, {"feature_error_per_restart", r->featureErrorPerRestart},
                     {"pixel_rmse", r->pixelRmse}, {"restart_variance_max", r->varianceMax}, {"iters", r->iterations}};
    try {
        render::savePng(restartsGrid(*r), pngPath);
        render::writeFileAtomically(fs::path(pngPath).replace_extension(".json").string(), jsonText(j));
        m_status = "exported " + pngPath + " (+ .json)";
        return true;
    } catch (const std::exception& e) {
        setError(e.what());
        return false;
    }
}

std::string App::defaultExportPath(const std::string& what) const {
    const std::string dir = m_settings.exportDir.empty() ? fs::current_path().string() : m_settings.exportDir;
    const std::string model = m_model ? fs::path(m_model->name).stem().string() : "model";
    const std::string image = m_imagePath.empty() ? "image" : fs::path(m_imagePath).stem().string();
    return (fs::path(dir) / ("preimage_" + model + "_" + image + "_" + what + ".png")).string();
}

nlohmann::json App::viewReport() const {
    nlohmann::json path = nlohmann::json::array();
    for (int n : m_tree.ancestors(m_layer)) path.push_back(m_tree.nodes[size_t(n)].path);
    nlohmann::json panels = nlohmann::json::object();
    for (const auto& [name, r] : m_panelRects) panels[name] = {r[0], r[1], r[2], r[3]};
    auto top = [&](const std::vector<std::pair<int, float>>& t) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& [c, p] : t)
            a.push_back({{"class", c}, {"name", m_model && c < int(m_model->classes.size()) ? m_model->classes[size_t(c)] : std::to_string(c)},
                         {"p", p}});
        return a;
    };
    const auto& s = m_settings.inversion;
    static const char* kinds[] = {"maps", "tokens", "vector"};
    nlohmann::json tabs = {"run", "channels", "preferred"};  // as drawn by drawTools
    if (m_model && m_model->hasMixer) tabs.push_back("chunks"), tabs.push_back("analogy");
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& p : m_samples) samples.push_back(fs::path(p).filename().string());
    return {{"tree", {{"nodes", m_tree.nodes.size()}, {"visible_rows", m_treeState.visibleRows}, {"path", path},
                      {"siblings", m_tree.siblings(m_layer).size()}, {"filter", m_treeState.filter}}},
            {"tab", m_tab},
            {"tabs", tabs},
            {"shown_layer", layerName(m_frame.layer)},  // the layer of the pre-image and loss plot shown
            {"samples", samples},
            {"input", m_model ? nlohmann::json{m_model->input.channels, m_model->input.height, m_model->input.width}
                              : nlohmann::json()},
            {"class_count", m_model ? m_model->classCount : 0},
            {"channel_grid", {{"layer", layerName(m_featureLayer)}, {"kind", kinds[m_grid.kind]}, {"channels", m_grid.channels},
                              {"shown", m_grid.shown}, {"cols", m_grid.cols}, {"width", m_grid.image.width},
                              {"height", m_grid.image.height}}},
            {"image_top5", top(m_imageTop5)},
            {"preimage_top5", top(m_layer >= 0 && m_layer < int(m_slots.size()) ? m_slots[size_t(m_layer)].preimageTop5
                                                                                 : std::vector<std::pair<int, float>>{})},
            {"mask", {s.maskX, s.maskY, s.maskW, s.maskH, s.maskFirst, s.maskLast}},
            {"panels", panels},
            {"dream_unit", m_dreamUnit},
            {"dream_activation", m_dreamResult ? m_dreamResult->activation : 0.f},
            {"dream_start_activation", m_dreamResult ? m_dreamResult->startActivation : 0.f}};
}

}  // namespace preimage::app
