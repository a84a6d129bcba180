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
void momentumStep(torch::Tensor& x, torch::Tensor& v, torch::Tensor& g1, const torch::Tensor& g2, double momentum,
                  double eta) {
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous() && v.is_contiguous() &&
        g1.is_contiguous() && g2.is_contiguous() && g1.sizes() == x.sizes() && g2.sizes() == x.sizes()) {
        float* xp = x.data_ptr<float>();
        float* vp = v.data_ptr<float>();
        const float* a = g1.data_ptr<float>();
        const float* b = g2.data_ptr<float>();
        const float m = float(momentum), e = float(eta);
        for (int64_t i = 0, n = x.numel(); i < n; ++i) {
            vp[i] = m * vp[i] - e * (a[i] + b[i]);
            xp[i] += vp[i];
        }
        return;
    }
    g1.add_(g2);
    v.mul_(momentum).sub_(g1, eta);
    x.add_(v);
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

InversionResult invert(Model& model, const ImageF& image, int layerIndex, const InversionParams& params,
                       const ProgressFn& progress, const std::atomic<bool>* cancel) {
    validate(params);
    auto& M = model.impl();
    if (layerIndex < 0 || layerIndex >= int(M.layers.size())) throw Error("layer index out of range");
    const std::string& layer = M.layers[size_t(layerIndex)].name;

    InversionResult result;
    result.layer = layer;
    result.layerIndex = layerIndex;
    result.target = model.prepare(image);
    result.lambdaTv = params.lambdaTv >= 0 ? params.lambdaTv : model.defaultLambdaTv(layerIndex);
    result.lambdaAlpha = params.lambdaAlpha;

    torch::Tensor x0, phi0, mask, norm0;
    {
        torch::NoGradGuard noGrad;
        x0 = M.toInput({result.target});
        phi0 = M.forwardTo(x0, layerIndex).detach();
        mask = buildMask(phi0, params.mask, layer);
        norm0 = (phi0 * mask).pow(2).sum();
    }
    if (!(norm0.item<double>() > 0))
        throw Error("layer '" + layer + "' is all zeros for this image" + (params.mask.active() ? " inside the mask" : "") +
                    ": there is nothing to invert");
    const int R = params.restarts;
    const int64_t C = x0.size(1), H = x0.size(2), W = x0.size(3);
    const double sigma = M.input.imageNorm > 0 ? double(M.input.imageNorm) : std::max(1e-6, x0.norm().item<double>());
    const double B = sigma / std::sqrt(double(H * W));
    const double V = B * kPaperSide / std::sqrt(double(H * W));
    const double tvBound = tvCurvatureBound(H, W, V, result.lambdaTv);
    result.sigma = float(sigma);


    auto gen = at::make_generator<at::CPUGeneratorImpl>(params.seed);
    std::mt19937 rng(uint32_t(params.seed * 2654435761u + 17u));
    const bool masked = params.mask.active();
    const double invNorm0 = 1.0 / norm0.item<double>();
    float lr = params.learningRate;
    torch::Tensor x;
    const auto start = Clock::now();
    auto lastPreview = start;
    int done = 0;
    ThreadTuner tuner;
    for (int attempt = 0;; ++attempt) {
        // Small random noise: ||x|| = 0.1 sigma against the target's ~sigma (the paper starts from noise).
        x = (at::randn({R, C, H, W}, gen, torch::kFloat) * (0.1 * sigma / std::sqrt(double(C * H * W)))).to(M.device);
        x.set_requires_grad(true);
        auto velocity = torch::zeros_like(x).set_requires_grad(false);
        float lastRate = -1.f;
        result.implicitTvSteps = 0;
        torch::Tensor regGrad;
        result.history.clear();
        bool diverged = false;
        std::string blame;
        double firstLoss = 0;
        double before[3] = {0, 0, 0};  // the last finite terms: they show which one grew (a huge lambda or the rate)
        auto attemptStart = Clock::now();
        for (done = 0; done < params.iterations; ++done) {
            if (cancel && cancel->load(std::memory_order_relaxed)) {
                result.cancelled = true;
                break;
            }
            // Momentum SGD on y = x / sigma (see the top of this file), written on x: the step on x is
            // sigma^2 times the rate times the gradient on x.
            const float rate = scheduledRate(lr, done, params.iterations);
            torch::Tensor xin = x;
            if (params.jitter > 0) {
                std::uniform_int_distribution<int> d(-params.jitter, params.jitter);
                xin = torch::roll(x, {d(rng), d(rng)}, {2, 3});
            }
            auto phi = M.forwardTo(xin, layerIndex);
            auto feature = (masked ? ((phi - phi0) * mask).square().sum() : at::mse_loss(phi, phi0, at::Reduction::Sum)) *
                           invNorm0;
            auto grad = torch::autograd::grad({feature}, {x})[0];
            // The beta = 2 TV term is stepped implicitly when an explicit step would be past momentum
            // SGD's stability bound for it (eta L < 2 (1 + momentum); we switch at eta L > 1).
            const double eta = double(rate) * sigma * sigma;
            const bool implicitTv = params.beta == 2.f && eta * tvBound > 1.0;
            if (implicitTv) result.implicitTvSteps++;
            if (rate != lastRate) velocity.zero_();  // the authors' code resets momentum with the rate
            lastRate = rate;
            auto reg = regularizerGradient(x.detach(), params.alpha, B, params.lambdaAlpha, params.beta, V,
                                           implicitTv ? 0.f : result.lambdaTv, regGrad);
            if (implicitTv) reg.tv = totalVariation(x.detach(), params.beta, V).sum() * result.lambdaTv;
            // One host sync per iteration for the loss terms (needed for progress and NaN checks).
            // In double: a huge --lambda-alpha or --tv must read as divergence, not overflow a float conversion.
            double tv[3];
            if (x.device().is_cpu()) {
                tv[0] = feature.item<double>(), tv[1] = reg.alpha.item<double>(), tv[2] = reg.tv.item<double>();
            } else {
                auto terms = torch::stack({feature.detach().to(torch::kDouble), reg.alpha.to(torch::kDouble),
                                           reg.tv.to(torch::kDouble)})
                                 .to(torch::kCPU);
                std::copy(terms.data_ptr<double>(), terms.data_ptr<double>() + 3, tv);
            }
            const double total = double(tv[0]) + tv[1] + tv[2];
            if (done == 0) firstLoss = total;
            if (!std::isfinite(total) || total > 1e4 * std::max(double(R), firstLoss)) {
                diverged = true;
                const double* t = done > 0 ? before : tv;
                blame = dominantTerm(t[0], t[1], t[2], result.lambdaTv, params.lambdaAlpha);
                break;
            }
            std::copy(tv, tv + 3, before);
            {
                torch::NoGradGuard noGrad;
                momentumStep(x, velocity, grad, regGrad, params.momentum, eta);
                if (implicitTv) {  // x is now z; the TV step from there joins the velocity (the whole step)
                    auto next = implicitTvStep(x.detach(), eta, V, result.lambdaTv);
                    velocity.add_(next).sub_(x.detach());
                    x.copy_(next);
                }
            }
            ProgressEvent ev;
            ev.iteration = done + 1;
            ev.iterations = params.iterations;
            ev.loss = float(total / R);
            ev.featureLoss = tv[0] / R;
            ev.alphaLoss = tv[1] / R;
            ev.tvLoss = tv[2] / R;
            ev.learningRate = rate;
            double elapsed = std::chrono::duration<double>(Clock::now() - attemptStart).count();
            ev.itersPerSecond = elapsed > 0 ? float((done + 1) / elapsed) : 0.f;
            result.history.push_back(ev);
            tuner.step();
            if (progress) {
                auto now = Clock::now();
                if (params.previewEveryMs > 0 &&
                    (std::chrono::duration<double, std::milli>(now - lastPreview).count() >= params.previewEveryMs ||
                     done + 1 == params.iterations)) {
                    torch::NoGradGuard noGrad;
                    for (int r = 0; r < R; ++r) ev.previews.push_back(M.fromInput(x[r].detach()));
                    lastPreview = now;
                }
                progress(ev);
            }
        }
        if (!diverged) break;
        std::string what = "diverged at iteration " + std::to_string(done + 1) + " with learning rate " + fmtNumber(lr) +
                           " (" + blame + ")";
        if (attempt >= params.maxDivergenceRetries)
            throw Error("inversion of layer '" + layer + "' " + what + "; giving up after " + std::to_string(attempt) +
                        " restarts with lower rates");
        lr *= 0.1f;
        result.warnings.push_back(what + "; restarted with learning rate " + fmtNumber(lr));
    }
    result.learningRate = lr;
    result.iterations = done;
    result.threads = tuner.mostUsed();
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.itersPerSecond = result.history.empty() ? 0.0 : double(result.history.back().itersPerSecond);

    torch::NoGradGuard noGrad;
    x = x.detach();
    auto errors = (((M.forwardTo(x, layerIndex) - phi0) * mask).square().flatten(1).sum(1) * invNorm0).sqrt().to(torch::kCPU);
    for (int r = 0; r < R; ++r) {
        result.featureErrorPerRestart.push_back(errors[r].item<float>());
        result.preimages.push_back(M.fromInput(x[r]));
    }
    result.best = int(errors.argmin().item<int64_t>());
    result.featureError = result.featureErrorPerRestart[size_t(result.best)];
    auto targetT = imageToTensor(result.target);
    auto bestT = imageToTensor(result.preimages[size_t(result.best)]);
    result.pixelRmse = (bestT - targetT).pow(2).mean().sqrt().item<float>();

    std::vector<torch::Tensor> images;
    for (const auto& p : result.preimages) images.push_back(imageToTensor(p));
    auto stack = torch::stack(images);                              // [R,C,H,W] in [0,1]
    auto var = stack.var(0, /*unbiased=*/false).mean(0, true);      // [1,H,W]
    result.varianceMax = var.max().item<float>();
    result.variance = tensorToImage(result.varianceMax > 0 ? var / result.varianceMax : var);
    return result;
}

}  // namespace preimage
