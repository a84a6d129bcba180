#!/usr/bin/python3
"""Makes the TorchScript test models (random weights, fixed seed) with Debian's python3-torchvision, and the
forward-hook references the graph-tap tests compare against.

Usage: make_models.py OUT_DIR. Writes into OUT_DIR:
  alexnet_scripted.pt / alexnet_traced.pt   torchvision AlexNet (its real `features`), narrowed classifier
  alexnet_spec.pt        the scripted AlexNet with a preimage.json extra file (input spec, class names)
  head_nested_spec.pt / head_bad_spec.pt   preimage.json with the spec one level too deep / not JSON (refused)
  squeezenet.pt          torchvision SqueezeNet 1.1 (Fire modules concatenate branches)
  residual.pt            a module whose forward adds a skip connection around a conv
  head_<layout>.pt       classifier heads of other shapes: pool [N,K,1,1], row [N,1,K], linear [N,K], maps [N,K,4,4]
  <arch>_scripted.pt / <arch>_traced.pt for arch in resnet, densenet, mobilenet, googlenet, vit (small
                         configurations of the torchvision architectures)
  refusals: frozen.pt, traced_training.pt, two_inputs.pt, control_flow.pt (a branch on the input's sign),
            tuple_module.pt (a submodule returning a tuple), nan_weights.pt, state_dict.pt, not_a_model.pt
  ref/<arch>/input.npy   the input (already normalised), ref/<arch>/taps.txt every hook call's tap name in
                         call order, ref/<arch>/<tap>.npy a forward hook's (cloned) output for selected taps,
                         ref/<arch>/<tap>.grad.npy d sum(tap^2) / d input for two taps
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from torch import nn

M = torchvision.models


class Head(nn.Module):
    """A small conv net whose classifier head has the given layout: "pool" returns the global pool's [N, K, 1, 1]
    as it is, "row" [N, 1, K], "linear" [N, K] from a Linear layer, "maps" [N, K, 4, 4] (not class scores)."""

    def __init__(self, layout, classes=7):
        super().__init__()
        self.layout = layout
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.score = nn.Conv2d(8, classes, 1)
        self.pool = nn.AdaptiveAvgPool2d(1 if layout != "maps" else 4)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.relu(self.conv(x))
        if self.layout == "linear":
            return self.fc(x.mean((2, 3)))
        y = self.pool(self.score(x))
        if self.layout == "row":
            return y.flatten(1).unsqueeze(1)
        return y


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.conv(x))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x, y):
        return self.conv(x) + y.mean()


class ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = self.stem(x)
        if bool(x.mean() > 0):
            y = self.a(x)
        else:
            y = self.b(x)
        return y


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y, torch.relu(y)


class TupleModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.pair = Pair()
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        a, b = self.pair(self.stem(x))
        return self.head(a + b)


def small_networks():
    """name -> (module, input side): small configurations of the torchvision families."""
    return {
        "resnet": (M.resnet.ResNet(M.resnet.BasicBlock, [1, 1, 1, 1], num_classes=10), 32),
        "densenet": (M.DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2,
                                num_classes=10), 32),
        "mobilenet": (M.mobilenet_v3_small(num_classes=10), 32),
        "googlenet": (M.GoogLeNet(num_classes=10, aux_logits=False, init_weights=False), 32),
        "vit": (M.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                    mlp_dim=64, num_classes=10), 32),
    }


def hook_references(net, x, out_dir, picks):
    """Runs net under forward hooks on every submodule; writes tap names in call order and picked outputs."""
    calls, values, order = {}, {}, []
    handles = []
    for path, mod in net.named_modules():
        if not path:
            continue

        def hook(m, inp, out, path=path):
            calls[path] = calls.get(path, 0) + 1
            key = (path, calls[path])
            order.append(key)
            values[key] = [(i, o.clone()) for i, o in enumerate(out) if o is not None] if isinstance(out, tuple) else out.clone()

        handles.append(mod.register_forward_hook(hook))
    x = x.clone().requires_grad_(True)
    net(x)
    for h in handles:
        h.remove()
    names, tensors = [], {}
    for path, k in order:
        name = path + ("#%d" % k if calls[path] > 1 else "")
        v = values[(path, k)]
        if isinstance(v, list):
            for i, e in v:
                names.append("%s[%d]" % (name, i))
                tensors[names[-1]] = e
        else:
            names.append(name)
            tensors[name] = v
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "taps.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    np.save(os.path.join(out_dir, "input.npy"), x.detach().numpy().astype(np.float32))
    chosen = [names[int(f * (len(names) - 1))] for f in picks]
    for name in chosen:
        np.save(os.path.join(out_dir, name + ".npy"), tensors[name].detach().numpy().astype(np.float32))
    for name in (chosen[1], chosen[2]):
        grad, = torch.autograd.grad((tensors[name] ** 2).sum(), x, retain_graph=True)
        np.save(os.path.join(out_dir, name + ".grad.npy"), grad.numpy().astype(np.float32))
    with open(os.path.join(out_dir, "picked.txt"), "w") as f:
        f.write("\n".join(chosen) + "\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    alex = M.alexnet(num_classes=10)
    alex.classifier[1] = nn.Linear(256 * 6 * 6, 64)
    alex.classifier[4] = nn.Linear(64, 64)
    alex.classifier[6] = nn.Linear(64, 10)
    alex.eval()
    torch.jit.script(alex).save(os.path.join(out, "alexnet_scripted.pt"))
    torch.jit.trace(alex, torch.randn(1, 3, 128, 128)).save(os.path.join(out, "alexnet_traced.pt"))
    spec = {"size": 96, "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
            "classes": ["c%d" % i for i in range(10)]}
    torch.jit.save(torch.jit.script(alex), os.path.join(out, "alexnet_spec.pt"),
                   _extra_files={"preimage.json": json.dumps(spec)})
    squeeze = M.squeezenet1_1(num_classes=10).eval()
    torch.jit.script(squeeze).save(os.path.join(out, "squeezenet.pt"))
    torch.jit.script(Residual().eval()).save(os.path.join(out, "residual.pt"))
    for layout in ("pool", "row", "linear", "maps"):
        torch.jit.script(Head(layout).eval()).save(os.path.join(out, f"head_{layout}.pt"))
    for name, text in (("nested", json.dumps({"input": {"width": 40, "height": 40, "channels": 3}})), ("bad", "{width: 40")):
        torch.jit.save(torch.jit.script(Head("pool").eval()), os.path.join(out, f"head_{name}_spec.pt"),
                       _extra_files={"preimage.json": text})

    torch.manual_seed(1)
    for name, (net, side) in small_networks().items():
        net.eval()
        x = torch.randn(1, 3, side, side)
        torch.jit.script(net).save(os.path.join(out, name + "_scripted.pt"))
        torch.jit.trace(net, x, check_trace=False).save(os.path.join(out, name + "_traced.pt"))
        hook_references(net, x, os.path.join(out, "ref", name), picks=(0.1, 0.35, 0.6, 0.85, 1.0))

    # Refusals.
    res = small_networks()["resnet"][0].eval()
    torch.jit.freeze(torch.jit.script(res)).save(os.path.join(out, "frozen.pt"))
    res.train()
    torch.jit.trace(res, torch.randn(2, 3, 32, 32), check_trace=False).save(os.path.join(out, "traced_training.pt"))
    torch.jit.script(TwoInputs().eval()).save(os.path.join(out, "two_inputs.pt"))
    torch.jit.script(ControlFlow().eval()).save(os.path.join(out, "control_flow.pt"))
    torch.jit.script(TupleModule().eval()).save(os.path.join(out, "tuple_module.pt"))
    broken = Residual().eval()
    with torch.no_grad():
        broken.conv.weight.fill_(float("nan"))
    torch.jit.script(broken).save(os.path.join(out, "nan_weights.pt"))
    torch.save(alex.state_dict(), os.path.join(out, "state_dict.pt"))
    with open(os.path.join(out, "not_a_model.pt"), "w") as f:
        f.write("this is not a TorchScript archive\n")


if __name__ == "__main__":
    main(sys.argv[1])
