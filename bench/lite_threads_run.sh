#!/bin/bash
# tandem-lite at 1 and 2 threads inside one run (`tandem-lite run --threads N`) next to the
# full runtime (tandem_bench_onnx --threads=N, oneDNN) on the same files: ResNet-18 and
# MobileNetV2 (torchvision, random weights, batch 1 at 224x224), float32 and their int8 QDQ
# files from `tandem quantize` (bench/lite_int8_run.sh writes all of them into its BENCH_OUT).
# tandem-lite: best wall time of REPEAT runs and CPU time per run (every thread's); full
# runtime: Google Benchmark's mean wall time and process CPU time per run.
#
#   bench/lite_int8_run.sh; bench/lite_threads_run.sh   (after a release build of
#   tandem_lite_cli and tandem_bench_onnx)
#
# Env: SRC (the folder with the .onnx and .tlite files, default /tmp/tandem_lite_int8_bench),
# REPEAT (10), MIN_TIME (Google Benchmark's seconds per case, 1).
set -euo pipefail
cd "$(dirname "$0")/.."
L=build/release/tools/tandem-lite
B=build/release/bench/tandem_bench_onnx
src=${SRC:-/tmp/tandem_lite_int8_bench}
repeat=${REPEAT:-10}
min_time=${MIN_TIME:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
printf "| model | threads | lite wall ms | lite CPU ms | full wall ms | full CPU ms |\n|---|---|---|---|---|---|\n"
for m in resnet18 resnet18.int8 mobilenet_v2 mobilenet_v2.int8; do
  mkdir -p "$work/$m" "$work/o"
  cp "$src/$m.onnx" "$work/$m/"
  for t in 1 2; do
    read -r lw lc <<<"$("$L" run "$src/$m.tlite" --input "$src/x1.npy" --repeat "$repeat" --threads "$t" \
      --output-dir "$work/o" | sed -n 's/.*best of [0-9]* runs: \([0-9.]*\) ms (CPU \([0-9.]*\) ms.*/\1 \2/p')"
    read -r fw fc <<<"$(OMP_NUM_THREADS=$t "$B" --onnx-dir="$work/$m" --batches=1 --threads="$t" \
      --benchmark_min_time="$min_time" --benchmark_format=csv 2>/dev/null |
      awk -F, '/^"onnx/ { printf "%.1f %.1f\n", $3 / 1000, $4 / 1000 }')"
    printf "| %s | %d | %.1f | %.1f | %s | %s |\n" "$m" "$t" "$lw" "$lc" "$fw" "$fc"
  done
done
echo "# end: load $(cut -d' ' -f1-3 /proc/loadavg)"
