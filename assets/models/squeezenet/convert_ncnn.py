#!/usr/bin/python3
"""Converts a SqueezeNet-family network from ncnn's format (.param + .bin) to a TorchScript file that Preimage
opens like any other, with its input spec (preimage.json) inside.

Usage: convert_ncnn.py PARAM BIN OUT.pt [--classes imagenet|none] [--check IMAGE...]

The .param is text: the magic 7767517, "layers blobs", then one layer a line: type, name, input and output
counts, the blob names, then key=value pairs (a Convolution's 0= outputs, 1= kernel, 3= stride, 4= pad,
5= bias, 6= weight count, 9= fused activation (1 = ReLU); a Pooling's 0= type (0 max, 1 average), 1= kernel,
2= stride, 3= pad, 4= global, 5= pad mode (0 = Caffe's "full": ceil)). The .bin holds, per Convolution in the
.param's order, a uint32 tag then the weights: 0x01306B47 = fp16 values padded to 4 bytes, 0 = float32; then
the float32 biases. Every byte must be used.

The network is rebuilt from the layer list: convolutions (with their fused ReLU as a module of its own),
poolings, and Fire modules (the layers named fireN/...: squeeze 1x1, then expand 1x1 and 3x3, concatenated),
named as in the original Caffe release (conv1, pool1, fire2 ... fire9, conv10, pool10), so that Preimage's
layers read as the paper's. The forward returns class scores [N, K] (the global pool flattened; no softmax).
The Caffe input is BGR in 0-255 minus a mean: the first convolution's input channels are reversed so that the
file takes RGB, and preimage.json's mean/std express the rest on [0,1] pixels (mean/255, std 1/255).
"""
import argparse
import collections
import hashlib
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

FP16_TAG = 0x01306B47
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


class NcnnError(Exception):
    pass


def parse_param(text):
    """Returns [(type, name, inputs, outputs, {key: value})] from a .param text."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines or lines[0].strip() != "7767517":
        raise NcnnError("not an ncnn .param file (the first line must be 7767517)")
    layer_count = int(lines[1].split()[0])
    layers = []
    for line in lines[2:2 + layer_count]:
        tok = line.split()
        kind, name, nin, nout = tok[0], tok[1], int(tok[2]), int(tok[3])
        ins, outs = tok[4:4 + nin], tok[4 + nin:4 + nin + nout]
        params = {}
        for kv in tok[4 + nin + nout:]:
            k, v = kv.split("=", 1)
            params[int(k)] = float(v) if "." in v or "e" in v else int(v)
        layers.append((kind, name, ins, outs, params))
    if len(layers) != layer_count:
        raise NcnnError(f"the .param announces {layer_count} layers but lists {len(layers)}")
    return layers


class BinReader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise NcnnError(f"the .bin ends at byte {len(self.data)}, {self.pos + n} needed")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def weights(self, count):
        tag = struct.unpack("<I", self.take(4))[0]
        if tag == FP16_TAG:
            values = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.take((4 - (2 * count) % 4) % 4)  # padded to 4 bytes
            return values, "fp16"
        if tag == 0:
            return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32), "fp32"
        raise NcnnError(f"unsupported weight tag 0x{tag:08x} at byte {self.pos - 4} (fp16 0x{FP16_TAG:08x} and fp32 0 are)")

    def floats(self, count):
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)


def read_convolutions(layers, data):
    """Every Convolution's weights and biases, in the .param's order, with its shape. Uses every byte."""
    reader, blob_channels, convs = BinReader(data), {}, collections.OrderedDict()
    for kind, name, ins, outs, p in layers:
        if kind == "Input":
            blob_channels[outs[0]] = p.get(2, 3)
        elif kind == "Convolution":
            cin = blob_channels[ins[0]]
            cout, k = p[0], p.get(1, 1)
            count = p[6]
            if count != cout * cin * k * k:
                raise NcnnError(f"{name}: {count} weights for {cout}x{cin}x{k}x{k}")
            w, fmt = reader.weights(count)
            b = reader.floats(cout) if p.get(5, 0) else np.zeros(cout, np.float32)
            convs[name] = dict(weight=w.reshape(cout, cin, k, k), bias=b, stride=p.get(3, 1), pad=p.get(4, 0),
                               relu=p.get(9, 0) == 1, format=fmt)
            blob_channels[outs[0]] = cout
        elif kind == "Concat":
            blob_channels[outs[0]] = sum(blob_channels[i] for i in ins)
        else:  # Pooling, Split, Dropout, ReLU, Softmax keep the channel count
            for o in outs:
                blob_channels[o] = blob_channels[ins[0]]
        if kind == "Convolution" and p.get(9, 0) not in (0, 1):
            raise NcnnError(f"{name}: fused activation {p[9]} is not supported (0 none, 1 ReLU)")
    if reader.pos != len(data):
        raise NcnnError(f"the .bin has {len(data) - reader.pos} bytes the .param does not account for")
    return convs


def conv_module(c):
    w = torch.from_numpy(c["weight"].copy())
    m = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=c["stride"], padding=c["pad"])
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.copy_(torch.from_numpy(c["bias"].copy()))
    return m


class Fire(nn.Module):
    def __init__(self, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze1x1, self.relu_squeeze1x1 = squeeze, nn.ReLU()
        self.expand1x1, self.relu_expand1x1 = expand1x1, nn.ReLU()
        self.expand3x3, self.relu_expand3x3 = expand3x3, nn.ReLU()

    def forward(self, x):
        x = self.relu_squeeze1x1(self.squeeze1x1(x))
        return torch.cat([self.relu_expand1x1(self.expand1x1(x)), self.relu_expand3x3(self.expand3x3(x))], 1)


class Network(nn.Module):
    """The stages in order as attributes named like the Caffe layers; forward runs them and flattens."""

    def __init__(self, stages):
        super().__init__()
        self.order = [name for name, _ in stages]
        for name, module in stages:
            self.add_module(name, module)

    def forward(self, x):
        for name in self.order:
            x = getattr(self, name)(x)
        return torch.flatten(x, 1)


def build(layers, convs):
    """The stages of a SqueezeNet-family .param: plain convolutions (+ ReLU), poolings, Fire modules."""
    stages, fires = [], collections.OrderedDict()
    for kind, name, ins, outs, p in layers:
        if kind == "Convolution" and "/" in name:
            fire, part = name.split("/", 1)
            if fire not in fires:
                fires[fire] = {}
                stages.append((fire, None))
            fires[fire][part] = conv_module(convs[name])
        elif kind == "Convolution":
            stages.append((name, conv_module(convs[name])))
            if convs[name]["relu"]:
                stages.append(("relu_" + name, nn.ReLU()))
        elif kind == "Pooling":
            if p.get(4, 0):
                if p.get(0, 0) != 1:
                    raise NcnnError(f"{name}: only global average pooling is supported as a global pooling")
                stages.append((name, nn.AdaptiveAvgPool2d(1)))
            else:
                k, s, pad = p.get(1, 1), p.get(2, 1), p.get(3, 0)
                ceil = p.get(5, 0) == 0  # Caffe's full padding
                pool = nn.MaxPool2d(k, s, pad, ceil_mode=ceil) if p.get(0, 0) == 0 else \
                    nn.AvgPool2d(k, s, pad, ceil_mode=ceil)
                stages.append((name, pool))
        elif kind in ("Input", "Split", "Concat", "Softmax", "Dropout"):
            if kind == "Concat" and not name.split("/")[0] in fires:
                raise NcnnError(f"{name}: a concatenation outside a Fire module is not supported")
        else:
            raise NcnnError(f"layer type {kind} ({name}) is not supported by this converter")
    result = []
    for name, module in stages:
        if module is None:
            parts = fires[name]
            missing = {"squeeze1x1", "expand1x1", "expand3x3"} - set(parts)
            if missing:
                raise NcnnError(f"{name}: a Fire module needs {sorted(missing)}")
            module = Fire(parts["squeeze1x1"], parts["expand1x1"], parts["expand3x3"])
        result.append((name, module))
    return Network(result)


def input_size(layers):
    for kind, name, ins, outs, p in layers:
        if kind == "Input":
            return p.get(0, 227), p.get(1, 227), p.get(2, 3)
    raise NcnnError("the .param has no Input layer")


def convert(param_path, bin_path, out_path, classes=None):
    """Writes the TorchScript file; returns (module, spec, summary)."""
    with open(param_path) as f:
        layers = parse_param(f.read())
    with open(bin_path, "rb") as f:
        data = f.read()
    convs = read_convolutions(layers, data)
    width, height, channels = input_size(layers)
    if channels != 3:
        raise NcnnError("this converter takes Caffe's BGR networks (3 input channels)")
    first = next(iter(convs.values()))
    first["weight"] = first["weight"][:, ::-1]  # BGR -> RGB: the file takes RGB
    net = build(layers, convs).eval()
    for p_ in net.parameters():
        p_.requires_grad_(False)
    spec = {"width": width, "height": height, "channels": 3,
            "mean": [m / 255.0 for m in reversed(CAFFE_MEAN_BGR)], "std": [1 / 255.0] * 3}
    if classes:
        spec["classes"] = list(classes)
    traced = torch.jit.trace(net, torch.zeros(1, 3, height, width))
    torch.jit.save(traced, out_path, _extra_files={"preimage.json": json.dumps(spec)})
    summary = {"convolutions": len(convs), "formats": sorted({c["format"] for c in convs.values()}),
               "parameters": int(sum(p_.numel() for p_ in net.parameters())),
               "param_sha256": hashlib.sha256(open(param_path, "rb").read()).hexdigest(),
               "bin_sha256": hashlib.sha256(data).hexdigest()}
    return traced, spec, summary


def prepare(path, spec):
    """torchvision's Resize(shorter side) + CenterCrop, then (x - mean) / std, as Preimage prepares images."""
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = max(spec["width"] / w, spec["height"] / h)
    im = im.resize((max(spec["width"], round(w * s)), max(spec["height"], round(h * s))), Image.BILINEAR)
    l, t = (im.size[0] - spec["width"]) // 2, (im.size[1] - spec["height"]) // 2
    im = im.crop((l, t, l + spec["width"], t + spec["height"]))
    x = torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1)
    return ((x - torch.tensor(spec["mean"])[:, None, None]) / torch.tensor(spec["std"])[:, None, None])[None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("param")
    ap.add_argument("bin")
    ap.add_argument("out")
    ap.add_argument("--classes", default="imagenet", choices=["imagenet", "none"])
    ap.add_argument("--check", nargs="*", default=[], help="photographs to classify with the converted file")
    a = ap.parse_args()
    classes = None
    if a.classes == "imagenet":
        from torchvision.models._meta import _IMAGENET_CATEGORIES
        classes = _IMAGENET_CATEGORIES
    try:
        net, spec, summary = convert(a.param, a.bin, a.out, classes)
    except (NcnnError, OSError, KeyError, ValueError) as e:
        sys.exit(f"convert_ncnn: {e}")
    print(json.dumps(summary))
    for path in a.check:
        with torch.no_grad():
            prob = torch.softmax(net(prepare(path, spec)), 1)[0]
        top = prob.topk(5)
        names = [classes[i] if classes else str(i) for i in top.indices.tolist()]
        print(path, ", ".join(f"{n} {v:.3f}" for n, v in zip(names, top.values.tolist())))


if __name__ == "__main__":
    main()
