#!/usr/bin/python3
"""The largest image the loader accepts (8192 x 8192 RGB, 64 Mpx) goes through `preimage invert` in under 2 GB.

Usage: cli_memory.py PREIMAGE_BINARY SCRATCH_DIR. Peak memory is the child's ru_maxrss.
"""
import os
import resource
import subprocess
import sys

import numpy as np
from PIL import Image

binary, scratch = sys.argv[1], sys.argv[2]
os.makedirs(scratch, exist_ok=True)
path = os.path.join(scratch, "big.png")
# Built in uint8 and freed before the run: ru_maxrss of children also counts this process's size at the fork.
ramp = np.arange(8192).astype(np.uint8)
rgb = np.empty((8192, 8192, 3), np.uint8)
rgb[..., 0] = ramp[None, :]
rgb[..., 1] = ramp[:, None]
rgb[..., 2] = ramp[None, :] + ramp[:, None]
image = Image.fromarray(rgb)
del rgb
image.save(path, compress_level=1)
del image

run = subprocess.run([binary, "invert", "--model", "fashion", "--image", path, "--layer", "relu3", "--iters", "5",
                      "--out", os.path.join(scratch, "big_pre.png")], capture_output=True, text=True)
peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
print(run.stdout.strip(), run.stderr.strip())
print(f"peak memory of `preimage invert` on an 8192x8192 RGB PNG: {peak_gb:.2f} GB")
ok = run.returncode == 0 and peak_gb < 2.0
print("ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
