#!/usr/bin/env bash
# Streaming benchmark (issue "Dataset scale"): `train inverter --data FOLDER` on folders of 10,000 and 100,000
# PNGs (tests/bench/big_folder.py), one epoch of the default model's relu2 decoder; prints images per second
# and the peak resident memory of each. Bounded memory means the two peaks are close: the folder's images are
# decoded by a background thread into a bounded queue, never held whole. Not a test: it prints.
# Usage: tests/bench/stream_memory.sh [path/to/preimage]   (N=100000 to change the large folder's size)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../build/bin/preimage}"
n=${N:-100000}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$here/big_folder.py" "$work/images" "$n"
for limit in 10000 "$n"; do
    /usr/bin/time -f "%M %e" -o "$work/time" "$bin" train inverter --model fashion --data "$work/images" --limit "$limit" \
        --layer relu2 --epochs 1 --out "$work/inv$limit" > "$work/log$limit" 2>&1
    read -r kb seconds < "$work/time"
    awk -v l="$limit" -v kb="$kb" -v s="$seconds" \
        'BEGIN {printf "%7d images: %6.1f s, %6.0f img/s (listing, training and the held-out pass), peak RSS %.0f MB\n", l, s, l / s, kb / 1024}'
    grep "held-out pixel RMSE" "$work/log$limit"
done
