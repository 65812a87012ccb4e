#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz (clang, ASan + UBSan) and runs each for a bounded time.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS_PER_FUZZER] [TARGET...]
#
# SECONDS_PER_FUZZER defaults to 20 (or $KILN_FUZZ_SECONDS); TARGETs default to all of
# model_import_fuzz npy_fuzz tensor_proto_fuzz infer_request_fuzz. Each fuzzer starts from a copy of its seed corpus in
# tests/fuzz/corpus/<target>/ (new inputs go to build-fuzz/corpus/<target>/, not into the source tree);
# crash reproducers are written to build-fuzz/crashes/<target>/. Exits non-zero if any fuzzer fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-${KILN_FUZZ_SECONDS:-20}}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(model_import_fuzz npy_fuzz tensor_proto_fuzz infer_request_fuzz)
build="$root/build-fuzz"

export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target "${targets[@]/#/kiln_}"

status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  cp -n "$root/tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  echo "== $t: ${seconds}s"
  if ! "$build/kiln_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$crashes/" "$corpus" >"$build/$t.log" 2>&1; then
    echo "FAIL $t: see $build/$t.log and the reproducer in $crashes/"
    tail -n 40 "$build/$t.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^Done" "$build/$t.log" | tr '\n' ' '
    echo
    echo "ok $t"
  fi
done
exit $status
