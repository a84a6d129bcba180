#!/usr/bin/env bash
# Scale-out benchmark (issue "Scale-out on torch.distributed"), on one machine over loopback:
#  1. the folder sweep (the default model, all 11 layers, 200 iterations, the first N Fashion-MNIST test images,
#     batch 1) on 2 ranks of 1 thread each against 1 process (its default threads): target <= 0.6x the wall time;
#  2. data-parallel inverter training (the default model's relu2 decoder, 6,000 images, 1 epoch, global batch 64)
#     on 2 ranks against 1 process: images per second, and the time in the per-step all-reduce and its share.
# Not a test: it prints. Usage: tests/bench/distributed.sh [path/to/preimage]   (N=64 by default)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../build/bin/preimage}"
n=${N:-64}
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
ranks2() {  # ranks2 PORT ARGS...: two ranks by environment variables, waits for both
    local port=$1
    shift
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=1 "$bin" "$@" > "$out/rank1.log" 2>&1 &
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=0 "$bin" "$@" > "$out/rank0.log" 2>&1
    wait
}
sweep=(sweep --model fashion --data fashion-mnist:test --limit "$n" --iters 200 --batch 1)
t0=$(now); "$bin" "${sweep[@]}" --csv "$out/one.csv" > /dev/null 2>&1; t1=$(now)
ranks2 29731 "${sweep[@]}" --csv "$out/two.csv"; t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$n" 'BEGIN {
    printf "sweep, %d images x 11 layers: 1 process %.1f s, 2 ranks x 1 thread %.1f s: %.2fx the wall time (target <= 0.6x)\n",
           n, b - a, c - b, (c - b) / (b - a) }'
diff <(cut -d, -f1-8 "$out/one.csv") <(cut -d, -f1-8 "$out/two.csv") > /dev/null && echo "  the same table" || echo "  TABLES DIFFER"
train=(train inverter --model fashion --data fashion-mnist:train --limit 6000 --layer relu2 --epochs 1 --batch 64)
t0=$(now); "$bin" "${train[@]}" --out "$out/inv1" > "$out/train1.log" 2>&1; t1=$(now)
ranks2 29732 "${train[@]}" --out "$out/inv2"; t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "training, 6,000 images x 1 epoch (84 steps of 64): 1 process %.1f s, 2 ranks %.1f s (whole commands)\n", b - a, c - b }'
grep "held-out" "$out/train1.log" | sed 's/^/  1 process: /'
grep "held-out\|collectives took" "$out/rank0.log" | sed 's/^/  2 ranks:   /'
