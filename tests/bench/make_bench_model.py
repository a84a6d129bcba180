#!/usr/bin/python3
"""Makes the benchmark's TorchScript network: a Fashion-sized CNN whose third conv block has 128 channels
(random weights, seed 0), saved with torch.jit.script and a preimage.json extra file that holds its input spec
and its architecture (so that reference_invert.py rebuilds the same network in eager PyTorch).

Usage: make_bench_model.py OUT.pt
"""
import collections
import json
import sys

import torch
from torch import nn

ARCH = [
    {"name": "conv1", "type": "conv", "in": 1, "out": 32, "kernel": 3, "pad": 1},
    {"name": "relu1", "type": "relu"},
    {"name": "pool1", "type": "maxpool", "kernel": 2},
    {"name": "conv2", "type": "conv", "in": 32, "out": 64, "kernel": 3, "pad": 1},
    {"name": "relu2", "type": "relu"},
    {"name": "pool2", "type": "maxpool", "kernel": 2},
    {"name": "conv3", "type": "conv", "in": 64, "out": 128, "kernel": 3, "pad": 1},
    {"name": "relu3", "type": "relu"},
    {"name": "flatten", "type": "flatten"},
    {"name": "fc4", "type": "linear", "in": 128 * 7 * 7, "out": 256},
    {"name": "relu4", "type": "relu"},
    {"name": "fc5", "type": "linear", "in": 256, "out": 10},
]


def build(arch):
    kinds = {
        "conv": lambda l: nn.Conv2d(l["in"], l["out"], l["kernel"], padding=l.get("pad", 0)),
        "relu": lambda l: nn.ReLU(),
        "maxpool": lambda l: nn.MaxPool2d(l["kernel"]),
        "flatten": lambda l: nn.Flatten(),
        "linear": lambda l: nn.Linear(l["in"], l["out"]),
        "dropout": lambda l: nn.Dropout(l.get("p", 0.5)),
    }
    return nn.Sequential(collections.OrderedDict((l["name"], kinds[l["type"]](l)) for l in arch))


if __name__ == "__main__":
    torch.manual_seed(0)
    net = build(ARCH).eval()
    spec = {"size": 28, "channels": 1, "mean": [0.2860], "std": [0.3530], "architecture": ARCH}
    torch.jit.save(torch.jit.script(net), sys.argv[1], _extra_files={"preimage.json": json.dumps(spec)})
