#!/usr/bin/env bash
# Installs every Debian package tandem needs. Idempotent; quiet when all is present.
#   scripts/setup.sh          build + test dependencies (PyTorch and ONNX Runtime included: the
#                             comparison tests run them, and CI lets no test skip)
#   scripts/setup.sh --bench  also hyperfine and OpenBLAS for bench/, and (npm) ONNX Runtime Web
#                             and TF.js's wasm backend for bench/wasm_run.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libdnnl-dev libfmt-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  ocl-icd-opencl-dev zlib1g-dev libpng-dev nlohmann-json3-dev libcli11-dev
  clang libclang-rt-14-dev libomp-dev protobuf-compiler libprotobuf-dev python3-protobuf python3-numpy
  libonnx-dev libonnx-testdata python3-onnx python3-torch python3-torchvision nodejs
  dataset-fashion-mnist
  pybind11-dev python3-dev python3-pytest
  libmicrohttpd-dev rapidjson-dev curl
  libopenmpi-dev openmpi-bin
  libsqlite3-dev libpq-dev postgresql
  g++-aarch64-linux-gnu qemu-user-static
  emscripten chromium
)
bench=""
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1; packages+=(hyperfine libopenblas0-pthread wrk python3-pandas python3-psycopg2) ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's npm, unless node already brings one (nodesource's nodejs does; the two conflict).
command -v npm >/dev/null 2>&1 || missing+=(npm)

# onnxruntime-node from npm for the export tests (tests/onnx/test_export_util.h) and bench/:
# --ignore-scripts, because its install script only downloads GPU extras. Version pinned.
install_ort() {
  local dir; dir="$(cd "$(dirname "$0")/.." && pwd)/build/onnxruntime-node"
  NODE_PATH="$dir/node_modules" node -e "require('onnxruntime-node')" >/dev/null 2>&1 && return 0
  echo "setup.sh: installing onnxruntime-node into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-node@1.31.1 >/dev/null
}
# With --bench: onnxruntime-web and TF.js (core + wasm backend) for bench/wasm_run.sh, into
# build/web-bench (the benchmark only; no test uses them). Versions pinned.
install_web_bench() {
  [ -n "$bench" ] || return 0
  local dir; dir="$(cd "$(dirname "$0")/.." && pwd)/build/web-bench"
  NODE_PATH="$dir/node_modules" node -e "require('onnxruntime-web'); require('@tensorflow/tfjs-backend-wasm')" \
    >/dev/null 2>&1 && return 0
  echo "setup.sh: installing onnxruntime-web and TF.js (wasm backend) into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-web@1.31.1 \
    @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 >/dev/null
}
[ ${#missing[@]} -eq 0 ] && { install_ort; install_web_bench; exit 0; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_ort
install_web_bench
