#!/bin/bash
# tandem-lite int8 vs float32 on ResNet-18 and MobileNetV2 (torchvision, random weights:
# tests/lite/export_torchvision.py), batch 1 at 224x224, one thread (tandem-lite runs one):
# each model quantized by `tandem quantize` on 8 random calibration inputs, both files
# converted by `tandem convert`, then `tandem-lite run --repeat N` on the float and the int8
# file alternately, ROUNDS times (best of each); file sizes; cosine similarity of the int8 and
# float logits over the first input; tandem-lite's int8 output against the full runtime's
# (`tandem run` on the QDQ file); the stripped size of libtandem_lite.a.
#
#   bench/lite_int8_run.sh            (after a release build of tandem_cli and tandem_lite_cli)
#
# Env: BENCH_OUT (work dir, default /tmp/tandem_lite_int8_bench), REPEAT (5), ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
T=build/release/tools/tandem
L=build/release/tools/tandem-lite
out=${BENCH_OUT:-/tmp/tandem_lite_int8_bench}
repeat=${REPEAT:-5}
rounds=${ROUNDS:-3}
mkdir -p "$out"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for m in resnet18 mobilenet_v2; do
  [ -f "$out/$m.onnx" ] || /usr/bin/python3 tests/lite/export_torchvision.py "$out" 224 "$m" >/dev/null
done
/usr/bin/python3 - "$out" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(5)
np.save(sys.argv[1] + "/calib.npy", rng.standard_normal((8, 3, 224, 224)).astype(np.float32))
np.save(sys.argv[1] + "/x1.npy", np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32))
PY
best() { mkdir -p "$2"; "$L" run "$1" --input "$out/x1.npy" --repeat "$repeat" --output-dir "$2" | sed -n 's/.*best of [0-9]* runs: \([0-9.]*\) ms.*/\1/p'; }
printf "| model | float32 .tlite | int8 .tlite | size ratio | float32 ms | int8 ms | speed-up | cosine | int8 vs full int8 |\n|---|---|---|---|---|---|---|---|---|\n"
for m in resnet18 mobilenet_v2; do
  OMP_NUM_THREADS=1 "$T" quantize "$out/$m.onnx" --data "$out/calib.npy" --batch 4 --out "$out/$m.int8.onnx" >/dev/null
  "$T" convert -q "$out/$m.onnx" "$out/$m.tlite" >/dev/null
  "$T" convert -q "$out/$m.int8.onnx" "$out/$m.int8.tlite" >/dev/null
  f=1e9; q=1e9
  for r in $(seq "$rounds"); do
    a=$(best "$out/$m.tlite" "$out/f.$m"); b=$(best "$out/$m.int8.tlite" "$out/q.$m")
    f=$(echo "$a $f" | awk '{print ($1 < $2) ? $1 : $2}'); q=$(echo "$b $q" | awk '{print ($1 < $2) ? $1 : $2}')
  done
  mkdir -p "$out/full.$m"
  OMP_NUM_THREADS=1 "$T" run "$out/$m.int8.onnx" --input "input=$out/x1.npy" --output-dir "$out/full.$m" >/dev/null
  read -r cos full <<<"$(/usr/bin/python3 - "$out" "$m" <<'PY'
import sys, numpy as np
o, m = sys.argv[1], sys.argv[2]
f = np.load(f"{o}/f.{m}/output.npy").ravel().astype(np.float64)
q = np.load(f"{o}/q.{m}/output.npy").ravel().astype(np.float64)
r = np.load(f"{o}/full.{m}/output.npy").ravel().astype(np.float64)
print(f"{f @ q / np.sqrt((f @ f) * (q @ q)):.4f}", f"{np.abs(q - r).max() / np.abs(r).max():.1e}")
PY
)"
  sf=$(stat -c %s "$out/$m.tlite"); sq=$(stat -c %s "$out/$m.int8.tlite")
  printf "| %s | %.1f MB | %.1f MB | %.2fx | %s | %s | %.2fx | %s | %s |\n" "$m" "$(echo "$sf / 1000000" | bc -l)" \
    "$(echo "$sq / 1000000" | bc -l)" "$(echo "$sf / $sq" | bc -l)" "$f" "$q" "$(echo "$f / $q" | bc -l)" "$cos" "$full"
done
lib=$(find build/release -name libtandem_lite.a | head -1)
strip --strip-unneeded -o "$out/libtandem_lite.stripped.a" "$lib"
echo "libtandem_lite.a stripped: $(stat -c %s "$out/libtandem_lite.stripped.a") bytes"
