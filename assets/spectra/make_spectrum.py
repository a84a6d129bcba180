#!/usr/bin/python3
"""Computes the average amplitude spectrum of natural photographs, the fixed Fourier magnitude MACO (Fel et al.
2023, "Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization") optimises the
phase under.

Usage: make_spectrum.py [--out DIR]   (DIR: this script's folder; run from anywhere)

Images: the colour photographs on this machine, each checked by SHA-256:
  assets/samples/photo_{astronaut,chelsea-cat,coffee,rocket}.png (skimage's photographs, already at a shorter
  side of 256) and skimage's motorcycle_left.png (python3-skimage 0.19, resized here). skimage's own copies of the
  four samples are not used again; motorcycle_right.png (the other half of a stereo pair: a near-duplicate),
  hubble_deep_field.jpg (astronomy, mostly black), retina.jpg (fundus), ihc.png (microscopy), and the synthetic
  or graphic images (color, phantom, logo, bw_text, chessboard_RGB, block, ...) are left out; so are the grey ones.
Each image: RGB in [0,1], shorter side resized to 256 (PIL Lanczos), then CROPS random 224x224 crops (numpy
default_rng(SEED)), each horizontally flipped with probability 1/2. For every crop, |torch.fft.rfft2(crop)| with
norm="backward" (unnormalised: the DC bin is the sum of the 224*224 pixels); the average over all crops of all
images, per channel, is written as float32 little-endian [3, 224, 113] (RGB; rows: vertical frequency in FFT
order 0, 1, ..., 111, -112, ..., -1; columns: horizontal frequency 0..112). The grey version (the amplitude of
the mean of R, G, B of each crop) is [1, 224, 113]. Every image weighs the same (the same number of crops).
The .json says all this, and the power law A(f) ~ f^-k fitted on the radial average.
"""
import argparse
import hashlib
import json
import os

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
IMAGES = [  # path, SHA-256 (checked)
    (os.path.join(ROOT, "assets/samples/photo_astronaut.png"),
     "6920df7795cecc620fde643c0caa984e5f36cc657d580c50185f298e65c4332b"),
    (os.path.join(ROOT, "assets/samples/photo_chelsea-cat.png"),
     "f93113675afd82a968b1531fdfffed812bbbcf5cb62953c7bb3d986587954e94"),
    (os.path.join(ROOT, "assets/samples/photo_coffee.png"),
     "db0bfed42aff3e32c66d180b56ffd621218ddcf8d02fe522619b388ef5887c3b"),
    (os.path.join(ROOT, "assets/samples/photo_rocket.png"),
     "e0f1f23b0ab7006534e9cbaaff774b16f13f8da219c58a2b9ad2c85a19dbf914"),
    (os.path.join(SKIMAGE, "motorcycle_left.png"),
     "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
]
SIDE, SHORT, CROPS, SEED = 224, 256, 64, 20230601


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load(path):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if min(w, h) != SHORT:
        s = SHORT / min(w, h)
        im = im.resize((max(SHORT, round(w * s)), max(SHORT, round(h * s))), Image.LANCZOS)
    return np.asarray(im, np.float64) / 255.0  # H, W, 3


def radial_fit(amp, lo, hi):
    """k of amp ~ f^-k: least squares of log amp on log f over the rfft bins with lo <= f <= hi (cycles/pixel),
    on the averages of log-spaced radial bins (so that the many high-frequency bins do not dominate)."""
    fy = np.fft.fftfreq(SIDE)[:, None]
    fx = np.fft.rfftfreq(SIDE)[None, :]
    f = np.sqrt(fy ** 2 + fx ** 2)
    edges = np.geomspace(lo, hi, 25)
    xs, ys = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        m = (f >= a) & (f < b) if b < hi else (f >= a) & (f <= b)
        if m.any():
            xs.append(np.log(f[m].mean()))
            ys.append(np.log(amp[m].mean()))
    k, c = np.polyfit(xs, ys, 1)
    resid = np.array(ys) - (k * np.array(xs) + c)
    return {"k": round(-float(k), 4), "log_amplitude_at_1_cycle_per_pixel": round(float(c), 4),
            "rms_log_residual": round(float(np.sqrt((resid ** 2).mean())), 4),
            "range_cycles_per_pixel": [round(lo, 5), hi], "bins": len(xs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    rng = np.random.default_rng(SEED)
    total = torch.zeros(3, SIDE, SIDE // 2 + 1, dtype=torch.float64)
    grey = torch.zeros(1, SIDE, SIDE // 2 + 1, dtype=torch.float64)
    used = []
    for path, expected in IMAGES:
        name = os.path.basename(path)
        digest = sha256(path)
        if digest != expected:
            raise SystemExit(f"make_spectrum: {path}: SHA-256 {digest}, expected {expected}")
        img = load(path)
        h, w, _ = img.shape
        crops = []
        for _ in range(CROPS):
            t, l = rng.integers(0, h - SIDE + 1), rng.integers(0, w - SIDE + 1)
            c = img[t:t + SIDE, l:l + SIDE]
            if rng.random() < 0.5:
                c = c[:, ::-1]
            crops.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
        x = torch.from_numpy(np.stack(crops))  # CROPS, 3, 224, 224 in [0,1]
        total += torch.fft.rfft2(x, norm="backward").abs().sum(0)
        grey += torch.fft.rfft2(x.mean(1, keepdim=True), norm="backward").abs().sum(0)
        used.append({"file": os.path.relpath(path, ROOT) if path.startswith(ROOT) else path, "sha256": digest,
                     "size_after_resize": [w, h]})
        print(name, digest, (w, h))
    n = CROPS * len(IMAGES)
    mean = (total / n).float().numpy()
    mean_grey = (grey / n).float().numpy()
    os.makedirs(a.out, exist_ok=True)
    mean.astype("<f4").tofile(os.path.join(a.out, "natural_224.bin"))
    mean_grey.astype("<f4").tofile(os.path.join(a.out, "natural_224_grey.bin"))

    fits = {}
    for label, amp in (("R", mean[0]), ("G", mean[1]), ("B", mean[2]), ("grey", mean_grey[0])):
        fits[label] = {"2_to_112_cycles_per_image": radial_fit(amp, 2 / SIDE, 0.5),
                       "2_to_56_cycles_per_image": radial_fit(amp, 2 / SIDE, 0.25)}
        print(label, fits[label]["2_to_112_cycles_per_image"]["k"], fits[label]["2_to_56_cycles_per_image"]["k"])
    meta = {
        "about": "Average amplitude spectrum of natural photographs, for MACO (Fel et al. 2023): the fixed "
                 "Fourier magnitude; written by assets/spectra/make_spectrum.py",
        "files": {"natural_224.bin": {"shape": [3, SIDE, SIDE // 2 + 1], "channels": "R, G, B",
                                      "sha256": sha256(os.path.join(a.out, "natural_224.bin"))},
                  "natural_224_grey.bin": {"shape": [1, SIDE, SIDE // 2 + 1],
                                           "channels": "grey: the amplitude of (R+G+B)/3 of each crop, averaged",
                                           "sha256": sha256(os.path.join(a.out, "natural_224_grey.bin"))}},
        "dtype": "float32 little-endian, C order (channel, row, column), no header",
        "layout": "torch.fft.rfft2 of a [3,224,224] image in [0,1] over the last two dimensions: rows = vertical "
                  "frequency in FFT order (0..111, then -112..-1), columns = horizontal frequency 0..112 "
                  "(width/2+1); the value is mean |rfft2(crop)| over all crops",
        "norm": "backward (unnormalised): DC = sum of the 224*224 pixel values; divide by 224 for norm='ortho', "
                "by 224*224 for norm='forward'",
        "dc": {c: round(float(mean[i, 0, 0]), 3) for i, c in enumerate("RGB")},
        "images": used,
        "left_out": "skimage's astronaut/chelsea/coffee/rocket (the samples are these photographs), "
                    "motorcycle_right (stereo twin of motorcycle_left), hubble_deep_field (astronomy, mostly black), "
                    "retina (fundus), ihc (microscopy), color/phantom/logo/bw_text/chessboard_RGB/block "
                    "(synthetic or graphic), and the grey photographs",
        "preprocessing": f"RGB in [0,1]; shorter side resized to {SHORT} with PIL Lanczos (the samples already are); "
                         f"{CROPS} random {SIDE}x{SIDE} crops per image, each flipped left-right with probability 1/2",
        "crops_per_image": CROPS, "crops": n, "seed": SEED, "rng": "numpy.random.default_rng",
        "power_law": {"model": "radially averaged amplitude A(f) ~ f^-k, f in cycles/pixel; least squares in "
                               "log-log over 24 log-spaced radial bins", "fits": fits},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "PIL": Image.__version__},
    }
    with open(os.path.join(a.out, "natural_224.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
