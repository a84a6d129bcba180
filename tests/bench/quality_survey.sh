#!/bin/sh
# Time to quality over many images and seeds: one image and one seed decide little at a network's last taps (the
# Fashion model's relu4 is reached on 24 of 30 runs over its 10 sample images and seeds 0-2, on none of the t-shirt's).
# Runs `preimage bench --quality` per image and seed (the protocol, 400 iterations, against the default optimiser) and
# prints, per tap, the mean objectives, the default optimiser's objective over the protocol's (median and range), on
# how many runs it reached the protocol's objective within a third of its evaluations, the images where it did not on
# every seed, and the median evaluations to it.
#
# Usage: tests/bench/quality_survey.sh OUT_DIR MODEL "IMAGES" [LAYERS] [SEEDS]   (OUT_DIR: a fresh folder; every
#        *.json in it is summarised)
#   e.g. tests/bench/quality_survey.sh /tmp/survey fashion "assets/samples/fashion_*.png" all "0 1 2"
# Environment: PREIMAGE (the binary, default build/bin/preimage), THREADS (default 1: runs repeat bitwise).
# The Fashion model's 10 images x 3 seeds x 11 taps take about 3 minutes on 2 cores; OUT_DIR/table.md.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?OUT_DIR}
model=${2:?MODEL}
images=${3:?IMAGES}
layers=${4:-all}
seeds=${5:-0 1 2}
bin=${PREIMAGE:-$here/build/bin/preimage}
mkdir -p "$out"
for image in $images; do
    for seed in $seeds; do
        name=$(basename "$image" | sed 's/\.[^.]*$//')
        "$bin" bench --quality --model "$model" --image "$image" --layers "$layers" --seed "$seed" \
            --threads "${THREADS:-1}" --json "$out/$name.seed$seed.json" >/dev/null
    done
done
/usr/bin/python3 - "$out" <<'EOF'
import glob, json, statistics, sys
out = sys.argv[1]
rows = {}  # tap -> list of (image, protocol objective, default objective, evaluations to it within a third or None)
order = []
for f in sorted(glob.glob(f"{out}/*.json")):
    run = json.load(open(f))
    image = run["image"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for tap in run["taps"]:
        name = tap["layer"]
        if name not in rows:
            rows[name] = []
            order.append(name)
        default = tap.get("sobolev") or next(v for k, v in tap.items() if isinstance(v, dict) and k != "protocol")
        to = default.get("evaluations_to_target")
        third = to if to is not None and to <= tap["protocol"]["evaluations"] / 3 else None
        rows[name].append((image, tap["protocol"]["objective"], default["objective"], third))
lines = ["| tap | protocol, mean | default, mean | default / protocol: median (range) | reached within a third | "
         "images not reached on every seed | evaluations to it, median |", "|---|---|---|---|---|---|---|"]
for name in order:
    r = rows[name]
    ratios = [d / p for _, p, d, _ in r]
    reached = [t for *_, t in r if t is not None]
    missed = sorted({i for i, *_, t in r if t is None})
    lines.append(f"| {name} | {statistics.mean(p for _, p, _, _ in r):.4f} | {statistics.mean(d for _, _, d, _ in r):.4f} | "
                 f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | {len(reached)} of {len(r)} | "
                 f"{', '.join(missed) or '-'} | {format(statistics.median(reached), 'g') if reached else '-'} |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
