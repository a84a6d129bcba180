#!/usr/bin/python3
"""The ncnn -> TorchScript converter (assets/models/squeezenet/convert_ncnn.py) on a small SqueezeNet-family network
this test writes in ncnn's format: conv1 (fp16 weights) + ReLU, a Caffe max pool (ceil), one Fire module (fp32 and
fp16 weights mixed), conv10 (pad 1) + ReLU, global average pool, softmax. The converted file must compute what a
direct implementation of the ncnn graph computes on the BGR input (the file takes RGB), carry the input spec, and the
converter must refuse a truncated or padded .bin and an unknown weight tag.

Usage: test_convert_ncnn.py WORK_DIR
"""
import json
import os
import struct
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "assets", "models", "squeezenet"))
import convert_ncnn as cv  # noqa: E402

work = sys.argv[1]
os.makedirs(work, exist_ok=True)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


rng = np.random.default_rng(3)
S = 35
# name, cin, cout, kernel, stride, pad, format
convs = [("conv1", 3, 8, 3, 2, 0, "fp16"), ("fire2/squeeze1x1", 8, 4, 1, 1, 0, "fp32"),
         ("fire2/expand1x1", 4, 6, 1, 1, 0, "fp16"), ("fire2/expand3x3", 4, 6, 3, 1, 1, "fp32"),
         ("conv10", 12, 5, 1, 1, 1, "fp16")]
weights = {}
blob = b""
for name, cin, cout, k, s, p, fmt in convs:
    w = rng.normal(0, 0.5, (cout, cin, k, k)).astype(np.float32)
    b = rng.normal(0, 0.1, cout).astype(np.float32)
    if fmt == "fp16":
        w = w.astype(np.float16).astype(np.float32)  # what the file can hold
        raw = struct.pack("<I", cv.FP16_TAG) + w.astype("<f2").tobytes()
        raw += b"\0" * ((4 - len(raw) % 4) % 4)
    else:
        raw = struct.pack("<I", 0) + w.astype("<f4").tobytes()
    blob += raw + b.astype("<f4").tobytes()
    weights[name] = (w, b, s, p)
param = f"""7767517
11 14
Input            data             0 1 data 0={S} 1={S} 2=3
Convolution      conv1            1 1 data c1 0=8 1=3 3=2 5=1 6={8 * 3 * 9} 9=1
Pooling          pool1            1 1 c1 p1 1=3 2=2
Convolution      fire2/squeeze1x1 1 1 p1 sq 0=4 1=1 5=1 6=32 9=1
Split            splitncnn_0      1 2 sq sq_0 sq_1
Convolution      fire2/expand1x1  1 1 sq_1 e1 0=6 1=1 5=1 6=24 9=1
Convolution      fire2/expand3x3  1 1 sq_0 e3 0=6 1=3 4=1 5=1 6=216 9=1
Concat           fire2/concat     2 1 e1 e3 cat
Convolution      conv10           1 1 cat c10 0=5 1=1 4=1 5=1 6=60 9=1
Pooling          pool10           1 1 c10 p10 0=1 4=1
Softmax          prob             1 1 p10 prob
"""
P, B, OUT = (os.path.join(work, n) for n in ("tiny.param", "tiny.bin", "tiny.pt"))
open(P, "w").write(param)
open(B, "wb").write(blob)
net, spec, summary = cv.convert(P, B, OUT, classes=[f"c{i}" for i in range(5)])
check(summary["convolutions"] == 5 and summary["formats"] == ["fp16", "fp32"], f"five convolutions, both formats: {summary}")


def reference(x_bgr):
    def conv(name, x):
        w, b, s, p = weights[name]
        return F.relu(F.conv2d(x, torch.from_numpy(w), torch.from_numpy(b), stride=s, padding=p))
    x = conv("conv1", x_bgr)
    x = F.max_pool2d(x, 3, 2, ceil_mode=True)
    x = conv("fire2/squeeze1x1", x)
    x = torch.cat([conv("fire2/expand1x1", x), conv("fire2/expand3x3", x)], 1)
    x = conv("conv10", x)
    return x.mean((2, 3))


loaded = torch.jit.load(OUT)
x = torch.randn(2, 3, S, S)
with torch.no_grad():
    got, want = loaded(x), reference(x.flip(1))
err = (got - want).abs().max().item()
check(tuple(got.shape) == (2, 5), f"the output is the class scores [N, K]: {tuple(got.shape)}")
check(err < 1e-4, f"the file computes the ncnn graph on RGB input (max abs difference {err:.2e})")
names = [n for n, _ in loaded.named_modules()]
check({"conv1", "relu_conv1", "pool1", "fire2", "fire2.squeeze1x1", "fire2.expand3x3", "conv10", "pool10"} <= set(names),
      f"modules named as the Caffe layers: {names}")
extra = json.loads(zipfile.ZipFile(OUT).read(next(n for n in zipfile.ZipFile(OUT).namelist()
                                                   if n.endswith("extra/preimage.json"))))
check(extra["width"] == S and abs(extra["mean"][0] - 123 / 255) < 1e-6 and abs(extra["std"][2] - 1 / 255) < 1e-9
      and extra["classes"][4] == "c4", f"preimage.json: size, Caffe mean in RGB on [0,1], std 1/255, classes: {extra}")

# Refusals: a .bin cut short, a .bin with bytes left over, an unknown weight tag, a layer type it cannot build.
for what, data, text, expect in [
        ("truncated .bin", blob[:-8], param, "ends at byte"),
        ("padded .bin", blob + b"\0" * 8, param, "bytes the .param does not account for"),
        ("unknown tag", struct.pack("<I", 0x12345678) + blob[4:], param, "unsupported weight tag"),
        ("unknown layer", blob, param.replace("Softmax          prob", "Sigmoid          prob"), "not supported"),
        ("not a .param", blob, "hello\n", "not an ncnn .param")]:
    open(B, "wb").write(data)
    open(P, "w").write(text)
    try:
        cv.convert(P, B, OUT)
        check(False, f"{what}: refused")
    except cv.NcnnError as e:
        check(expect in str(e), f"{what}: refused with '{e}'")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
