#!/usr/bin/env bash
# The thread-policy benchmark: the default (automatic) thread count against --threads 1 and --threads 2,
# on a quiet machine and with one core kept busy by another process, for the default model (relu3, 400
# iterations) and a compute-bound network (torchvision AlexNet at 227 px, random weights, features.10), one image and
# 4 restarts in a batch. Targets: busy, default >= 70% of --threads 1 (issue "First-hour hardening"); quiet, default
# >= 90% of the best of 1 and 2 threads (issue "Time to quality", item 6). Each figure is the median of REPS runs
# (default 3), runs interleaved.
# Usage: tests/bench/contention.sh [path/to/preimage]. Not a test: it prints, and exits 1 on a miss.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/build/bin/preimage}"
reps=${REPS:-3} alex_iters=${ALEX_ITERS:-100}
image="$(ls "$root"/assets/samples/fashion_9_*.png | head -1)"
out="$(mktemp -d)"
busy_pid=""
trap '[ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null; rm -rf "$out"' EXIT

/usr/bin/python3 - "$out/alexnet.pt" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
torch.jit.script(torchvision.models.alexnet().eval()).save(sys.argv[1])
PY

speed() {  # speed NAME ARGS...: one run's it/s into $out/NAME.txt
    local name=$1; shift
    "$bin" invert "$@" --image "$image" --out "$out/p.png" --json "$out/r.json" > /dev/null
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["iters_per_second"])' "$out/r.json" \
        >> "$out/$name.txt"
}
median() { sort -g "$out/$1.txt" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

fail=0
check() {  # check LABEL VALUE TARGET
    local ok; ok=$(awk -v v="$2" -v t="$3" 'BEGIN {print (v >= t) ? "ok" : "MISS"}')
    printf '  %-44s %.2f (target >= %.2f) %s\n' "$1" "$2" "$3" "$ok"
    [ "$ok" = ok ] || fail=1
}

for state in quiet busy; do
    if [ "$state" = busy ]; then
        bash -c 'while :; do :; done' &
        busy_pid=$!
        sleep 0.5
    fi
    for model in fashion alexnet alexnet-4-restarts; do
        if [ "$model" = fashion ]; then args=(--model fashion --layer relu3 --iters 400)
        elif [ "$model" = alexnet ]; then args=(--model "$out/alexnet.pt" --size 227 --layer features.10 --iters "$alex_iters")
        else args=(--model "$out/alexnet.pt" --size 227 --layer features.10 --iters $((alex_iters / 2)) --restarts 4); fi
        for r in $(seq "$reps"); do
            speed "$state-$model-auto" "${args[@]}"
            speed "$state-$model-1" "${args[@]}" --threads 1
            speed "$state-$model-2" "${args[@]}" --threads 2
        done
        a=$(median "$state-$model-auto") t1=$(median "$state-$model-1") t2=$(median "$state-$model-2")
        echo "== $state, $model: default $a it/s, --threads 1 $t1 it/s, --threads 2 $t2 it/s"
        if [ "$state" = busy ]; then
            check "default / --threads 1" "$(awk -v a="$a" -v b="$t1" 'BEGIN {print a / b}')" 0.70
        else
            check "default / best of 1 and 2 threads" \
                "$(awk -v a="$a" -v b="$t1" -v c="$t2" 'BEGIN {print a / (b > c ? b : c)}')" 0.90
        fi
    done
done
exit $fail
