#include "inference/runtime/worker.h"
#include "inference/runtime/device_image.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "inference/learned/hypernet.h"
#include "inference/latent/mixer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

namespace preimage {

Worker::Worker(int threads) : m_threads(threads), m_thread([this] { run(); }) {}

Worker::~Worker() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_quit = true;
        m_pending.reset();
    }
    m_cancel = true;
    m_wake.notify_all();
    m_thread.join();
}

uint64_t Worker::post(Request request) {
    uint64_t gen;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        gen = ++m_generation;
        m_pending = std::move(request);
        m_frame.reset();  // an older job's frame not yet taken is stale now
        // Under the lock: the worker clears the flag under it when it takes a request, so this cancels the job
        // that runs now and never the one just posted.
        m_cancel = true;
    }
    m_wake.notify_all();
    return gen;
}

uint64_t Worker::cancel() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_pending.reset();
    m_cancel = true;
    // A generation of its own: the cancelled job's late frames are older, so publish() drops them, and this
    // frame is the last word on it.
    const uint64_t gen = ++m_generation;
    Frame f;
    f.generation = gen;
    f.done = true;
    f.cancelled = true;
    m_frame = std::move(f);
    return gen;
}

std::optional<Frame> Worker::take() {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::optional<Frame> f;
    f.swap(m_frame);
    return f;
}

bool Worker::busy() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_running || m_pending.has_value();
}

uint64_t Worker::generation() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_generation;
}

uint64_t Worker::postLatent(LatentRequest request) {
    uint64_t id;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        id = ++m_latentId;
        auto same = std::find_if(m_latentPending.begin(), m_latentPending.end(), [&](const auto& p) {
            return p.second.op == request.op && p.second.tag == request.tag;
        });
        if (same != m_latentPending.end())
            *same = {id, std::move(request)};
        else
            m_latentPending.emplace_back(id, std::move(request));
    }
    m_wake.notify_all();
    return id;
}

std::vector<LatentFrame> Worker::takeLatent() {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::vector<LatentFrame> out(std::make_move_iterator(m_latentDone.begin()), std::make_move_iterator(m_latentDone.end()));
    m_latentDone.clear();
    return out;
}

bool Worker::latentBusy() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_latentRunning || !m_latentPending.empty();
}

void Worker::serveLatent() {
    for (;;) {
        std::pair<uint64_t, LatentRequest> job;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_latentPending.empty() || m_quit) return;
            job = std::move(m_latentPending.front());
            m_latentPending.pop_front();
            m_latentRunning = true;
        }
        const auto start = std::chrono::steady_clock::now();
        const LatentRequest& r = job.second;
        LatentFrame f;
        f.id = job.first;
        f.op = r.op;
        f.tag = r.tag;
        try {
            if (!m_mixer || m_mixerKey != r.model) {
                m_mixer.reset();
                m_mixerInfo.reset();
                m_latentModel = Model::load(r.model);
                m_mixer = Mixer::load(*m_latentModel);
                m_mixerKey = r.model;
                auto info = std::make_shared<MixerInfo>();
                info->layout = m_mixer->layout();
                info->bases = m_mixer->bases();
                info->classChunk = m_mixer->classChunk();
                info->chunkThreshold = m_mixer->chunkThreshold();
                info->analogyStrength = m_mixer->analogyStrength();
                info->classes = m_latentModel->classNames();
                info->chunkFactors = m_mixer->chunkFactors();
                m_mixerInfo = info;
            }
            f.mixer = m_mixerInfo;
            if (r.op == LatentOp::Encode) {
                for (const auto& im : r.images) f.images.push_back(m_latentModel->prepare(im));
                f.codes = m_mixer->encode(f.images);
            } else {
                f.images = m_mixer->decode(r.codes);
            }
            if (!f.images.empty())
                for (const auto& l : m_latentModel->logits(f.images))
                    f.predicted.push_back(int(std::max_element(l.begin(), l.end()) - l.begin()));
        } catch (const std::exception& e) {
            std::string what = e.what();
            f.error = what.substr(0, what.find('\n'));
            m_mixer.reset();
            m_mixerKey.clear();
        }
        f.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::lock_guard<std::mutex> lock(m_mutex);
        m_latentRunning = false;
        // Newest wins per purpose: an undelivered older decode for the same tag is dropped.
        if (f.op == LatentOp::Decode)
            m_latentDone.erase(std::remove_if(m_latentDone.begin(), m_latentDone.end(),
                                              [&](const LatentFrame& o) { return o.op == LatentOp::Decode && o.tag == f.tag; }),
                               m_latentDone.end());
        m_latentDone.push_back(std::move(f));
        if (m_latentDone.size() > 64) m_latentDone.pop_front();
    }
}

namespace {

// The five most probable classes (softmax of the output) when the network's output is one vector of class scores
// per image, whatever its layout (Model::classCount); else none, and the summary says why.
std::vector<std::pair<int, float>> top5(Model& m, const ImageF& prepared) {
    if (m.classCount() == 0) return {};
    std::vector<float> scores = m.logits({prepared}).at(0);
    if (int(scores.size()) != m.classCount()) return {};
    const float top = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (float& v : scores) sum += (v = std::exp(v - top));
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min<size_t>(5, order.size());
    std::partial_sort(order.begin(), order.begin() + long(k), order.end(), [&](int a, int b) { return scores[size_t(a)] > scores[size_t(b)]; });
    std::vector<std::pair<int, float>> out;
    for (size_t i = 0; i < k; ++i) out.emplace_back(order[i], float(scores[size_t(order[i])] / sum));
    return out;
}

}  // namespace

void Worker::publish(Frame frame) {
    std::lock_guard<std::mutex> lock(m_mutex);
    // A superseded or cancelled job's frames are dropped: only the newest request's reach take().
    if (frame.generation < m_generation) return;
    if (m_frame && m_frame->generation > frame.generation) return;
    // Keep a job's final frame unless the next one is also final or from a newer job.
    if (m_frame && m_frame->done && m_frame->generation == frame.generation && !frame.done) return;
    m_frame = std::move(frame);
}

void Worker::run() {
    setThreads(m_threads);
    for (;;) {
        Request request;
        uint64_t gen;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [this] { return m_quit || m_pending.has_value() || !m_latentPending.empty(); });
            if (m_quit) break;
            if (!m_pending) {
                lock.unlock();
                serveLatent();
                continue;
            }
            request = std::move(*m_pending);
            m_pending.reset();
            gen = m_generation;
            m_running = true;
            m_cancel = false;
        }
        execute(request, gen);
        std::lock_guard<std::mutex> lock(m_mutex);
        m_running = false;
    }
    m_model.reset();  // models die on the thread that made them
    m_judge.reset();
    m_mixer.reset();
    m_latentModel.reset();
}

std::shared_ptr<Model> Worker::judge(const Request& r, const Model& model) {
    if (r.judge.empty()) return nullptr;
    if (!m_judge || m_judgeKey != r.judge) {
        m_judge.reset();
        m_judge = Model::load(r.judge);
        m_judgeKey = r.judge;
    }
    checkJudge(model, *m_judge, r.judge);
    return m_judge;
}

std::shared_ptr<Model> Worker::model(const Request& r, std::shared_ptr<const ModelSummary>& summary) {
    const auto& o = r.modelOptions;
    std::string key = r.model + "|" + std::to_string(o.size) + "|" + (o.gray ? "g" : "c") + "|" + o.device + "|" + o.inverters;
    for (float v : o.mean) key += "|" + std::to_string(v);
    for (float v : o.std) key += "|" + std::to_string(v);
    if (!m_model || key != m_modelKey) {
        // Loaded aside first: a model that cannot be loaded leaves the current one in place.
        auto loaded = Model::load(r.model, o);
        m_model = std::move(loaded);
        m_summary.reset();
        m_modelKey = key;
        auto s = std::make_shared<ModelSummary>();
        s->name = m_model->name();
        s->input = m_model->input();
        s->layers = m_model->layers();
        for (size_t i = 0; i < s->layers.size(); ++i) {
            s->lambdaTv.push_back(m_model->defaultLambdaTv(int(i)));
            s->learnedInverters.push_back(m_model->hasLearnedInverter(int(i)));
            s->hyperNets.push_back(hasHyperNet(*m_model, s->layers[i].name));
        }
        s->classes = m_model->classNames();
        s->classCount = m_model->classCount();
        s->outputShape = m_model->outputShape();
        s->hasMixer = Mixer::exists(*m_model);
        if (!m_model->manifestJson().empty()) {  // a default model may name the tap a first run opens on
            const auto m = nlohmann::json::parse(m_model->manifestJson(), nullptr, false);
            if (m.is_object() && m.contains("default_layer") && m["default_layer"].is_string())
                s->defaultLayer = m["default_layer"].get<std::string>();
        }
        s->device = m_model->deviceName();
        m_summary = s;
    }
    summary = m_summary;
    return m_model;
}

void Worker::execute(const Request& r, uint64_t gen) {
    Frame base;
    base.generation = gen;
    base.kind = r.kind;
    try {
        auto m = model(r, base.model);
        if (r.kind == JobKind::LoadModel) {
            base.done = true;
            publish(std::move(base));
            return;
        }
        if (r.kind == JobKind::Dream) {
            auto judged = judge(r, *m);
            std::vector<float> acts;
            auto result = dream(*m, r.dream, [&](const DreamProgress& e) {
                serveLatent();
                acts.push_back(e.activation);
                if (e.preview.empty()) return;
                Frame f = base;
                f.previews = {e.preview};
                f.activations = acts;
                publish(std::move(f));
            }, &m_cancel);
            if (result.cancelled) return;
            measureDream(*m, result, result.classUnit ? judged.get() : nullptr, r.dream.robustnessCrops, r.dream.seed);
            Frame f = base;
            f.previews = {result.image};
            f.activations = result.history;
            f.dream = std::make_shared<DreamResult>(std::move(result));
            f.done = true;
            publish(std::move(f));
            return;
        }
        if (r.kind == JobKind::Atlas) {  // many units, a batch at a time; each finished batch is published
            auto judged = judge(r, *m);
            const auto start = std::chrono::steady_clock::now();
            std::vector<std::shared_ptr<const DreamResult>> done;
            auto rate = [&](Frame& f) {
                f.atlasSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                f.atlasUnitsPerSecond = f.atlasSeconds > 0 ? double(done.size()) / f.atlasSeconds : 0;
            };
            DreamParams params = r.dream;
            if (params.renderSide > 0 && !r.units.empty() &&
                !takesSide(*m, m->layerIndex(r.units.front().find(':') == std::string::npos ? m->layers().back().name
                                                                                             : r.units.front().substr(0, r.units.front().rfind(':'))),
                           params.renderSide))
                params.renderSide = 0;  // the network needs its own input size
            std::vector<float> acts;
            auto results = dreamUnits(*m, params, r.units, r.atlasBatch, [&](const DreamProgress& e) {
                serveLatent();
                if (e.finished.empty()) {
                    acts.push_back(e.activation);
                    if (e.preview.empty()) return;
                    Frame f = base;
                    f.previews = {e.preview};
                    f.activations = acts;
                    f.atlas = done;
                    f.atlasTotal = int(r.units.size());
                    f.progress.iteration = e.iteration, f.progress.iterations = e.iterations;
                    rate(f);
                    publish(std::move(f));
                    return;
                }
                acts.clear();
                for (const auto& d : e.finished) {
                    auto measured = std::make_shared<DreamResult>(*d);
                    measureDream(*m, *measured, measured->classUnit ? judged.get() : nullptr, r.dream.robustnessCrops, r.dream.seed);
                    done.push_back(std::move(measured));
                }
            }, &m_cancel);
            if (m_cancel.load() || results.size() < r.units.size()) return;
            Frame f = base;
            f.atlas = done;
            f.atlasTotal = int(r.units.size());
            rate(f);
            f.done = true;
            publish(std::move(f));
            return;
        }
        if (!r.image) throw Error("no image to invert");
        base.target = m->prepare(*r.image);
        const std::string layerName = m->layers()[size_t(std::clamp(r.layer, 0, int(m->layers().size()) - 1))].name;
        if (r.kind == JobKind::Invert) {  // the tap's activations and the class scores: one forward pass each
            try {  // a view, never a reason for the inversion not to run
                std::vector<int64_t> shape;
                auto values = m->features(base.target, r.layer, shape);
                if (!shape.empty()) shape.erase(shape.begin());
                base.features = std::make_shared<const std::vector<float>>(std::move(values));
                base.featureShape = shape;
            } catch (const std::exception& e) {
                base.featuresError = e.what();  // said on the Channels tab
            }
            base.imageTop5 = top5(*m, base.target);
        }
        if (r.kind == JobKind::Invert) {  // learned pre-images: one forward pass, shown at once
            if (r.learnedKind > 0 && hasHyperNet(*m, layerName)) {
                auto h = hyperNetPreimage(*m, layerName, DecoderVariant::HyperNet, *r.image, r.learnedKind == 2);
                base.learned = Model::LearnedPreimage{h.image, h.featureError, h.pixelRmse};
            } else if (m->hasLearnedInverter(r.layer)) {
                base.learned = m->learnedPreimage(*r.image, r.layer);
            }
            if (base.learned) {
                Frame f = base;
                f.layer = r.layer;
                publish(std::move(f));
            }
        }
        InversionParams params = r.params;
        params.previewEveryMs = r.previewEveryMs;
        // The interop path (the app asks for it when it has a CUDA-GL uploader): previews stay on the GPU.
        params.previewOnDevice = r.devicePreviews && deviceImagesSupported() && m->deviceName().rfind("cuda", 0) == 0;
        std::vector<int> layers = r.kind == JobKind::Invert ? std::vector<int>{r.layer} : r.layers;
        if (r.kind == JobKind::Sweep && layers.empty())
            for (size_t i = 0; i < m->layers().size(); ++i) layers.push_back(int(i));
        std::vector<std::shared_ptr<const InversionResult>> sweep;
        for (size_t k = 0; k < layers.size(); ++k) {
            const int layer = layers[k];
            std::vector<ProgressEvent> history;
            auto onProgress = [&](const ProgressEvent& e) {
                serveLatent();  // slider drags and analogy slots are answered between two iterations
                ProgressEvent slim = e;
                slim.previews.clear();
                slim.devicePreviews.clear();
                history.push_back(slim);
                if (e.previews.empty() && e.devicePreviews.empty()) return;  // only with fresh pre-images (every previewEveryMs)
                Frame f = base;
                f.layer = layer;
                f.progress = slim;
                f.previews = e.previews;
                f.devicePreviews = e.devicePreviews;
                f.history = history;
                f.sweepDone = int(k);
                f.sweepTotal = int(layers.size());
                f.sweep = sweep;
                publish(std::move(f));
            };
            const WarmStart* start = r.kind == JobKind::Invert ? r.start.get() : nullptr;
            auto result = std::make_shared<InversionResult>(invert(*m, *r.image, layer, params, onProgress, &m_cancel, start));
            if (result->cancelled) return;  // a newer request (or cancel()) superseded this job
            sweep.push_back(result);
            Frame f = base;
            f.layer = layer;
            f.previews = result->preimages;
            f.history = result->history;
            if (!f.history.empty()) f.progress = f.history.back();
            f.sweepDone = int(k + 1);
            f.sweepTotal = int(layers.size());
            f.sweep = sweep;
            f.done = k + 1 == layers.size();
            if (r.kind == JobKind::Invert) {
                f.result = result;
                f.preimageTop5 = top5(*m, result->preimages[size_t(result->best)]);
            }
            publish(std::move(f));
        }
    } catch (const std::exception& e) {
        Frame f = base;
        f.done = true;
        std::string what = e.what();
        f.error = what.substr(0, what.find('\n'));
        publish(std::move(f));
    }
}

}  // namespace preimage
