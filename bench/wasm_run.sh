#!/usr/bin/env bash
# Browser inference latency: tandem-lite's WebAssembly build (web/tandem_lite.js) against ONNX
# Runtime Web and TF.js, both on their wasm backends, batch 1, one thread, SIMD on, in one node
# process (bench/wasm_bench/bench.mjs); prints a Markdown table and the download sizes.
#
#   scripts/setup.sh --bench && make wasm && bench/wasm_run.sh   (after a release build of tandem_cli)
#
# Models, all from one ONNX file each so that every runtime has the same weights: the zoo CNN
# (`tandem export --random-weights`), torchvision's MobileNetV2 and ResNet-18 at 224x224
# (tests/lite/export_torchvision.py, seeded random weights). tandem-lite runs `tandem convert`'s
# .tlite of it, ORT Web the .onnx, TF.js the same graph rebuilt from TF.js ops
# (bench/wasm_bench/onnx_to_tfjs.py, tfjs_model.mjs; NHWC, XNNPACK kernels).
# Environment: BUILD_DIR (build/release), BENCH_MODELS ("cnn mobilenet_v2 resnet18"),
# BENCH_OUT (build/web-bench/models).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
models=${BENCH_MODELS:-cnn mobilenet_v2 resnet18}
out=${BENCH_OUT:-build/web-bench/models}
modules=build/web-bench/node_modules
[ -f web/dist/tandem_lite.wasm ] || { echo "wasm_run.sh: run make wasm first" >&2; exit 1; }
[ -d "$modules/onnxruntime-web" ] || { echo "wasm_run.sh: run scripts/setup.sh --bench first" >&2; exit 1; }
mkdir -p "$out"
for m in $models; do
  if [ ! -f "$out/$m.onnx" ]; then
    if [ "$m" = cnn ]; then
      "$build/tools/tandem" export --model cnn --random-weights -o "$out/cnn.onnx" >/dev/null
    else
      /usr/bin/python3 tests/lite/export_torchvision.py "$out" 224 "$m" >/dev/null
    fi
  fi
  [ -f "$out/$m.tlite" ] || "$build/tools/tandem" convert "$out/$m.onnx" "$out/$m.tlite" >/dev/null
  [ -f "$out/$m.tfjs.json" ] || /usr/bin/python3 bench/wasm_bench/onnx_to_tfjs.py "$out/$m.onnx" "$out/$m.tfjs"
done
echo "node $(node --version), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
node bench/wasm_bench/bench.mjs "$out" "$modules" $models

size() { stat -c %s "$@" | awk '{s += $1} END {printf "%.0f KB", s / 1024}'; }
gz() { cat "$@" | gzip -9 | wc -c | awk '{printf "%.0f KB", $1 / 1024}'; }
ortd=$modules/onnxruntime-web/dist
tfd=$modules/@tensorflow
echo
echo "| download (JS + wasm, single-threaded SIMD build) | uncompressed | gzip -9 |"
echo "|---|---|---|"
echo "| tandem-lite (web/tandem_lite.js + dist/) | $(size web/tandem_lite.js web/dist/tandem_lite.mjs web/dist/tandem_lite.wasm) | $(gz web/tandem_lite.js web/dist/tandem_lite.mjs web/dist/tandem_lite.wasm) |"
echo "| ONNX Runtime Web (ort.wasm.min.mjs + ort-wasm-simd-threaded.wasm) | $(size "$ortd/ort.wasm.min.mjs" "$ortd/ort-wasm-simd-threaded.wasm") | $(gz "$ortd/ort.wasm.min.mjs" "$ortd/ort-wasm-simd-threaded.wasm") |"
echo "| TF.js (tf-core.min.js + tf-backend-wasm.min.js + tfjs-backend-wasm-simd.wasm) | $(size "$tfd/tfjs-core/dist/tf-core.min.js" "$tfd/tfjs-backend-wasm/dist/tf-backend-wasm.min.js" "$tfd/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm") | $(gz "$tfd/tfjs-core/dist/tf-core.min.js" "$tfd/tfjs-backend-wasm/dist/tf-backend-wasm.min.js" "$tfd/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm") |"
