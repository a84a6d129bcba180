// The Mahendran & Vedaldi regularisers (see regularizers.h), their closed-form gradients, and the implicit
// step of the quadratic TV term that keeps large lambda_tv stable (inversion.cpp uses it).
#include "inference/inversion/regularizers.h"

#include <ATen/ops/fft_irfft2.h>
#include <ATen/ops/fft_rfft2.h>

#include <algorithm>
#include <cmath>

namespace preimage {

at::Tensor alphaNorm(const at::Tensor& x, double alpha, double B) {
    const double hw = double(x.size(-1) * x.size(-2));
    return (x / B).abs().pow(alpha).flatten(1).sum(1) / hw;
}

at::Tensor totalVariation(const at::Tensor& x, double beta, double V) {
    const double hw = double(x.size(-1) * x.size(-2));
    auto xs = x / V;
    auto base = xs.slice(-2, 0, -1).slice(-1, 0, -1);
    auto dx = xs.slice(-2, 0, -1).slice(-1, 1) - base;
    auto dy = xs.slice(-2, 1).slice(-1, 0, -1) - base;
    auto sq = dx * dx + dy * dy;
    if (beta == 2.0) return sq.flatten(1).sum(1) / hw;
    return (sq + 1e-8).pow(beta / 2.0).flatten(1).sum(1) / hw;
}

RegularizerValues regularizerGradientTensors(const at::Tensor& x, double alpha, double B, double lambdaAlpha, double beta,
                                      double V, double lambdaTv, at::Tensor& grad) {
    at::NoGradGuard noGrad;
    const double hw = double(x.size(-1) * x.size(-2));
    RegularizerValues out;
    // alpha-norm: d/dx sum |x/B|^a = a/B |x/B|^(a-1) sign(x)
    auto t = x / B;
    auto a = t.abs();
    auto p = alpha == 6.0 ? (a * a).square() * a : a.pow(alpha - 1.0);
    out.alpha = (p * a).sum() * (lambdaAlpha / hw);
    grad = p * t.sign() * (lambdaAlpha * alpha / (B * hw));
    // TV-beta over the interior pixels: s = dx^2 + dy^2, d/dx s^(b/2) = b s^(b/2-1) (dx, dy) via the
    // three pixels each difference touches.
    auto xs = x / V;
    auto base = xs.slice(-2, 0, -1).slice(-1, 0, -1);
    auto dx = xs.slice(-2, 0, -1).slice(-1, 1) - base;
    auto dy = xs.slice(-2, 1).slice(-1, 0, -1) - base;
    auto sq = dx * dx + dy * dy;
    const double k = lambdaTv / hw;
    if (beta == 2.0) {
        out.tv = sq.sum() * k;
        dx.mul_(2.0 * k / V);
        dy.mul_(2.0 * k / V);
    } else {
        auto sqe = sq + 1e-8;
        out.tv = sqe.pow(beta / 2.0).sum() * k;
        auto w = sqe.pow(beta / 2.0 - 1.0) * (beta * k / V);
        dx.mul_(w);
        dy.mul_(w);
    }
    grad.slice(-2, 0, -1).slice(-1, 1).add_(dx);
    grad.slice(-2, 1).slice(-1, 0, -1).add_(dy);
    grad.slice(-2, 0, -1).slice(-1, 0, -1).sub_(dx).sub_(dy);
    return out;
}

namespace {

// One pass over a CPU batch [N, C, H, W] (contiguous): both regularisers' values and their gradient.
// The inversion of a small image is overhead-bound, and this replaces some 25 tensor operations.
template <typename T>
void regularizerPass(const T* x, T* g, int64_t planes, int64_t H, int64_t W, double alpha, double B, double lambdaAlpha,
                     double beta, double V, double lambdaTv, double& alphaSum, double& tvSum) {
    const double hw = double(H * W);
    const double ga = lambdaAlpha * alpha / (B * hw), invB = 1.0 / B, invV = 1.0 / V;
    const double kt = lambdaTv / hw;
    const bool six = alpha == 6.0, two = beta == 2.0;
    double as = 0, ts = 0;
    for (int64_t p = 0; p < planes; ++p) {
        const T* xp = x + p * H * W;
        T* gp = g + p * H * W;
        for (int64_t i = 0; i < H * W; ++i) {
            const double t = double(xp[i]) * invB, a = std::abs(t);
            const double pw = six ? (a * a) * (a * a) * a : std::pow(a, alpha - 1.0);
            as += pw * a;
            gp[i] = T(ga * pw * (t > 0 ? 1.0 : (t < 0 ? -1.0 : 0.0)));
        }
        if (lambdaTv == 0) continue;
        for (int64_t r = 0; r + 1 < H; ++r) {
            const T* row = xp + r * W;
            T* grow = gp + r * W;
            for (int64_t c = 0; c + 1 < W; ++c) {
                const double base = row[c];
                const double dx = (double(row[c + 1]) - base) * invV, dy = (double(row[c + W]) - base) * invV;
                const double sq = dx * dx + dy * dy;
                double w;
                if (two) {
                    ts += sq;
                    w = 2.0 * kt * invV;
                } else {
                    const double sqe = sq + 1e-8;
                    ts += std::pow(sqe, beta / 2.0);
                    w = beta * kt * invV * std::pow(sqe, beta / 2.0 - 1.0);
                }
                grow[c + 1] += T(w * dx);
                grow[c + W] += T(w * dy);
                grow[c] -= T(w * (dx + dy));
            }
        }
    }
    alphaSum = as * lambdaAlpha / hw;
    tvSum = ts * kt;
}

}  // namespace

RegularizerValues regularizerGradient(const at::Tensor& x, double alpha, double B, double lambdaAlpha, double beta,
                                      double V, double lambdaTv, at::Tensor& grad) {
    // One group of all the rows: the same pass invertBatch runs.
    std::vector<double> alphaOut, tvOut;
    regularizerGradientGroups(x, x.size(0), alpha, {B}, lambdaAlpha, beta, {V}, {lambdaTv}, grad, alphaOut, tvOut);
    auto opts = at::TensorOptions().dtype(at::kDouble);  // a huge lambda overflows a float, not this
    return {at::scalar_tensor(alphaOut[0], opts), at::scalar_tensor(tvOut[0], opts)};
}

void regularizerGradientGroups(const at::Tensor& x, int64_t rowsPerGroup, double alpha, const std::vector<double>& B,
                               double lambdaAlpha, double beta, const std::vector<double>& V,
                               const std::vector<double>& lambdaTv, at::Tensor& grad, std::vector<double>& alphaOut,
                               std::vector<double>& tvOut) {
    at::NoGradGuard noGrad;
    const int64_t groups = x.size(0) / rowsPerGroup;
    alphaOut.assign(size_t(groups), 0.0);
    tvOut.assign(size_t(groups), 0.0);
    if (x.device().is_cpu() && x.is_contiguous() && x.dim() == 4 &&
        (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble)) {
        if (!grad.defined() || grad.sizes() != x.sizes() || grad.scalar_type() != x.scalar_type()) grad = at::empty_like(x);
        const int64_t H = x.size(2), W = x.size(3), planes = rowsPerGroup * x.size(1), stride = planes * H * W;
        for (int64_t gi = 0; gi < groups; ++gi) {
            const size_t g = size_t(gi);
            if (x.scalar_type() == at::kFloat)
                regularizerPass(x.data_ptr<float>() + gi * stride, grad.data_ptr<float>() + gi * stride, planes, H, W, alpha,
                                B[g], lambdaAlpha, beta, V[g], lambdaTv[g], alphaOut[g], tvOut[g]);
            else
                regularizerPass(x.data_ptr<double>() + gi * stride, grad.data_ptr<double>() + gi * stride, planes, H, W,
                                alpha, B[g], lambdaAlpha, beta, V[g], lambdaTv[g], alphaOut[g], tvOut[g]);
        }
        return;
    }
    std::vector<at::Tensor> parts;
    for (int64_t gi = 0; gi < groups; ++gi) {
        const size_t g = size_t(gi);
        at::Tensor part;
        auto v = regularizerGradientTensors(x.slice(0, gi * rowsPerGroup, (gi + 1) * rowsPerGroup), alpha, B[g], lambdaAlpha,
                                            beta, V[g], lambdaTv[g], part);
        alphaOut[g] = v.alpha.item<double>();
        tvOut[g] = v.tv.item<double>();
        parts.push_back(part);
    }
    grad = groups == 1 ? parts[0] : at::cat(parts);
}

at::Tensor tvOperator(const at::Tensor& u, double V, double lambdaTv) {
    at::NoGradGuard noGrad;
    const double k = 2.0 * lambdaTv / (double(u.size(-1) * u.size(-2)) * V * V);
    auto base = u.slice(-2, 0, -1).slice(-1, 0, -1);
    auto dx = (u.slice(-2, 0, -1).slice(-1, 1) - base).mul_(k);
    auto dy = (u.slice(-2, 1).slice(-1, 0, -1) - base).mul_(k);
    auto out = at::zeros_like(u);
    out.slice(-2, 0, -1).slice(-1, 1).add_(dx);
    out.slice(-2, 1).slice(-1, 0, -1).add_(dy);
    out.slice(-2, 0, -1).slice(-1, 0, -1).sub_(dx).sub_(dy);
    return out;
}

double tvCurvatureBound(int64_t height, int64_t width, double V, double lambdaTv) {
    // A = 2 k' D'D with k' = lambdaTv / (H W V^2); D stacks the horizontal and vertical differences,
    // whose squared norm is at most 4 + 4.
    return 16.0 * lambdaTv / (double(height * width) * V * V);
}

at::Tensor implicitTvStep(const at::Tensor& z, double eta, double V, double lambdaTv, double tolerance, int* iterations) {
    at::NoGradGuard noGrad;
    auto apply = [&](const at::Tensor& u) { return tvOperator(u, V, lambdaTv).mul_(eta).add_(u); };
    auto x = z.clone();
    auto r = z - apply(x);
    auto p = r.clone();
    double rs = r.square().sum().item<double>();
    const double stop = tolerance * tolerance * std::max(1e-30, z.square().sum().item<double>());
    int it = 0;
    // The operator's condition number is at most 1 + eta * tvCurvatureBound: CG needs about
    // sqrt(that) * log(1/tolerance) / 2 iterations; 200 is far past any practical case.
    for (; it < 200 && rs > stop; ++it) {
        auto ap = apply(p);
        const double a = rs / (p * ap).sum().item<double>();
        x.add_(p, a);
        r.sub_(ap, a);
        const double next = r.square().sum().item<double>();
        p.mul_(next / rs).add_(r);
        rs = next;
    }
    if (iterations) *iterations = it;
    return x;
}

namespace {

// The smallest n' >= n whose only prime factors are 2, 3 and 5.
int64_t fastFftSize(int64_t n) {
    for (int64_t m = std::max<int64_t>(n, 1);; ++m) {
        int64_t r = m;
        for (int64_t p : {2, 3, 5})
            while (r % p == 0) r /= p;
        if (r == 1) return m;
    }
}

}  // namespace

SobolevPreconditioner::SobolevPreconditioner(int64_t height, int64_t width, double tau, const at::TensorOptions& options)
    : m_h(height), m_w(width), m_tau(tau) {
    const int64_t margin = int64_t(std::ceil(3.0 * std::sqrt(std::max(0.0, tau))));
    m_ph = fastFftSize(height + margin), m_pw = fastFftSize(width + margin);
    auto ky = at::arange(m_ph, options).mul_(M_PI / double(m_ph)).sin_().square_().mul_(4.0);
    auto kx = at::arange(m_pw / 2 + 1, options).mul_(M_PI / double(m_pw)).sin_().square_().mul_(4.0);
    m_filter = (ky.unsqueeze(1) + kx.unsqueeze(0)).mul_(tau).add_(1.0).reciprocal_();
}

at::Tensor SobolevPreconditioner::apply(const at::Tensor& g) const {
    at::NoGradGuard noGrad;
    if (!(m_tau > 0)) return g.clone();
    auto padded = at::constant_pad_nd(g, {0, m_pw - m_w, 0, m_ph - m_h});
    auto spectrum = at::fft_rfft2(padded);
    spectrum.mul_(m_filter);
    return at::fft_irfft2(spectrum, c10::IntArrayRef{m_ph, m_pw}).slice(-2, 0, m_h).slice(-1, 0, m_w).contiguous();
}

}  // namespace preimage
