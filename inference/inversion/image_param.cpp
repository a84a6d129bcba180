#include "inference/inversion/image_param.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/fft.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/vision.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace preimage::fv {
namespace F = torch::nn::functional;

torch::Tensor colourMatrix(int channels) {
    if (channels != 3) return torch::eye(channels);
    auto m = torch::tensor({0.26f, 0.09f, 0.02f, 0.27f, 0.00f, -0.05f, 0.27f, -0.09f, 0.03f}).view({3, 3});
    const float maxNorm = m.norm(2, 0).max().item<float>();  // the largest column norm
    return m / maxNorm;
}

torch::Tensor fourierScale(int height, int width, float decay) {
    // numpy's fftfreq (rows: 0, 1, ..., -1 over H) and rfftfreq (columns: 0 ... W/2 over W), in cycles per pixel.
    auto fy = torch::arange(height, torch::kFloat);
    fy = torch::where(fy >= float((height + 1) / 2), fy - float(height), fy) / float(height);
    auto fx = torch::arange(width / 2 + 1, torch::kFloat) / float(width);
    auto freqs = (fy.view({-1, 1}).square() + fx.view({1, -1}).square()).sqrt();
    return freqs.clamp_min(1.f / float(std::max(height, width))).pow(-decay);
}

namespace {

struct SpectrumFile {
    torch::Tensor rgb, grey;  // [3, S, S/2 + 1] and [1, S, S/2 + 1], |rfft2| unnormalised
    std::vector<float> mean;  // per channel in [0,1]: the DC bin / S^2
    int side = 0;
};

torch::Tensor readSpectrum(const std::filesystem::path& bin, const nlohmann::json& about, int channels, int side) {
    std::vector<int64_t> shape = about.at("shape").get<std::vector<int64_t>>();
    if (shape.size() != 3 || shape[0] != channels || shape[1] != side || shape[2] != side / 2 + 1)
        throw Error(bin.string() + ": its json gives a shape other than [" + std::to_string(channels) + ", S, S/2+1]");
    std::ifstream in(bin, std::ios::binary);
    if (!in) throw Error("cannot read " + bin.string());
    const int64_t n = shape[0] * shape[1] * shape[2];
    std::vector<float> values(size_t(n), 0.f);
    in.read(reinterpret_cast<char*>(values.data()), std::streamsize(n * 4));
    if (in.gcount() != std::streamsize(n * 4)) throw Error(bin.string() + ": shorter than its json's shape says");
    auto t = torch::from_blob(values.data(), shape, torch::kFloat).clone();
    if (!torch::isfinite(t).all().item<bool>() || (t < 0).any().item<bool>())
        throw Error(bin.string() + ": not an amplitude spectrum (negative or non-finite values)");
    return t;
}

// assets/spectra/natural_224.{json,bin} (and the grey one), made by assets/spectra/make_spectrum.py. Loaded once per
// process (any thread may ask; the first loads it).
const SpectrumFile& spectrumFile() {
    static std::once_flag once;
    static SpectrumFile file;
    static std::string error;
    std::call_once(once, [] {
        namespace fs = std::filesystem;
        const fs::path dir = fs::path(assetsDir()) / "spectra";
        const fs::path json = dir / "natural_224.json";
        try {
            std::ifstream js(json);
            if (!js) throw Error("cannot read " + json.string());
            auto j = nlohmann::json::parse(js);
            const auto& files = j.at("files");
            const int side = int(files.at("natural_224.bin").at("shape").at(1).get<int64_t>());
            file.rgb = readSpectrum(dir / "natural_224.bin", files.at("natural_224.bin"), 3, side);
            file.grey = readSpectrum(dir / "natural_224_grey.bin", files.at("natural_224_grey.bin"), 1, side);
            const auto& dc = j.at("dc");
            for (const char* c : {"R", "G", "B"}) file.mean.push_back(dc.at(c).get<float>() / float(side * side));
            file.side = side;
        } catch (const Error& e) {
            error = e.what();
        } catch (const std::exception& e) {
            error = json.string() + ": " + e.what();
        }
    });
    if (!error.empty()) throw Error("MACO needs the natural images' spectrum: " + error);
    return file;
}

}  // namespace

torch::Tensor naturalSpectrum(int channels, int height, int width) {
    const auto& f = spectrumFile();
    const int S = f.side;
    // Rows in order of frequency (-S/2 ... S/2-1), so that bilinear interpolation never mixes +f and -f.
    const torch::Tensor& source = channels == 1 ? f.grey : f.rgb;
    auto shifted = torch::roll(source, {S / 2}, {1}).unsqueeze(0);  // [1, 3 or 1, S, S/2+1]
    auto fy = torch::arange(height, torch::kFloat);
    fy = torch::where(fy >= float((height + 1) / 2), fy - float(height), fy) / float(height);
    auto fx = torch::arange(width / 2 + 1, torch::kFloat) / float(width);
    // The source's position of each target frequency (cycles per pixel are what a resize keeps), in grid_sample's
    // [-1, 1] with align_corners: row fy -> fy * S + S/2 of S - 1, column fx -> fx * S of S/2.
    auto gy = (fy * float(S) + float(S / 2)) / float(S - 1) * 2.f - 1.f;
    auto gx = (fx * float(S)) / float(S / 2) * 2.f - 1.f;
    auto grid = torch::stack({gx.view({1, -1}).expand({height, width / 2 + 1}), gy.view({-1, 1}).expand({height, width / 2 + 1})}, -1)
                    .unsqueeze(0);
    auto m = F::grid_sample(shifted, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(true))
                 .squeeze(0);  // [3, H, W/2+1]
    if (m.size(0) != channels) m = m.mean(0, true).expand({channels, height, width / 2 + 1}).clone();
    m.select(1, 0).select(1, 0).zero_();  // no DC: the mean is set on its own
    return m;
}

torch::Tensor naturalMean(int channels) {
    std::vector<float> mean{0.45f, 0.45f, 0.45f};
    try {
        if (spectrumFile().mean.size() == 3) mean = spectrumFile().mean;
    } catch (const Error&) {
    }
    auto m = torch::tensor(mean);
    return channels == 3 ? m : m.mean().expand({channels}).clone();
}

namespace {

at::Generator seeded(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

torch::Tensor inverseSigmoid(const torch::Tensor& x) {
    auto c = x.clamp(0.01, 0.99);
    return torch::log(c / (1 - c));
}

// Channels mixed by a [C, C] matrix, per pixel: y[b, i] = sum_j m[i, j] x[b, j].
torch::Tensor mixChannels(const torch::Tensor& m, const torch::Tensor& x) { return torch::einsum("ij,bjhw->bihw", {m, x}); }

class PixelParam : public ImageParam {
public:
    PixelParam(int C, int H, int W, const std::vector<uint64_t>& seeds, const torch::Tensor& start, torch::Device device) {
        std::vector<torch::Tensor> items;
        for (uint64_t s : seeds) {
            auto g = seeded(s);
            items.push_back(0.1 * at::randn({C, H, W}, g));
        }
        m_u = (start.defined() ? inverseSigmoid(start.cpu()) : torch::stack(items)).to(device).detach().set_requires_grad(true);
    }
    torch::Tensor image() override { return torch::sigmoid(m_u); }
    std::vector<torch::Tensor> parameters() override { return {m_u}; }

private:
    torch::Tensor m_u;
};

class FourierParam : public ImageParam {
public:
    FourierParam(int C, int H, int W, const std::vector<uint64_t>& seeds, const torch::Tensor& start, torch::Device device, float decay)
        : m_H(H), m_W(W) {
        m_scale = fourierScale(H, W, decay).to(device);
        m_colour = colourMatrix(C).to(device);
        torch::Tensor spec;
        if (start.defined()) {  // the inverse of image(): the start image's own spectrum
            auto d = mixChannels(torch::inverse(m_colour.cpu()), inverseSigmoid(start.cpu())) * 4.f;
            auto X = torch::fft::rfft2(d, c10::nullopt, {-2, -1}, "ortho") / m_scale.cpu();
            spec = torch::view_as_real(X).contiguous();
        } else {  // lucent's fft_image: sd 0.01
            std::vector<torch::Tensor> items;
            for (uint64_t s : seeds) {
                auto g = seeded(s);
                items.push_back(0.01 * at::randn({C, H, W / 2 + 1, 2}, g));
            }
            spec = torch::stack(items);
        }
        m_spec = spec.to(device).detach().set_requires_grad(true);
    }
    torch::Tensor image() override {
        auto X = torch::view_as_complex(m_spec) * m_scale;
        auto d = torch::fft::irfft2(X, std::vector<int64_t>{m_H, m_W}, {-2, -1}, "ortho") / 4.f;
        return torch::sigmoid(mixChannels(m_colour, d));
    }
    std::vector<torch::Tensor> parameters() override { return {m_spec}; }

private:
    int64_t m_H, m_W;
    torch::Tensor m_scale, m_colour, m_spec;
};

}  // namespace

class MacoParam : public ImageParam {
public:
    MacoParam(int C, int H, int W, const std::vector<uint64_t>& seeds, torch::Device device) : m_H(H), m_W(W) {
        // Every decorrelated channel (as the Fourier parametrisation's) gets the luminance's magnitude: the phases
        // are optimised in the decorrelated space and the colour matrix mixes them into RGB (Horama's recorrelation).
        auto magnitude = naturalSpectrum(1, H, W).expand({C, H, W / 2 + 1});
        m_colour = colourMatrix(C);
        // The gain that gives natural images' contrast (pixel standard deviation 0.25 in [0,1]), from the magnitude
        // alone (a fixed random phase: the image's spread hardly depends on the phase), the same for every batch.
        {
            auto g = seeded(0x6d61636f);
            auto phase = at::rand({1, C, H, W / 2 + 1}, g) * float(2 * M_PI);
            auto probe = torch::fft::irfft2(torch::complex(magnitude * torch::cos(phase), magnitude * torch::sin(phase)),
                                            std::vector<int64_t>{H, W}, {-2, -1}, "ortho");
            m_gain = 0.25f / std::max(1e-12f, mixChannels(m_colour, probe).std().item<float>());
        }
        m_magnitude = (magnitude * m_gain).contiguous().to(device);
        m_colour = m_colour.to(device);
        m_mean = naturalMean(C).view({1, -1, 1, 1}).to(device);
        std::vector<torch::Tensor> items;  // one random phase per image and channel
        for (uint64_t s : seeds) {
            auto g = seeded(s);
            items.push_back(at::rand({C, H, W / 2 + 1}, g) * float(2 * M_PI) - float(M_PI));
        }
        m_phase = torch::stack(items).to(device).detach().set_requires_grad(true);
    }
    // The decorrelated channels: irfft2(M exp(i phase)), [B, C, H, W].
    torch::Tensor decorrelated() {
        auto X = torch::complex(m_magnitude * torch::cos(m_phase), m_magnitude * torch::sin(m_phase));
        return torch::fft::irfft2(X, std::vector<int64_t>{m_H, m_W}, {-2, -1}, "ortho");
    }
    torch::Tensor unclamped() { return m_mean + mixChannels(m_colour, decorrelated()); }
    torch::Tensor image() override { return unclamped().clamp(0, 1); }
    std::vector<torch::Tensor> parameters() override { return {m_phase}; }
    const torch::Tensor& magnitude() const { return m_magnitude; }

private:
    int64_t m_H, m_W;
    float m_gain = 1.f;
    torch::Tensor m_magnitude, m_colour, m_mean, m_phase;
};

std::unique_ptr<ImageParam> makeParam(DreamParametrisation kind, int channels, int height, int width,
                                      const std::vector<uint64_t>& seeds, const torch::Tensor& start, torch::Device device,
                                      float decay) {
    switch (kind) {
        case DreamParametrisation::Pixels:
            return std::make_unique<PixelParam>(channels, height, width, seeds, start, device);
        case DreamParametrisation::Fourier:
            return std::make_unique<FourierParam>(channels, height, width, seeds, start, device, decay);
        case DreamParametrisation::Maco:
            if (start.defined())
                throw Error("accentuation starts from the image's own spectrum: use the fourier or pixels parametrisation "
                            "(MACO keeps the natural images' magnitude, not the image's)");
            return std::make_unique<MacoParam>(channels, height, width, seeds, device);
        case DreamParametrisation::Generator:
            break;
    }
    throw Error("internal: no image parametrisation for the generator prior");
}

bool isMaco(ImageParam& param) { return dynamic_cast<MacoParam*>(&param) != nullptr; }
torch::Tensor macoUnclamped(ImageParam& maco) { return dynamic_cast<MacoParam&>(maco).unclamped(); }
torch::Tensor macoDecorrelated(ImageParam& maco) { return dynamic_cast<MacoParam&>(maco).decorrelated(); }
torch::Tensor macoMagnitude(ImageParam& maco) { return dynamic_cast<MacoParam&>(maco).magnitude(); }

namespace {

float uniform(at::Generator& g, float lo, float hi) { return lo + (hi - lo) * at::rand({1}, g).item<float>(); }
int integer(at::Generator& g, int lo, int hi) { return int(at::randint(lo, hi + 1, {1}, g).item<int64_t>()); }

// Samples `images` [B, C, H, W] (already padded to Hp x Wp around an H x W image) through K affine maps, each given in
// the image's pixels: the output's centre shows the point (tx, ty) from the image's centre, rotated by `degrees`,
// zoomed by `zoom` (2: the content twice as large), mirrored when `flip`.
struct Affine {
    float tx = 0, ty = 0, degrees = 0, zoom = 1;
    bool flip = false;
};

torch::Tensor resample(const torch::Tensor& images, const std::vector<Affine>& maps, int H, int W, int outH, int outW,
                       bool reflect) {
    const int64_t B = images.size(0), C = images.size(1), Hp = images.size(2), Wp = images.size(3);
    const int64_t K = int64_t(maps.size());
    std::vector<float> theta;
    for (const auto& a : maps) {
        const float r = a.degrees * float(M_PI) / 180.f, c = std::cos(r), s = std::sin(r);
        const float fx = a.flip ? -1.f : 1.f;
        // Output (u, v) in [-1, 1] -> pixels (u W/2, v H/2) from the centre -> rotated, zoomed, shifted -> the padded
        // canvas's [-1, 1].
        theta.insert(theta.end(), {fx * c * float(W) / (a.zoom * float(Wp)), -s * float(H) / (a.zoom * float(Wp)), 2.f * a.tx / float(Wp),
                                   fx * s * float(W) / (a.zoom * float(Hp)), c * float(H) / (a.zoom * float(Hp)), 2.f * a.ty / float(Hp)});
    }
    auto t = torch::tensor(theta).view({K, 2, 3}).to(images.device()).repeat({B, 1, 1});
    auto grid = F::affine_grid(t, {B * K, C, outH, outW}, false);
    auto src = K == 1 ? images : images.repeat_interleave(K, 0);
    auto options = F::GridSampleFuncOptions().mode(torch::kBilinear).align_corners(false);
    if (reflect) options.padding_mode(torch::kReflection);
    else options.padding_mode(torch::kBorder);
    return F::grid_sample(src, grid, options);
}

}  // namespace

torch::Tensor transformBatch(const torch::Tensor& images, const DreamTransforms& t, int outH, int outW, at::Generator& gen) {
    const int H = int(images.size(2)), W = int(images.size(3));
    if (!t.any() && H == outH && W == outW) return images;
    const int K = std::max(1, t.crops);
    // Pixel amounts are lucid's, for a 224-px image: scaled to this one's side (at least 1 where not 0).
    const float unit = float(std::min(H, W)) / 224.f;
    auto px = [&](int v) { return v > 0 ? std::max(1, int(std::lround(float(v) * unit))) : 0; };
    const int jitter = px(t.jitter), jitter2 = px(t.jitter2), pad = px(t.pad);
    std::vector<Affine> maps;
    for (int k = 0; k < K; ++k) {
        Affine a;
        a.tx = float(integer(gen, -jitter, jitter) + integer(gen, -jitter2, jitter2));
        a.ty = float(integer(gen, -jitter, jitter) + integer(gen, -jitter2, jitter2));
        const float scale = t.scales.empty() ? 1.f : t.scales[size_t(integer(gen, 0, int(t.scales.size()) - 1))];
        a.degrees = t.rotate >= 1.f ? float(integer(gen, -int(t.rotate), int(t.rotate))) : uniform(gen, -t.rotate, t.rotate);
        const float frac = t.cropMax > t.cropMin ? uniform(gen, t.cropMin, t.cropMax) : t.cropMin;
        // A crop lies inside the image: its centre within (1 - frac) / 2 of the side from the image's centre.
        a.tx += uniform(gen, -1.f, 1.f) * (1.f - frac) * float(W) / 2.f;
        a.ty += uniform(gen, -1.f, 1.f) * (1.f - frac) * float(H) / 2.f;
        a.zoom = scale / std::max(0.05f, frac);
        maps.push_back(a);
    }
    auto padded = pad > 0 ? F::pad(images, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kConstant).value(0.5)) : images;
    auto out = resample(padded, maps, H, W, outH, outW, pad == 0);
    if (t.blur > 0) {  // one sigma per step (in 224-px pixels), separable, reflected at the border
        const float sigma = uniform(gen, 0.f, t.blur) * unit;
        if (sigma > 0.2f) {
            const int r = std::max(1, int(std::ceil(2.5f * sigma)));
            auto k = torch::arange(-r, r + 1, torch::kFloat);
            k = torch::exp(-k.square() / (2.f * sigma * sigma));
            k = (k / k.sum()).to(out.device());
            const int64_t ch = out.size(1);
            auto kx = k.view({1, 1, 1, -1}).repeat({ch, 1, 1, 1}), ky = k.view({1, 1, -1, 1}).repeat({ch, 1, 1, 1});
            out = F::pad(out, F::PadFuncOptions({r, r, r, r}).mode(torch::kReflect));
            out = F::conv2d(out, kx, F::Conv2dFuncOptions().groups(ch));
            out = F::conv2d(out, ky, F::Conv2dFuncOptions().groups(ch));
        }
    }
    if (t.noise > 0) {  // one draw per sample, shared by the batch's images
        auto n = t.noise * at::randn({K, images.size(1), outH, outW}, gen) + t.noise * (at::rand({K, images.size(1), outH, outW}, gen) - 0.5);
        out = out + n.to(out.device()).repeat({images.size(0), 1, 1, 1});
    }
    return out;
}

torch::Tensor robustnessCrops(const torch::Tensor& images, int n, int outH, int outW, at::Generator& gen) {
    const int H = int(images.size(2)), W = int(images.size(3));
    std::vector<Affine> maps;
    for (int k = 0; k < n; ++k) {
        Affine a;
        const float frac = uniform(gen, 0.6f, 1.f);
        a.tx = uniform(gen, -1.f, 1.f) * (1.f - frac) * float(W) / 2.f;
        a.ty = uniform(gen, -1.f, 1.f) * (1.f - frac) * float(H) / 2.f;
        a.zoom = 1.f / frac;
        a.flip = k % 2 == 1;
        maps.push_back(a);
    }
    return resample(images, maps, H, W, outH, outW, true);
}

}  // namespace preimage::fv
