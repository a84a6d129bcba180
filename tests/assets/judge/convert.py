#!/usr/bin/python3
"""Converts the quantised MobileNet V2 1.0 224 (TensorFlow Lite, uint8) to a TorchScript "judge": a second trained
ImageNet classifier, independent of the SqueezeNet the app ships, that the tests use to score images.

Usage: convert.py SRC_DIR [--out DIR] [--samples DIR]

SRC_DIR holds the original files, as in github.com/google-coral/test_data (commit 104342d2d348...):
  mobilenet_v2_1.0_224_quant.tflite, imagenet_labels.txt (and, for the reference check, cat.bmp)
  e.g.  git -C <clone of google-coral/test_data> show HEAD:mobilenet_v2_1.0_224_quant.tflite > SRC_DIR/...
Their SHA-256 are checked. Writes DIR/judge.pt and DIR/manifest.json (DIR: this script's folder by default).

The .tflite is a FlatBuffer (schema: tensorflow/lite/schema/schema.fbs), read here with a small reader: the Model
table (operator_codes 1, subgraphs 2, buffers 4), the SubGraph (tensors 0, inputs 1, outputs 2, operators 3), the
Tensor (shape 0, type 1, buffer 2, name 3, quantization 4: scale 2, zero_point 3), the Operator (opcode_index 0,
inputs 1, outputs 2, builtin_options 4). Weights are uint8 with one (scale, zero point) per tensor, kept as they are
in the TorchScript file (buffers weight_q, weight_scale, weight_zero) and dequantised in each forward:
(q - zero) * scale; the int32 biases are stored dequantised (q * scale) in float32. Activations run in float (the
uint8 requantisation between layers is not reproduced; the check below measures what that changes).

The module takes [N,3,H,W] RGB in [0,1] and returns [N,1000] logits (pre-softmax), the TFLite background class 0
dropped, so class i is ILSVRC-2012 class i in the standard synset order (torchvision's _IMAGENET_CATEGORIES,
assets/models/squeezenet/manifest.json). The TFLite input quantisation (scale 1/128, zero point 128 on 0-255
pixels: (255x - 128)/128, i.e. mean = std = 128/255) is folded inside. TensorFlow's SAME padding (asymmetric on
stride 2: the extra row/column at the bottom/right) is computed from the input size in each forward, and the
7x7 average pool is a global mean, so any input size runs; the network was trained at 224x224.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
from collections import OrderedDict
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGINALS = {
    "mobilenet_v2_1.0_224_quant.tflite": "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    "imagenet_labels.txt": "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1",
}
SOURCE = {
    "repository": "https://github.com/google-coral/test_data",
    "commit": "104342d2d3480b3e66203073dac24f4e2dbb4c41",
    "files": ["mobilenet_v2_1.0_224_quant.tflite", "imagenet_labels.txt"],
}

# TensorFlow Lite enums (schema.fbs)
CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D, RESHAPE, SOFTMAX = 3, 4, 0, 1, 22, 25
UINT8, INT32 = 3, 2
SAME, VALID = 0, 1
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3


class TfliteError(Exception):
    pass


# ----------------------------------------------------------------------------------------------- FlatBuffer reader
class Table:
    """A FlatBuffer table at byte `pos` of `buf`: fields by their index in the schema."""

    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vsize = struct.unpack_from("<H", buf, self.vtable)[0]

    def _offset(self, field):
        o = 4 + 2 * field
        return struct.unpack_from("<H", self.buf, self.vtable + o)[0] if o < self.vsize else 0

    def scalar(self, field, fmt, default=0):
        o = self._offset(field)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0] if o else default

    def _target(self, field):
        o = self._offset(field)
        if not o:
            return None
        p = self.pos + o
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, field):
        p = self._target(field)
        return None if p is None else Table(self.buf, p)

    def _vector(self, field):
        p = self._target(field)
        return None if p is None else (p + 4, struct.unpack_from("<I", self.buf, p)[0])

    def tables(self, field):
        v = self._vector(field)
        if v is None:
            return []
        p, n = v
        return [Table(self.buf, p + 4 * k + struct.unpack_from("<I", self.buf, p + 4 * k)[0]) for k in range(n)]

    def array(self, field, dtype):
        v = self._vector(field)
        if v is None:
            return None
        p, n = v
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=p)

    def string(self, field):
        v = self._vector(field)
        return None if v is None else self.buf[v[0]:v[0] + v[1]].decode()


def read_tflite(data):
    """Returns (tensors, operators, inputs, outputs): tensors as dicts (name, shape, type, scale, zero, data)."""
    if data[4:8] != b"TFL3":
        raise TfliteError("not a TensorFlow Lite file (no TFL3 identifier)")
    model = Table(data, struct.unpack_from("<I", data, 0)[0])
    codes = []
    for c in model.tables(1):
        code = max(c.scalar(0, "b"), c.scalar(3, "i"))  # deprecated_builtin_code, builtin_code
        codes.append(code)
    subgraphs = model.tables(2)
    if len(subgraphs) != 1:
        raise TfliteError(f"{len(subgraphs)} subgraphs; one expected")
    g, buffers = subgraphs[0], model.tables(4)
    tensors = []
    for t in g.tables(0):
        q = t.table(4)
        scale = q.array(2, "<f4") if q is not None else None
        zero = q.array(3, "<i8") if q is not None else None
        if scale is not None and len(scale) != 1:
            raise TfliteError(f"{t.string(3)}: per-channel quantisation is not supported")
        raw = buffers[t.scalar(2, "I")].array(0, "u1")
        shape = [int(s) for s in t.array(0, "<i4")]
        kind = t.scalar(1, "b")
        value = None
        if raw is not None and len(raw):
            dt = {UINT8: "u1", INT32: "<i4"}.get(kind)
            if dt is None:
                raise TfliteError(f"{t.string(3)}: constant of type {kind} is not supported")
            value = np.frombuffer(raw.tobytes(), dtype=dt).reshape(shape)
        tensors.append(dict(name=t.string(3), shape=shape, type=kind,
                            scale=None if scale is None else float(scale[0]),
                            zero=None if zero is None else int(zero[0]), data=value))
    operators = []
    for o in g.tables(3):
        opt = o.table(4)
        operators.append(dict(code=codes[o.scalar(0, "I")], inputs=[int(i) for i in o.array(1, "<i4")],
                              outputs=[int(i) for i in o.array(2, "<i4")], options=opt))
    return tensors, operators, [int(i) for i in g.array(1, "<i4")], [int(i) for i in g.array(2, "<i4")]


def conv_options(op):
    """(padding, stride_h, stride_w, activation) of a CONV_2D / DEPTHWISE_CONV_2D / pool."""
    o = op["options"]
    if op["code"] == CONV_2D:  # Conv2DOptions: padding, stride_w, stride_h, fused_activation, dilation w/h
        pad, sw, sh, act = o.scalar(0, "b"), o.scalar(1, "i"), o.scalar(2, "i"), o.scalar(3, "b")
        dil = (o.scalar(4, "i", 1), o.scalar(5, "i", 1))
    elif op["code"] == DEPTHWISE_CONV_2D:  # padding, stride_w, stride_h, depth_multiplier, activation, dilations
        pad, sw, sh, act = o.scalar(0, "b"), o.scalar(1, "i"), o.scalar(2, "i"), o.scalar(4, "b")
        dil = (o.scalar(5, "i", 1), o.scalar(6, "i", 1))
        if o.scalar(3, "i", 1) != 1:
            raise TfliteError("depth multiplier other than 1 is not supported")
    else:
        raise TfliteError(f"operator {op['code']} has no convolution options")
    if dil != (1, 1):
        raise TfliteError("dilated convolutions are not supported")
    if act not in (ACT_NONE, ACT_RELU, ACT_RELU6):
        raise TfliteError(f"fused activation {act} is not supported")
    return pad, sh, sw, act


# ----------------------------------------------------------------------------------------------- TorchScript module
def same_pad(x: torch.Tensor, kh: int, kw: int, sh: int, sw: int) -> torch.Tensor:
    """TensorFlow's SAME padding: total max((ceil(n/s)-1)*s + k - n, 0), the smaller half before."""
    h, w = x.size(2), x.size(3)
    ph = max(((h + sh - 1) // sh - 1) * sh + kh - h, 0)
    pw = max(((w + sw - 1) // sw - 1) * sw + kw - w, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


class QConv2d(nn.Module):
    """A convolution whose weights are the TFLite file's uint8 values, dequantised in the forward."""

    def __init__(self, weight_q, scale, zero, bias, stride, groups, same):
        super().__init__()
        self.register_buffer("weight_q", torch.from_numpy(np.array(weight_q, copy=True)))
        self.register_buffer("weight_scale", torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("weight_zero", torch.tensor(float(zero), dtype=torch.float32))
        self.register_buffer("bias", torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32)))
        self.stride: int = int(stride)
        self.groups: int = int(groups)
        self.same: bool = bool(same)
        self.kh: int = int(weight_q.shape[2])
        self.kw: int = int(weight_q.shape[3])

    def weight(self) -> torch.Tensor:
        return (self.weight_q.to(torch.float32) - self.weight_zero) * self.weight_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            x = same_pad(x, self.kh, self.kw, self.stride, self.stride)
        return F.conv2d(x, self.weight().to(x.dtype), self.bias.to(x.dtype), self.stride, 0, 1, self.groups)


class Block(nn.Module):
    """An inverted-residual block: [expand 1x1 + ReLU6,] depthwise 3x3 + ReLU6, project 1x1; + input when shapes agree."""

    def __init__(self, layers, residual):
        super().__init__()
        self.layers = nn.Sequential(layers)
        self.residual: bool = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        if self.residual:
            y = y + x
        return y


class Judge(nn.Module):
    """MobileNet V2 1.0: RGB [0,1] in, 1000 ImageNet logits out (TFLite's background class dropped)."""

    def __init__(self, features, logits):
        super().__init__()
        self.features = nn.Sequential(features)
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * (255.0 / 128.0) - 1.0  # TFLite input: (255 x - 128) / 128
        x = self.features(x)
        x = x.mean([2, 3], keepdim=True)  # MobilenetV2/Logits/AvgPool (7x7 at 224)
        x = self.logits(x)  # MobilenetV2/Logits/Conv2d_1c_1x1: 1001 classes
        return torch.flatten(x, 1)[:, 1:]


class ReLU6(nn.Module):
    """min(max(x, 0), 6) (own module rather than nn.ReLU6, whose scripted constants come out in a random order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0.0, 6.0)


class ReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


def activation(act):
    return ReLU6() if act == ACT_RELU6 else ReLU() if act == ACT_RELU else None


def conv_from(tensors, op):
    """QConv2d (+ activation) for a CONV_2D / DEPTHWISE_CONV_2D operator."""
    x, w, b = (tensors[i] for i in op["inputs"])
    pad, sh, sw, act = conv_options(op)
    if sh != sw:
        raise TfliteError("unequal strides are not supported")
    wq = w["data"]
    if op["code"] == CONV_2D:  # OHWI -> OIHW
        wq, groups = wq.transpose(0, 3, 1, 2), 1
    else:  # 1HWC -> C1HW
        wq, groups = wq.transpose(3, 0, 1, 2), wq.shape[3]
        if groups != x["shape"][3]:
            raise TfliteError(f"{w['name']}: depthwise channels {groups} != input channels {x['shape'][3]}")
    if w["type"] != UINT8 or b["type"] != INT32:
        raise TfliteError(f"{w['name']}: uint8 weights and int32 biases expected")
    bias_scale = x["scale"] * w["scale"]
    if abs(b["scale"] - bias_scale) > 1e-6 * bias_scale:
        raise TfliteError(f"{b['name']}: bias scale {b['scale']} != input x weight scale {bias_scale}")
    bias = b["data"].astype(np.float64) * b["scale"]
    conv = QConv2d(wq, w["scale"], w["zero"], bias, sh, groups, pad == SAME)
    return conv, activation(act)


def block_name(tensor_name):
    """'MobilenetV2/expanded_conv_3/expand/Relu6;...' -> ('expanded_conv_3', 'expand')."""
    parts = tensor_name.split(";")[0].split("/")
    if parts[0] != "MobilenetV2" or len(parts) < 3:
        raise TfliteError(f"unexpected tensor name {tensor_name}")
    return parts[1], parts[2]


def build(tensors, operators, inputs, outputs):
    """The Judge module, its stages checked to form MobileNet V2's chain in the file's operator order."""
    producer = {o: k for k, op in enumerate(operators) for o in op["outputs"]}
    ops = list(operators)
    if [op["code"] for op in ops[-4:]] != [AVERAGE_POOL_2D, CONV_2D, RESHAPE, SOFTMAX]:
        raise TfliteError("the network does not end with AvgPool, 1x1 conv, Reshape, Softmax")
    features, current = OrderedDict(), inputs[0]
    blocks = OrderedDict()  # block name -> [(part, module, input tensor, output tensor)]
    adds = {}
    for op in ops[:-4]:
        if op["code"] in (CONV_2D, DEPTHWISE_CONV_2D):
            blk, part = block_name(tensors[op["outputs"][0]]["name"])
            conv, act = conv_from(tensors, op)
            blocks.setdefault(blk, []).append((part, conv, act, op["inputs"][0], op["outputs"][0]))
        elif op["code"] == ADD:
            if op["options"] is not None and op["options"].scalar(0, "b") != ACT_NONE:
                raise TfliteError("fused activation on ADD is not supported")
            blk, _ = block_name(tensors[op["outputs"][0]]["name"])
            adds[blk] = op
        else:
            raise TfliteError(f"operator {op['code']} is not supported inside the features")
    for blk, parts in blocks.items():
        for (_, _, _, _, out), (_, _, _, nxt_in, _) in zip(parts, parts[1:]):
            if out != nxt_in:
                raise TfliteError(f"{blk}: its convolutions do not form a chain")
        if parts[0][3] != current:
            raise TfliteError(f"{blk}: does not take the previous stage's output")
        last = parts[-1][4]
        layers = OrderedDict()
        for part, conv, act, _, _ in parts:
            layers[part] = conv
            if act is not None:
                layers[part + "_relu6"] = act
        if blk in adds:
            a, b = adds[blk]["inputs"]
            if {a, b} != {current, last}:
                raise TfliteError(f"{blk}: the ADD does not add the block's input to its output")
            features[blk] = Block(layers, True)
            current = adds[blk]["outputs"][0]
        elif len(parts) == 1:
            features[blk] = conv_stage(layers)
            current = last
        else:
            features[blk] = Block(layers, False)
            current = last
    pool, logit_op = ops[-4], ops[-3]
    if pool["inputs"][0] != current or logit_op["inputs"][0] != pool["outputs"][0]:
        raise TfliteError("the head does not follow the features")
    logits, act = conv_from(tensors, logit_op)
    if act is not None:
        raise TfliteError("the logits have an activation")
    if tensors[logit_op["outputs"][0]]["shape"][-1] != 1001:
        raise TfliteError("1001 outputs (background + ImageNet-1k) expected")
    return Judge(features, logits)


def conv_stage(layers):
    return nn.Sequential(layers)


# ----------------------------------------------------------------------------------------------- reference interpreter
def interpret(tensors, operators, inputs, outputs, x01, fake_quant):
    """Runs the operator list directly (NCHW, float), as an independent check of the module's structure. With
    fake_quant every activation is rounded to its tensor's uint8 grid (scale, zero point), approximating the
    integer TFLite kernels. x01: [N,3,H,W] in [0,1]. Returns the 1001 logits (the softmax's input)."""
    env = {}

    def q(t, v):
        if not fake_quant:
            return v
        s, z = tensors[t]["scale"], tensors[t]["zero"]
        return (torch.clamp(torch.round(v / s) + z, 0, 255) - z) * s

    inp = tensors[inputs[0]]
    q255 = torch.round(x01 * 255) if fake_quant else x01 * 255
    env[inputs[0]] = (q255 - inp["zero"]) * inp["scale"]
    for op in operators:
        ins, out = op["inputs"], op["outputs"][0]
        if op["code"] in (CONV_2D, DEPTHWISE_CONV_2D):
            conv, act = conv_from(tensors, op)
            y = conv(env[ins[0]])
            if act is not None:
                y = act(y)
        elif op["code"] == ADD:
            y = env[ins[0]] + env[ins[1]]
        elif op["code"] == AVERAGE_POOL_2D:
            o = op["options"]  # Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, act
            if o.scalar(0, "b") != VALID:
                raise TfliteError("SAME average pooling is not supported")
            y = F.avg_pool2d(env[ins[0]], (o.scalar(4, "i"), o.scalar(3, "i")), (o.scalar(2, "i"), o.scalar(1, "i")))
        elif op["code"] == RESHAPE:
            y = torch.flatten(env[ins[0]], 1)
        elif op["code"] == SOFTMAX:
            return env[ins[0]]
        else:
            raise TfliteError(f"operator {op['code']} not supported")
        env[out] = q(out, y)
    raise TfliteError("no softmax at the end")


# ----------------------------------------------------------------------------------------------- checks
def prepare(path, side=224):
    """As Preimage prepares an image: bilinear resize of the shorter side to `side`, centre crop, RGB in [0,1]."""
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = side / min(w, h)
    im = im.resize((max(side, round(w * s)), max(side, round(h * s))), Image.BILINEAR)
    l, t = (im.size[0] - side) // 2, (im.size[1] - side) // 2
    im = im.crop((l, t, l + side, t + side))
    return torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def top5(logits, classes):
    p = torch.softmax(logits, 1)[0]
    v, i = p.topk(5)
    return [{"class": int(k), "name": classes[k], "p": round(float(x), 4)} for x, k in zip(v, i)]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_labels(labels, classes):
    """The TFLite labels (background + 1000) against the standard class names: each name one of the synonyms."""
    if len(labels) != 1001 or labels[0] != "background":
        raise TfliteError("imagenet_labels.txt: 1001 lines starting with 'background' expected")
    bad = []
    for k, (label, name) in enumerate(zip(labels[1:], classes)):
        synonyms = [s.strip().lower() for s in label.split(",")]
        if name.lower() not in synonyms and name.lower() not in label.lower():
            bad.append((k, label, name))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="folder with the original files")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--samples", default=os.path.join(HERE, "..", "..", "..", "assets", "samples"))
    a = ap.parse_args()
    hashes = {}
    for name, expected in ORIGINALS.items():
        got = sha256(os.path.join(a.src, name))
        if got != expected:
            sys.exit(f"convert.py: {name}: SHA-256 {got}, expected {expected}")
        hashes[name] = got
    from torchvision.models._meta import _IMAGENET_CATEGORIES as classes
    classes = list(classes)
    with open(os.path.join(a.src, "imagenet_labels.txt")) as f:
        labels = [l.rstrip("\n") for l in f]
    bad = check_labels(labels, classes)
    with open(os.path.join(a.src, "mobilenet_v2_1.0_224_quant.tflite"), "rb") as f:
        graph = read_tflite(f.read())
    try:
        net = build(*graph).eval()
    except TfliteError as e:
        sys.exit(f"convert.py: {e}")
    for p in net.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(net)
    spec = {"width": 224, "height": 224, "channels": 3, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "note": "RGB in [0,1]; the TFLite input quantisation ((255x-128)/128) is inside", "classes": classes}
    out_pt = os.path.join(a.out, "judge.pt")
    torch.jit.save(scripted, out_pt, _extra_files={"preimage.json": json.dumps(spec)})
    loaded = torch.jit.load(out_pt)

    # checks: the saved file against the operator-list interpreter, float and with uint8 activations
    checks, worst = [], 0.0
    images = sorted(f for f in os.listdir(a.samples) if f.startswith("photo_"))
    with torch.no_grad():
        for name in images:
            x = prepare(os.path.join(a.samples, name))
            y = loaded(x)
            ref = interpret(*graph, x, fake_quant=False)[:, 1:]
            worst = max(worst, float((y - ref).abs().max()))
            yq = interpret(*graph, x, fake_quant=True)[:, 1:]
            checks.append({"image": "assets/samples/" + name, "top5": top5(y, classes),
                           "top5_uint8_activations": [t["name"] for t in top5(yq, classes)]})
            print(name, "; ".join(f"{t['name']} {t['p']:.3f}" for t in checks[-1]["top5"]))
            print("   uint8 activations:", "; ".join(checks[-1]["top5_uint8_activations"]))
        coral = None
        cat = os.path.join(a.src, "cat.bmp")
        if os.path.exists(cat):  # libcoral's test: TFLite RESIZE_BILINEAR (half-pixel centres), truncated to uint8
            from PIL import Image
            im = torch.from_numpy(np.asarray(Image.open(cat).convert("RGB"), np.float32)).permute(2, 0, 1)[None]
            x = torch.floor(F.interpolate(im, size=(224, 224), mode="bilinear", align_corners=False)) / 255.0
            y = loaded(x)
            p = torch.softmax(interpret(*graph, x, fake_quant=False), 1)[0]  # 1001 classes, as the test scores
            pq = torch.softmax(interpret(*graph, x, fake_quant=True), 1)[0]
            coral = {"image": "cat.bmp of google-coral/test_data, resized to 224x224 as libcoral's test does",
                     "expected": "libcoral classification_test (mobilenet_v2_1.0_224_quant.tflite, cat.bmp): "
                                 "top-1 label 286 = Egyptian cat (judge class 285), score >= 0.8",
                     "judge_top1": classes[int(y.argmax())], "judge_top1_index": int(y.argmax()),
                     "score_1001": round(float(p[286]), 4), "top1_1001": int(p.argmax()),
                     "score_1001_uint8_activations": round(float(pq[286]), 4)}
            print("coral cat.bmp:", coral)
    print("max |judge - interpreter| over the samples:", worst)
    if worst > 1e-3:
        sys.exit("convert.py: the module does not reproduce the operator list")

    manifest = {
        "name": "judge",
        "network": "MobileNet V2 1.0 224, quantisation-aware trained, uint8 (TensorFlow Lite; TF-slim "
                   "mobilenet_v2 from tensorflow/models, ImageNet ILSVRC-2012, top-1 70.8% / top-5 89.9% as uint8 in the TensorFlow Lite hosted-models table)",
        "source": dict(SOURCE, sha256=hashes, bytes={n: os.path.getsize(os.path.join(a.src, n)) for n in ORIGINALS}),
        "licence": {"name": "Apache-2.0",
                    "note": "google-coral/test_data is Apache-2.0 (LICENSE beside this file, a copy of the "
                            "repository's); the model is Google's MobileNet V2 release (tensorflow/models, Apache-2.0)"},
        "torchscript": "judge.pt",
        "bytes": os.path.getsize(out_pt),
        "sha256": sha256(out_pt),
        "input": {"side": 224, "layout": "[N,3,H,W] float32", "range": "[0,1] RGB",
                  "normalisation": "folded inside: x*255/128 - 1 (TFLite input scale 1/128, zero point 128; "
                                   "i.e. mean = std = 128/255 on [0,1] pixels); nothing to apply outside",
                  "sizes": "any H,W run (TF SAME padding computed per call, global average pool); trained at 224"},
        "output": "[N,1000] logits (pre-softmax); TFLite's background class 0 dropped inside the module",
        "classes": "ImageNet-1k, same order as assets/models/squeezenet/manifest.json (torchvision "
                   "_IMAGENET_CATEGORIES); checked: each name is among the TFLite label's synonyms "
                   f"({1000 - len(bad)}/1000 by name; the rest are torchvision's disambiguated duplicates: "
                   f"{[(k, l, n) for k, l, n in bad]})",
        "conversion": {
            "originals": "for f in mobilenet_v2_1.0_224_quant.tflite imagenet_labels.txt cat.bmp; do git -C "
                         "<clone of google-coral/test_data> show 104342d2d3480b3e66203073dac24f4e2dbb4c41:$f "
                         "> SRC_DIR/$f; done  (cat.bmp only for the libcoral reference check)",
            "command": "/usr/bin/python3 tests/assets/judge/convert.py SRC_DIR  (from the repository root; "
                       "writes tests/assets/judge/judge.pt and manifest.json; byte-for-byte reproducible)",
            "how": "uint8 weights kept as uint8 buffers with their scale/zero point and dequantised in the forward; "
                   "int32 biases dequantised to float32; activations in float (no uint8 requantisation); "
                   "torch.jit.script, saved with torch.jit.save, preimage.json (input spec, class names) inside",
            "torch": torch.__version__,
        },
        "checks": {"preprocessing": "shorter side bilinear to 224, centre crop 224 (as Preimage)",
                   "max_abs_logit_difference_vs_operator_interpreter": worst,
                   "samples": checks, "coral_reference": coral},
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(out_pt, os.path.getsize(out_pt), "bytes")


if __name__ == "__main__":
    main()
