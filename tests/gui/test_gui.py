#!/usr/bin/python3
"""The desktop app in a real window under Xvfb, driven by scripts (`preimage gui --script`).

Usage: test_gui.py PREIMAGE_BINARY SAMPLES_DIR WORK_DIR. Asserts on the screenshots (not blank, the
pre-image changes between layers, the file picker opens), on the run report (no error shown, the
result's feature error) and on exports and persisted settings. Prints what it measured.
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

binary, samples, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
env = dict(os.environ, PREIMAGE_CONFIG_DIR=os.path.join(work, "config"))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(name, steps, extra=()):
    script = os.path.join(work, name + ".json")
    report = os.path.join(work, name + ".report.json")
    with open(script, "w") as f:
        json.dump(steps, f)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", binary, "gui", "--script", script, "--report", report,
           *extra]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
    check(p.returncode == 0, f"{name}: exit code {p.returncode}")
    return json.load(open(report)) if os.path.exists(report) else {}


def img(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def crop(a, rect):
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    return a[y0:y1, x0:x1]


boot = sorted(f for f in os.listdir(samples) if f.startswith("fashion_9"))[0]
bag = sorted(f for f in os.listdir(samples) if f.startswith("fashion_8"))[0]
shot = lambda n: os.path.join(work, n)
corrupt = os.path.join(work, "corrupt.png")
open(corrupt, "wb").write(b"\x89PNG\r\n\x1a\nnot really a png")

# 1. Layers: conv1 then fc4, each screenshot after the inversion finished; then the file picker.
r = run("layers", [
    {"open_image": os.path.join(samples, boot)},
    {"select_layer": "conv1"}, {"wait_idle": 120}, {"frames": 3}, {"screenshot": shot("conv1.png")},
    {"select_layer": "fc4"}, {"wait_idle": 120}, {"frames": 3}, {"screenshot": shot("fc4.png")},
    {"panel": "image_picker"}, {"frames": 4}, {"screenshot": shot("picker.png")},
])
check(r.get("errors") == [], f"layers: no error shown ({r.get('errors')})")
check(r.get("layer") == "fc4", "layers: ended on fc4")
check(0 < r.get("feature_error", -1) < 1, f"layers: fc4 feature error {r.get('feature_error')}")
check(0 < r.get("learned_feature_error", -1) < 1, f"layers: learned pre-image shown ({r.get('learned_feature_error')})")
a, b, p = img(shot("conv1.png")), img(shot("fc4.png")), img(shot("picker.png"))
check(a.shape == (900, 1440, 3), f"screenshot size {a.shape}")
check(a.std() > 20, f"conv1 screenshot is not blank (std {a.std():.1f})")
rect = r["preimage_rect"]
pa, pb = crop(a, rect), crop(b, rect)
check(pa.size > 0 and pa.std() > 20, f"pre-image region shows an image (std {pa.std():.1f})")
diff = np.abs(pa - pb).mean()
check(diff > 8, f"pre-image region changed between conv1 and fc4 (mean abs diff {diff:.1f})")
h, w = p.shape[:2]
centre = np.abs(p[h // 3:2 * h // 3, w // 3:2 * w // 3] - b[h // 3:2 * h // 3, w // 3:2 * w // 3]).mean()
check(centre > 10, f"file picker drawn over the centre (mean abs diff {centre:.1f})")
print(f"frame time: UI work p95 {r['frame_ms_p95']:.2f} ms, while a job ran p95 {r['busy_frame_ms_p95']:.2f} ms "
      f"over {r['busy_frames']} busy frames")

# 2. A corrupt dropped file shows an error and changes nothing; restarts and an export.
export = os.path.join(work, "sweep.png")
r = run("errors_export", [
    {"wait_idle": 120},
    {"drop": [corrupt]}, {"frames": 2}, {"screenshot": shot("error.png")},
    {"set": {"iterations": 100, "restarts": 3}}, {"wait_idle": 120},
    {"export_sweep": export}, {"wait_idle": 300}, {"frames": 2},
])
errors = r.get("errors", [])
check(len(errors) == 1 and "not a readable image" in errors[0], f"corrupt drop reported: {errors}")
check(os.path.exists(export), "sweep grid exported")
meta = json.load(open(export[:-4] + ".json")) if os.path.exists(export[:-4] + ".json") else {}
check(len(meta.get("layers", [])) == 11, f"export JSON has every layer ({len(meta.get('layers', []))})")
check(all(len(l["feature_error_per_restart"]) == 3 for l in meta.get("layers", [])), "export used 3 restarts")
e = img(shot("error.png"))
check((np.abs(e - a)[40:120, 330:].mean()) > 3, "error banner visible")

# 3. Settings persist: the next run starts on the last image, layer and parameters.
run("persist_a", [{"open_image": os.path.join(samples, bag)}, {"wait_idle": 120}, {"select_layer": "pool2"},
                  {"wait_idle": 120}])
r = run("persist_b", [{"wait_idle": 120}])
settings = json.load(open(os.path.join(work, "config", "settings.json")))
check(r.get("layer") == "pool2", f"layer persisted ({r.get('layer')})")
check(settings["image"].endswith(bag), "image persisted")
check(settings["inversion"]["restarts"] == 3, "parameters persisted")

# 4. Preferred input, live in the app.
r = run("dream", [{"dream": "Sneaker"}, {"wait_idle": 120}, {"frames": 3}, {"screenshot": shot("dream.png")}])
check(r.get("errors") == [], f"dream: no error ({r.get('errors')})")
check("preferred input of Sneaker" in r.get("status", ""), f"dream finished: {r.get('status')}")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
