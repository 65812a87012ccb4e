#!/usr/bin/env bash
# The README's first command: install what is missing, build, and classify a bundled sample digit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=OFF
echo
echo "$ build/kiln run examples/digits/model.onnx -i image=examples/digits/samples/digit_7.npy"
build/kiln run examples/digits/model.onnx -i image=examples/digits/samples/digit_7.npy
