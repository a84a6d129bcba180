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
//
// Two optimisers share the loop (InversionParams::optimizer). "paper": the authors' momentum SGD, exactly. Its
// first phase spends its iterations oscillating along the stiff, high-frequency directions of the feature and TV
// terms (the objective hovers far above its final value until the rate drops). "sobolev": the same momentum SGD
// on the gradient smoothed by (I + tau L)^-1 (the H1 or Sobolev gradient: regularizers.h, SobolevPreconditioner),
// which divides the high frequencies' curvature by up to 1 + 8 tau and so allows a 10x rate on the low frequencies
// that make the picture, for the first quarter; then the paper's first-phase rate to nine tenths (sobolevRate). The
// minimiser is the same; the path to it is shorter. tau is set in the
// paper's 227-pixel frame (as lambda_tv is), and raised where the TV term would still be stiff after smoothing.
// At lambda_tv 1 (the first, almost linear taps) the smoothing leaves the high frequencies that a stride-2/4 first
// convolution still sees converging at a fraction of the rate, so there its last three quarters step on the plain
// gradient at the middle phase's rate (the paper's first-phase rate), the high frequencies' turn, and a row whose
// objective rose has its velocity halved (an adaptive restart, damped) and one that climbs 2% above its lowest there
// steps on the smoothed gradient from then on (Problem::firstTaps).
// Where a network's stiffness is not in the high frequencies, 10x the rate is too much and the objective climbs
// without diverging (MobileNet V2's ReLU6 taps); an image whose objective after the first phase is not below its start
// is run again with the paper's protocol (invertBatch, the guard); a run that ends above its lowest iterate returns
// that iterate (keepBest). Both optimisers can start from an image instead of noise (WarmStart, engine.h: a
// neighbouring tap's pre-image); the Sobolev one then runs at 3x the paper's rates, and an image that ends no lower
// than it began is run again from noise. Where the model has a learned inverter for the tap, the Sobolev optimiser
// starts from its pre-image, dimmed to the brightness the objective wants, with the schedule from noise at 5x
// (InversionParams::learnedStart; learned_start.h), checked at the end as a warm start is.
#include "inference/model/model_impl.h"
#include "inference/inversion/learned_start.h"
#include "inference/inversion/params.h"
#include "inference/inversion/problem.h"
#include "inference/inversion/regularizers.h"
#include "inference/runtime/device_image.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <random>

namespace preimage {

namespace {

using Clock = std::chrono::steady_clock;
using inversion::Problem;
using inversion::prepareProblem;
using inversion::objectiveRows;
using inversion::RowObjective;

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
    const bool two = g2.defined();  // undefined: g1 is the whole gradient (the Sobolev step's smoothed sum)
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous() && v.is_contiguous() &&
        g1.is_contiguous() && g1.sizes() == x.sizes() && (!two || (g2.is_contiguous() && g2.sizes() == x.sizes()))) {
        float* xp = x.data_ptr<float>();
        float* vp = v.data_ptr<float>();
        const float* a = g1.data_ptr<float>();
        const float* b = two ? g2.data_ptr<float>() : nullptr;
        const float m = float(momentum);
        const int64_t per = x.numel() / groups;
        for (int64_t g = 0; g < groups; ++g) {
            const float e = float(eta[size_t(g)]);
            for (int64_t i = g * per, n = (g + 1) * per; i < n; ++i) {
                vp[i] = m * vp[i] - e * (b ? a[i] + b[i] : a[i]);
                xp[i] += vp[i];
            }
        }
        return;
    }
    for (int64_t g = 0; g < groups; ++g) {
        auto xg = x.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup), vg = v.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup);
        auto g1g = g1.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup);
        if (two) g1g.add_(g2.slice(0, g * rowsPerGroup, (g + 1) * rowsPerGroup));
        vg.mul_(momentum).sub_(g1g, eta[size_t(g)]);
        xg.add_(vg);
    }
}

float scheduledRate(float base, int it, int iterations) {
    double f = double(it) / double(std::max(1, iterations));
    return f < 0.25 ? base : (f < 0.75 ? base * 0.1f : base * 0.01f);
}

// The Sobolev optimiser's rate from noise (its base is 10x the paper's): the base for the first quarter, a tenth of it
// (the paper's first-phase rate) to nine tenths, a hundredth for the last tenth; without the last drop
// (Problem::lastDrop false: the first taps, whose plain part is the high frequencies' turn, and taps whose TV term is
// far from stiff, kStiffTv) the tenth to the end. The protocol's shape (the last quarter at a hundredth) froze
// objectives that were still falling at the middle rate (ResNet-50 layer3: 0.0356 at iteration 97, 0.0355 at 130,
// against the protocol's 0.0351; with the drop at nine tenths it reaches it after 114-117 evaluations; the other deep
// taps of README "Time to quality" end within -4% / +7% of before). With no drop at all the deepest
// taps end higher, most in runs of the protocol's time (SqueezeNet fire9 after 500 iterations 0.297 against 0.161
// with the drop at 3/4, 0.184 at 9/10); a drop at 0.85 left layer3 above. Warm starts keep the protocol's shape
// (scheduledRate).
float sobolevRate(float base, int it, int iterations, bool lastDrop) {
    const double f = double(it) / double(std::max(1, iterations));
    return f < 0.25 ? base : (f < 0.9 || !lastDrop ? base * 0.1f : base * 0.01f);
}

// One attempt's optimisation state: the images, their velocity, the jitter generators and the loss terms seen.
struct Run {
    torch::Tensor x, velocity, regGrad;
    std::vector<std::mt19937> rng;
    float lastRate = -1.f;
    std::vector<std::array<double, 3>> first, before;  // per image: the loss terms (feature, alpha, tv) first, last finite
    std::vector<double> rowTotals;  // per row: the objective at the last iteration (the damping on a rise)
    std::vector<double> rowLowest;  // per row, the first taps' plain part: its lowest objective there
    std::vector<char> rowSmoothed;  // per row, the plain part: it climbed, so it steps on the smoothed gradient
    // The Sobolev optimiser's result, per row: the iterate with the lowest objective seen (Run::keepBest).
    torch::Tensor bestX;
    std::vector<double> bestTotal;
    std::vector<char> lastBest;  // per row: the last evaluation was its lowest (then the step after it is the result)
};

// Small random noise: ||x|| = 0.1 sigma against the target's ~sigma (the paper starts from noise); a warm start gets a
// hundredth of it (restarts still differ; the paper's amount would add its TV: fire4's pre-image as its own start went
// from 0.17 to 0.75). Each image draws from its own seed, so that its result does not depend on the batch it is in.
Run startRun(const Problem& P, const std::vector<uint64_t>& seeds, const torch::Device& device) {
    Run run;
    std::vector<torch::Tensor> starts;
    for (int b = 0; b < P.N; ++b) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds[size_t(b)]);
        const double amount = P.warm.defined() ? 0.001 : 0.1;
        starts.push_back(at::randn({P.R, P.C, P.H, P.W}, gen, torch::kFloat) *
                         (amount * P.sigma[size_t(b)] / std::sqrt(double(P.C * P.H * P.W))));
    }
    run.x = (P.N == 1 ? starts[0] : torch::cat(starts)).to(device);
    if (P.warm.defined()) run.x.add_(P.R == 1 ? P.warm : P.warm.repeat_interleave(P.R, 0));
    else if (P.centre.defined()) run.x.add_(P.centre);  // noise about the natural mean colour, not about black
    run.x.set_requires_grad(true);
    run.velocity = torch::zeros_like(run.x).set_requires_grad(false);
    for (int b = 0; b < P.N; ++b) run.rng.emplace_back(uint32_t(seeds[size_t(b)] * 2654435761u + 17u));
    run.first.resize(size_t(P.N));
    run.before.resize(size_t(P.N));
    run.rowLowest.assign(size_t(P.N * P.R), std::numeric_limits<double>::infinity());
    run.rowSmoothed.assign(size_t(P.N * P.R), 0);
    return run;
}

// One iteration's evaluation: the feature term's gradient, the regularisers' gradient (the TV term left out for
// images whose TV step is implicit), each image's loss terms, and the step sizes.
struct Evaluation {
    torch::Tensor grad;
    std::vector<double> eta;
    std::vector<char> implicitTv;
    bool smoothed = false;  // the Sobolev step (Problem::smoothed)
    std::vector<std::array<double, 3>> terms;  // per image: feature, alpha, tv (weighted, summed over restarts)
    std::vector<double> rowTotals;             // per row: its objective (each restart its own problem)
};

Evaluation evaluate(Model::Impl& M, int layerIndex, const Problem& P, Run& run, const InversionParams& params, float rate,
                    bool smoothed, std::vector<InversionResult>& results) {
    const int N = P.N, R = P.R;
    torch::Tensor xin = run.x;
    if (params.jitter > 0) {
        std::uniform_int_distribution<int> d(-params.jitter, params.jitter);
        std::vector<torch::Tensor> parts;
        for (int b = 0; b < N; ++b) {
            const int dy = d(run.rng[size_t(b)]), dx = d(run.rng[size_t(b)]);
            parts.push_back(torch::roll(P.rows(run.x, b), {dy, dx}, {2, 3}));
        }
        xin = N == 1 ? parts[0] : torch::cat(parts);
    }
    auto phi = M.forwardTo(xin, layerIndex);
    auto diff = P.masked ? (phi - P.phi0Rows) * P.mask : phi - P.phi0Rows;
    auto featureRows = diff.square().flatten(1).sum(1) * P.rowWeight;  // [N R]
    Evaluation e;
    e.smoothed = smoothed;
    e.grad = torch::autograd::grad({featureRows.sum()}, {run.x})[0];
    // Per image: whether its TV term is stepped implicitly (when an explicit step would be past momentum SGD's
    // stability bound for it: eta L < 2 (1 + momentum); we switch at 1). Never for a smoothed step.
    const auto n = static_cast<size_t>(N), rows = n * size_t(R);
    e.eta.resize(n), e.implicitTv.resize(n), e.terms.resize(n), e.rowTotals.resize(rows);
    // The regularisers row by row (each row's value for the damping; each image's value is their sum).
    std::vector<double> Bn(rows), V(rows), tvWeight(rows), alphaTerm, tvTerm;
    for (int b = 0; b < N; ++b) {
        e.eta[size_t(b)] = double(rate) * P.sigma[size_t(b)] * P.sigma[size_t(b)];
        e.implicitTv[size_t(b)] = !smoothed && params.beta == 2.f && e.eta[size_t(b)] * P.tvBound[size_t(b)] > 1.0;
        if (e.implicitTv[size_t(b)]) results[size_t(b)].implicitTvSteps++;
        for (size_t r = size_t(b) * size_t(R); r < size_t(b + 1) * size_t(R); ++r)
            Bn[r] = P.Bn[size_t(b)], V[r] = P.V[size_t(b)], tvWeight[r] = e.implicitTv[size_t(b)] ? 0.0 : double(P.lambdaTv);
    }
    regularizerGradientGroups(P.centred(run.x.detach()), 1, params.alpha, Bn, params.lambdaAlpha, params.beta, V, tvWeight, run.regGrad,
                              alphaTerm, tvTerm);
    // In double: a huge --lambda-alpha or --tv must read as divergence, not overflow a float.
    auto featureHost = featureRows.detach().to(torch::kCPU, torch::kDouble).contiguous();
    const double* fh = featureHost.data_ptr<double>();
    for (int b = 0; b < N; ++b) {
        if (e.implicitTv[size_t(b)]) {
            auto tv = (totalVariation(P.rows(run.x.detach(), b), params.beta, P.V[size_t(b)]) * P.lambdaTv).to(torch::kCPU, torch::kDouble);
            for (int r = 0; r < R; ++r) tvTerm[size_t(b * R + r)] = tv[r].item<double>();
        }
        auto& t = e.terms[size_t(b)];
        t = {0.0, 0.0, 0.0};
        for (int r = 0; r < R; ++r) {
            const size_t row = size_t(b * R + r);
            t[0] += fh[row], t[1] += alphaTerm[row], t[2] += tvTerm[row];
            e.rowTotals[row] = fh[row] + alphaTerm[row] + tvTerm[row];
        }
    }
    return e;
}

// Divergence: a non-finite loss, or one 1e4 times its start. Returns the blamed term's advice, "" when none.
std::string divergence(const Problem& P, Run& run, const Evaluation& e, int iteration, const InversionParams& params) {
    for (int b = 0; b < P.N; ++b) {
        const auto& t = e.terms[size_t(b)];
        const double total = t[0] + t[1] + t[2];
        if (iteration == 0) run.first[size_t(b)] = t;
        const auto& f = run.first[size_t(b)];
        if (!std::isfinite(total) || total > 1e4 * std::max(double(P.R), f[0] + f[1] + f[2])) {
            const auto& w = iteration > 0 ? run.before[size_t(b)] : t;  // the term that grew, not the one that overflowed
            return dominantTerm(w[0], w[1], w[2], P.lambdaTv, params.lambdaAlpha);
        }
    }
    run.before = e.terms;
    return "";
}

// The first taps' adaptation (Problem::firstTaps), each row on its own: a row whose objective rose since the last
// iteration keeps kRiseKeep of its velocity (its momentum was carrying it past the minimum along some direction); in
// the plain part, a row more than kClimbMargin above its lowest objective there steps on the smoothed gradient from
// then on (the plain rate is past what its high frequencies take there: step() applies run.rowSmoothed).
void adaptFirstTaps(Run& run, const Evaluation& e, bool plain) {
    torch::NoGradGuard noGrad;
    for (size_t row = 0; row < e.rowTotals.size(); ++row) {
        const double now = e.rowTotals[row];
        if (row < run.rowTotals.size() && now > run.rowTotals[row])
            run.velocity.select(0, int64_t(row)).mul_(inversion::kRiseKeep);
        if (!plain) continue;
        if (now > run.rowLowest[row] * (1.0 + inversion::kClimbMargin)) run.rowSmoothed[row] = 1;
        run.rowLowest[row] = std::min(run.rowLowest[row], now);
    }
    run.rowTotals = e.rowTotals;
}

// The lowest iterate so far, per row (its objective as evaluated; not with jitter, whose objective is of a shifted
// image; from noise only: a warm run's last step is what the check against its start reads): the Sobolev optimiser's
// result where its run ends above it (takeBest). Its rates are past the paper's for a while, and a run can end on a
// climb: MobileNet V2's expanded_conv_3 on the rocket photograph (two threads) ended at 0.183 after its lowest, 0.151.
// The paper's protocol returns its last iterate, as the authors' code does.
void keepBest(Run& run, const Evaluation& e) {
    torch::NoGradGuard noGrad;
    if (!run.bestX.defined()) {
        run.bestX = run.x.detach().clone();
        run.bestTotal = e.rowTotals;
        run.lastBest.assign(e.rowTotals.size(), 1);
        return;
    }
    for (size_t row = 0; row < e.rowTotals.size(); ++row) {
        run.lastBest[row] = e.rowTotals[row] < run.bestTotal[row];
        if (!run.lastBest[row]) continue;
        run.bestTotal[row] = e.rowTotals[row];
        run.bestX.select(0, int64_t(row)).copy_(run.x.detach().select(0, int64_t(row)));
    }
}

// The result rows: the last step, unless a row's last evaluation was not its lowest and the last step is above that
// lowest too (one forward pass decides; a row whose last evaluation was its lowest keeps its last step unevaluated, as
// every run that ends descending does).
void takeBest(Model::Impl& M, int layerIndex, const Problem& P, Run& run, const InversionParams& params) {
    if (!run.bestX.defined() || std::all_of(run.lastBest.begin(), run.lastBest.end(), [](char c) { return c != 0; })) return;
    const auto last = objectiveRows(M, layerIndex, P, run.x.detach(), params);
    torch::NoGradGuard noGrad;
    for (size_t row = 0; row < run.lastBest.size(); ++row)
        if (!run.lastBest[row] && last.total(row) > run.bestTotal[row])
            run.x.detach().select(0, int64_t(row)).copy_(run.bestX.select(0, int64_t(row)));
}

// The paper's step: momentum SGD on the feature and regulariser gradients, then, for images whose TV term is
// implicit, the TV step from there (joining the velocity, so that it is part of the whole step). The Sobolev step:
// the same momentum SGD on the smoothed sum of the gradients (its plain part: the paper's step).
void step(const Problem& P, Run& run, Evaluation& e, const InversionParams& params) {
    torch::NoGradGuard noGrad;
    if (e.smoothed) {
        auto smooth = P.smooth.apply(e.grad.add_(run.regGrad));
        momentumStep(run.x, run.velocity, smooth, {}, params.momentum, e.eta, P.R);
        return;  // no implicit TV step: the smoothing keeps the explicit one stable
    }
    // The first taps' rows that climbed in the plain part: the smoothed gradient (the TV term's in it when explicit).
    for (size_t row = 0; row < run.rowSmoothed.size(); ++row)
        if (run.rowSmoothed[row]) {
            auto g = e.grad.select(0, int64_t(row)), r = run.regGrad.select(0, int64_t(row));
            g.copy_(P.smooth.apply(g.add_(r)));
            r.zero_();
        }
    momentumStep(run.x, run.velocity, e.grad, run.regGrad, params.momentum, e.eta, P.R);
    for (int b = 0; b < P.N; ++b) {
        if (!e.implicitTv[size_t(b)]) continue;
        auto xb = P.rows(run.x, b), vb = P.rows(run.velocity, b);
        auto next = implicitTvStep(xb.detach(), e.eta[size_t(b)], P.V[size_t(b)], P.lambdaTv);
        vb.add_(next).sub_(xb.detach());
        xb.copy_(next);
    }
}

// Each image's history gains this iteration's terms; returns the batch's mean for the progress callback.
ProgressEvent record(const Problem& P, const Evaluation& e, int iteration, int iterations, float rate, double elapsed,
                     int64_t evaluations, double seconds, std::vector<InversionResult>& results) {
    ProgressEvent all;
    all.iteration = iteration + 1;
    all.iterations = iterations;
    all.learningRate = rate;
    all.itersPerSecond = elapsed > 0 ? float((iteration + 1) / elapsed) : 0.f;
    all.evaluations = evaluations;
    all.seconds = seconds;
    for (int b = 0; b < P.N; ++b) {
        const auto& t = e.terms[size_t(b)];
        ProgressEvent ev = all;
        ev.featureLoss = float(t[0] / P.R);
        ev.alphaLoss = float(t[1] / P.R);
        ev.tvLoss = float(t[2] / P.R);
        ev.loss = ev.featureLoss + ev.alphaLoss + ev.tvLoss;
        results[size_t(b)].history.push_back(ev);
        all.featureLoss += ev.featureLoss / float(P.N), all.alphaLoss += ev.alphaLoss / float(P.N);
        all.tvLoss += ev.tvLoss / float(P.N), all.loss += ev.loss / float(P.N);
    }
    return all;
}

// The results of the last attempt: per restart the pre-image and its feature error, the best restart, the pixel
// error against the target, the variance across restarts.
void finish(Model::Impl& M, int layerIndex, const Problem& P, Run& run, const InversionParams& params,
            std::vector<InversionResult>& results) {
    torch::NoGradGuard noGrad;
    auto x = run.x.detach();
    const RowObjective terms = objectiveRows(M, layerIndex, P, x, params);
    for (int b = 0; b < P.N; ++b) {
        auto& result = results[size_t(b)];
        for (int r = 0; r < P.R; ++r) {
            result.featureErrorPerRestart.push_back(std::sqrt(terms.feature[size_t(b * P.R + r)]));
            result.preimages.push_back(M.fromInput(x[int64_t(b) * P.R + r]));
        }
        result.best = int(std::min_element(result.featureErrorPerRestart.begin(), result.featureErrorPerRestart.end()) -
                          result.featureErrorPerRestart.begin());
        result.featureError = result.featureErrorPerRestart[size_t(result.best)];
        // The objective at the best restart's final image, as minimised.
        const size_t row = size_t(b * P.R + result.best);
        auto& o = result.objective;
        o.feature = double(result.featureError) * double(result.featureError);
        o.alpha = terms.alpha[row], o.tv = terms.tv[row];
        o.total = o.feature + o.alpha + o.tv;
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
}


}  // namespace

// The paper's algorithm: prepare the problem; from noise, iterate (evaluate, detect divergence, step) under the
// 1 / 0.1 / 0.01 schedule (the Sobolev optimiser from noise: sobolevRate); on divergence start again at a tenth of
// the rate (a batch falls back to one image at a time, so every result is what a batch of one gives); finish with each
// restart's error and the best.
std::vector<InversionResult> invertBatch(Model& model, const std::vector<ImageF>& images, int layerIndex,
                                         const InversionParams& params, const std::vector<uint64_t>& seeds,
                                         const ProgressFn& progress, const std::atomic<bool>* cancel,
                                         const std::vector<WarmStart>& starts) {
    validate(params);
    auto& M = model.impl();
    if (layerIndex < 0 || layerIndex >= int(M.layers.size())) throw Error("layer index out of range");
    if (images.empty()) return {};
    if (seeds.size() != images.size()) throw Error("invertBatch: one seed per image");
    if (!starts.empty() && starts.size() != images.size()) throw Error("invertBatch: no warm start or one per image");
    const std::string& layer = M.layers[size_t(layerIndex)].name;
    const int N = int(images.size());

    std::vector<InversionResult> results(static_cast<size_t>(N));
    for (int b = 0; b < N; ++b) {
        auto& r = results[size_t(b)];
        r.layer = layer;
        r.layerIndex = layerIndex;
        r.target = model.prepare(images[size_t(b)]);
        r.lambdaTv = params.lambdaTv >= 0 ? params.lambdaTv : model.defaultLambdaTv(layerIndex);
        r.lambdaAlpha = params.lambdaAlpha;
    }
    // The learned start (InversionParams::learnedStart; prepareProblem decides the rest: R = 1, no mask).
    const bool learned = starts.empty() && params.learnedStart && model.hasLearnedInverter(layerIndex);
    const Problem P = prepareProblem(model, results, params, starts, learned);
    if (P.learned && std::count(P.startKept.begin(), P.startKept.end(), 0) > 0)
        return withoutWeakStarts(model, images, layerIndex, params, seeds, progress, cancel, P);

    const int iterations = iterationsFor(params);  // a learned start's fit comes on top (P.startEvaluations)
    float lr = params.learningRate;
    const float rateScale = P.rateScale;
    Run run;
    const auto start = Clock::now();
    auto lastPreview = start;
    int done = 0;
    ThreadTuner tuner;
    int64_t evaluations = P.startEvaluations;  // forward + backward passes, every attempt (the learned start's forwards)
    // The Sobolev optimiser's guard, per image: its objective after the first phase (at the top rate) still at or
    // above its start means the rate is past what this network takes, without diverging (MobileNet V2's ReLU6 taps:
    // README "Time to quality"); such images are run again with the paper's protocol (below).
    std::vector<char> stalled(static_cast<size_t>(N), 0);
    std::vector<std::string> stallNote(static_cast<size_t>(N));
    std::vector<int64_t> stallSpent(static_cast<size_t>(N), 0);  // evaluations up to the check (as a batch of one)
    for (int attempt = 0;; ++attempt) {
        run = startRun(P, seeds, M.device);
        for (auto& r : results) r.implicitTvSteps = 0, r.history.clear();
        std::fill(stalled.begin(), stalled.end(), 0);
        bool phaseOneChecked = false;
        std::string diverged;
        const auto attemptStart = Clock::now();
        for (done = 0; done < iterations; ++done) {
            if (cancel && cancel->load(std::memory_order_relaxed)) {
                for (auto& r : results) r.cancelled = true;
                break;
            }
            // Momentum SGD on y = x / sigma (see the top of this file), written on x: the step on x is
            // sigma^2 times the rate times the gradient on x.
            const bool smoothed = P.smoothed(done, iterations);
            const float rate = P.sobolev && !P.warmSchedule() ? sobolevRate(lr * rateScale, done, iterations, P.lastDrop)
                                                              : scheduledRate(lr * rateScale, done, iterations);
            Evaluation e = evaluate(M, layerIndex, P, run, params, rate, smoothed, results);
            ++evaluations;
            if (rate != run.lastRate) run.velocity.zero_();  // the authors' code resets momentum with the rate
            run.lastRate = rate;
            if (P.firstTaps) adaptFirstTaps(run, e, !smoothed);
            diverged = divergence(P, run, e, done, params);
            if (!diverged.empty()) break;
            if (P.sobolev && !P.warmSchedule() && params.jitter == 0) keepBest(run, e);
            // (From a warm start a rise in the first phase is the rate perturbing a good start: checked at the end.)
            if (P.sobolev && !P.warm.defined() && !phaseOneChecked && rate < lr * rateScale) {  // after the first phase
                phaseOneChecked = true;
                int count = 0;
                for (int b = 0; b < N; ++b) {
                    const auto& t = e.terms[size_t(b)];
                    const auto& f = run.first[size_t(b)];
                    const double now = t[0] + t[1] + t[2], first = f[0] + f[1] + f[2];
                    if (now >= first) {
                        stalled[size_t(b)] = 1, count++;
                        stallSpent[size_t(b)] = evaluations;
                        stallNote[size_t(b)] = "the Sobolev optimiser's objective after its first " + std::to_string(done) +
                                               " iterations (" + fmtNumber(now / P.R) + ") was not below its start (" +
                                               fmtNumber(first / P.R) + "): the paper's protocol was run instead";
                    }
                }
                if (count == N) break;  // every image goes to the protocol: nothing more to learn here
            }
            step(P, run, e, params);
            const double elapsed = std::chrono::duration<double>(Clock::now() - attemptStart).count();
            ProgressEvent all = record(P, e, done, iterations, rate, elapsed, evaluations,
                                       std::chrono::duration<double>(Clock::now() - start).count(), results);
            tuner.step();
            if (progress) {
                auto now = Clock::now();
                if (params.previewEveryMs > 0 &&
                    (std::chrono::duration<double, std::milli>(now - lastPreview).count() >= params.previewEveryMs ||
                     done + 1 == iterations)) {
                    torch::NoGradGuard noGrad;
                    // On a GPU with the interop path: RGBA8 rendered on the device, never copied to the host.
                    const bool onDevice = params.previewOnDevice && run.x.is_cuda() && deviceImagesSupported();
                    for (int r = 0; r < P.R; ++r) {
                        if (onDevice) all.devicePreviews.push_back(wrapDeviceRgba(M.toRgba8(run.x[r])));
                        else all.previews.push_back(M.fromInput(run.x[r].detach()));
                    }
                    lastPreview = now;
                }
                progress(all);
            }
        }
        if (diverged.empty()) {
            if (P.sobolev && !(cancel && cancel->load(std::memory_order_relaxed))) takeBest(M, layerIndex, P, run, params);
            break;
        }
        if (N > 1) {
            // One image of the batch diverged: each is run on its own, so that every result is what a batch of
            // one gives (its restarts at lower rates included).
            std::vector<InversionResult> single;
            for (int b = 0; b < N; ++b)
                single.push_back(std::move(invertBatch(model, {images[size_t(b)]}, layerIndex, params, {seeds[size_t(b)]}, {},
                                                       cancel, starts.empty() ? starts : std::vector<WarmStart>{starts[size_t(b)]})[0]));
            return single;
        }
        std::string what = "diverged at iteration " + std::to_string(done + 1) + " with learning rate " + fmtNumber(lr) +
                           " (" + diverged + ")";
        if (attempt >= params.maxDivergenceRetries)
            throw Error("inversion of layer '" + layer + "' " + what + "; giving up after " + std::to_string(attempt) +
                        " restarts with lower rates");
        lr *= 0.1f;
        results[0].warnings.push_back(what + "; restarted with learning rate " + fmtNumber(lr));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& result : results) {
        result.learningRate = lr;
        result.iterations = done;
        result.threads = tuner.mostUsed();
        result.seconds = seconds / N;
        result.itersPerSecond = result.history.empty() ? 0.0 : double(result.history.back().itersPerSecond);
        result.evaluations = evaluations;
        result.optimizer = params.optimizer;
    }
    for (size_t b = 0; b < starts.size(); ++b) results[b].start = starts[b].from.empty() ? "image" : starts[b].from;
    for (size_t b = 0; b < P.startBrightness.size(); ++b) results[b].start = "learned", results[b].startBrightness = float(P.startBrightness[b]);
    finish(M, layerIndex, P, run, params, results);
    // A warm start that ends no lower than it began (the network does not take the rate from there): run again
    // from noise, as if there had been no start.
    if (P.warm.defined() && P.sobolev && !(cancel && cancel->load(std::memory_order_relaxed)))
        for (int b = 0; b < N; ++b) {
            const auto& h = results[size_t(b)].history;
            if (h.empty() || results[size_t(b)].objective.total < double(h.front().loss)) continue;
            stalled[size_t(b)] = 1;
            stallSpent[size_t(b)] = evaluations;
            stallNote[size_t(b)] = "from " + (P.learned ? "the learned inverter's pre-image" : "the warm start (" + results[size_t(b)].start + ")") +
                                   " the objective ended at " +
                                   fmtNumber(results[size_t(b)].objective.total) + ", not below where it began (" +
                                   fmtNumber(h.front().loss) + "): it was run again from noise";
        }
    std::vector<ImageF> again;
    std::vector<uint64_t> againSeeds;
    for (int b = 0; b < N; ++b)
        if (stalled[size_t(b)]) again.push_back(images[size_t(b)]), againSeeds.push_back(seeds[size_t(b)]);
    if (!again.empty() && !(cancel && cancel->load(std::memory_order_relaxed))) {
        // From a start (a warm or the learned one): the same optimiser from noise (itself guarded); else the protocol.
        InversionParams retry = params;
        if (P.learned) retry.learnedStart = false;
        else if (!P.warm.defined()) retry.optimizer = "paper";
        auto redone = invertBatch(model, again, layerIndex, retry, againSeeds, progress, cancel);
        for (int b = 0, k = 0; b < N; ++b) {
            if (!stalled[size_t(b)]) continue;
            InversionResult r = std::move(redone[size_t(k++)]);
            r.evaluations += stallSpent[size_t(b)];  // what the Sobolev attempt spent counts too
            r.seconds += results[size_t(b)].seconds;
            r.warnings.insert(r.warnings.begin(), stallNote[size_t(b)]);
            results[size_t(b)] = std::move(r);
        }
    }
    return results;
}

std::optional<WarmStart> warmStartFrom(const InversionResult& r) {
    if (r.cancelled || r.preimages.empty() || r.start != "noise") return std::nullopt;
    return WarmStart{r.preimages[size_t(r.best)], r.layer + "'s pre-image", r.optimizer == "paper"};
}

InversionResult invert(Model& model, const ImageF& image, int layerIndex, const InversionParams& params,
                       const ProgressFn& progress, const std::atomic<bool>* cancel, const WarmStart* start) {
    // Prepared first: the batch holds the model-sized image, not a copy of a 64 Mpx photograph.
    return std::move(invertBatch(model, {model.prepare(image)}, layerIndex, params, {params.seed}, progress, cancel,
                                 start ? std::vector<WarmStart>{*start} : std::vector<WarmStart>{})[0]);
}

}  // namespace preimage
