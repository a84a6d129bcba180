// The Session's preferred inputs: the Dream tab's requests (one unit, with the parametrisation, transforms,
// accentuation of the open image and the judge of DreamSettings) and the atlas of the selected tap, and their frames.
// UI thread, as the rest of the Session (session.h).
#include "app/gui/session.h"

#include "app/cli/dream_report.h"
#include "app/cli/report.h"

#include <algorithm>
#include <cmath>

namespace preimage::app {

void DreamSettings::setParam(DreamParametrisation p) {
    param = int(p);
    const DreamTransforms t = dreamDefaults(p).transforms;
    pad = t.pad > 0;
    jitter = t.jitter > 0;
    scale = !t.scales.empty();
    rotate = t.rotate > 0;
    crops = t.crops > 1;
    contrastive = dreamDefaults(p).contrastive;
    weightNoise = dreamDefaults(p).weightNoise;
    featurePrior = dreamDefaults(p).featurePrior;
}

DreamTransforms DreamSettings::transforms() const {
    const DreamTransforms standard = DreamTransforms::standard(), maco = DreamTransforms::macoCrops();
    DreamTransforms t;
    if (pad) t.pad = standard.pad;
    if (jitter) t.jitter = standard.jitter, t.jitter2 = standard.jitter2;
    if (scale) t.scales = standard.scales;
    if (rotate) t.rotate = standard.rotate;
    if (crops) t.crops = maco.crops, t.cropMin = maco.cropMin, t.cropMax = maco.cropMax, t.noise = maco.noise;
    return t;
}

DreamParametrisation Session::dreamParam(bool prior) const {
    const bool generator = dreamGenerator() >= 0;
    if (dreamSettings.param >= 0) {
        const auto p = DreamParametrisation(dreamSettings.param);
        if (p != DreamParametrisation::Generator || generator) return p;
    }
    return prior && generator ? DreamParametrisation::Generator : kDefaultImageParametrisation;
}

DreamParams Session::dreamParams(bool prior) const {
    DreamParams p;
    p.param = dreamParam(prior);
    if (p.param == DreamParametrisation::Generator) p.generator = layerName(dreamGenerator());
    else p.generator.clear();
    p.iterations = dreamSettings.iterations;
    if (dreamSettings.param >= 0 || p.param != DreamParametrisation::Generator) {
        // The toggles as shown (set to the parametrisation's defaults when it is chosen).
        DreamSettings shown = dreamSettings;
        if (dreamSettings.param < 0) shown.setParam(p.param);
        p.defaultTransforms = false;
        p.transforms = shown.transforms();
    }
    p.accentLambda = dreamSettings.lambda;
    if (dreamSettings.param >= 0) p.contrastive = dreamSettings.contrastive;  // else the parametrisation's default
    if (dreamSettings.param >= 0 && p.param != DreamParametrisation::Generator && !dreamSettings.accentuate)
        p.weightNoise = dreamSettings.weightNoise;  // (accentuation: none, its penalty's bound is for the network itself)
    if (dreamSettings.param >= 0 && p.param != DreamParametrisation::Generator && !dreamSettings.accentuate && model &&
        featurePriorApplies(model->input))
        p.featurePrior = dreamSettings.featurePrior;  // (elsewhere: none, as the command line's default)
    return p;
}

void Session::startDream(const std::string& unit, bool prior) {
    if (!model) return;
    Request r = baseRequest(JobKind::Dream);
    r.dream = dreamParams(prior);
    r.dream.unit = unit;
    if (unit.find(':') != std::string::npos) r.dream.featurePrior.reset();  // a channel: none (the prior is for classes)
    if (dreamSettings.accentuate) {
        if (!image) {
            setError("accentuation starts from the open image: open one first");
            return;
        }
        if (r.dream.param != DreamParametrisation::Pixels && r.dream.param != DreamParametrisation::Fourier) {
            setError("accentuation starts from the image's own pixels or spectrum: choose pixels or Fourier");
            return;
        }
        r.dream.accentuate = image;  // shared, never copied
    }
    r.judge = dreamSettings.judge;
    dreamUnit = unit;
    dreamActivations.clear();
    dreamResult.reset();
    dreamPreview = {};
    m_update.dream = true;
    jobGeneration = worker->post(std::move(r));
    dreamGeneration = jobGeneration;
    jobKind = JobKind::Dream;
    jobRunning = true;
    cancelExport("a preferred input was started");
    status = "dreaming " + unit + "...";
}

std::string Session::atlasUnit(int cell) const {
    if (cell < 0 || cell >= int(atlas.size()) || !atlas[size_t(cell)]) return "";
    return atlas[size_t(cell)]->unit;
}

void Session::startAtlas() {
    if (!model || layer < 0 || layer >= int(model->layers.size())) return;
    const auto& info = model->layers[size_t(layer)];
    if (info.shape.empty()) {
        setError("the atlas needs a tap with channels; " + info.name + " has none");
        return;
    }
    Request r = baseRequest(JobKind::Atlas);
    r.dream = dreamParams(false);  // many units: never the generator (one unit at a time)
    if (r.dream.param == DreamParametrisation::Generator) r.dream.param = kDefaultImageParametrisation;
    r.dream.iterations = dreamSettings.atlasIterations;
    // Smaller images where the network takes any size (the worker checks, else the model's own side).
    if (dreamSettings.atlasSide > 0 && dreamSettings.atlasSide < model->input.width) r.dream.renderSide = dreamSettings.atlasSide;
    r.atlasBatch = std::max(1, dreamSettings.atlasBatch);
    r.judge = dreamSettings.judge;
    const int n = std::min<int>(int(info.shape[0]), std::max(1, dreamSettings.atlasLimit));
    const bool classes = layer == int(model->layers.size()) - 1 && model->classCount > 0;
    if (!classes) r.dream.featurePrior.reset();  // channels: none (the prior is for classes)
    for (int c = 0; c < n; ++c) r.units.push_back(classes ? std::to_string(c) : info.name + ":" + std::to_string(c));
    atlas.clear();
    atlasLayer = layer;
    atlasTotal = n;
    atlasSeconds = atlasUnitsPerSecond = 0;
    atlasParam = parametrisationName(r.dream.param);
    atlasColumns = std::max(1, int(std::ceil(std::sqrt(double(n)))));  // square, as the channel grid beside it
    atlasMosaic = {};
    m_update.atlas = true;
    jobGeneration = worker->post(std::move(r));
    atlasGeneration = jobGeneration;
    jobKind = JobKind::Atlas;
    jobRunning = true;
    cancelExport("an atlas was started");
    status = "atlas of " + info.name + ": " + std::to_string(n) + " units...";
}

void Session::applyDreamFrame(const Frame& f) {
    if (f.kind == JobKind::Dream) {
        if (!f.previews.empty()) {
            dreamPreview = f.previews[0];
            m_update.dream = true;
        }
        dreamActivations = f.activations;
        if (f.done) {
            dreamResult = f.dream;
            jobRunning = false;
            const auto& r = *f.dream;
            std::string numbers = "activation " + fmt("%.2f", r.activation);
            if (!std::isnan(r.trainMax)) numbers += " (training max " + fmt("%.2f", r.trainMax) + ")";
            else numbers += " (from " + fmt("%.2f", r.startActivation) + ", " + r.param +
                            (r.weightNoise > 0 ? ", weight noise " + fmt("%.2g", r.weightNoise) : "") +
                            (r.featurePrior > 0 ? ", feature prior " + fmt("%.3g", r.featurePrior) : "") + ")";
            if (!std::isnan(r.robustProbability)) numbers += ", p under crops " + fmt("%.2f", r.robustProbability);
            if (r.judgeRank > 0) numbers += ", judge rank " + std::to_string(r.judgeRank);
            status = "preferred input of " + dreamUnit + ": " + numbers;
            m_update.dream = true;
        }
        return;
    }
    // Atlas: every frame carries the finished cells; the mosaic is rebuilt when there are more.
    if (f.atlas.size() != atlas.size() || f.done) {
        atlas = f.atlas;
        int side = 0;
        for (const auto& r : atlas) side = std::max(side, r ? r->image.width : 0);
        // Tiles of 48-64 px: small images (28 px) doubled, large ones (112, 227 px) shrunk.
        atlasTile = side <= 0 ? 48 : side < 48 ? side * std::max(1, 48 / side + (48 % side ? 1 : 0)) : std::min(side, 64);
        // Unfinished cells stay dark: the mosaic has every cell's place from the start.
        std::vector<std::shared_ptr<const DreamResult>> cells = atlas;
        cells.resize(size_t(std::max(atlasTotal, int(atlas.size()))));
        atlasMosaic = atlasMosaicImage(cells);
        m_update.atlas = true;
    }
    atlasSeconds = f.atlasSeconds;
    if (f.atlasUnitsPerSecond > 0) atlasUnitsPerSecond = f.atlasUnitsPerSecond;
    if (f.done) {
        jobRunning = false;
        status = "atlas of " + layerName(atlasLayer) + ": " + std::to_string(atlas.size()) + " units in " + fmt("%.1f", atlasSeconds) +
                 " s (" + fmt("%.2f", atlasUnitsPerSecond) + " units/s, " + atlasParam + ")";
    }
}

ImageF Session::atlasMosaicImage(const std::vector<std::shared_ptr<const DreamResult>>& cells) const {
    return app::atlasMosaic(cells, atlasColumns, std::max(8, atlasTile), 1);
}

}  // namespace preimage::app
