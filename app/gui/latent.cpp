// App: the latent-chunk sliders and the analogy composer (Hu et al. mixing autoencoder). The UI thread
// owns the codes and does the (exact, cheap) chunk maths itself (inference/latent/latent.h); the worker only
// encodes and decodes, between two iterations of whatever it is running, newest request per purpose.
#include "app/gui/app.h"
#include "inference/json_text.h"

#include "inference/data/convert.h"
#include "app/cli/report.h"

#include "widgets/chunk_sliders.h"
#include "widgets/image_view.h"

#include <imgui.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {

enum Tag { kTagMain = 1, kTagSecond = 2, kTagSlot = 3 /* 3, 4, 5 */, kTagDecode = 10, kTagAnalogy = 11, kTagTraversal = 12 };
constexpr int kSliderDirections = 3;  // principal directions shown per chunk

bool hasFactorNames(const MixerInfo& info) {
    for (const auto& f : info.chunkFactors)
        if (!f.empty()) return true;
    return false;
}

std::string className(const MixerInfo* info, int c) {
    if (c < 0) return "";
    if (info && c < int(info->classes.size())) return info->classes[size_t(c)];
    return std::to_string(c);
}

}  // namespace

void App::resetLatent() {
    auto& L = m_latent;
    L.info.reset();
    L.base.clear();
    L.second.clear();
    L.edited.clear();
    L.secondPath.clear();
    L.secondImage = {};
    L.sliders.clear();
    L.swapped.clear();
    L.outstanding.clear();
    L.copied.clear();
    L.inputClass = L.secondClass = L.decodedClass = -1;
    for (auto* t : {&L.inputTex, &L.secondTex, &L.decodedTex}) t->reset();
    for (int i = 0; i < 4; ++i) {
        if (i < 3) L.slotPath[i].clear(), L.slotCode[i].clear();
        L.slotClass[i] = -1;
        L.slotTex[i].reset();
    }
    for (auto& im : L.shown) im = {};
    L.staleBefore = L.lastPosted + 1;  // answers to what was asked of the old model are dropped
    if (m_s.model && m_s.model->hasMixer && L.show) encodeMainForLatent();
}

uint64_t App::postLatent(LatentRequest r) { return m_latent.lastPosted = m_s.worker->postLatent(std::move(r)); }

// Latent jobs name the open model: its mixer encodes and decodes, its classifier names the results.
uint64_t App::postEncode(int tag, const ImageF& image) {
    LatentRequest r;
    r.model = m_s.modelKey.empty() ? m_s.settings.model : m_s.modelKey;
    r.op = LatentOp::Encode;
    r.tag = tag;
    r.images = {image};
    const uint64_t id = postLatent(std::move(r));
    m_latent.outstanding[tag] = id;
    return id;
}

bool App::latentIdle() const { return m_latent.outstanding.empty() && m_latent.pendingTraversal.empty(); }

void App::encodeMainForLatent() {
    if (!m_s.image) return;
    m_latent.mainEncodeId = postEncode(kTagMain, *m_s.image);
}

void App::showLatent(bool show) {
    m_latent.show = show;
    if (show) m_tabRequest = m_tab == Tab::Chunks ? std::nullopt : std::optional<Tab>(Tab::Chunks);
    if (show && m_latent.base.empty()) encodeMainForLatent();
}

void App::showAnalogy(bool show) {
    m_latent.showAnalogy = show;
    if (show) m_tabRequest = m_tab == Tab::Analogy ? std::nullopt : std::optional<Tab>(Tab::Analogy);
}

void App::setSecondImage(const std::string& path) {
    if (!m_latent.show) showLatent(true);
    m_s.decodeImage(path, [this, path](std::shared_ptr<const ImageF> image) {  // on the file thread
        m_latent.secondImage = *image;
        m_latent.secondPath = fs::absolute(path).string();
        m_latent.secondEncodeId = postEncode(kTagSecond, m_latent.secondImage);
    });
}

void App::setChunkSlider(int chunk, int direction, float sd) {
    if (!m_latent.info) throw Error("the latent panel has no code yet");
    const auto& L = m_latent.info->layout;
    if (chunk < 0 || chunk >= L.chunks || direction < 0 || direction >= kSliderDirections)
        throw Error("no slider " + std::to_string(chunk) + "/" + std::to_string(direction));
    m_latent.sliders[size_t(chunk)][size_t(direction)] = std::clamp(sd, -3.f, 3.f);
    requestLatentDecode();
}

void App::setChunkSwap(int chunk, bool fromSecond) {
    if (!m_latent.info || chunk < 0 || chunk >= m_latent.info->layout.chunks) throw Error("no chunk " + std::to_string(chunk));
    m_latent.swapped[size_t(chunk)] = fromSecond;
    requestLatentDecode();
}

void App::resetChunks() {
    for (auto& s : m_latent.sliders) std::fill(s.begin(), s.end(), 0.f);
    std::fill(m_latent.swapped.begin(), m_latent.swapped.end(), false);
    requestLatentDecode();
}

void App::requestLatentDecode() {
    if (m_latent.base.empty() || !m_latent.info) return;
    const auto& L = m_latent.info->layout;
    Code code = m_latent.base;
    if (!m_latent.second.empty()) code = mixChunks(code, m_latent.second, m_latent.swapped, L);
    m_latent.edited = applySliders(code, m_latent.sliders, m_latent.info->bases, L);
    LatentRequest r;
    r.model = m_s.modelKey.empty() ? m_s.settings.model : m_s.modelKey;
    r.op = LatentOp::Decode;
    r.tag = kTagDecode;
    r.codes = {m_latent.edited};
    m_latent.decodeId = postLatent(std::move(r));
    m_latent.outstanding[kTagDecode] = m_latent.decodeId;
}

void App::setAnalogySlot(int slot, const std::string& path) {
    if (slot < 0 || slot > 2) return;
    if (!m_latent.showAnalogy) showAnalogy(true);
    m_s.decodeImage(path, [this, slot, path](std::shared_ptr<const ImageF> image) {  // on the file thread
        m_latent.slotPath[slot] = fs::absolute(path).string();
        m_latent.slotEncodeId[slot] = postEncode(kTagSlot + slot, *image);
    });
}

void App::setAnalogyMode(int mode, float strength) {
    m_latent.analogy.mode = std::clamp(mode, 0, 1);
    m_latent.analogy.strength = std::clamp(strength, 0.f, 2.f);
    requestAnalogy();
}

void App::requestAnalogy() {
    for (const auto& c : m_latent.slotCode)
        if (c.empty()) return;
    if (!m_latent.info) return;
    const auto& L = m_latent.info->layout;
    const auto& a = m_latent.slotCode[0];
    const auto& b = m_latent.slotCode[1];
    const auto& c = m_latent.slotCode[2];
    Code d;
    m_latent.copied.clear();
    if (m_latent.analogy.mode == 0) {
        d = analogyVector(a, b, c, m_latent.analogy.strength);
    } else {
        m_latent.copied = differingChunks(a, b, c, L, m_latent.info->chunkThreshold);
        d = mixChunks(c, b, m_latent.copied, L);
    }
    LatentRequest r;
    r.model = m_s.modelKey.empty() ? m_s.settings.model : m_s.modelKey;
    r.op = LatentOp::Decode;
    r.tag = kTagAnalogy;
    r.codes = {d};
    m_latent.analogyId = postLatent(std::move(r));
    m_latent.outstanding[kTagAnalogy] = m_latent.analogyId;
}

void App::exportTraversal(const std::string& pngPath) {
    try {
        checkPng(pngPath, "traversal export");
    } catch (const Error& e) {
        m_s.setError(e.what());
        return;
    }
    m_latent.pendingTraversal = pngPath;
    if (m_latent.base.empty()) {  // posted once the code arrives
        if (!m_s.image) {
            m_latent.pendingTraversal.clear();
            m_s.setError("open an image before exporting a traversal");
        } else if (m_latent.outstanding.count(kTagMain) == 0) {
            showLatent(true);
        }
        return;
    }
    m_latent.traversalValues = {-3, -2, -1, 0, 1, 2, 3};
    LatentRequest r;
    r.model = m_s.modelKey.empty() ? m_s.settings.model : m_s.modelKey;
    r.op = LatentOp::Decode;
    r.tag = kTagTraversal;
    for (auto& row : traversalCodes(m_latent.edited.empty() ? m_latent.base : m_latent.edited, m_latent.info->bases,
                                    m_latent.info->layout, m_latent.traversalValues, 0))
        for (auto& c : row) r.codes.push_back(std::move(c));
    m_latent.traversalId = postLatent(std::move(r));
    m_latent.outstanding[kTagTraversal] = m_latent.traversalId;
}

void App::pollLatent() {
    auto upload = [this](render::Texture& texture, const render::Image& image) {
        m_uploader->upload(texture, image);
        ++m_s.stats.uploads;
    };
    for (auto& f : m_s.worker->takeLatent()) {
        if (f.id < m_latent.staleBefore) continue;
        auto it = m_latent.outstanding.find(f.tag);
        if (it != m_latent.outstanding.end() && f.id >= it->second) m_latent.outstanding.erase(it);
        if (!f.error.empty()) {
            if (f.tag == kTagTraversal) m_latent.pendingTraversal.clear();
            m_s.setError("latent code: " + f.error);
            continue;
        }
        if (f.mixer && f.mixer != m_latent.info) {
            m_latent.info = f.mixer;
            const auto& L = f.mixer->layout;
            m_latent.sliders.assign(size_t(L.chunks), std::vector<float>(size_t(std::min(kSliderDirections, L.dims)), 0.f));
            m_latent.swapped.assign(size_t(L.chunks), false);
            m_latent.analogy.strength = f.mixer->analogyStrength;  // a new mixer brings its own default
        }
        if (f.tag == kTagMain && f.id == m_latent.mainEncodeId && !f.codes.empty()) {
            m_latent.base = f.codes[0];
            m_latent.inputClass = f.predicted.empty() ? -1 : f.predicted[0];
            upload(m_latent.inputTex, toBytes(f.images[0]));
            m_latent.view(LatentView::Input) = f.images[0];
            requestLatentDecode();
            if (!m_latent.pendingTraversal.empty()) exportTraversal(m_latent.pendingTraversal);
        } else if (f.tag == kTagSecond && f.id == m_latent.secondEncodeId && !f.codes.empty()) {
            m_latent.second = f.codes[0];
            m_latent.secondClass = f.predicted.empty() ? -1 : f.predicted[0];
            upload(m_latent.secondTex, toBytes(f.images[0]));
            m_latent.view(LatentView::Second) = f.images[0];
            requestLatentDecode();
        } else if (f.tag >= kTagSlot && f.tag < kTagSlot + 3 && !f.codes.empty()) {
            const int slot = f.tag - kTagSlot;
            if (f.id != m_latent.slotEncodeId[slot]) continue;
            m_latent.slotCode[slot] = f.codes[0];
            m_latent.slotClass[slot] = f.predicted.empty() ? -1 : f.predicted[0];
            upload(m_latent.slotTex[slot], toBytes(f.images[0]));
            m_latent.shown[int(LatentView::A) + slot] = f.images[0];
            requestAnalogy();
        } else if (f.tag == kTagDecode && f.id >= m_latent.shownDecodeId && !f.images.empty()) {
            m_latent.shownDecodeId = f.id;
            m_latent.decodedClass = f.predicted.empty() ? -1 : f.predicted[0];
            m_latent.decodeMs = f.ms;
            ++m_latent.decodes;
            upload(m_latent.decodedTex, toBytes(f.images[0]));
            m_latent.view(LatentView::Decoded) = f.images[0];
        } else if (f.tag == kTagAnalogy && f.id >= m_latent.shownAnalogyId && !f.images.empty()) {
            m_latent.shownAnalogyId = f.id;
            m_latent.slotClass[3] = f.predicted.empty() ? -1 : f.predicted[0];
            upload(m_latent.slotTex[3], toBytes(f.images[0]));
            m_latent.view(LatentView::D) = f.images[0];
        } else if (f.tag == kTagTraversal && f.id == m_latent.traversalId && !m_latent.pendingTraversal.empty()) {
            const std::string path = m_latent.pendingTraversal;
            m_latent.pendingTraversal.clear();
            const size_t cols = m_latent.traversalValues.size();
            std::vector<std::vector<ImageF>> rows;
            nlohmann::json classes = nlohmann::json::array();
            for (size_t i = 0; i + cols <= f.images.size(); i += cols) {
                rows.emplace_back(f.images.begin() + long(i), f.images.begin() + long(i + cols));
                nlohmann::json r = nlohmann::json::array();
                for (size_t j = i; j < i + cols && j < f.predicted.size(); ++j) r.push_back(className(m_latent.info.get(), f.predicted[j]));
                classes.push_back(r);
            }
            nlohmann::json j{{"image", m_s.imagePath},
                             {"values_sd", m_latent.traversalValues},
                             {"direction", 0},
                             {"class_chunk", m_latent.info->classChunk},
                             {"code", m_latent.edited.empty() ? m_latent.base : m_latent.edited},
                             {"predicted_class", classes}};
            // Composed, encoded and written on the file thread.
            m_s.writeExport([rows, values = m_latent.traversalValues,
                             titles = chunkTitles(m_latent.info->layout.chunks, m_latent.info->classChunk, m_latent.info->chunkFactors)] {
                return traversalGrid(rows, values, titles);
            }, path, jsonText(j));
            m_latent.traversalWritten = path;
        }
    }
}

App::LatentReport App::latentReport() const {
    LatentReport r;
    r.decodedClass = m_latent.decodedClass;
    r.analogyClass = m_latent.slotClass[3];
    r.slotClasses.assign(m_latent.slotClass, m_latent.slotClass + 3);
    r.swapped = m_latent.swapped;
    r.decodeMs = m_latent.decodeMs;
    r.decodes = m_latent.decodes;
    r.traversalWritten = m_latent.traversalWritten;
    if (m_latent.info) r.chunkLabels = chunkTitles(m_latent.info->layout.chunks, m_latent.info->classChunk, m_latent.info->chunkFactors);
    return r;
}

// The tab's content (drawTools): the mixing autoencoder belongs to the default model; with a user's network the
// tab says what it needs instead of acting on images the mixer was not trained for.
bool App::latentAvailable() {
    if (m_s.model && m_s.model->hasMixer) return true;
    ImGui::TextWrapped("Needs a default model with a mixing autoencoder (Hu et al.): open 'fashion' or 'shapes' in the Run tab.");
    if (m_s.model && m_latent.show) showLatent(false);
    if (m_s.model && m_latent.showAnalogy) m_latent.showAnalogy = false;
    return false;
}

void App::drawLatent() {
    if (!latentAvailable()) return;
    const MixerInfo* info = m_latent.info.get();
    if (info)
        ImGui::TextWrapped("%s mixing autoencoder (Hu et al. 2018): %d chunks x %d dims%s", m_s.model->name.c_str(), info->layout.chunks,
                           info->layout.dims, hasFactorNames(*info) ? "; each chunk named by the factor it carries most" : "");
    else
        ImGui::TextDisabled(!m_s.image ? "open an image" : "encoding...");
    const float side = std::min(120.f, (ImGui::GetContentRegionAvail().x - 2.f * ImGui::GetStyle().ItemSpacing.x) / 3.f);
    auto vin = widgets::imageView("latent_in", m_latent.inputTex.valid() ? m_latent.inputTex.imguiId() : nullptr,
                                  m_latent.inputTex.width(), m_latent.inputTex.height(), side,
                                  "input: " + className(info, m_latent.inputClass), "no image");
    pixelTooltip(vin, &m_latent.view(LatentView::Input), "input");
    ImGui::SameLine();
    char caption[96];
    std::snprintf(caption, sizeof caption, "decoded: %s", className(info, m_latent.decodedClass).c_str());
    auto vout = widgets::imageView("latent_out", m_latent.decodedTex.valid() ? m_latent.decodedTex.imguiId() : nullptr,
                                   m_latent.decodedTex.width(), m_latent.decodedTex.height(), side, caption, "decoding...");
    pixelTooltip(vout, &m_latent.view(LatentView::Decoded), "decoded");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Dec(code) with the chunk edits below; decoded in %.1f ms", m_latent.decodeMs);
    ImGui::SameLine();
    ImGui::BeginGroup();
    auto vsecond = widgets::imageView("latent_second", m_latent.secondTex.valid() ? m_latent.secondTex.imguiId() : nullptr,
                       m_latent.secondTex.width(), m_latent.secondTex.height(), side,
                       "second: " + className(info, m_latent.secondClass), "drop image");
    pixelTooltip(vsecond, &m_latent.view(LatentView::Second), "second");
    m_latent.secondMin = ImGui::GetItemRectMin();
    m_latent.secondMax = ImGui::GetItemRectMax();
    if (ImGui::SmallButton("open...")) {
        m_pickers.second.directory = m_pickers.image.directory;
        m_pickers.second.open = true;
    }
    ImGui::EndGroup();
    if (ImGui::Button("Reset all")) resetChunks();
    ImGui::SameLine();
    ImGui::BeginDisabled(m_latent.base.empty());
    if (ImGui::Button("Export traversal grid")) exportTraversal(defaultExportPath("traversal"));
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("Rows = chunks, columns = -3..+3 sd along each chunk's first principal direction (PNG + JSON)");
    ImGui::Separator();
    if (info && !m_latent.base.empty()) {
        std::vector<float> range;  // per chunk: the bars' full scale, |mean| + 3 sd along the first direction
        for (const auto& b : info->bases) {
            float r = 1e-3f;
            for (float m : b.mean) r = std::max(r, std::abs(m) + 3.f * (b.sigma.empty() ? 0.f : b.sigma[0]));
            range.push_back(r);
        }
        ImGui::BeginChild("chunks");
        if (widgets::chunkSliders("chunks", m_latent.edited.empty() ? m_latent.base : m_latent.edited, info->layout.chunks,
                                  info->layout.dims, hasFactorNames(*info) ? -1 : info->classChunk, m_latent.sliders,
                                  m_latent.swapped, !m_latent.second.empty(), range, info->chunkFactors)
                .changed)
            requestLatentDecode();
        ImGui::EndChild();
    }
}

void App::drawAnalogy() {
    if (!latentAvailable()) return;
    ImGui::TextWrapped("a : b :: c : d in the mixer's code: drop images on a, b and c");
    const MixerInfo* info = m_latent.info.get();
    widgets::AnalogySlotView views[4];
    for (int i = 0; i < 4; ++i) {
        const auto& t = m_latent.slotTex[i];
        views[i] = {t.valid() ? t.imguiId() : nullptr, t.width(), t.height(), className(info, m_latent.slotClass[i])};
    }
    const float avail = ImGui::GetContentRegionAvail().x;
    const float side = avail >= 4.f * 110.f + 60.f ? 110.f : std::min(110.f, (avail - 40.f) / 2.f);
    auto r = widgets::analogySlots(m_latent.analogy, views, side);
    const char* slotNames[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; ++i) pixelTooltip(r.views[i], &m_latent.shown[int(LatentView::A) + i], slotNames[i]);
    if (r.openSlot >= 0) {
        m_pickers.slotTarget = r.openSlot;
        m_pickers.slot.directory = m_pickers.image.directory;
        m_pickers.slot.open = true;
    }
    if (r.useCurrent >= 0 && !m_s.imagePath.empty()) setAnalogySlot(r.useCurrent, m_s.imagePath);
    if (r.changed) requestAnalogy();
    if (m_latent.analogy.mode == 1 && !m_latent.copied.empty()) {
        std::string which;
        for (size_t k = 0; k < m_latent.copied.size(); ++k)
            if (m_latent.copied[k]) which += (which.empty() ? "" : ", ") + std::to_string(k);
        ImGui::TextDisabled("chunks copied from b: %s", which.c_str());
    }
}

}  // namespace preimage::app
