// Image parametrisations and transformation robustness for preferred inputs (dream.cpp), torch side.
//
// A parametrisation holds the optimised tensor(s) of a batch of B images and maps them to images in [0,1],
// [B, C, H, W] (C: the model's input channels, any number):
//  - pixels:  x = sigmoid(u)                                     (what `preimage dream` did before; Lucent's "pixel")
//  - Fourier: x = sigmoid(Colour * irfft2(scale * spectrum) / 4) (the lucid recipe: a spectrum scaled by
//             1 / max(frequency, 1/side)^decay, colours decorrelated with a 3x3 matrix where C = 3)
//  - MACO:    x = clamp(mean + Colour * irfft2(M * exp(i phase)), 0, 1)  (Fel et al. 2023: only the phase of each
//             decorrelated channel is optimised; its magnitude M is the natural images' average (luminance) spectrum
//             times a gain fixed from M alone, for a pixel spread of 0.25; the mean is natural images')
// and `transformBatch` applies the per-step transformations (padding, jitter, scale, rotation, random crops,
// noise) as one affine resampling per sample (affine_grid + grid_sample), so that the network always receives its
// own input size. Included by inference/*.cpp and torch tests only; one thread at a time.
#pragma once

#include "inference/engine.h"
#include "inference/inversion/dream.h"

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace preimage::fv {

// Lucid's ImageNet colour matrix (the square root of the RGB covariance, via its SVD, of ImageNet images:
// lucid/optvis/param/color.py `color_correlation_svd_sqrt`), divided by its largest column norm. rgb = M d,
// d the decorrelated channels. [C, C]: that matrix for C = 3, the identity for any other channel count.
torch::Tensor colourMatrix(int channels);

// The frequency scale of the lucid recipe, [H, W/2 + 1]: 1 / max(sqrt(fy^2 + fx^2), 1 / max(H, W))^decay.
torch::Tensor fourierScale(int height, int width, float decay = 1.f);

// The natural images' average amplitude spectrum (assets/spectra/natural_224.bin, see its json), resampled to
// [channels, H, W/2 + 1] in the rfft2 layout (frequencies in cycles per pixel are kept: the rows' negative
// frequencies are interpolated with the positive ones), DC set to zero. Grey or other channel counts: the mean
// of the three. Throws Error when the file is missing or malformed.
torch::Tensor naturalSpectrum(int channels, int height, int width);
// Per-channel mean of natural images in [0,1] (the spectrum's DC bins; 0.45 without the file), [C]; other channel
// counts: the mean of the three.
torch::Tensor naturalMean(int channels);

class ImageParam {
public:
    virtual ~ImageParam() = default;
    virtual torch::Tensor image() = 0;                       // [B, C, H, W] in [0,1], differentiable
    virtual std::vector<torch::Tensor> parameters() = 0;     // what the optimiser updates
};

// A batch of B images, each started from its own generator seed (seeds[b]): image b of a batch is the image a
// batch of one gives with the same seed. `start` (may be undefined): [B, C, H, W] in [0,1], start from those
// images instead of noise (feature accentuation; pixels and Fourier only).
std::unique_ptr<ImageParam> makeParam(DreamParametrisation kind, int channels, int height, int width,
                                      const std::vector<uint64_t>& seeds, const torch::Tensor& start, torch::Device device,
                                      float decay = 1.f);

// MACO's image before the clamp to [0,1], its decorrelated channels (whose rfft2 magnitude is the fixed one, tests),
// and that magnitude [C, H, W/2+1] (the natural spectrum times the gain).
torch::Tensor macoUnclamped(ImageParam& maco);
torch::Tensor macoDecorrelated(ImageParam& maco);
torch::Tensor macoMagnitude(ImageParam& maco);
bool isMaco(ImageParam& param);

// One step's transformations: for each of the `samples` draws (shared by every image of the batch, so that a
// batch equals its images run one by one), an affine map of the padded image onto the output size. Returns
// [B * samples, C, outH, outW], image-major (image b's samples are rows b*samples ... b*samples + samples-1).
torch::Tensor transformBatch(const torch::Tensor& images, const DreamTransforms& t, int outH, int outW, at::Generator& gen);

// Random crops and scales of finished images for the robustness number: `n` crops covering 60-100% of the side
// (zoomed to the output size) at random positions, half of them mirrored. [B * n, C, outH, outW], image-major.
torch::Tensor robustnessCrops(const torch::Tensor& images, int n, int outH, int outW, at::Generator& gen);

}  // namespace preimage::fv
