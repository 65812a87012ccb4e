#!/usr/bin/env bash
# Runs the ONNX backend test suites through kiln and through ONNX Runtime 1.30 (installed into
# bench/node_modules if missing), side by side, and rewrites docs/conformance.md from the results.
#   bench/conformance/compare.sh            (needs a built build/kiln)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=/usr/share/libonnx-testdata/data
out=bench/results/conformance
mkdir -p "$out"
if [[ ! -d bench/node_modules/onnxruntime-node ]]; then
  (cd bench && npm install --ignore-scripts --no-audit --no-fund >/dev/null)
fi
for suite in node simple pytorch-converted pytorch-operator; do
  build/kiln test "$data/$suite" > "$out/kiln-$suite.txt" || true
  node bench/conformance/ort_conformance.js "$data/$suite" > "$out/ort-$suite.txt" 2>/dev/null || true
  echo "$suite: kiln $(tail -1 "$out/kiln-$suite.txt") | onnxruntime $(tail -1 "$out/ort-$suite.txt")"
done
/usr/bin/python3 bench/conformance/report.py "$out" tests/conformance/expected_failures.txt > docs/conformance.md
echo "wrote docs/conformance.md"
