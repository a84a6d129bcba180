#!/usr/bin/env bash
# The dataset sweep's batching benchmark: images x layers per second at --batch 8 against --batch 1 on the
# default model (all 11 layers, 200 iterations, the first N Fashion-MNIST test images; default 32), with the
# default thread policy. Target (issue "Dataset scale"): at least 2x on the CPU. Not a test: it prints.
# Usage: tests/bench/sweep_batch.sh [path/to/preimage]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../build/bin/preimage}"
n=${N:-32}
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
rate() {  # rate B: image-layers per second
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" sweep --model fashion --data fashion-mnist:test --limit "$n" --iters 200 --batch "$1" --csv "$out/b$1.csv" > /dev/null
    t1=$(date +%s.%N)
    awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n * 11 / (b - a)}'
}
one=$(rate 1)
eight=$(rate 8)
echo "default model, $n images x 11 layers, 200 iterations: --batch 1 $one, --batch 8 $eight image-layers/s"
awk -v a="$one" -v b="$eight" 'BEGIN {printf "batch 8 / batch 1: %.2fx (target >= 2x)\n", b / a}'
