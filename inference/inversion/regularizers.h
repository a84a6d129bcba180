// The Mahendran & Vedaldi regularisers on a batch of images [N, C, H, W], one value per image.
// Torch header: inference/*.cpp and torch tests only. Pure functions: any thread.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace preimage {

// R_alpha(x) = sum |x|^alpha / (H W B^alpha): the alpha-norm, normalised by the image area and the
// typical pixel norm B so that a natural image scores O(1).
at::Tensor alphaNorm(const at::Tensor& x, double alpha, double B);

// R_TVbeta(x) = sum_{u,c} ((x(u+e1) - x(u))^2 + (x(u+e2) - x(u))^2)^(beta/2) / (H W V^beta): the paper's
// total variation over the (H-1)x(W-1) pixels that have both neighbours, normalised by the area and a
// gradient scale V (inversion.cpp: V = B * 227 / sqrt(H W)). For beta < 2 a tiny epsilon keeps the
// gradient finite at zero.
at::Tensor totalVariation(const at::Tensor& x, double beta, double V);

// Both regularisers' weighted values summed over the batch and their gradient with respect to x, in
// closed form and without autograd (the inversion's hot loop): returns {lambdaAlpha * sum R_alpha,
// lambdaTv * sum R_TV} and writes the gradient of their sum into `grad` (same shape as x).
struct RegularizerValues {
    at::Tensor alpha, tv;  // 0-d tensors, weighted
};
// On the CPU one fused pass over the pixels; elsewhere (CUDA) tensor operations, regularizerGradientTensors.
RegularizerValues regularizerGradient(const at::Tensor& x, double alpha, double B, double lambdaAlpha, double beta,
                                      double V, double lambdaTv, at::Tensor& grad);
RegularizerValues regularizerGradientTensors(const at::Tensor& x, double alpha, double B, double lambdaAlpha,
                                             double beta, double V, double lambdaTv, at::Tensor& grad);

// The same for a batch of several images, each a group of `rowsPerGroup` rows of x with its own B, V and lambdaTv
// (invertBatch): the weighted values per group into alphaOut/tvOut, one gradient for all. The CPU pass runs
// group by group on raw memory (a batch of small images would otherwise pay tensor overheads per image).
void regularizerGradientGroups(const at::Tensor& x, int64_t rowsPerGroup, double alpha, const std::vector<double>& B,
                               double lambdaAlpha, double beta, const std::vector<double>& V,
                               const std::vector<double>& lambdaTv, at::Tensor& grad, std::vector<double>& alphaOut,
                               std::vector<double>& tvOut);

// The TV term for beta = 2 is quadratic, lambdaTv R_TV(x) = x' A x / 2 with A linear: tvOperator(u) = A u
// (the term's gradient at u). Its largest eigenvalue is at most tvCurvatureBound = 16 lambdaTv / (H W V^2).
at::Tensor tvOperator(const at::Tensor& u, double V, double lambdaTv);
double tvCurvatureBound(int64_t height, int64_t width, double V, double lambdaTv);

// The implicit (backward Euler) step of the beta = 2 TV term: solves (I + eta A) x = z by conjugate
// gradients to a relative residual of `tolerance`. Unconditionally stable, whatever eta * lambdaTv.
// Returns the number of CG iterations used through `iterations` when given.
at::Tensor implicitTvStep(const at::Tensor& z, double eta, double V, double lambdaTv, double tolerance = 1e-5,
                          int* iterations = nullptr);

// The Sobolev (H1) preconditioner: g -> (I + tau L)^-1 g on each [H, W] plane, L the Laplacian: a low-pass filter
// (frequencies well below 1 / sqrt(tau) pass, the highest are divided by about 1 + 8 tau). Applied as P' F P: the
// plane zero-padded by about 3 sqrt(tau) to a size whose FFT is fast (2^a 3^b 5^c; 227 is prime), the periodic
// filter F = 1 / (1 + tau (4 sin^2(pi k / H') + 4 sin^2(pi l / W'))) in the Fourier domain, the plane cropped back:
// symmetric and positive definite, so minus the smoothed gradient is a descent direction. Build once per size.
class SobolevPreconditioner {
public:
    SobolevPreconditioner() = default;
    SobolevPreconditioner(int64_t height, int64_t width, double tau, const at::TensorOptions& options);
    at::Tensor apply(const at::Tensor& g) const;  // [..., H, W] -> the same shape
    double tau() const { return m_tau; }
private:
    int64_t m_h = 0, m_w = 0, m_ph = 0, m_pw = 0;
    double m_tau = 0;
    at::Tensor m_filter;  // [H', W' / 2 + 1]
};

}  // namespace preimage
