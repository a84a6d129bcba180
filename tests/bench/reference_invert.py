#!/usr/bin/python3
"""Python reference for `preimage bench`: the same Mahendran & Vedaldi inversion (same model, layer,
protocol, iterations, restarts) in eager PyTorch on Debian's python3-torch (the same libtorch 1.13).

Usage: reference_invert.py --assets DIR --model fashion --layer conv2 --image I --iters N [--restarts R]
       reference_invert.py --torchscript F.pt --layer relu3 ...   (a file from make_bench_model.py: its
       preimage.json holds the architecture, rebuilt here in eager PyTorch with the file's weights)
Prints one JSON line: iterations per second and the final feature error.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from PIL import Image
from torch import nn


def build(arch):
    layers = []
    for l in arch:
        t = l["type"]
        if t == "conv":
            m = nn.Conv2d(l["in"], l["out"], l["kernel"], padding=l.get("pad", 0))
        elif t == "relu":
            m = nn.ReLU()
        elif t == "maxpool":
            m = nn.MaxPool2d(l["kernel"])
        elif t == "flatten":
            m = nn.Flatten()
        elif t == "linear":
            m = nn.Linear(l["in"], l["out"])
        elif t == "dropout":
            m = nn.Dropout(l.get("p", 0.5))
        layers.append((l["name"], m))
    return nn.Sequential(__import__("collections").OrderedDict(layers))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", required=True)
    ap.add_argument("--model", default="fashion")
    ap.add_argument("--torchscript", help="a TorchScript file whose preimage.json holds its architecture")
    ap.add_argument("--layer", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tv", type=float, default=1.0, help="lambda_tv (preimage's by-depth value for the layer)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    if a.torchscript:
        files = {"preimage.json": ""}
        saved = dict(torch.jit.load(a.torchscript, _extra_files=files).named_parameters())
        spec = json.loads(files["preimage.json"])
        man = {"architecture": spec["architecture"],
               "input": {"channels": spec["channels"], "height": spec["size"], "width": spec["size"],
                         "mean": spec["mean"], "std": spec["std"]}}
    else:
        d = os.path.join(a.assets, "models", a.model)
        man = json.load(open(os.path.join(d, "manifest.json")))
        saved = dict(torch.jit.load(os.path.join(d, man.get("weights", "weights.pt"))).named_parameters())
    net = build(man["architecture"])
    net.load_state_dict(saved)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in net.named_children()]
    upto = nn.Sequential(*list(net.children())[: names.index(a.layer) + 1])

    inp = man["input"]
    img = np.asarray(Image.open(a.image).convert("L" if inp["channels"] == 1 else "RGB"), dtype=np.float32) / 255.0
    x0 = torch.from_numpy(img).reshape(1, inp["channels"], inp["height"], inp["width"])
    mean = torch.tensor(inp["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(inp["std"]).view(1, -1, 1, 1)
    x0 = (x0 - mean) / std

    R, C, H, W = a.restarts, x0.shape[1], x0.shape[2], x0.shape[3]
    phi0 = upto(x0).detach()
    norm0 = phi0.pow(2).sum()
    sigma = inp.get("image_norm") or float(x0.norm())
    B = sigma / math.sqrt(H * W)
    V = B * 227.0 / math.sqrt(H * W)
    hw = float(H * W)
    lam_a, lam_tv, alpha, lr0, mom = 1e-5, a.tv, 6.0, 0.004, 0.9

    def run():
        g = torch.Generator().manual_seed(0)
        y = (torch.randn(R, C, H, W, generator=g) * (0.1 / math.sqrt(C * H * W))).requires_grad_(True)
        v = torch.zeros_like(y)
        last = None
        for it in range(a.iters):
            f = it / a.iters
            rate = lr0 if f < 0.25 else (lr0 * 0.1 if f < 0.75 else lr0 * 0.01)
            if rate != last:  # momentum is reset when the rate changes, as the authors' code does
                v.zero_()
                last = rate
            x = y * sigma
            phi = upto(x)
            feat = (phi - phi0).pow(2).flatten(1).sum(1) / norm0
            ra = (x / B).abs().pow(alpha).flatten(1).sum(1) / hw
            xs = x / V
            base = xs[..., :-1, :-1]
            dx = xs[..., :-1, 1:] - base
            dy = xs[..., 1:, :-1] - base
            tv = (dx * dx + dy * dy).flatten(1).sum(1) / hw
            wa, wt = ra * lam_a, tv * lam_tv
            total = (feat + wa + wt).sum()
            (grad,) = torch.autograd.grad(total, y)
            torch.stack([total, feat.sum(), wa.sum(), wt.sum()]).tolist()  # same host sync as preimage
            with torch.no_grad():
                v.mul_(mom).sub_(grad, alpha=rate)
                y.add_(v)
        with torch.no_grad():
            return float(((upto(y * sigma) - phi0).pow(2).flatten(1).sum(1) / norm0).sqrt().min())

    a_iters = a.iters
    a.iters = 20
    run()  # warm-up
    a.iters = a_iters
    best, err = 1e30, None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        err = run()
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"iters": a.iters, "restarts": R, "seconds": best, "iters_per_second": a.iters / best,
                      "feature_error": err, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
