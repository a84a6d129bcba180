// The mixer's networks (inference/ only, torch header): the encoder/decoder pair that inference needs
// (weights.pt) and the training-only critics. Shared by mixer.cpp (loading, encoding, evaluation) and
// mixer_train.cpp (the objective, checkpoints). A network is used by one thread at a time (the Mixer's).
#pragma once

#include "inference/latent/latent.h"
#include "inference/latent/mixer.h"
#include "inference/model/model_impl.h"

#include <torch/nn.h>

#include <string>

namespace preimage {

// The images a mixer models: channels x side x side in [0,1]. The side must be a multiple of 4 in [16, 128]:
// stride-2 convolutions halve it until it is at most 8 (28 -> 7 with two, 32 -> 8 with two, 64 -> 8 with three).
struct MixerImage {
    int channels = 1, side = 28;
    int downsamples() const {
        int d = 0;
        for (int s = side; s > 8; s /= 2) ++d;
        return d;
    }
    int bottom() const { return side >> downsamples(); }
};

inline torch::nn::Conv2dOptions mixerConv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
    return torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad);
}

// Encoder, decoder and (with classes > 0) the class head on chunk 0: everything inference needs.
// Two decoders: "deconv" (DCGAN's: linear to the bottom resolution, stride-2 transposed convolutions) and
// "broadcast" (Watters et al. 2019's spatial broadcast decoder: the code tiled over the image with two coordinate
// planes, then stride-1 convolutions; position becomes two numbers, which is what lets a chunk hold x alone).
struct MixerNetImpl : torch::nn::Module {
    static constexpr int64_t kWidth = 64;  // channels at the bottom resolution
    static constexpr int64_t kBroadcastWidth = 32;
    MixerNetImpl(const ChunkLayout& l, int classes, const MixerImage& im, bool broadcastDecoder = false)
        : layout(l), image(im), broadcast(broadcastDecoder) {
        const int d = im.downsamples();
        const int64_t cells = kWidth * im.bottom() * im.bottom();
        auto lrelu = [] { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)); };
        torch::nn::Sequential e;
        e->push_back(torch::nn::Conv2d(mixerConv(im.channels, 32, 3, 1, 1)));
        e->push_back(lrelu());
        for (int i = 0; i < d; ++i) {
            e->push_back(torch::nn::Conv2d(mixerConv(i == 0 ? 32 : 64, i == d - 1 ? kWidth : 64, 4, 2, 1)));
            e->push_back(lrelu());
        }
        e->push_back(torch::nn::Flatten());
        e->push_back(torch::nn::Linear(cells, l.size()));
        enc = register_module("enc", e);
        if (broadcast) {
            torch::nn::Sequential g;
            for (int i = 0; i < 3; ++i) {
                g->push_back(torch::nn::Conv2d(mixerConv(i == 0 ? l.size() + 2 : kBroadcastWidth, kBroadcastWidth, 3, 1, 1)));
                g->push_back(torch::nn::ReLU());
            }
            g->push_back(torch::nn::Conv2d(mixerConv(kBroadcastWidth, im.channels, 3, 1, 1)));
            g->push_back(torch::nn::Sigmoid());
            dec = register_module("dec", g);
            if (classes > 0) head = register_module("head", torch::nn::Linear(l.dims, classes));
            return;
        }
        fc = register_module("fc", torch::nn::Linear(l.size(), cells));
        torch::nn::Sequential g;
        for (int i = 0; i < d; ++i) {
            g->push_back(torch::nn::ConvTranspose2d(
                torch::nn::ConvTranspose2dOptions(i == 0 ? kWidth : 64, i == d - 1 ? 32 : 64, 4).stride(2).padding(1)));
            g->push_back(torch::nn::ReLU());
        }
        g->push_back(torch::nn::Conv2d(mixerConv(32, im.channels, 3, 1, 1)));
        g->push_back(torch::nn::Sigmoid());
        dec = register_module("dec", g);
        if (classes > 0) head = register_module("head", torch::nn::Linear(l.dims, classes));
    }
    torch::Tensor encode(const torch::Tensor& x) { return enc->forward(x); }
    torch::Tensor decode(const torch::Tensor& f) {
        if (broadcast) {
            const int64_t B = f.size(0), S = image.side;
            auto ramp = torch::linspace(-1.0, 1.0, S, f.options());
            auto planes = torch::stack({ramp.view({1, S}).expand({S, S}), ramp.view({S, 1}).expand({S, S})}).unsqueeze(0).expand({B, 2, S, S});
            return dec->forward(torch::cat({f.view({B, f.size(1), 1, 1}).expand({B, f.size(1), S, S}), planes}, 1));
        }
        return dec->forward(torch::relu(fc->forward(f)).view({f.size(0), kWidth, image.bottom(), image.bottom()}));
    }
    torch::Tensor chunk(const torch::Tensor& f, int k) const {
        return f.slice(1, int64_t(k) * layout.dims, int64_t(k + 1) * layout.dims);
    }

    ChunkLayout layout;
    MixerImage image;
    bool broadcast = false;
    torch::nn::Sequential enc{nullptr}, dec{nullptr};
    torch::nn::Linear fc{nullptr}, head{nullptr};
};
TORCH_MODULE(MixerNet);

// The training-only critics: the discriminator on mixed images and the chunk classifier on (x1, x2, x3).
struct CriticsImpl : torch::nn::Module {
    CriticsImpl(int chunks, const MixerImage& im) {
        auto trunk = [&](int64_t in) {
            torch::nn::Sequential s;
            for (int i = 0; i < im.downsamples(); ++i) {
                const int64_t d = im.downsamples();  // 32 channels after the first, 64 after the last
                s->push_back(torch::nn::Conv2d(mixerConv(i == 0 ? in : (i == 1 ? 32 : 64), i == 0 && d > 1 ? 32 : 64, 4, 2, 1)));
                s->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
            }
            s->push_back(torch::nn::Flatten());
            return s;
        };
        const int64_t cells = 64 * im.bottom() * im.bottom();
        disc = register_module("disc", trunk(im.channels));
        disc->push_back(torch::nn::Linear(cells, 1));
        chunkCls = register_module("chunk_classifier", trunk(3 * im.channels));
        chunkCls->push_back(torch::nn::Linear(cells, chunks));
    }
    torch::nn::Sequential disc{nullptr}, chunkCls{nullptr};
};
TORCH_MODULE(Critics);

// A loaded mixer (mixer.cpp): the net, its layout and the manifest's figures.
struct Mixer::Impl {
    ChunkLayout layout;
    MixerImage image;
    bool broadcast = false;  // the spatial broadcast decoder (manifest "decoder")
    MixerNet net{nullptr};
    std::vector<ChunkBasis> bases;
    int classChunk = 0;
    bool baseline = false;
    float threshold = 1.f, strength = 1.f;
    std::string manifest, directory;
};

// Batched encoding and decoding without autograd (500 at a time).
torch::Tensor encodeAll(MixerNet& net, const torch::Tensor& x);
torch::Tensor decodeAll(MixerNet& net, const torch::Tensor& f);

// The evaluation of a mixer's net on `test` (mixer.cpp); `M` (may be null) is the classifier of the class figures.
MixerMetrics evaluateMixerNet(Model::Impl* M, MixerNet& net, const ChunkLayout& L, float threshold, float strength,
                              const Dataset& test, int pairs, uint64_t seed, const StageProgressFn& progress = {});

// Principal directions per chunk from codes [N, size] (mixer_train.cpp), as the manifest's "bases".
std::vector<ChunkBasis> chunkBases(const torch::Tensor& codes, const ChunkLayout& L);

}  // namespace preimage
