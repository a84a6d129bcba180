#!/usr/bin/env python3
"""VGG-16 (torchvision's architecture, random weights from a fixed seed) for the GPU benchmark of issue 27:
writes it as TorchScript for `preimage bench`, and times the same inversion in eager PyTorch on the same device:
the features up to conv5_3's ReLU (features.29), the normalised feature loss plus the alpha-norm and TV terms,
momentum SGD under the paper's 1 / 0.1 / 0.01 schedule, from noise. Prints one JSON line.

usage: vgg_reference.py --out DIR [--device cuda] [--size 224] [--iters 200] [--repeat 3]"""
import argparse, json, os, time

import torch
import torchvision

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--device", default="cuda")
ap.add_argument("--size", type=int, default=224)
ap.add_argument("--iters", type=int, default=200)
ap.add_argument("--repeat", type=int, default=3)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
torch.manual_seed(0)
net = torchvision.models.vgg16(num_classes=1000).eval()
path = os.path.join(a.out, "vgg16.pt")
torch.jit.script(net).save(path)

dev = torch.device(a.device)
features = net.features[:30].to(dev).eval()  # through conv5_3 and its ReLU (features.29)
for p in features.parameters():
    p.requires_grad_(False)
x0 = torch.rand(1, 3, a.size, a.size, device=dev)
with torch.no_grad():
    phi0 = features(x0)
norm0 = phi0.pow(2).sum()
sigma = x0.norm().item()


def run():
    x = (torch.randn_like(x0) * 0.1 * sigma / x0.numel() ** 0.5).requires_grad_(True)
    v = torch.zeros_like(x)
    lr = 0.004 * sigma * sigma
    for it in range(a.iters):
        f = it / a.iters
        rate = lr if f < 0.25 else (lr * 0.1 if f < 0.75 else lr * 0.01)
        loss = (features(x) - phi0).pow(2).sum() / norm0
        loss = loss + 1e-5 * x.abs().pow(6).sum() / x.numel()
        dx = x[..., 1:, :-1] - x[..., :-1, :-1]
        dy = x[..., :-1, 1:] - x[..., :-1, :-1]
        loss = loss + (dx * dx + dy * dy).sum() / x.numel()
        (g,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            v.mul_(0.9).sub_(g, alpha=rate)
            x.add_(v)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return ((features(x) - phi0).norm() / phi0.norm()).item()


run()  # warm-up: cuDNN's algorithm choice, the allocator
best = 1e30
for _ in range(a.repeat):
    t0 = time.perf_counter()
    err = run()
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"model": path, "layer": "features.29", "size": a.size, "iters": a.iters, "device": str(dev),
                  "torch": torch.__version__, "eager_seconds": best, "eager_iters_per_second": a.iters / best,
                  "eager_feature_error": err}))
