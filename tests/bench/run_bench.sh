#!/usr/bin/env bash
# The inversion benchmark: preimage against the Python reference on the same libtorch, same protocol.
# Usage: tests/bench/run_bench.sh [path/to/preimage] (default build/bin/preimage). Not a test: it prints.
#   1. the default model at conv2 (LAYER, ITERS, RESTARTS override)
#   2. a Fashion-sized TorchScript CNN with a 128-channel third block (make_bench_model.py), at relu3, 200
#      iterations: the graph-tap path on a network where the convolutions weigh more
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/build/bin/preimage}"
image="$(ls "$root"/assets/samples/fashion_9_*.png | head -1)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

compare() {  # compare NAME: reads $out/cpp.json and $out/py.json
/usr/bin/python3 - "$out/cpp.json" "$out/py.json" "$1" <<'PY'
import json, sys
c, p = (json.load(open(f)) for f in sys.argv[1:3])
print(f"== {sys.argv[3]}: {c['model']}/{c['layer']}, {c['iters']} iterations")
print(f"python reference ({p['threads']} threads): {p['iters_per_second']:.1f} it/s (feature error {p['feature_error']:.4f})")
print(f"preimage          ({c['threads']} threads): {c['batch1_iters_per_second']:.1f} it/s (feature error {c['batch1_feature_error']:.4f})")
same = abs(c['batch1_feature_error'] - p['feature_error']) < 1e-3
print(f"same protocol (lambda_tv {c['lambda_tv']:g}, seed 0): feature errors {'match' if same else 'DIFFER'}")
print(f"ratio preimage / python at batch 1: {c['batch1_iters_per_second'] / p['iters_per_second']:.2f}x  (target >= 1.5x)")
print(f"{c['restarts']} restarts batched vs one after another: {c['batched_speedup']:.2f}x  (target >= 3x)")
PY
}

tv_of() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lambda_tv"])' "$out/cpp.json"; }

layer=${LAYER:-conv2} iters=${ITERS:-300} restarts=${RESTARTS:-8}
"$bin" bench --model fashion --layer "$layer" --iters "$iters" --restarts "$restarts" --image "$image" --json "$out/cpp.json"
/usr/bin/python3 "$here/reference_invert.py" --assets "$root/assets" --model fashion --layer "$layer" --iters "$iters" \
  --tv "$(tv_of)" --image "$image" > "$out/py.json"
compare "default model"

/usr/bin/python3 "$here/make_bench_model.py" "$out/cnn128.pt"
"$bin" bench --model "$out/cnn128.pt" --layer relu3 --iters 200 --restarts 4 --image "$image" --json "$out/cpp.json"
/usr/bin/python3 "$here/reference_invert.py" --assets "$root/assets" --torchscript "$out/cnn128.pt" --layer relu3 --iters 200 \
  --tv "$(tv_of)" --image "$image" > "$out/py.json"
compare "TorchScript CNN, 128-channel third block"
