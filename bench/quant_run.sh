#!/bin/bash
# int8 post-training quantization (`tandem quantize`, QDQ ONNX) vs float32 on the same models:
#   accuracy: the zoo CNN and MLP with trained weights, calibrated on the first 500
#             Fashion-MNIST training images by min-max, percentile (99.99) and entropy (KL),
#             on the 10000 test images; the MLP also dynamically quantized (no calibration);
#   cosine:   ResNet-18 and MobileNetV2 (random weights) calibrated on 32 random inputs by each
#             method: cosine similarity of int8 vs fp32 outputs per sample over 200 inputs;
#   speed:    ResNet-18 and MobileNetV2 (torchvision, random weights: bench/vision_models.py)
#             at batch 1 and 8, 1 and 2 threads, and the cosine similarity of int8 vs fp32
#             outputs over 200 random inputs; the quantized files' size ratio; ONNX Runtime
#             (onnxruntime-node, as bench/onnx_run.sh finds it) on the same int8 files.
#
#   CNN_WEIGHTS=run_cnn/model.safetensors MLP_WEIGHTS=run_mlp/model.safetensors bench/quant_run.sh
#
# Env: BENCH_OUT (work dir, default /tmp/tandem_quant_bench), VISION_DIR (where resnet18.onnx and
# mobilenet_v2.onnx are, made by bench/vision_models.py when missing), CALIB (samples, 500),
# QUANT_SPEED=0 skips the speed and ONNX Runtime sections (accuracy and cosine only).
set -euo pipefail
cd "$(dirname "$0")/.."
# Passive OpenMP waiting: on a shared machine spinning threads fight the other load.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
T=build/release/tools/tandem
B=build/release/bench/tandem_bench_quant
out=${BENCH_OUT:-/tmp/tandem_quant_bench}
vision=${VISION_DIR:-$out/vision}
calib=${CALIB:-500}
mkdir -p "$out" "$vision"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

/usr/bin/python3 - "$out" "$calib" <<'PY'
import gzip, sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
d = "/usr/share/datasets/fashion-mnist/"
def images(f):
    with gzip.open(d + f) as g:
        x = np.frombuffer(g.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return ((x.astype(np.float32) / np.float32(255) - np.float32(0.2860)) / np.float32(0.3530)).astype(np.float32)
def labels(f):
    with gzip.open(d + f) as g:
        return np.frombuffer(g.read(), np.uint8, offset=8).astype(np.int64)
np.save(out + "/calib.npy", images("train-images-idx3-ubyte.gz")[:n])
np.save(out + "/test_x.npy", images("t10k-images-idx3-ubyte.gz"))
np.save(out + "/test_y.npy", labels("t10k-labels-idx1-ubyte.gz"))
PY

echo "## accuracy (Fashion-MNIST test set, $calib calibration images)"
for m in cnn mlp; do
  w=$([ $m = cnn ] && echo "${CNN_WEIGHTS:?set CNN_WEIGHTS}" || echo "${MLP_WEIGHTS:?set MLP_WEIGHTS}")
  $T export --model $m --weights "$w" --dynamic-batch -o "$out/$m.onnx" > /dev/null
  for method in minmax percentile entropy; do
    $T quantize "$out/$m.onnx" --data "$out/calib.npy" --samples "$calib" --method $method --out "$out/$m.$method.onnx" > /dev/null
    echo "$m $method $(stat -c %s "$out/$m.onnx") $(stat -c %s "$out/$m.$method.onnx") $($B accuracy "$out/$m.onnx" "$out/$m.$method.onnx" "$out/test_x.npy" "$out/test_y.npy")"
  done
done
$T quantize --dynamic "$out/mlp.onnx" --out "$out/mlp.dynamic.onnx" > /dev/null
echo "mlp dynamic $(stat -c %s "$out/mlp.onnx") $(stat -c %s "$out/mlp.dynamic.onnx") $($B accuracy "$out/mlp.onnx" "$out/mlp.dynamic.onnx" "$out/test_x.npy" "$out/test_y.npy")"

echo "## cosine of int8 vs fp32 outputs per calibration method (random weights; 32 random calibration inputs; 200 inputs)"
for m in resnet18 mobilenet_v2; do
  [ -f "$vision/$m.onnx" ] || /usr/bin/python3 bench/vision_models.py "$vision" --models $m > /dev/null
  /usr/bin/python3 -c "import numpy as np; np.save('$out/calib_$m.npy', np.random.default_rng(0).normal(0, 1, (32, 3, 224, 224)).astype(np.float32))"
  for method in minmax percentile entropy; do
    $T quantize "$vision/$m.onnx" --data "$out/calib_$m.npy" --batch 8 --method $method --out "$out/$m.$method.onnx" > /dev/null
    echo "$m $method $($B cosine "$vision/$m.onnx" "$out/$m.$method.onnx")"
  done
done
[ "${QUANT_SPEED:-1}" = 0 ] && exit 0

echo "## speed and cosine (random weights, random inputs)"
for m in resnet18 mobilenet_v2; do
  cp "$out/$m.minmax.onnx" "$out/$m.int8.onnx"
  echo "$m size $(stat -c %s "$vision/$m.onnx") -> $(stat -c %s "$out/$m.int8.onnx")"
  for b in 1 8; do
    for t in 1 2; do
      echo "$m $($B speed "$vision/$m.onnx" "$out/$m.int8.onnx" $b $t)"
    done
  done
done

echo "## ONNX Runtime on the same int8 QDQ files (onnxruntime-node, CPU EP; ns per run)"
ort_root=${TANDEM_ONNXRUNTIME_NODE:-$PWD/build/onnxruntime-node}
if NODE_PATH="$ort_root/node_modules" node -e "require('onnxruntime-node')" > /dev/null 2>&1; then
  mkdir -p "$out/ort"
  for m in resnet18 mobilenet_v2; do
    cp "$out/$m.int8.onnx" "$out/ort/${m}_int8.onnx"
    for b in 1 8; do
      /usr/bin/python3 -c "import numpy as np; np.save('$out/ort/${m}_int8_b$b.input.npy', np.random.default_rng(1).normal(0, 1, ($b, 3, 224, 224)).astype(np.float32))"
    done
  done
  for t in 1 2; do
    echo "threads $t $(NODE_PATH="$ort_root/node_modules" node bench/onnx_ort.js "$out/ort" $t 3 0.5)"
  done
else
  echo "onnxruntime-node not found under $ort_root (see bench/onnx_run.sh)"
fi
