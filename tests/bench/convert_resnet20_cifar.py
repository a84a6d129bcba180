#!/usr/bin/python3
"""Converts a trained CIFAR-10 ResNet-20 (He et al. 2016, the 3x3-block network for 32-px images with the parameter-free
"option A" shortcut: stride-2 subsampling and zero channels) to TorchScript: a small trained network the inversion
defaults were never tuned on (README, "Time to quality", "Where it falls short" (4)). Not shipped; nothing downloads.

Usage: convert_resnet20_cifar.py CHECKPOINT OUT.pt

CHECKPOINT: resnet20-12fca82f.th from github.com/akamaster/pytorch_resnet_cifar10 (pretrained_models/, 1.1 MB; a dict
whose "state_dict" holds the weights under "module."), e.g.
  git -C <clone> show HEAD:pretrained_models/resnet20-12fca82f.th > resnet20.th
The network is defined here (module names as in that checkpoint, so the weights load by name), scripted, and saved with
a preimage.json extra file: 32 px RGB, the ImageNet mean and std that checkpoint was trained with, the CIFAR-10 classes.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Subsample(nn.Module):
    """Option-A shortcut: every second pixel, the new channels zero (half before, half after)."""

    def __init__(self, extra: int):
        super().__init__()
        self.extra = extra

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra, self.extra))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = Subsample((cout - cin) // 2) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for i, cout in enumerate([16, 32, 64]):
            blocks = [Block(cin if b == 0 else cout, cout, 2 if (b == 0 and i > 0) else 1) for b in range(3)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state = torch.load(sys.argv[1], map_location="cpu")
    state = {k.removeprefix("module."): v for k, v in state.get("state_dict", state).items()}
    net = ResNet20()
    net.load_state_dict(state)  # strict: every weight by name
    net.eval()
    spec = {"size": 32, "channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "classes": CLASSES}
    torch.jit.save(torch.jit.script(net), sys.argv[2], _extra_files={"preimage.json": json.dumps(spec)})
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
