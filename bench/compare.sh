#!/usr/bin/env bash
# Runs kiln and ONNX Runtime 1.30 side by side on the benchmark models and rewrites docs/benchmarks.md.
#
#   bench/compare.sh                                   the full run: every model, 1 and 2 threads, batch 1 and 8
#   KILN_BENCH_MODELS="mlp squeezenet1_1" KILN_BENCH_BATCHES=1 KILN_BENCH_RUNS=10 bench/compare.sh   a quick one
#
# It exports missing models (bench/export_models.py), installs the ONNX Runtime peer into
# bench/node_modules if missing, builds build/kiln if needed, checks kiln's outputs against torch
# (kiln test), then for each model, thread count and batch runs `kiln bench` and bench/ort_bench.js one
# right after the other (alternating which goes first), in rounds over every configuration (a shared
# host runs in fast and slow phases of minutes: a pair measured once can land astride a change of phase,
# and the report takes the median over rounds), then the per-call overhead runs, and finally
# writes docs/benchmarks.md from those results alone (bench/perf_report.py), keeping the server load
# section that bench/serve/run.py writes there.
#
# Environment (defaults in brackets):
#   KILN_BENCH_MODELS   [mlp squeezenet1_1 mobilenet_v2 efficientnet_b0 resnet18 resnet50 bert_base dcgan_generator]
#   KILN_BENCH_THREADS  [1 2]     KILN_BENCH_BATCHES  [1 8]
#   KILN_BENCH_RUNS     [50]      KILN_BENCH_WARMUP   [10]     (issue 3 asks for a median of >= 50 runs)
#   KILN_BENCH_ROUNDS   [3]       rounds over every configuration
#   KILN_BENCH_ATOL     [1e-5]    absolute tolerance of the correctness check (rtol stays ONNX's 1e-3)
#   KILN_BENCH_LABEL    [a label saying what kind of run this was; the quick run should say so]
#   KILN_BENCH_DOC      [docs/benchmarks.md]
set -euo pipefail
cd "$(dirname "$0")/.."

models=${KILN_BENCH_MODELS:-"mlp squeezenet1_1 mobilenet_v2 efficientnet_b0 resnet18 resnet50 bert_base dcgan_generator"}
threads=${KILN_BENCH_THREADS:-"1 2"}
batches=${KILN_BENCH_BATCHES:-"1 8"}
runs=${KILN_BENCH_RUNS:-50}
rounds=${KILN_BENCH_ROUNDS:-3}
warmup=${KILN_BENCH_WARMUP:-10}
atol=${KILN_BENCH_ATOL:-1e-5}
doc=${KILN_BENCH_DOC:-docs/benchmarks.md}
bert_dims="sequence=128"
default_label="Full run: every model at 1 and 2 threads, batch 1 and 8, median of $runs runs, $rounds rounds."
if [[ "$models" != "mlp squeezenet1_1 mobilenet_v2 efficientnet_b0 resnet18 resnet50 bert_base dcgan_generator" ||
      "$threads" != "1 2" || "$batches" != "1 8" || "$runs" -lt 50 ]]; then
  default_label="Partial run (models: $models; threads: $threads; batch: $batches; $runs runs, $rounds rounds): not the full comparison issue 3 asks for."
fi
label=${KILN_BENCH_LABEL:-$default_label}

out=bench/results/perf/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
step() { echo "== $*" >&2; }

step "models"
missing=()
for m in $models identity; do
  [[ -f bench/models/$m/model.onnx ]] || missing+=("$m")
done
if ((${#missing[@]})); then
  /usr/bin/python3 bench/export_models.py "${missing[@]}" ||
    echo "warning: some models did not export; going on with those that did" >&2
fi

step "ONNX Runtime peer"
if [[ ! -d bench/node_modules/onnxruntime-node ]]; then
  (cd bench && npm install --ignore-scripts --no-audit --no-fund >/dev/null)
fi
ort_version=$(node -p "require('./bench/node_modules/onnxruntime-node/package.json').version")

step "kiln"
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build --target kiln_cli >/dev/null
kiln_version="$(git describe --always --dirty 2>/dev/null || echo unknown) ($(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo '?'))"

cat > "$out/settings.txt" <<EOF
started=$(date -u '+%Y-%m-%d %H:%M UTC')
runs=$runs
rounds=$rounds
warmup=$warmup
rtol=1e-3
atol=$atol
bert_dims=$bert_dims
ort_version=$ort_version
kiln_version=$kiln_version
results_dir=$out
EOF

step "FP32 ceiling of one core (bench/fma_peak.c)"
# Built here for this machine (-march=native); the report puts each model's GFLOP/s beside it.
# Once on one thread, once on every logical CPU at the same time: CPUs sharing a core's FMA units get a
# share each when all are busy, which is the ceiling of the multi-thread rows.
if cc -O2 -march=native -pthread bench/fma_peak.c -o "$out/fma_peak" 2>"$out/fma_peak.txt"; then
  if one=$("$out/fma_peak" 1) && all=$("$out/fma_peak" "$(nproc)"); then
    echo "{\"one\": $one, \"all\": $all}" > "$out/ceiling.json"
    cat "$out/ceiling.json" >&2
  fi
else
  echo "warning: bench/fma_peak.c did not build here (needs AVX2+FMA or AVX-512); no ceiling section" >&2
fi
rm -f "$out/fma_peak"

step "correctness (kiln test against torch)"
present=()
for m in $models; do
  [[ -f bench/models/$m/model.onnx ]] && present+=("bench/models/$m")
done
build/kiln test --atol "$atol" "${present[@]}" > "$out/correctness.txt" 2>&1 || true
tail -1 "$out/correctness.txt" >&2

# One benchmark run; on failure, a JSON line with the error instead, so the report shows it.
bench_one() {  # ENGINE MODEL THREADS BATCH FILE [extra args]
  local engine=$1 model=$2 t=$3 b=$4 file=$5
  shift 5
  local args=(--threads "$t" --batch "$b" --warmup "$warmup" --runs "$runs" "$@")
  [[ $model == bert_base ]] && args+=(--dims "$bert_dims")
  local line err
  if [[ $engine == kiln ]]; then
    line=$(build/kiln bench "bench/models/$model" "${args[@]}" 2>"$out/stderr.txt") || line=""
  else
    line=$(node bench/ort_bench.js "bench/models/$model" "${args[@]}" 2>"$out/stderr.txt") || line=""
  fi
  if [[ -z $line ]]; then
    err=$(grep -m1 'error' "$out/stderr.txt" | tr -d '"\\' || true)
    line="{\"engine\":\"$engine\",\"model\":\"$model\",\"threads\":$t,\"batch\":$b,\"error\":\"${err:-no output}\"}"
  fi
  echo "$line" >> "$file"
  echo "   $line" >&2
}

# Round r of every configuration; results.jsonl then holds, per configuration, its rounds in order.
for ((r = 0; r < rounds; r++)); do
  step "latency, round $((r + 1)) of $rounds"
  i=0
  for m in $models; do
    [[ -f bench/models/$m/model.onnx ]] || continue
    for t in $threads; do
      for b in $batches; do
        # Alternate who goes first, from one configuration to the next and from one round to the next, so
        # that neither always runs on a machine the other just warmed.
        if (((i++ + r) % 2 == 0)); then order="kiln ort"; else order="ort kiln"; fi
        for engine in $order; do
          [[ $engine == ort ]] && engine=onnxruntime
          bench_one "$engine" "$m" "$t" "$b" "$out/results.jsonl"
        done
      done
    done
  done
done

step "per-call overhead (batch 1, 1 thread)"
for m in identity mlp; do
  [[ -f bench/models/$m/model.onnx ]] || continue
  bench_one kiln "$m" 1 1 "$out/overhead.jsonl" --overhead
  bench_one onnxruntime "$m" 1 1 "$out/overhead.jsonl"
done

rm -f "$out/stderr.txt"
/usr/bin/python3 bench/perf_report.py "$out" "$label" > "$out/benchmarks.md"
# The server load section is bench/serve/run.py's (between its marker lines): carry it over unchanged.
/usr/bin/python3 bench/serve/report.py carry "$doc" "$out/benchmarks.md"
cp "$out/benchmarks.md" "$doc"
echo "wrote $doc (raw results in $out)" >&2
