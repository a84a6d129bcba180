#!/usr/bin/python3
"""Outputs on a full disk: a small tmpfs (256 KiB) is filled, then `train classifier` (its weights, 3 MB, cannot fit)
and `invert --out` must each end with one line on stderr naming the file and the cause, exit code 2, and leave no
temporary file behind (needs root for the mount, as CI has).

Usage: full_disk.py PREIMAGE_BINARY WORK_DIR
"""
import os
import subprocess
import sys

binary, work = sys.argv[1], sys.argv[2]
mnt = os.path.join(work, "full")
os.makedirs(mnt, exist_ok=True)
subprocess.run(["umount", mnt], stderr=subprocess.DEVNULL)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]).returncode != 0:
    sys.exit("full_disk: cannot mount a tmpfs (this test needs root)")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


try:
    runs = {
        "train classifier": [binary, "train", "classifier", "--data", "fashion-mnist", "--out", os.path.join(mnt, "model"),
                             "--epochs", "1", "--limit", "256", "--threads", "1"],
        "invert": [binary, "invert", "--model", "fashion", "--image",
                   os.path.join(os.environ["PREIMAGE_ASSETS"], "samples", "fashion_9_ankle-boot_test00000.png"),
                   "--layer", "conv1", "--iters", "5", "--out", os.path.join(mnt, "pre.png"), "--threads", "1"],
    }
    with open(os.path.join(mnt, "filler"), "wb", buffering=0) as f:  # every block taken: files can be made, not filled
        try:
            while True:
                f.write(b"\0" * 1024)
        except OSError:
            pass
    for name, cmd in runs.items():
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("\r")]
        last = lines[-1] if lines else ""
        check(p.returncode == 2, f"{name}: exit code 2 on a full disk (got {p.returncode}: {p.stderr[-400:]!r})")
        check("No space left on device" in last and last.startswith("preimage: "),
              f"{name}: one line naming the cause ({last!r})")
        check("internal error" not in p.stderr and "frame #" not in p.stderr, f"{name}: no stack trace or internal error")
    left = [os.path.join(d, f) for d, _, fs in os.walk(mnt) for f in fs if ".tmp" in f]
    check(not left, f"no temporary file left behind ({left})")
finally:
    subprocess.run(["umount", mnt])
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
