#!/usr/bin/python3
"""The desktop app in a real window under Xvfb, driven by scripts (`preimage gui --script`).

Usage: test_gui.py PREIMAGE_BINARY SAMPLES_DIR WORK_DIR. Asserts on the screenshots (not blank, the
pre-image changes between layers, the file picker opens), on the run report (no error shown, the
result's feature error) and on exports and persisted settings. Prints what it measured.
"""
import json
import shutil
import os
import subprocess
import sys

import numpy as np
from PIL import Image

binary, samples, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
# Settings persist between runs of the app: each run of this test starts from none (a rerun would otherwise open
# the model the last run ended on).
shutil.rmtree(os.path.join(work, "config"), ignore_errors=True)
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
check(len(errors) == 1 and "corrupt or truncated PNG file" in errors[0], f"corrupt drop reported: {errors}")
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

# 5. Latent chunks and analogies: drops onto the second-image box and the a, b, c slots (routed by
# position, as a real drop), a swap of the class chunk, slider drags, a traversal export.
def test_image(label, skip):
    import gzip
    d = os.environ.get("PREIMAGE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    labels = np.frombuffer(gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    images = np.frombuffer(gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()[16:], np.uint8)
    i = [k for k in np.flatnonzero(labels == label) if k not in skip][0]
    path = os.path.join(work, f"test{i:05d}.png")
    Image.fromarray(images.reshape(-1, 28, 28)[i]).save(path)
    return path


sample = lambda prefix: os.path.join(samples, sorted(f for f in os.listdir(samples) if f.startswith(prefix))[0])
trouser2 = test_image(1, {2})  # another trouser than the sample (test image 2)
traversal = os.path.join(work, "traversal.png")
steps = [
    {"open_image": sample("fashion_9")}, {"latent": True}, {"analogy_panel": True}, {"wait_idle": 120}, {"frames": 3},
    {"screenshot": shot("latent_before.png")},
    {"drop_on": {"target": "second", "paths": [sample("fashion_8")]}}, {"wait_idle": 60},
    {"chunk_swap": {"chunk": 0, "from_second": True}}, {"wait_idle": 60},
    {"drop_on": {"target": "a", "paths": [sample("fashion_1")]}},
    {"drop_on": {"target": "b", "paths": [sample("fashion_7")]}},
    {"drop_on": {"target": "c", "paths": [trouser2]}}, {"wait_idle": 60}, {"frames": 3},
    {"screenshot": shot("latent.png")},
]
for v in (-3, -1.5, 0, 1.5, 3):  # a drag: one slider move per frame
    steps += [{"chunk_slider": {"chunk": 3, "direction": 0, "value": v}}, {"frames": 1}]
steps += [{"wait_idle": 60}, {"export_traversal": traversal}, {"wait_idle": 60}, {"frames": 2}]
r = run("latent", steps)
lat = r.get("latent", {})
check(r.get("errors") == [], f"latent: no error ({r.get('errors')})")
check(lat.get("swapped", [False])[0] is True, "latent: chunk 0 swapped from the second image")
check(lat.get("decoded_class", -1) == 8, f"latent: boot with the bag's class chunk decodes to a Bag ({lat.get('decoded_class')})")
check(lat.get("slot_classes") == [1, 7, 1], f"analogy slots classified trouser, sneaker, trouser ({lat.get('slot_classes')})")
check(lat.get("analogy_class") == 7, f"analogy trouser:sneaker::trouser:d gives a Sneaker ({lat.get('analogy_class')})")
check(lat.get("decodes", 0) >= 4, f"slider drag decoded {lat.get('decodes')} times")
check(0 < lat.get("decode_ms", 1e9) < 100, f"one decode on the worker takes {lat.get('decode_ms', -1):.1f} ms")
check(os.path.exists(traversal) and os.path.exists(traversal[:-4] + ".json"), "traversal grid and JSON exported")
if os.path.exists(traversal[:-4] + ".json"):
    t = json.load(open(traversal[:-4] + ".json"))
    check(len(t["predicted_class"]) == 8 and len(t["predicted_class"][0]) == 7, "traversal is 8 chunks x 7 values")
before, after = img(shot("latent_before.png")), img(shot("latent.png"))
check(np.abs(before - after).mean() > 2, f"latent and analogy windows changed ({np.abs(before - after).mean():.1f})")

# A user's TorchScript network with a learned inverter beside it (FILE.inverters/, as `train inverter` writes it):
# the app shows the learned pre-image next to the optimised one.
models = os.environ.get("PREIMAGE_TEST_MODELS", "")
if models and os.path.exists(os.path.join(models, "resnet_scripted.pt")):
    user = os.path.join(work, "user")
    os.makedirs(user, exist_ok=True)
    shutil.copy(os.path.join(models, "resnet_scripted.pt"), os.path.join(user, "resnet.pt"))
    t = subprocess.run([binary, "train", "inverter", "--model", os.path.join(user, "resnet.pt"), "--size", "32", "--data",
                        "fashion-mnist:train", "--limit", "1500", "--layer", "layer2", "--epochs", "2", "--threads", "2"],
                       env=env, capture_output=True, text=True, timeout=600)
    check(t.returncode == 0, f"train inverter for a TorchScript tap: exit code {t.returncode} {t.stderr[-300:]}")
    env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config_user")  # its own settings: the default model's stay
    shutil.rmtree(env["PREIMAGE_CONFIG_DIR"], ignore_errors=True)
    r = run("user_inverter", [{"select_layer": "layer2"}, {"set": {"iterations": 60}}, {"wait_idle": 120}, {"frames": 3},
                              {"screenshot": shot("user_inverter.png")}],
            ["--model", os.path.join(user, "resnet.pt"), "--size", "32", "--image", sample("fashion_7")])
    check(r.get("errors") == [], f"user inverter: no error ({r.get('errors')})")
    check(0 < r.get("learned_feature_error", -1) < 1, f"user model: learned pre-image shown ({r.get('learned_feature_error')})")
    region = img(shot("user_inverter.png"))[60:240, 1030:1200]  # where the learned pre-image is drawn
    check(region.std() > 10, f"user model: learned pre-image region is not blank (std {region.std():.1f})")
    # The same decoders elsewhere, named with --inverters.
    moved = os.path.join(user, "decoders")
    shutil.rmtree(moved, ignore_errors=True)
    os.rename(os.path.join(user, "resnet.inverters"), moved)
    r = run("user_inverter_dir", [{"select_layer": "layer2"}, {"set": {"iterations": 20}}, {"wait_idle": 120}, {"frames": 2}],
            ["--model", os.path.join(user, "resnet.pt"), "--size", "32", "--image", sample("fashion_7"), "--inverters", moved])
    check(0 < r.get("learned_feature_error", -1) < 1, f"--inverters DIR: learned pre-image shown ({r.get('learned_feature_error')})")

# Session safety: opening a file that is not a model changes nothing (the model, the layer and the result stay)
# and says why; a malformed settings file is kept as a backup, values out of range are clamped.
bad_model = os.path.join(work, "not_a_model.pt")
open(bad_model, "w").write("this is a text file named .pt\n")
env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config_safety")
shutil.rmtree(env["PREIMAGE_CONFIG_DIR"], ignore_errors=True)
r = run("bad_model", [{"open_image": sample("fashion_9")}, {"select_layer": "conv1"}, {"set": {"iterations": 60}},
                      {"wait_idle": 120}, {"open_model": bad_model}, {"wait_idle": 60}, {"frames": 3},
                      {"screenshot": shot("bad_model.png")}])
errors = r.get("errors", [])
check(len(errors) == 1 and "not_a_model.pt" in errors[0], f"bad model: the error names the file ({errors})")
check(r.get("model") == "fashion" and r.get("layer_count") == 11, f"bad model: fashion stays loaded ({r.get('model')}, "
      f"{r.get('layer_count')} layers)")
check(r.get("layer") == "conv1" and 0 < r.get("feature_error", -1) < 1,
      f"bad model: the conv1 result stays ({r.get('layer')}, {r.get('feature_error')})")
check("could not be loaded" in r.get("status", ""), f"bad model: the status says so ({r.get('status')})")
# An export cut short by opening another image says so (it used to vanish without a word).
cut = os.path.join(work, "cut_export.png")
r = run("export_cancel", [{"open_image": sample("fashion_9")}, {"set": {"iterations": 60}}, {"export_sweep": cut},
                          {"frames": 2}, {"open_image": sample("fashion_8")}, {"wait_idle": 120}])
errors = r.get("errors", [])
check(any("the export to " + cut + " was cancelled: the image" in e for e in errors) and not os.path.exists(cut),
      f"a cancelled export says so ({errors})")
cfg = env["PREIMAGE_CONFIG_DIR"]
check(json.load(open(os.path.join(cfg, "settings.json"))).get("model") == "fashion", "bad model: not remembered")
with open(os.path.join(cfg, "settings.json"), "w") as f:
    f.write('{"model": "fashion", "inversion": {"iterations": ')  # cut short
r = run("bad_settings", [{"frames": 2}])
check(os.path.exists(os.path.join(cfg, "settings.json.bad")), "a malformed settings file is kept as settings.json.bad")
check(open(os.path.join(cfg, "settings.json.bad")).read().endswith('"iterations": '), "the backup is the file as it was")
with open(os.path.join(cfg, "settings.json"), "w") as f:
    json.dump({"model": "fashion", "inversion": {"iterations": 10 ** 9, "restarts": -3, "jitter": 500}}, f)
r = run("clamped_settings", [{"frames": 2}])
inv = json.load(open(os.path.join(cfg, "settings.json")))["inversion"]
check((inv["iterations"], inv["restarts"], inv["jitter"]) == (100000, 1, 32),
      f"settings out of range are clamped ({inv['iterations']}, {inv['restarts']}, {inv['jitter']})")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
