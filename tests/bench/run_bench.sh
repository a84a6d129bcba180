#!/usr/bin/env bash
# The inversion benchmark: preimage against the Python reference on the same libtorch, same protocol.
# Usage: tests/bench/run_bench.sh [path/to/preimage] (default build/bin/preimage). Not a test: it prints.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/build/bin/preimage}"
model=fashion layer=${LAYER:-conv2} iters=${ITERS:-300} restarts=${RESTARTS:-8}
image="$(ls "$root"/assets/samples/fashion_9_*.png | head -1)"
out="$(mktemp -d)"
"$bin" bench --model $model --layer $layer --iters $iters --restarts $restarts --image "$image" --json "$out/cpp.json"
tv="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lambda_tv"])' "$out/cpp.json")"
/usr/bin/python3 "$here/reference_invert.py" --assets "$root/assets" --model $model --layer $layer --iters $iters \
  --tv "$tv" --image "$image" > "$out/py.json"
/usr/bin/python3 - "$out/cpp.json" "$out/py.json" <<'PY'
import json, sys
c, p = (json.load(open(f)) for f in sys.argv[1:3])
print(f"python reference ({p['threads']} threads): {p['iters_per_second']:.1f} it/s (feature error {p['feature_error']:.4f})")
print(f"preimage          ({c['threads']} threads): {c['batch1_iters_per_second']:.1f} it/s (feature error {c['batch1_feature_error']:.4f})")
same = abs(c['batch1_feature_error'] - p['feature_error']) < 1e-3
print(f"same protocol (lambda_tv {c['lambda_tv']:g}, seed 0): feature errors {'match' if same else 'DIFFER'}")
print(f"ratio preimage / python at batch 1: {c['batch1_iters_per_second'] / p['iters_per_second']:.2f}x  (target >= 1.5x)")
print(f"{c['restarts']} restarts batched vs one after another: {c['batched_speedup']:.2f}x  (target >= 3x)")
PY
rm -rf "$out"
