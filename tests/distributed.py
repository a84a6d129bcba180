#!/usr/bin/python3
"""Scale-out on torch.distributed (c10d, Gloo), on loopback, with the real binary launched by environment
variables as torchrun and srun launch it:

- 2 ranks give the same sweep table as 1 process (a folder with a corrupt file; the grid's examples too);
- 2-rank training of an inverter, the mixer and the classifier equals 1-process training on the same global
  batch;
- a rank killed with SIGKILL is reported by the other within the timeout, which exits non-zero and writes
  torchrun's error file; a rank that never joins, a port in use and ranks of different WORLD_SIZE each give one
  clear line within the timeout.

Usage: distributed.py PREIMAGE_BINARY TEST_MODELS_DIR SCRATCH_DIR
"""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from PIL import Image

binary, models, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(scratch, ignore_errors=True)
os.makedirs(scratch)
TIMEOUT = 5  # PREIMAGE_DIST_TIMEOUT for every rank
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(rank, size, port, **extra):
    e = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
             PREIMAGE_DIST_TIMEOUT=str(TIMEOUT))
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run_job(args, size, **extra):
    """Runs `size` ranks of `preimage args` and returns their (returncode, stdout, stderr)."""
    port = free_port()
    procs = [subprocess.Popen([binary] + args, env=env(r, size, port, **extra), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(size)]
    return [(p.returncode, out, err) for p in procs for out, err in [p.communicate(timeout=600)]]


def table(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return [row[:-1] for row in rows]  # without `seconds`, a measurement of the run


def close(a, b, tol=1e-4):
    return len(a) == len(b) and all(
        x == y or (x.replace(".", "").isdigit() and abs(float(x) - float(y)) <= tol * max(1.0, abs(float(y))))
        for ra, rb in zip(a, b) for x, y in zip(ra, rb))


# A folder of 30 Fashion-MNIST-like images in class folders and a corrupt file.
folder = os.path.join(scratch, "images")
for i in range(30):
    d = os.path.join(folder, "class%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    Image.effect_noise((28, 28), 40 + i).save(os.path.join(d, "img%02d.png" % i))
with open(os.path.join(folder, "class0", "broken.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n cut short")

# --- 1. The sweep: 2 ranks write the 1-process table. ----------------------------------------------------
sweep = ["sweep", "--model", "fashion", "--data", folder, "--layers", "conv1,pool2,relu3", "--iters", "30", "--batch", "4"]
one = subprocess.run([binary] + sweep + ["--threads", "1", "--csv", os.path.join(scratch, "one.csv"), "--json",
                     os.path.join(scratch, "one.json"), "--grid", os.path.join(scratch, "one.png")],
                     capture_output=True, text=True)
check(one.returncode == 0, "1-process sweep runs: " + one.stderr[-300:])
two = run_job(sweep + ["--csv", os.path.join(scratch, "two.csv"), "--json", os.path.join(scratch, "two.json"), "--grid",
                       os.path.join(scratch, "two.png")], 2)
check(all(r[0] == 0 for r in two), "2-rank sweep: both ranks exit 0: " + " | ".join(r[2][-300:] for r in two))
check("joined a distributed job of 2 ranks (environment, 2 on this machine), 1 thread(s) per rank" in two[0][1],
      "rank 0 says it joined, one thread per rank")
check("rank 1 of 2:" in two[1][1] and "sent to rank 0" in two[1][1], "rank 1 sends its results to rank 0")
check(close(table(os.path.join(scratch, "two.csv")), table(os.path.join(scratch, "one.csv"))),
      "the 2-rank table equals the 1-process table")
j1, j2 = (json.load(open(os.path.join(scratch, n + ".json"))) for n in ("one", "two"))
check(len(j2["per_image"]) == len(j1["per_image"]) == 90 and len(j2["skipped"]) == 1,
      "the 2-rank JSON has every image (90 image-layers) and the skipped file")
check(Image.open(os.path.join(scratch, "two.png")).size == Image.open(os.path.join(scratch, "one.png")).size,
      "the 2-rank example grid has the 1-process grid's size")
state = os.path.join(scratch, "two.csv.state")
check(os.path.exists(os.path.join(state, "log.jsonl")) and os.path.exists(os.path.join(state, "log.1.jsonl")),
      "each rank writes its own state")
# A rerun resumes every rank: nothing left to do, the same table.
again = run_job(sweep + ["--csv", os.path.join(scratch, "two.csv")], 2)
check(all(r[0] == 0 for r in again) and "resuming from" in again[0][1], "a rerun of the job resumes")
check(close(table(os.path.join(scratch, "two.csv")), table(os.path.join(scratch, "one.csv"))), "the resumed table is the same")
# One process resumes what two ranks did (it reads every rank's log).
solo = subprocess.run([binary] + sweep + ["--csv", os.path.join(scratch, "two.csv")], capture_output=True, text=True)
check(solo.returncode == 0 and "resuming from" in solo.stdout and "90 image-layer results" in solo.stdout,
      "one process resumes a 2-rank sweep from both logs")

# The launchers: torchrun (its agent hosts the store; Debian 12's needs --redirects 2 --tee 2) and Slurm's
# variables as srun sets them (no RANK/WORLD_SIZE).
tr = subprocess.run(["torchrun", "--no_python", "--nproc_per_node", "2", "--master_port", str(free_port()), "--redirects",
                     "2", "--tee", "2", binary] + sweep + ["--csv", os.path.join(scratch, "torchrun.csv")],
                    capture_output=True, text=True, env=dict(os.environ, PREIMAGE_DIST_TIMEOUT=str(TIMEOUT)), timeout=600)
check(tr.returncode == 0 and "(torchrun, 2 on this machine)" in tr.stdout, "torchrun launches 2 ranks: " + tr.stderr[-300:])
check(close(table(os.path.join(scratch, "torchrun.csv")), table(os.path.join(scratch, "one.csv"))),
      "under torchrun the table is the 1-process table")
port = free_port()
slurm = [subprocess.Popen([binary] + sweep + ["--csv", os.path.join(scratch, "slurm.csv")],
                          env=dict({k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")},
                                   SLURM_PROCID=str(r), SLURM_NTASKS="2", SLURM_LOCALID=str(r), SLURM_NTASKS_PER_NODE="2",
                                   SLURM_STEP_ID="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                                   PREIMAGE_DIST_TIMEOUT=str(TIMEOUT)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
sl = [p.communicate(timeout=600) + (p.returncode,) for p in slurm]
check(all(r[2] == 0 for r in sl) and "(slurm, 2 on this machine)" in sl[0][0], "Slurm's variables launch 2 ranks: " + sl[0][1][-300:])
check(close(table(os.path.join(scratch, "slurm.csv")), table(os.path.join(scratch, "one.csv"))),
      "under Slurm's variables the table is the 1-process table")

# --- 2. Training: 2 ranks equal 1 process on the same global batch. --------------------------------------
train = ["train", "inverter", "--model", os.path.join(models, "resnet_scripted.pt"), "--size", "32", "--data",
         "fashion-mnist:train", "--limit", "400", "--layer", "layer2", "--epochs", "2", "--batch", "64", "--seed", "3"]
t1 = subprocess.run([binary] + train + ["--threads", "1", "--out", os.path.join(scratch, "inv1")], capture_output=True,
                    text=True)
check(t1.returncode == 0, "1-process training runs: " + t1.stderr[-300:])
t2 = run_job(train + ["--out", os.path.join(scratch, "inv2")], 2)
check(all(r[0] == 0 for r in t2), "2-rank training: both ranks exit 0: " + " | ".join(r[2][-300:] for r in t2))
m1, m2 = (json.load(open(os.path.join(scratch, d, "layer2.json"))) for d in ("inv1", "inv2"))
for key in ("test_pixel_rmse", "test_feature_error", "mean_image_pixel_rmse"):
    a, b = m1["metrics"][key], m2["metrics"][key]
    check(abs(a - b) <= 1e-4 * abs(a), "2-rank training equals 1-process: %s %.6f vs %.6f" % (key, b, a))
check(m2["training"]["ranks"] == 2 and m2["training"]["train_images"] == 360, "the manifest says 2 ranks, 360 images")

# The mixer (mixing, unmixing, chunk classifier and GAN critic: two all-reduces a step) equals one process too.
mix = ["train", "mixer", "--model", "fashion", "--epochs", "1", "--limit", "1024", "--test-limit", "100", "--pairs", "20",
       "--batch", "64", "--seed", "2"]
x1 = subprocess.run([binary] + mix + ["--threads", "1", "--out", os.path.join(scratch, "mix1")], capture_output=True, text=True)
x2 = run_job(mix + ["--out", os.path.join(scratch, "mix2")], 2)
check(x1.returncode == 0 and all(r[0] == 0 for r in x2), "mixer training on 1 process and 2 ranks: " + x1.stderr[-200:])
k1, k2 = (json.load(open(os.path.join(scratch, d, "manifest.json"))) for d in ("mix1", "mix2"))
a, b = k1["metrics"]["test_recon_rmse"], k2["metrics"]["test_recon_rmse"]
check(abs(a - b) <= 1e-3 * a, "2-rank mixer equals 1-process: reconstruction RMSE %.6f vs %.6f" % (b, a))
# The classifier too: its dropout masks are drawn for the whole global batch on every rank and sliced.
cls = ["train", "classifier", "--epochs", "1", "--limit", "2000", "--batch", "64", "--seed", "2"]
c1 = subprocess.run([binary] + cls + ["--threads", "1", "--out", os.path.join(scratch, "cls1")], capture_output=True, text=True)
c2 = run_job(cls + ["--out", os.path.join(scratch, "cls2")], 2)
check(c1.returncode == 0 and all(r[0] == 0 for r in c2), "classifier training on 1 process and 2 ranks")
q1, q2 = (json.load(open(os.path.join(scratch, d, "manifest.json"))) for d in ("cls1", "cls2"))
a, b = q1["metrics"]["train_loss_last_epoch"], q2["metrics"]["train_loss_last_epoch"]
check(q2["training"]["ranks"] == 2 and abs(a - b) <= 1e-4 * a and
      abs(q1["metrics"]["test_accuracy"] - q2["metrics"]["test_accuracy"]) <= 0.002,
      "2-rank classifier equals 1-process: loss %.7f vs %.7f, test accuracy %.4f vs %.4f" %
      (b, a, q2["metrics"]["test_accuracy"], q1["metrics"]["test_accuracy"]))

# --- 3. Failures. -----------------------------------------------------------------------------------------
# A rank killed mid-run: the other names it within the timeout, exits non-zero and writes the error file.
port = free_port()
long_sweep = sweep[:-4] + ["--iters", "400", "--batch", "1", "--csv", os.path.join(scratch, "killed.csv")]
error_file = os.path.join(scratch, "error0.json")
r0 = subprocess.Popen([binary] + long_sweep, env=env(0, 2, port, TORCHELASTIC_ERROR_FILE=error_file),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
r1 = subprocess.Popen([binary] + long_sweep, env=env(1, 2, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
log1 = os.path.join(scratch, "killed.csv.state", "log.1.jsonl")
deadline = time.time() + 120
while time.time() < deadline and (not os.path.exists(log1) or open(log1).read().count("\n") < 3):
    time.sleep(0.1)
r1.send_signal(signal.SIGKILL)
killed_at = time.time()
out0, err0 = r0.communicate(timeout=120)
took = time.time() - killed_at
r1.wait()
check(r0.returncode == 1, "the surviving rank exits 1 (got %s)" % r0.returncode)
check("rank 1 of 2 is lost" in err0 and "stopping rank 0 of 2" in err0, "it names the lost rank: " + err0.strip()[-200:])
check(took < TIMEOUT + 5, "within the timeout: %.1f s after the kill (timeout %d s)" % (took, TIMEOUT))
check(os.path.exists(error_file) and "rank 1 of 2 is lost" in json.load(open(error_file))["message"]["message"],
      "torchrun's error file names it")

# A rank that never joins.
port = free_port()
t = time.time()
alone = subprocess.run([binary] + sweep + ["--csv", os.path.join(scratch, "alone.csv")], env=env(0, 2, port),
                       capture_output=True, text=True)
check(alone.returncode == 2 and "rank(s) 1 of 2 never joined within 5 s" in alone.stderr,
      "a rank that never joins: " + alone.stderr.strip()[-200:])
check(time.time() - t < TIMEOUT + 5, "reported within the timeout")
# A port in use.
with socket.socket() as busy:
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    port = busy.getsockname()[1]
    inuse = subprocess.run([binary] + sweep + ["--csv", os.path.join(scratch, "busy.csv")], env=env(0, 2, port),
                           capture_output=True, text=True)
check(inuse.returncode == 2 and ("port %d is in use on this machine" % port) in inuse.stderr,
      "a port in use: " + inuse.stderr.strip()[-200:])
check("WARNING" not in inuse.stderr and "socket.cpp" not in inuse.stderr, "one line, not c10d's log")
# Ranks started with different WORLD_SIZE.
port = free_port()
a = subprocess.Popen([binary] + sweep + ["--csv", os.path.join(scratch, "ws.csv")], env=env(0, 2, port),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(0.5)
b = subprocess.run([binary] + sweep + ["--csv", os.path.join(scratch, "ws.csv")], env=env(1, 3, port),
                   capture_output=True, text=True)
a.communicate(timeout=60)
check(b.returncode == 2 and "rank 0 started a job of 2 ranks, this rank one of 3" in b.stderr,
      "different WORLD_SIZE: " + b.stderr.strip()[-200:])
# A command that does not scale out refuses to run in a job.
inv = subprocess.run([binary, "layers", "--model", "fashion"], env=env(0, 2, free_port()), capture_output=True, text=True)
check(inv.returncode == 2 and "`sweep --data` and `train inverter|classifier|mixer` scale out" in inv.stderr,
      "a command that does not scale out says so")

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
