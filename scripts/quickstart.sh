#!/usr/bin/env bash
# The README's first command: install what is missing, build, classify a bundled sample digit, then
# serve the bundled model repository over KServe v2 until Ctrl-C (pass --no-serve to stop after the
# classification).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=OFF
echo
echo "$ build/kiln run examples/digits/model.onnx -i image=examples/digits/samples/digit_7.npy"
build/kiln run examples/digits/model.onnx -i image=examples/digits/samples/digit_7.npy
if [[ "${1:-}" == "--no-serve" ]]; then
  exit 0
fi
echo
echo "$ build/kiln serve --model-repository examples/model_repository"
echo "(in another terminal: curl -s localhost:8000/v2/models/digits/infer -d @examples/digits/samples/digit_7.json)"
exec build/kiln serve --model-repository examples/model_repository
