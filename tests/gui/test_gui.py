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


def run(name, steps, extra=(), first_run=False):
    script = os.path.join(work, name + ".json")
    report = os.path.join(work, name + ".report.json")
    with open(script, "w") as f:
        json.dump(steps, f)
    if "--model" not in extra and not first_run:  # a first run opens the ImageNet network; these runs are about Fashion
        extra = ["--model", "fashion", *extra]
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

# 0. A first run (no settings, no arguments) opens the trained ImageNet network on a photograph, offers the
# photographs as samples and no latent tabs (it has no mixer), shows the top-5, and a pre-image forms.
env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config_first")
shutil.rmtree(env["PREIMAGE_CONFIG_DIR"], ignore_errors=True)
r = run("first_run", [{"set": {"iterations": 40}}, {"wait_idle": 300}, {"tab": "channels"}, {"plot_x": "evaluations"}, {"frames": 3},
                      {"screenshot": shot("first_run.png")}, {"tab": "preferred"}, {"frames": 3},
                      {"tab": "run"}, {"key": "Right"}, {"wait_idle": 300}, {"frames": 3},
                      {"screenshot": shot("first_run_step.png")}], first_run=True)
v = r.get("view", {})
check(r.get("errors") == [], f"first run: no error ({r.get('errors')})")
check(r.get("model") == "squeezenet", f"first run: the ImageNet network ({r.get('model')})")
check(v.get("input") == [3, 227, 227], f"first run: the model's own input spec ({v.get('input')})")
check(v.get("samples") and all(s.startswith("photo_") for s in v["samples"]) and len(v["samples"]) >= 4,
      f"first run: photographs offered as samples ({v.get('samples')})")
check(v.get("tabs") == ["run", "channels", "preferred"], f"first run: no latent tabs without a mixer ({v.get('tabs')})")
top = v.get("image_top5", [])
check(len(top) == 5 and top[0]["name"] in ("Egyptian cat", "tabby", "tiger cat"),
      f"first run: the cat photograph's top-5 ({[(t['name'], round(t['p'], 3)) for t in top]})")
check(len(v.get("preimage_top5", [])) == 5, "first run: top-5 on the pre-image")
check(top and v.get("dream_panel_class") == top[0]["name"],
      f"first run: the Dream tab offers the photograph's own top class ({v.get('dream_panel_class')})")
check(0 < r.get("feature_error", -1) < 0.9, f"first run: a pre-image formed at {r.get('layer')} ({r.get('feature_error')})")
check(v.get("plot_x") == "evaluations" and v.get("evaluations") == 40 and v.get("objective", 0) > 0,
      f"first run: the loss plot against evaluations, the objective reported ({v.get('plot_x')}, {v.get('evaluations')}, "
      f"{v.get('objective')})")
# Time to quality in the report: the first result's optimiser (the default) and when, into its run, the objective came
# within 10% of its final value (README "Time to quality"; seconds are measured, not asserted).
check(r.get("first_result_optimizer") == "sobolev" and r.get("first_result_objective", 0) > 0
      and 0 < r.get("first_within_10pct_s", 0) <= r.get("first_result_s", 0),
      f"first run: the default optimiser and its time to within 10% ({r.get('first_result_optimizer')}, "
      f"{r.get('first_result_objective')}, {r.get('first_within_10pct_s')} s of {r.get('first_result_s')} s)")
# A step to the next tap starts from the finished tap's pre-image (the warm start, on by default with the Sobolev
# optimiser): the status line says so.
check(" from " in r.get("status", "") and "'s pre-image, 40 evaluations" in r.get("status", ""),
      f"first run: the next tap starts from the finished one's pre-image ({r.get('status')})")
# The upload path is said: host on a CPU LibTorch (the model is on the CPU), interop frames only with a GPU.
gpu = r.get("device", "cpu").startswith("cuda")
check(r.get("upload_path", "").startswith("CUDA-GL interop" if gpu else "host") and (gpu or r.get("device_uploads") == 0),
      f"first run: the upload path ({r.get('upload_path')}, {r.get('device_uploads')} device uploads, {r.get('device')})")
first = img(shot("first_run.png"))
region = crop(first, r["preimage_rect"])  # after 40 iterations a low-contrast image: blank would be below 2
check(region.std() > 8, f"first run: the pre-image region shows an image (std {region.std():.1f})")
env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config")

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

# 1b. Layers clicked through faster than frames (several selections within one frame, then one a frame): once idle,
# the status line, the plot and pre-image, the channel grid and the tree all belong to the selected layer.
steps = [{"open_image": os.path.join(samples, boot)}, {"set": {"iterations": 20}}, {"tab": "channels"}, {"wait_idle": 120}]
for k in range(42):  # back and forth across the layers: blocks of five steps each way, 1-3 presses a frame
    way = "Right" if (k // 6) % 2 == 0 else "Left"
    steps.append({"keys": [way] * (1 + k % 3)} if k % 2 else {"key": way})
r = run("fast_layers", steps + [{"wait_idle": 120}, {"frames": 4}])
v = r.get("view", {})
layer = r.get("layer", "?")
check(r.get("errors") == [], f"fast layers: no error ({r.get('errors')})")
check(r.get("status", "").startswith(layer + ":"), f"fast layers: the status is the selected layer's ({layer}: {r.get('status')})")
check(v.get("shown_layer") == layer, f"fast layers: the pre-image and plot are the selected layer's ({v.get('shown_layer')})")
check(v.get("channel_grid", {}).get("layer") == layer, f"fast layers: the channel grid is the selected layer's "
      f"({v.get('channel_grid', {}).get('layer')})")
check(v.get("tree", {}).get("path", [""])[-1] == layer, f"fast layers: the tree selects it ({v.get('tree', {}).get('path')})")
check(0 < r.get("feature_error", -1) < 1.5, f"fast layers: the selected layer's result is shown ({r.get('feature_error')})")

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

# 4a. A class image of the ImageNet network comes with the feature prior (README, "Preferred inputs"); a channel without.
r = run("dream_prior", [{"wait_idle": 300}, {"dream_settings": {"param": "fourier", "iters": 16}}, {"dream": "lemon"},
                        {"wait_idle": 300}], extra=["--model", "squeezenet"])
fp = (r.get("view", {}).get("dream") or {}).get("feature_prior") or {}
check(r.get("errors") == [] and fp.get("weight") == 15 and fp.get("distance", 0) > 0,
      f"ImageNet class image with the feature prior ({r.get('errors')}, {fp})")
r = run("dream_prior_channel", [{"wait_idle": 300}, {"dream_settings": {"param": "fourier", "iters": 4}},
                                {"dream": "fire3:5"}, {"wait_idle": 300}], extra=["--model", "squeezenet"])
d = r.get("view", {}).get("dream") or {}
check(r.get("errors") == [] and d.get("unit") == "fire3:5" and "feature_prior" not in d,
      f"ImageNet channel image without it ({r.get('errors')}, {d.get('unit')}, {d.get('feature_prior')})")

# 4b. Preferred inputs as the field does them: a Fourier image with its transparency map and numbers; accentuation of
# the open image with its difference map; the atlas of a tap beside its channel grid, a click on a cell opens its unit.
r = run("dream_fourier", [{"wait_idle": 120}, {"dream_settings": {"param": "fourier", "iters": 40}}, {"dream": "Sneaker"},
                          {"wait_idle": 120}, {"frames": 3}, {"screenshot": shot("dream_fourier.png")}])
d = r.get("view", {}).get("dream") or {}
check(r.get("errors") == [], f"fourier dream: no error ({r.get('errors')})")
check(d.get("param") == "fourier" and d.get("iters") == 40, f"fourier dream ran ({d.get('param')}, {d.get('iters')} iterations)")
check(abs(d.get("weight_noise", 0) - 0.2) < 1e-6, f"fourier dream with its weight noise ({d.get('weight_noise')})")
check(d.get("activation", 0) > d.get("start_activation", 0) + 3, f"fourier dream raised Sneaker ({d.get('start_activation')} -> {d.get('activation')})")
check(d.get("textures", {}).get("transparency") and d.get("transparency") == [28, 28], f"transparency map shown ({d.get('transparency')})")
check(d.get("robust_probability") is not None and d.get("probability", 0) > 0.5, f"numbers: p {d.get('probability')}, under crops {d.get('robust_probability')}")
r = run("dream_accentuate", [{"wait_idle": 120}, {"dream_settings": {"param": "pixels", "accentuate": True, "iters": 40, "lambda": 50}},
                             {"dream": "Sneaker"}, {"wait_idle": 120}, {"frames": 3}, {"screenshot": shot("dream_accentuate.png")}])
d = r.get("view", {}).get("dream") or {}
a = d.get("accentuation") or {}
check(r.get("errors") == [], f"accentuation: no error ({r.get('errors')})")
check(d.get("difference") == [28, 28] and d.get("textures", {}).get("difference"), f"accentuation: difference map shown ({d.get('difference')})")
check(0 < a.get("distance_rms", 0) <= a.get("bound_rms", 0) + 1e-6, f"accentuation within its bound ({a.get('distance_rms')} <= {a.get('bound_rms')})")
r = run("atlas", [{"wait_idle": 120}, {"select_layer": "conv2"}, {"wait_idle": 120},
                  {"dream_settings": {"param": "fourier", "atlas_limit": 16, "atlas_iters": 20}}, {"atlas": True}, {"wait_idle": 120},
                  {"frames": 3}, {"screenshot": shot("atlas.png")}, {"atlas_click": 2}, {"wait_idle": 120}])
at = r.get("view", {}).get("atlas") or {}
d = r.get("view", {}).get("dream") or {}
check(r.get("errors") == [], f"atlas: no error ({r.get('errors')})")
check(at.get("layer") == "conv2" and at.get("units") == 16 and at.get("texture"), f"atlas of conv2: {at.get('units')} units shown")
check(at.get("units_per_second", 0) > 0, f"atlas speed reported ({at.get('units_per_second')} units/s)")
check(d.get("unit") == "conv2:2", f"a click on atlas cell 2 opened its unit ({d.get('unit')})")
check("atlas" in r.get("view", {}).get("panels", {}), "the atlas is drawn")

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
    {"wait_idle": 120}, {"open_image": sample("fashion_9")}, {"latent": True}, {"analogy_panel": True}, {"wait_idle": 120}, {"frames": 3},
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
tools_rect = r.get("view", {}).get("panels", {}).get("tools", [0, 0, 1440, 900])
d = np.abs(crop(before, tools_rect) - crop(after, tools_rect)).mean()
check(d > 3, f"the analogy tab shows the dropped slots and d ({d:.1f})")

# The second embedded default: shapes with known factors. Its sliders are named by the factor each chunk carries
# most (the committed factor table), and its traversal grid moves one factor per row.
shapes_dir = os.path.join(work, "shapes")
subprocess.run([binary, "data", "shapes", "--out", shapes_dir, "--n", "20", "--size", "32", "--seed", "7"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shape_images = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(shapes_dir) for f in fs if f.endswith(".png"))
shapes_traversal = os.path.join(work, "shapes_traversal.png")
r = run("shapes", [{"open_model": "shapes"}, {"open_image": shape_images[0]}, {"wait_idle": 120}, {"tab": "chunks"},
                   {"latent": True}, {"wait_idle": 60}, {"frames": 3}, {"screenshot": shot("shapes_chunks.png")},
                   {"export_traversal": shapes_traversal}, {"wait_idle": 60}, {"frames": 2}])
check(r.get("errors") == [], f"shapes: no error ({r.get('errors')})")
labels = r.get("latent", {}).get("chunk_labels", [])
named = {l.split(": ", 1)[1] for l in labels if ": " in l}
expected = json.load(open(os.path.join(os.environ.get("PREIMAGE_ASSETS", ""), "models", "shapes", "mixer", "manifest.json")))
want = [f"chunk {k}: {f}" if f else f"chunk {k}" for k, f in enumerate(expected["factors"]["chunk_factor"])]
check(labels == want, f"shapes: the sliders are named by the factor table ({labels})")
check(len(named) >= 4 and {"x", "y", "background"} <= named, f"shapes: factors name chunks ({sorted(named)})")
check(os.path.exists(shapes_traversal), "shapes: traversal grid exported")

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
    region = crop(img(shot("user_inverter.png")), r["view"]["panels"]["learned"])  # where the learned pre-image is drawn
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

# The app on real networks: the layer tree of a residual network (a deep tap by name, its branch opened, siblings
# with Up/Down, the filter), the channel grid with the channel under the cursor, top-5, and a window mask painted
# with the mouse on the grid changing the pre-image.
if models and os.path.exists(os.path.join(models, "resnet_scripted.pt")):
    env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config_tree")
    shutil.rmtree(env["PREIMAGE_CONFIG_DIR"], ignore_errors=True)
    net = ["--model", os.path.join(models, "resnet_scripted.pt"), "--size", "32", "--image", sample("fashion_7")]
    r = run("tree", [{"select_layer": "layer2.0.downsample.0"}, {"set": {"iterations": 40}}, {"wait_idle": 120},
                     {"tab": "channels"}, {"frames": 3}, {"screenshot": shot("tree.png")},
                     {"key": "Down"}, {"wait_idle": 120}, {"frames": 2}], net)
    v = r.get("view", {})
    check(r.get("errors") == [], f"tree: no error ({r.get('errors')})")
    check(v.get("tree", {}).get("path") == ["layer2", "layer2.0", "layer2.0.downsample", "layer2.0.downsample.1"],
          f"tree: Down from downsample.0 selects its sibling downsample.1 ({v.get('tree', {}).get('path')})")
    check(v.get("tree", {}).get("siblings") == 2, f"tree: downsample has 2 taps ({v.get('tree', {}).get('siblings')})")
    check(v.get("tree", {}).get("visible_rows", 0) >= 12, f"tree: the branch is open ({v.get('tree', {}).get('visible_rows')} rows)")
    g = v.get("channel_grid", {})
    check(g.get("kind") == "maps" and g.get("channels") == 128 and g.get("layer") == "layer2.0.downsample.1",
          f"channel grid of the selected tap: {g}")
    t = img(shot("tree.png"))
    tree_rect = v.get("panels", {}).get("tree", [0, 0, 1, 1])
    check(crop(t, tree_rect).std() > 15, "tree: the panel shows rows")
    grid_rect = v.get("panels", {}).get("channel_grid", [0, 0, 0, 0])
    check(crop(t, grid_rect).std() > 20, f"channel grid drawn (std {crop(t, grid_rect).std():.1f})")
    top = v.get("image_top5", [])
    check(len(top) == 5 and abs(sum(p["p"] for p in top) - 1) < 1 and top[0]["p"] >= top[-1]["p"],
          f"top-5 on the image ({[(p['name'], round(p['p'], 3)) for p in top]})")
    check(len(v.get("preimage_top5", [])) == 5, "top-5 on the pre-image")
    r = run("tree_filter", [{"filter": "downsample"}, {"frames": 3}, {"screenshot": shot("tree_filter.png")}], net)
    check(r.get("view", {}).get("tree", {}).get("visible_rows") == 9,
          f"filter 'downsample': 9 taps listed ({r.get('view', {}).get('tree', {}).get('visible_rows')})")

    # The mask, drawn with the mouse: a drag inside channel 0's tile of layer1's 8x8 maps sets a 4x4 window at (0, 0).
    steps = [{"select_layer": "layer1"}, {"set": {"iterations": 80}}, {"tab": "channels"}, {"wait_idle": 120}, {"frames": 3}]
    r = run("mask_layout", steps + [{"screenshot": shot("mask_before.png")}], net)
    before_err = r.get("feature_error", -1)
    ox, oy, zoom, _ = r["view"]["panels"]["channel_grid_image"]
    at = lambda x, y: [ox + (x + 0.5) * zoom, oy + (y + 0.5) * zoom]
    drag = [{"mouse": at(0, 0)}, {"frames": 2}, {"mouse": at(0, 0), "down": True}, {"frames": 2},
            {"mouse": at(2, 2), "down": True}, {"frames": 2}, {"mouse": at(3, 3), "down": True}, {"frames": 2},
            {"mouse": at(3, 3), "down": False}, {"frames": 2}, {"mouse_free": True}, {"wait_idle": 120}, {"frames": 3},
            {"screenshot": shot("mask_after.png")}]
    r = run("mask_drag", steps + drag, net)
    check(r.get("view", {}).get("mask") == [0, 0, 4, 4, 0, -1], f"the dragged window is the mask ({r.get('view', {}).get('mask')})")
    a, b = img(shot("mask_before.png")), img(shot("mask_after.png"))
    pa, pb = crop(a, r["preimage_rect"]), crop(b, r["preimage_rect"])
    d = np.abs(pa - pb).mean()
    check(d > 6, f"the painted window mask changed the pre-image (mean abs diff {d:.1f}; feature error "
                 f"{before_err:.3f} unmasked, {r.get('feature_error', -1):.3f} in the window)")

# The default model at 1280x720 with every tab: the panels tile the window (nothing floats over the images, the
# status line or the plot) and every tab draws inside its column.
env["PREIMAGE_CONFIG_DIR"] = os.path.join(work, "config_720")
shutil.rmtree(env["PREIMAGE_CONFIG_DIR"], ignore_errors=True)
steps = [{"open_image": sample("fashion_9")}, {"select_layer": "relu2"}, {"set": {"iterations": 60}}, {"wait_idle": 120}]
for tab in ("run", "channels", "preferred", "chunks", "analogy"):
    steps += [{"tab": tab}, {"wait_idle": 60}, {"frames": 3}, {"screenshot": shot(f"720_{tab}.png")}]
r = run("layout_720", steps, ["--width", "1280", "--height", "720"])
p = r.get("view", {}).get("panels", {})
names = ["tree", "main", "strip", "tools"]
check(all(n in p for n in names), f"720: the four regions are drawn ({sorted(p)})")
if all(n in p for n in names):
    inside = all(p[n][0] >= 0 and p[n][1] >= 0 and p[n][2] <= 1280.5 and p[n][3] <= 720.5 for n in names)
    overlap = [(m, n) for i, m in enumerate(names) for n in names[i + 1:]
               if min(p[m][2], p[n][2]) - max(p[m][0], p[n][0]) > 0.5 and min(p[m][3], p[n][3]) - max(p[m][1], p[n][1]) > 0.5]
    check(inside and not overlap, f"720: regions inside the window and not overlapping ({overlap})")
    area = sum((p[n][2] - p[n][0]) * (p[n][3] - p[n][1]) for n in names)
    check(area > 0.95 * 1280 * (720 - 30), f"720: the regions tile the window ({area / (1280 * 720):.2f} of it)")
shots = {t: img(shot(f"720_{t}.png")) for t in ("run", "channels", "preferred", "chunks", "analogy")}
check(shots["run"].shape == (720, 1280, 3), f"720: screenshot size {shots['run'].shape}")
if "tools" in p:
    tools = lambda a: crop(a, p["tools"])
    diffs = [np.abs(tools(shots[a]) - tools(shots[b])).mean() for a, b in (("run", "channels"), ("channels", "preferred"),
                                                                             ("preferred", "chunks"), ("chunks", "analogy"))]
    check(min(diffs) > 3, f"720: every tab draws its own content ({[round(x, 1) for x in diffs]})")
    main = lambda a: crop(a, p["main"])
    check(np.abs(main(shots["run"]) - main(shots["analogy"])).mean() < 1,
          "720: the tabs never cover the images, status line or plot")
check(r.get("errors") == [], f"720: no error ({r.get('errors')})")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
