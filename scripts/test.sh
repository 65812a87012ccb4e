#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run every test suite:
# unit tests, the ONNX backend conformance suites against the expected-failure list, the tool's
# bad-input tests and short bounded fuzzing runs (KILN_FUZZ_SECONDS per target, default 20; 0 skips
# them). Ends with the line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test || exit 1
scripts/build.sh -DKILN_BUILD_TESTS=ON || exit 1

log=$(mktemp)
(cd build && ctest --output-on-failure -j"$(nproc)") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
rm -f "$log"
if [[ -z "$summary" ]]; then
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")

# Fuzzing: the model loader and the .npy and .pb readers, each for a bounded time.
fuzz_seconds=${KILN_FUZZ_SECONDS:-20}
if [[ "$fuzz_seconds" != 0 ]]; then
  for target in model_import_fuzz npy_fuzz tensor_proto_fuzz infer_request_fuzz; do
    total=$((total + 1))
    if ! tests/fuzz/run_fuzzers.sh "$fuzz_seconds" "$target"; then
      failed=$((failed + 1))
      status=1
    fi
  done
fi
echo "$((total - failed)) passed, ${failed} failed"
exit "$status"
