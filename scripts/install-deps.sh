#!/usr/bin/env bash
# Installs the Debian 12 packages kiln needs, and only those that are missing.
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   build and test dependencies (ONNX test data, python3-onnx, clang and
#                                    its OpenMP runtime for the fuzzers, curl,
#                                    python3-requests and python3-grpcio for the server tests)
#   scripts/install-deps.sh --bench  build dependencies and what bench/ needs to export models (torch,
#                                    torchvision, onnx), to run ONNX Runtime beside kiln (nodejs, npm) and
#                                    to load-test the server (wrk, and nginx-light as the HTTP ceiling;
#                                    bench/serve/run.py starts its own nginx, no system service)
# Flags combine: `scripts/install-deps.sh --test --bench` installs both sets.
set -euo pipefail

want_test=false
want_bench=false
for arg in "$@"; do
  case "$arg" in
    --test) want_test=true ;;
    --bench) want_bench=true ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --test and/or --bench)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libprotobuf-dev protobuf-compiler libonnx-dev libcli11-dev libdnnl-dev
  libboost-dev rapidjson-dev prometheus-cpp-dev libgrpc++-dev protobuf-compiler-grpc zlib1g-dev
  python3-numpy
)
if $want_test; then
  packages+=(libgtest-dev libgmock-dev libonnx-testdata python3-onnx clang libclang-rt-14-dev libomp-14-dev curl
    python3-requests python3-grpcio)
fi
if $want_bench; then
  packages+=(python3-torch python3-torchvision python3-onnx nodejs wrk)
  # Any of Debian's nginx flavours will do; nginx-light is the smallest.
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || packages+=(nginx-light)
  # Debian packages npm on its own; NodeSource's nodejs, found on some machines, bundles it.
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
