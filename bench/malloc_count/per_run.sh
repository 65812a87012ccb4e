#!/usr/bin/env bash
# Heap allocation calls and bytes per steady-state Session::run of a model, as measured by the
# malloc_count.so shim: (total with --runs A+N) - (total with --runs A), divided by N.
#   bench/malloc_count/per_run.sh bench/models/mlp [kiln bench options...]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1; shift
shim=build/malloc_count.so
gcc -shared -fPIC -O2 -o "$shim" bench/malloc_count/malloc_count.c
total() { local runs=$1; shift; LD_PRELOAD=$shim build/kiln bench "$model" --warmup 5 --runs "$runs" "$@" 2>&1 >/dev/null | sed -n 's/^malloc_count: //p'; }
a=$(total 10 "$@"); b=$(total 110 "$@")
calls_a=$(echo "$a" | sed 's/calls=\([0-9]*\).*/\1/'); bytes_a=$(echo "$a" | sed 's/.*bytes=//')
calls_b=$(echo "$b" | sed 's/calls=\([0-9]*\).*/\1/'); bytes_b=$(echo "$b" | sed 's/.*bytes=//')
echo "{\"model\":\"$(basename "$model")\",\"malloc_calls_per_run\":$(( (calls_b - calls_a) / 100 )),\"malloc_bytes_per_run\":$(( (bytes_b - bytes_a) / 100 ))}"
