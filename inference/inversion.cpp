// Optimisation pre-images: Mahendran & Vedaldi, "Understanding deep image representations by
// inverting them" (CVPR 2015). See shared/design.md, point 1, for the protocol implemented here.
//
// Units. The optimised variable is y, the image in units of sigma (the average norm of the model's
// normalised input images, or the target's own norm when the training set is unknown): x = sigma * y.
// Momentum SGD on y makes the paper's learning rate independent of image size and scaling (the
// paper's code scales the feature gradient by sigma^2 for the same reason). The regularisers are
// evaluated on x and normalised by the area H*W and the typical pixel norm B = sigma / sqrt(H*W); the
// TV term's differences are measured in the paper's 227-pixel frame, V = B * 227 / sqrt(H*W), so that
// lambda_tv means the same at any input resolution (the squared gradient of the same content grows
// with the square of the pixel density: a 28x28 input would otherwise need a 66x smaller lambda).
#include "model_impl.h"
#include "regularizers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <random>

namespace preimage {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kPaperSide = 227.0;  // AlexNet's input side, for which the paper set lambda_tv

std::string fmtNumber(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

// Which loss term blew up, for the divergence message: the largest of the weighted terms (non-finite first).
std::string dominantTerm(double feature, double alphaTerm, double tvTerm, float lambdaTv, float lambdaAlpha) {
    auto size = [](double v) { return std::isfinite(v) ? std::abs(v) : 1e300; };
    if (size(tvTerm) >= size(feature) && size(tvTerm) >= size(alphaTerm))
        return "the TV term dominates: lower --tv (now " + fmtNumber(lambdaTv) + ") or --lr";
    if (size(alphaTerm) >= size(feature))
        return "the alpha-norm term dominates: lower --lambda-alpha (now " + fmtNumber(lambdaAlpha) + ") or --lr";
    return "the feature term dominates: lower --lr";
}

// v = momentum v - eta (g1 + g2); x += v. One pass on the CPU (the hot loop of small models is overhead).
// The same, each group of `rowsPerGroup` rows (one image's restarts) with its own step eta[g].
void momentumStep(torch::Tensor& x, torch::Tensor& v, torch::Tensor& g1, const torch::Tensor& g2, double momentum,
                  const std::vector<double>& eta, int64_t rowsPerGroup) {
    const int64_t groups = int64_t(eta.size());
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous() && v.is_contiguous() &&
        g1.is_contiguous() && g2.is_contiguous() && g1.sizes() == x.sizes() && g2.sizes() == x.sizes()) {
        float* xp = x.data_ptr<float>();
        float* vp = v.data_ptr<float>();
        const float* a = g1.data_ptr<float>();
        const float* b = g2.data_ptr<float>();
        const float m = float(momentum);
        const int64_t per = x.numel() / groups;
        for (int64_t g = 0; g < groups; ++g) {
            const float e = float(eta[size_t(g)]);
            for (int64_t i = g * per, n = (g + 1) * per; i < n; ++i) {
                vp[i] = m * vp[i] - e * (a[i] + b[i]);
                xp[i] += vp[i];
            }
        }
        return;
    }
    for (int64_t g = 0; g < groups; ++g) {
        auto xg = x.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup), vg = v.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup);
        auto g1g = g1.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup);
        g1g.add_(g2.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup));
        vg.mul_(momentum).sub_(g1g, eta[size_t(g)]);
        xg.add_(vg);
    }
}

// The paper's schedule, 100 / 200 / 100 of 400 iterations, scaled to any iteration count.
float scheduledRate(float base, int it, int iterations) {
    double f = double(it) / double(std::max(1, iterations));
    return f < 0.25 ? base : (f < 0.75 ? base * 0.1f : base * 0.01f);
}

std::string shapeText(const torch::Tensor& t) {
    std::string s;
    for (int d = 1; d < t.dim(); ++d) s += (d > 1 ? "x" : "") + std::to_string(t.size(d));
    return s;
}

// Masks by the tap's layout: [N,C,H,W] maps take channel groups and windows; vectors [N,F] take feature
// ranges; tokens [N,T,D] take channel ranges of D. Other layouts have no known channel or spatial axis.
torch::Tensor buildMask(const torch::Tensor& phi0, const FeatureMask& m, const std::string& layer) {
    auto mask = torch::ones_like(phi0);
    if (!m.active()) return mask;
    const int rank = int(phi0.dim()) - 1;
    if (rank < 1 || rank > 3)
        throw Error("layer '" + layer + "' has shape " + shapeText(phi0) +
                    ": masks need a feature map [C,H,W], tokens [N,D] or a vector");
    const int channelDim = rank == 2 ? 2 : 1;
    const int64_t channels = phi0.size(channelDim);
    int64_t first = m.firstChannel, last = m.lastChannel < 0 ? channels - 1 : m.lastChannel;
    if (first < 0 || first > last || last >= channels)
        throw Error("channel group " + std::to_string(first) + "-" + std::to_string(last) + " is outside layer '" + layer +
                    "' (channels 0-" + std::to_string(channels - 1) + ")");
    mask.zero_();
    if (m.w > 0) {
        if (rank != 3)
            throw Error("a spatial window needs a [C,H,W] feature map; layer '" + layer + "' has shape " + shapeText(phi0) +
                        (rank == 2 ? " (tokens: no spatial layout)" : " (a vector)"));
        const int64_t H = phi0.size(2), W = phi0.size(3);
        if (m.x < 0 || m.y < 0 || m.h <= 0 || m.x + m.w > W || m.y + m.h > H)
            throw Error("window " + std::to_string(m.x) + "," + std::to_string(m.y) + "," + std::to_string(m.w) + "," +
                        std::to_string(m.h) + " is outside layer '" + layer + "' (" + std::to_string(W) + "x" +
                        std::to_string(H) + " feature map)");
        mask.slice(1, first, last + 1).slice(2, m.y, m.y + m.h).slice(3, m.x, m.x + m.w).fill_(1);
    } else {
        mask.slice(channelDim, first, last + 1).fill_(1);
    }
    return mask;
}

void validate(const InversionParams& p) {
    auto bad = [](const std::string& s) { throw Error(s); };
    if (p.iterations < 1 || p.iterations > 1000000) bad("--iters must be between 1 and 1000000");
    if (p.restarts < 1 || p.restarts > 64) bad("--restarts must be between 1 and 64");
    if (!(p.learningRate > 0) || !std::isfinite(p.learningRate)) bad("--lr must be a positive number");
    if (!(p.momentum >= 0 && p.momentum < 1)) bad("--momentum must be in [0, 1)");
    if (!(p.alpha >= 1) || !(p.beta >= 1)) bad("alpha and beta must be at least 1");
    if (!(p.lambdaAlpha >= 0) || !std::isfinite(p.lambdaTv)) bad("regulariser weights must be finite and non-negative");
    if (p.jitter < 0) bad("--jitter must be non-negative");
}

}  // namespace

std::vector<InversionResult> invertBatch(Model& model, const std::vector<ImageF>& images, int layerIndex,
                                         const InversionParams& params, const std::vector<uint64_t>& seeds,
                                         const ProgressFn& progress, const std::atomic<bool>* cancel) {
    validate(params);
    auto& M = model.impl();
    if (layerIndex < 0 || layerIndex >= int(M.layers.size())) throw Error("layer index out of range");
    if (images.empty()) return {};
    if (seeds.size() != images.size()) throw Error("invertBatch: one seed per image");
    const std::string& layer = M.layers[size_t(layerIndex)].name;
    const int N = int(images.size()), R = params.restarts;

    // Rows are image-major: image b's restarts are rows b R ... b R + R - 1 (contiguous slices).
    std::vector<InversionResult> results(static_cast<size_t>(N));
    std::vector<ImageF> targets;
    for (int b = 0; b < N; ++b) {
        auto& r = results[size_t(b)];
        r.layer = layer;
        r.layerIndex = layerIndex;
        r.target = model.prepare(images[size_t(b)]);
        r.lambdaTv = params.lambdaTv >= 0 ? params.lambdaTv : model.defaultLambdaTv(layerIndex);
        r.lambdaAlpha = params.lambdaAlpha;
        targets.push_back(r.target);
    }
    const float lambdaTv = results[0].lambdaTv;

    torch::Tensor x0, phi0, mask, norm0;
    {
        torch::NoGradGuard noGrad;
        x0 = M.toInput(targets);
        phi0 = M.forwardTo(x0, layerIndex).detach();
        mask = buildMask(phi0.slice(0, 0, 1), params.mask, layer);
        norm0 = (phi0 * mask).pow(2).flatten(1).sum(1).to(torch::kCPU, torch::kDouble);  // [N]
    }
    const int64_t C = x0.size(1), H = x0.size(2), W = x0.size(3);
    const auto n = static_cast<size_t>(N);
    std::vector<double> sigma(n), Bn(n), V(n), tvBound(n), invNorm0(n);
    for (int b = 0; b < N; ++b) {
        const double n0 = norm0[b].item<double>();
        if (!(n0 > 0))
            throw Error("layer '" + layer + "' is all zeros for " + (N > 1 ? "image " + std::to_string(b) + " of the batch" : "this image") +
                        (params.mask.active() ? " inside the mask" : "") + ": there is nothing to invert");
        invNorm0[size_t(b)] = 1.0 / n0;
        sigma[size_t(b)] = M.input.imageNorm > 0 ? double(M.input.imageNorm) : std::max(1e-6, x0[b].norm().item<double>());
        Bn[size_t(b)] = sigma[size_t(b)] / std::sqrt(double(H * W));
        V[size_t(b)] = Bn[size_t(b)] * kPaperSide / std::sqrt(double(H * W));
        tvBound[size_t(b)] = tvCurvatureBound(H, W, V[size_t(b)], lambdaTv);
        results[size_t(b)].sigma = float(sigma[size_t(b)]);
    }
    // Per-row weights of the feature term: each image's loss is normalised by its own ||Phi0||^2.
    auto rowWeight = torch::empty({int64_t(N) * R}, torch::kFloat);
    for (int b = 0; b < N; ++b) rowWeight.slice(0, int64_t(b) * R, int64_t(b + 1) * R).fill_(invNorm0[size_t(b)]);
    rowWeight = rowWeight.to(M.device);
    auto phi0Rows = R == 1 ? phi0 : phi0.repeat_interleave(R, 0);
    const bool masked = params.mask.active();

    std::vector<std::mt19937> rng;
    for (int b = 0; b < N; ++b) rng.emplace_back(uint32_t(seeds[size_t(b)] * 2654435761u + 17u));
    float lr = params.learningRate;
    torch::Tensor x;
    const auto start = Clock::now();
    auto lastPreview = start;
    int done = 0;
    ThreadTuner tuner;
    auto rows = [&](const torch::Tensor& t, int b) { return t.slice(0, int64_t(b) * R, int64_t(b + 1) * R); };
    for (int attempt = 0;; ++attempt) {
        // Small random noise: ||x|| = 0.1 sigma against the target's ~sigma (the paper starts from noise). Each image
        // draws from its own seed, so that its result does not depend on the batch it is in.
        std::vector<torch::Tensor> starts;
        for (int b = 0; b < N; ++b) {
            auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds[size_t(b)]);
            starts.push_back(at::randn({R, C, H, W}, gen, torch::kFloat) *
                             (0.1 * sigma[size_t(b)] / std::sqrt(double(C * H * W))));
        }
        x = (N == 1 ? starts[0] : torch::cat(starts)).to(M.device);
        x.set_requires_grad(true);
        auto velocity = torch::zeros_like(x).set_requires_grad(false);
        float lastRate = -1.f;
        for (auto& r : results) r.implicitTvSteps = 0, r.history.clear();
        torch::Tensor regGrad;
        bool diverged = false;
        std::string blame;
        std::vector<std::array<double, 3>> first(static_cast<size_t>(N)), before(static_cast<size_t>(N));  // loss terms: first, last finite
        auto attemptStart = Clock::now();
        for (done = 0; done < params.iterations; ++done) {
            if (cancel && cancel->load(std::memory_order_relaxed)) {
                for (auto& r : results) r.cancelled = true;
                break;
            }
            // Momentum SGD on y = x / sigma (see the top of this file), written on x: the step on x is
            // sigma^2 times the rate times the gradient on x.
            const float rate = scheduledRate(lr, done, params.iterations);
            torch::Tensor xin = x;
            if (params.jitter > 0) {
                std::uniform_int_distribution<int> d(-params.jitter, params.jitter);
                std::vector<torch::Tensor> parts;
                for (int b = 0; b < N; ++b) {
                    const int dy = d(rng[size_t(b)]), dx = d(rng[size_t(b)]);
                    parts.push_back(torch::roll(rows(x, b), {dy, dx}, {2, 3}));
                }
                xin = N == 1 ? parts[0] : torch::cat(parts);
            }
            auto phi = M.forwardTo(xin, layerIndex);
            auto diff = masked ? (phi - phi0Rows) * mask : phi - phi0Rows;
            auto featureRows = diff.square().flatten(1).sum(1) * rowWeight;  // [N R]
            auto grad = torch::autograd::grad({featureRows.sum()}, {x})[0];
            if (rate != lastRate) velocity.zero_();  // the authors' code resets momentum with the rate
            lastRate = rate;
            // Per image: its regulariser gradient and whether its TV term is stepped implicitly (when an explicit
            // step would be past momentum SGD's stability bound for it: eta L < 2 (1 + momentum); we switch at 1).
            std::vector<double> eta(static_cast<size_t>(N)), tvWeight(static_cast<size_t>(N)), alphaTerm, tvTerm;
            std::vector<char> implicitTv(static_cast<size_t>(N));
            std::vector<std::array<double, 3>> terms(static_cast<size_t>(N));
            for (int b = 0; b < N; ++b) {
                eta[size_t(b)] = double(rate) * sigma[size_t(b)] * sigma[size_t(b)];
                implicitTv[size_t(b)] = params.beta == 2.f && eta[size_t(b)] * tvBound[size_t(b)] > 1.0;
                if (implicitTv[size_t(b)]) results[size_t(b)].implicitTvSteps++;
                tvWeight[size_t(b)] = implicitTv[size_t(b)] ? 0.0 : double(lambdaTv);
            }
            regularizerGradientGroups(x.detach(), R, params.alpha, Bn, params.lambdaAlpha, params.beta, V, tvWeight, regGrad,
                                      alphaTerm, tvTerm);
            // In double: a huge --lambda-alpha or --tv must read as divergence, not overflow a float.
            auto featureHost = featureRows.detach().to(torch::kCPU, torch::kDouble).contiguous();
            const double* fh = featureHost.data_ptr<double>();
            for (int b = 0; b < N; ++b) {
                double f = 0;
                for (int r = 0; r < R; ++r) f += fh[b * R + r];
                if (implicitTv[size_t(b)])
                    tvTerm[size_t(b)] = totalVariation(rows(x.detach(), b), params.beta, V[size_t(b)]).sum().item<double>() * lambdaTv;
                terms[size_t(b)] = {f, alphaTerm[size_t(b)], tvTerm[size_t(b)]};
            }
            for (int b = 0; b < N && !diverged; ++b) {
                const auto& t = terms[size_t(b)];
                const double total = t[0] + t[1] + t[2];
                if (done == 0) first[size_t(b)] = t;
                const double firstTotal = first[size_t(b)][0] + first[size_t(b)][1] + first[size_t(b)][2];
                if (!std::isfinite(total) || total > 1e4 * std::max(double(R), firstTotal)) {
                    diverged = true;
                    const auto& w = done > 0 ? before[size_t(b)] : t;  // the term that grew, not the one that overflowed
                    blame = dominantTerm(w[0], w[1], w[2], lambdaTv, params.lambdaAlpha);
                }
            }
            if (diverged) break;
            before = terms;
            {
                torch::NoGradGuard noGrad;
                momentumStep(x, velocity, grad, regGrad, params.momentum, eta, R);
                for (int b = 0; b < N; ++b) {
                    if (!implicitTv[size_t(b)]) continue;
                    // x is now z; the TV step from there joins the velocity (the whole step)
                    auto xb = rows(x, b), vb = rows(velocity, b);
                    auto next = implicitTvStep(xb.detach(), eta[size_t(b)], V[size_t(b)], lambdaTv);
                    vb.add_(next).sub_(xb.detach());
                    xb.copy_(next);
                }
            }
            const double elapsed = std::chrono::duration<double>(Clock::now() - attemptStart).count();
            ProgressEvent all;  // the batch's mean, for the progress callback
            all.iteration = done + 1;
            all.iterations = params.iterations;
            all.learningRate = rate;
            all.itersPerSecond = elapsed > 0 ? float((done + 1) / elapsed) : 0.f;
            for (int b = 0; b < N; ++b) {
                const auto& t = terms[size_t(b)];
                ProgressEvent ev = all;
                ev.featureLoss = float(t[0] / R);
                ev.alphaLoss = float(t[1] / R);
                ev.tvLoss = float(t[2] / R);
                ev.loss = ev.featureLoss + ev.alphaLoss + ev.tvLoss;
                results[size_t(b)].history.push_back(ev);
                all.featureLoss += ev.featureLoss / float(N), all.alphaLoss += ev.alphaLoss / float(N);
                all.tvLoss += ev.tvLoss / float(N), all.loss += ev.loss / float(N);
            }
            tuner.step();
            if (progress) {
                auto now = Clock::now();
                if (params.previewEveryMs > 0 &&
                    (std::chrono::duration<double, std::milli>(now - lastPreview).count() >= params.previewEveryMs ||
                     done + 1 == params.iterations)) {
                    torch::NoGradGuard noGrad;
                    for (int r = 0; r < R; ++r) all.previews.push_back(M.fromInput(x[r].detach()));
                    lastPreview = now;
                }
                progress(all);
            }
        }
        if (!diverged) break;
        if (N > 1) {
            // One image of the batch diverged: each is run on its own, so that every result is what a batch of
            // one gives (its restarts at lower rates included).
            std::vector<InversionResult> single;
            for (int b = 0; b < N; ++b)
                single.push_back(std::move(
                    invertBatch(model, {images[size_t(b)]}, layerIndex, params, {seeds[size_t(b)]}, {}, cancel)[0]));
            return single;
        }
        std::string what = "diverged at iteration " + std::to_string(done + 1) + " with learning rate " + fmtNumber(lr) +
                           " (" + blame + ")";
        if (attempt >= params.maxDivergenceRetries)
            throw Error("inversion of layer '" + layer + "' " + what + "; giving up after " + std::to_string(attempt) +
                        " restarts with lower rates");
        lr *= 0.1f;
        results[0].warnings.push_back(what + "; restarted with learning rate " + fmtNumber(lr));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    torch::NoGradGuard noGrad;
    x = x.detach();
    auto errors = (((M.forwardTo(x, layerIndex) - phi0Rows) * mask).square().flatten(1).sum(1) * rowWeight)
                      .sqrt()
                      .to(torch::kCPU);
    for (int b = 0; b < N; ++b) {
        auto& result = results[size_t(b)];
        result.learningRate = lr;
        result.iterations = done;
        result.threads = tuner.mostUsed();
        result.seconds = seconds / N;
        result.itersPerSecond = result.history.empty() ? 0.0 : double(result.history.back().itersPerSecond);
        for (int r = 0; r < R; ++r) {
            result.featureErrorPerRestart.push_back(errors[int64_t(b) * R + r].item<float>());
            result.preimages.push_back(M.fromInput(x[int64_t(b) * R + r]));
        }
        result.best = int(std::min_element(result.featureErrorPerRestart.begin(), result.featureErrorPerRestart.end()) -
                          result.featureErrorPerRestart.begin());
        result.featureError = result.featureErrorPerRestart[size_t(result.best)];
        auto targetT = imageToTensor(result.target);
        auto bestT = imageToTensor(result.preimages[size_t(result.best)]);
        result.pixelRmse = (bestT - targetT).pow(2).mean().sqrt().item<float>();

        std::vector<torch::Tensor> stackList;
        for (const auto& p : result.preimages) stackList.push_back(imageToTensor(p));
        auto stack = torch::stack(stackList);                           // [R,C,H,W] in [0,1]
        auto var = stack.var(0, /*unbiased=*/false).mean(0, true);      // [1,H,W]
        result.varianceMax = var.max().item<float>();
        result.variance = tensorToImage(result.varianceMax > 0 ? var / result.varianceMax : var);
    }
    return results;
}

InversionResult invert(Model& model, const ImageF& image, int layerIndex, const InversionParams& params,
                       const ProgressFn& progress, const std::atomic<bool>* cancel) {
    // Prepared first: the batch holds the model-sized image, not a copy of a 64 Mpx photograph.
    return std::move(invertBatch(model, {model.prepare(image)}, layerIndex, params, {params.seed}, progress, cancel)[0]);
}

}  // namespace preimage
