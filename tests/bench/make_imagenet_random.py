#!/usr/bin/python3
"""Makes the time-to-quality benchmark's random-weight ImageNet networks (issue "Time to quality"): torchvision's
AlexNet at 227 px and ResNet-50 at 224 px, weights from torch.manual_seed(0), scripted with a preimage.json extra
file (the ImageNet mean and std on [0,1] RGB). Not shipped: made where the benchmark runs.

Usage: make_imagenet_random.py OUT_DIR
"""
import json
import os
import sys

import torch
import torchvision


def save(net, side, path):
    spec = {"width": side, "height": side, "channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    torch.jit.save(torch.jit.script(net.eval()), path, _extra_files={"preimage.json": json.dumps(spec)})
    print(path)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    save(torchvision.models.alexnet(), 227, os.path.join(out, "alexnet_random.pt"))
    torch.manual_seed(0)
    save(torchvision.models.resnet50(), 224, os.path.join(out, "resnet50_random.pt"))
