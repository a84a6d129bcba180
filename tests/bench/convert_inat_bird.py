#!/usr/bin/python3
"""Converts MobileNet V2 1.0 224 trained on iNaturalist birds (965 species + background; uint8 TensorFlow Lite) to
TorchScript: a trained network the inversion defaults were never tuned on, with the judge's architecture but other
weights and classes (README, "Time to quality", "Where it falls short" (5)). Not shipped; nothing downloads.

Usage: convert_inat_bird.py SRC.tflite LABELS.txt OUT.pt [IMAGE]

SRC.tflite, LABELS.txt: mobilenet_v2_1.0_224_inat_bird_quant.tflite and inat_bird_labels.txt from
github.com/google-coral/test_data (3.6 MB), e.g. `git -C <clone> show HEAD:inat_bird_labels.txt > labels.txt`; IMAGE
(e.g. that repository's bird.bmp, a black-capped chickadee) is classified as a check.

The features are read and built by the judge's converter (tests/assets/judge/convert.py: its FlatBuffer reader and
MobileNet V2 stages); only the head differs: AvgPool, FULLY_CONNECTED (965 x 1280), Softmax, where the ImageNet file
has a 1x1 convolution and a Reshape. The fully connected layer is handed to that builder as the 1x1 convolution it is.
The module takes RGB in [0,1] (the TFLite input quantisation inside) and returns the 965 logits, class i the labels'
line i (the last line is "background").
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "judge"))
import convert as judge  # noqa: E402


class Options:
    """Conv2DOptions of a 1x1 convolution: VALID padding, stride 1, no fused activation."""

    def scalar(self, field, fmt, default=0):
        return {0: judge.VALID, 1: 1, 2: 1, 3: 0}.get(field, default)


class Bird(judge.Judge):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * (255.0 / 128.0) - 1.0
        x = self.features(x)
        x = x.mean([2, 3], keepdim=True)
        return torch.flatten(self.logits(x), 1)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    src, labels_path, out = sys.argv[1:4]
    with open(src, "rb") as f:
        tensors, ops, inputs, outputs = judge.read_tflite(f.read())
    labels = [line.strip() for line in open(labels_path)]
    pool, fc = ops[-3], ops[-2]
    if [op["code"] for op in ops[-3:]] != [judge.AVERAGE_POOL_2D, 9, judge.SOFTMAX]:  # 9: FULLY_CONNECTED
        sys.exit("convert_inat_bird.py: the network does not end with AvgPool, FullyConnected, Softmax")
    w = dict(tensors[fc["inputs"][1]])
    classes, width = w["shape"]
    if classes != len(labels):
        sys.exit(f"convert_inat_bird.py: {classes} outputs but {len(labels)} labels")
    w["data"], w["shape"] = w["data"].reshape(classes, 1, 1, width), [classes, 1, 1, width]
    tensors.append(w)
    logit = fc["outputs"][0]
    tensors[logit]["shape"] = [1, 1, 1, 1001]  # the builder checks for ImageNet's 1001; the weights decide the count
    conv = dict(code=judge.CONV_2D, inputs=[pool["outputs"][0], len(tensors) - 1, fc["inputs"][2]], outputs=[logit],
                options=Options())
    tail = [dict(code=judge.RESHAPE, inputs=[logit], outputs=[logit], options=None),
            dict(code=judge.SOFTMAX, inputs=[logit], outputs=[logit], options=None)]
    built = judge.build(tensors, ops[:-2] + [conv] + tail, inputs, outputs)
    net = Bird(built.features._modules, built.logits).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    spec = {"width": 224, "height": 224, "channels": 3, "mean": [0.0] * 3, "std": [1.0] * 3, "classes": labels,
            "note": "MobileNet V2 1.0 224, iNaturalist birds (google-coral/test_data); RGB in [0,1]"}
    torch.jit.save(torch.jit.script(net), out, _extra_files={"preimage.json": json.dumps(spec)})
    if len(sys.argv) == 5:
        with torch.no_grad():
            p = torch.softmax(torch.jit.load(out)(judge.prepare(sys.argv[4])), 1)[0]
        v, i = p.topk(3)
        print("; ".join(f"{labels[k]} {float(q):.3f}" for q, k in zip(v, i)))


if __name__ == "__main__":
    main()
