// The regularisers' values and gradients (autograd against central finite differences, in double).
#include "inference/inversion/regularizers.h"

#include <torch/autograd.h>

#include <doctest/doctest.h>

#include <functional>

using namespace preimage;

namespace {

// Max relative difference between autograd's gradient and central differences at every entry.
double gradientError(const std::function<at::Tensor(const at::Tensor&)>& f, at::Tensor x) {
    x = x.clone().set_requires_grad(true);
    auto analytic = torch::autograd::grad({f(x).sum()}, {x})[0];
    auto flat = x.detach().clone().flatten();
    const double eps = 1e-6;
    double worst = 0;
    for (int64_t i = 0; i < flat.numel(); ++i) {
        auto plus = flat.clone(), minus = flat.clone();
        plus[i] += eps;
        minus[i] -= eps;
        double numeric = (f(plus.view(x.sizes())).sum().item<double>() - f(minus.view(x.sizes())).sum().item<double>()) /
                         (2 * eps);
        double a = analytic.flatten()[i].item<double>();
        worst = std::max(worst, std::abs(a - numeric) / std::max(1e-3, std::abs(numeric)));
    }
    return worst;
}

}  // namespace

TEST_CASE("alpha-norm and TV gradients match finite differences") {
    at::manual_seed(3);
    auto x = at::randn({2, 3, 5, 6}, at::kDouble);
    const double B = 1.3;
    CHECK(gradientError([&](const at::Tensor& t) { return alphaNorm(t, 6.0, B); }, x) < 1e-5);
    CHECK(gradientError([&](const at::Tensor& t) { return alphaNorm(t, 2.5, B); }, x) < 1e-5);
    CHECK(gradientError([&](const at::Tensor& t) { return totalVariation(t, 2.0, B); }, x) < 1e-5);
    CHECK(gradientError([&](const at::Tensor& t) { return totalVariation(t, 1.5, B); }, x) < 1e-5);
}

TEST_CASE("regulariser values follow their definitions and normalisation") {
    const double B = 2.0;
    // |x| = B everywhere: sum |x/B|^alpha / (H W) = channels.
    auto flat = at::full({1, 3, 4, 5}, B, at::kDouble);
    CHECK(alphaNorm(flat, 6.0, B).item<double>() == doctest::Approx(3.0));
    CHECK(totalVariation(flat, 2.0, B).item<double>() == doctest::Approx(0.0));
    // A horizontal ramp with step B: each of the (H-1)(W-1) interior pixels contributes 1 per channel.
    auto ramp = (at::arange(5, at::kDouble) * B).view({1, 1, 1, 5}).expand({1, 2, 4, 5}).contiguous();
    CHECK(totalVariation(ramp, 2.0, B).item<double>() == doctest::Approx(2.0 * 3 * 4 / 20.0));
    CHECK(totalVariation(ramp, 1.0, B).item<double>() == doctest::Approx(2.0 * 3 * 4 / 20.0).epsilon(1e-6));
    // One value per image of the batch.
    CHECK(alphaNorm(at::randn({4, 3, 8, 8}), 6.0, 1.0).sizes() == at::IntArrayRef{4});
}

TEST_CASE("the closed-form regulariser gradient equals autograd's") {
    at::manual_seed(4);
    auto x = at::randn({3, 2, 7, 9}, at::kDouble);
    for (double beta : {2.0, 1.5}) {
        for (double alpha : {6.0, 3.0}) {
            const double B = 0.8, V = 2.5, la = 0.3, lt = 7.0;
            auto leaf = x.clone().set_requires_grad(true);
            auto ref = alphaNorm(leaf, alpha, B).sum() * la + totalVariation(leaf, beta, V).sum() * lt;
            auto refGrad = torch::autograd::grad({ref}, {leaf})[0];
            at::Tensor grad;
            auto v = regularizerGradient(x, alpha, B, la, beta, V, lt, grad);
            INFO("alpha " << alpha << " beta " << beta);
            CHECK((v.alpha + v.tv).item<double>() == doctest::Approx(ref.item<double>()).epsilon(1e-9));
            CHECK((grad - refGrad).abs().max().item<double>() < 1e-9 * (1 + refGrad.abs().max().item<double>()));
        }
    }
}

TEST_CASE("the TV operator is the beta = 2 TV gradient, bounded by its curvature bound") {
    at::manual_seed(3);
    auto x = at::randn({2, 3, 9, 11}, at::kDouble).set_requires_grad(true);
    const double V = 0.7, lambda = 5.0;
    auto tvValue = (totalVariation(x, 2.0, V) * lambda).sum();
    auto autogradGrad = torch::autograd::grad({tvValue}, {x})[0];
    auto op = tvOperator(x.detach(), V, lambda);
    CHECK((op - autogradGrad).abs().max().item<double>() < 1e-10);
    // The Rayleigh quotient u'Au / u'u of a checkerboard (the worst case) stays under the bound.
    auto u = at::ones({1, 1, 9, 11}, at::kDouble);
    for (int i = 0; i < 9; ++i)
        for (int j = 0; j < 11; ++j) u[0][0][i][j].fill_(((i + j) % 2) ? 1.0 : -1.0);
    const double rayleigh = (u * tvOperator(u, V, lambda)).sum().item<double>() / u.square().sum().item<double>();
    const double bound = tvCurvatureBound(9, 11, V, lambda);
    CHECK(rayleigh <= bound);
    CHECK(rayleigh > 0.5 * bound);
}

TEST_CASE("the implicit TV step solves (I + eta A) x = z, also far past the explicit stability bound") {
    at::manual_seed(4);
    auto z = at::randn({3, 3, 20, 20}, at::kDouble);
    const double V = 0.05, lambda = 100.0;
    const double eta = 50.0 / tvCurvatureBound(20, 20, V, lambda);  // eta L = 50: explicit steps would explode
    int iterations = 0;
    auto x = implicitTvStep(z, eta, V, lambda, 1e-8, &iterations);
    auto residual = x + tvOperator(x, V, lambda) * eta - z;
    CHECK(residual.norm().item<double>() < 1e-6 * z.norm().item<double>());
    CHECK(iterations > 1);
    CHECK(iterations < 100);
    // A smoothing step: the TV of the result is far below the TV of z.
    CHECK(totalVariation(x, 2.0, V).sum().item<double>() < 0.2 * totalVariation(z, 2.0, V).sum().item<double>());
}

TEST_CASE("the fused CPU pass equals the tensor formulation (float, any alpha and beta)") {
    at::manual_seed(5);
    auto x = at::randn({2, 3, 13, 17}, at::kFloat);
    for (double beta : {2.0, 1.5})
        for (double alpha : {6.0, 3.0}) {
            at::Tensor fused, tensors;
            auto a = regularizerGradient(x, alpha, 0.9, 0.01, beta, 1.7, 20.0, fused);
            auto b = regularizerGradientTensors(x, alpha, 0.9, 0.01, beta, 1.7, 20.0, tensors);
            INFO("alpha " << alpha << " beta " << beta);
            CHECK(a.alpha.item<double>() == doctest::Approx(b.alpha.item<double>()).epsilon(1e-5));
            CHECK(a.tv.item<double>() == doctest::Approx(b.tv.item<double>()).epsilon(1e-5));
            CHECK((fused - tensors).abs().max().item<double>() < 1e-5 * (1 + tensors.abs().max().item<double>()));
        }
}
