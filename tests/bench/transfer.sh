#!/bin/sh
# Do a second network's eyes agree? Renders the class images of the shipped SqueezeNet with each parametrisation at
# its defaults (preimage atlas --classes, a batch at a time) and prints the judge's rank of the intended class per
# class and parametrisation, and the top-1 / top-5 transfer rates. The judge: tests/assets/judge/judge.pt (MobileNet V2,
# a network of another family, converted from a public release; not shipped).
#
# Usage: tests/bench/transfer.sh [OUT_DIR] [PARAMS]     (PARAMS: "pixels fourier maco" by default)
# Environment: PREIMAGE (the binary, default build/bin/preimage), CLASSES (comma-separated, default the 24 below),
# BATCH (units per batch, default 4), EXTRA (more options for every run, e.g. "--iters 128").
# Takes long on 2 cores (minutes per parametrisation); run it with nohup and read OUT_DIR/table.md.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-transfer_bench}
params=${2:-pixels fourier maco}
bin=${PREIMAGE:-$here/build/bin/preimage}
judge=$here/tests/assets/judge/judge.pt
classes=${CLASSES:-"Egyptian cat,balloon,coffee mug,banana,valley,goldfish,flamingo,zebra,school bus,pizza,lemon,strawberry,jellyfish,pineapple,castle,volcano,monarch,tree frog,daisy,beacon,ladybug,broccoli,tiger,hourglass"}
export PREIMAGE_ASSETS=${PREIMAGE_ASSETS:-$here/assets}
mkdir -p "$out"
for p in $params; do
    echo "== $p: $(date)"
    # shellcheck disable=SC2086
    "$bin" atlas --model squeezenet --classes "$classes" --param "$p" --judge "$judge" --batch "${BATCH:-4}" \
        --out "$out/$p.png" --json "$out/$p.json" ${EXTRA:-}
done
/usr/bin/python3 - "$out" $params <<'EOF'
import json, sys
out, params = sys.argv[1], sys.argv[2:]
runs = {p: json.load(open(f"{out}/{p}.json")) for p in params}
names = [u["class_name"] for u in runs[params[0]]["units"]]
lines = ["| class | " + " | ".join(params) + " |", "|---|" + "---|" * len(params)]
for i, n in enumerate(names):
    lines.append(f"| {n} | " + " | ".join(str(runs[p]["units"][i]["judge"]["rank"]) for p in params) + " |")
def rate(p, k):
    ranks = [u["judge"]["rank"] for u in runs[p]["units"]]
    return sum(r <= k for r in ranks) / len(ranks)
lines.append("| **judge's top-1** | " + " | ".join(f"**{rate(p, 1):.0%}**" for p in params) + " |")
lines.append("| **judge's top-5** | " + " | ".join(f"**{rate(p, 5):.0%}**" for p in params) + " |")
lines.append("| SqueezeNet's p under crops (mean) | " + " | ".join(
    f"{sum(u['robust_probability'] for u in runs[p]['units']) / len(names):.2f}" for p in params) + " |")
lines.append("| settings | " + " | ".join(
    f"{runs[p]['settings']['iters']} it, lr {runs[p]['settings']['lr']:g}, {runs[p]['settings']['transforms']}, "
    f"objective {runs[p]['settings'].get('objective', 'score')}" for p in params) + " |")
lines.append("| seconds (units/s) | " + " | ".join(
    f"{runs[p]['seconds']:.0f} ({runs[p]['units_per_second']:.3f})" for p in params) + " |")
table = "\n".join(lines)
open(f"{out}/table.md", "w").write(table + "\n")
print(table)
EOF
