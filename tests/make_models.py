#!/usr/bin/python3
"""Makes the TorchScript test models (random weights, fixed seed) with Debian's python3-torchvision.

Usage: make_models.py OUT_DIR. Writes:
  alexnet_scripted.pt  torchvision AlexNet (its real `features`), classifier narrowed to keep the file small, torch.jit.script
  alexnet_traced.pt    the same network through torch.jit.trace
  squeezenet.pt        torchvision SqueezeNet 1.1 (Fire modules concatenate branches): cannot be walked
  residual.pt          a module whose forward adds a skip connection: walks, but does not reproduce forward()
  state_dict.pt        a plain torch.save of a state dict: not TorchScript
  not_a_model.pt       text
"""
import os
import sys

import torch
import torchvision
from torch import nn


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.conv(x))


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    alex = torchvision.models.alexnet(num_classes=10)
    alex.classifier[1] = nn.Linear(256 * 6 * 6, 64)
    alex.classifier[4] = nn.Linear(64, 64)
    alex.classifier[6] = nn.Linear(64, 10)
    alex.eval()
    torch.jit.script(alex).save(os.path.join(out, "alexnet_scripted.pt"))
    torch.jit.trace(alex, torch.randn(1, 3, 128, 128)).save(os.path.join(out, "alexnet_traced.pt"))
    squeeze = torchvision.models.squeezenet1_1(num_classes=10).eval()
    torch.jit.script(squeeze).save(os.path.join(out, "squeezenet.pt"))
    torch.jit.script(Residual().eval()).save(os.path.join(out, "residual.pt"))
    torch.save(alex.state_dict(), os.path.join(out, "state_dict.pt"))
    with open(os.path.join(out, "not_a_model.pt"), "w") as f:
        f.write("this is not a TorchScript archive\n")


if __name__ == "__main__":
    main(sys.argv[1])
