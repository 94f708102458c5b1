#!/usr/bin/env bash
# Peak resident memory (/usr/bin/time's maximum RSS) of tandem next to PyTorch and ONNX Runtime
# on the same jobs, one after another in one run; prints a Markdown table (also saved as
# table.md in the results dir) with each target and whether it is met.
#
#   bench/memory_run.sh          (after a release build of tandem_cli)
#
# Training: 1 epoch of Fashion-MNIST at 2 threads, the recipe of bench/train_run.sh (MLP:
# SGD momentum; CNN, the default model: Adam), tandem train against bench/train_torch.py (its
# --epochs mode: the whole job, data loading included); the MLP again with --train-limit 1000
# --test-limit 100. Inference: ResNet-18, ResNet-50 and MobileNetV2 (bench/memory_models.py, exported by
# PyTorch) at batch 1 and 8 on 2 threads, `tandem run` against ONNX Runtime (onnxruntime-node,
# bench/memory_ort.js) net of a bare node process. Activation bytes of a CNN training step at
# batch 128: `tandem summary`'s dry-run estimate (eager), and the compiled step's planned arena
# against the eager peak of the same graph (`tandem graph --train`).
# Environment: BUILD_DIR (build/release), BENCH_OUT (results dir), TANDEM_ONNXRUNTIME_NODE
# (default build/onnxruntime-node), MEM_SKIP_TRAIN=1 / MEM_SKIP_ONNX=1 to leave a part out.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
out=${BENCH_OUT:-$build/bench/memory_results}
ort_root=${TANDEM_ONNXRUNTIME_NODE:-$PWD/build/onnxruntime-node}
tandem=$build/tools/tandem
py=/usr/bin/python3
data=/usr/share/datasets/fashion-mnist

die() { echo "memory_run.sh: $*" >&2; exit 1; }
[ -x "$tandem" ] || die "$tandem not found; build it (cmake --build --preset release --target tandem_cli)"
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (apt-get install time)"
mkdir -p "$out"
rm -f "$out"/table.md "$out"/*.rss

# peak NAME CMD...: runs CMD, keeps its peak RSS in MB in $out/NAME.rss.
peak() {
  local name=$1
  shift
  echo "memory_run.sh: $name" >&2
  /usr/bin/time -f %M -o "$out/$name.kb" "$@" >"$out/$name.log" 2>&1 || die "$name failed: $(tail -n 3 "$out/$name.log")"
  awk '{printf "%.1f\n", $1 / 1024}' "$out/$name.kb" >"$out/$name.rss"
}
mb() { cat "$out/$1.rss"; }
# status VALUE OP LIMIT: "met" or "**not met**".
status() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=" ? v <= l : v < l); print ok ? "met" : "**not met**" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

recipe() {
  case $1 in
    mlp) echo "--model mlp --optimizer sgd --lr 0.01 --momentum 0.9" ;;
    cnn) echo "--model cnn --optimizer adam --lr 0.001" ;;
  esac
}

rows=()
if [ "${MEM_SKIP_TRAIN:-0}" != 1 ]; then
  for m in mlp cnn; do
    peak "tandem_$m" env OMP_NUM_THREADS=2 "$tandem" train $(recipe $m) --schedule none --augment none \
      --data "$data" --epochs 1 --threads 2 --no-progress --no-tensorboard --out "$out/run_$m"
    peak "torch_$m" env OMP_NUM_THREADS=2 "$py" bench/train_torch.py --model $m --threads 2 --steps 1 \
      --warmup 0 --epochs 1 --data "$data"
    t=$(mb "tandem_$m") p=$(mb "torch_$m")
    half=$(awk -v p="$p" 'BEGIN { printf "%.1f", p / 2 }')
    rows+=("| $m training, 1 epoch, 2 threads | $t | PyTorch $p | $(ratio "$t" "$p") | ≤ 50% of PyTorch ($half) | $(status "$t" "<=" "$half") |")
  done
  t=$(mb tandem_cnn)
  rows+=("| main job (CNN training), 1 epoch | $t | | | < 300 MB | $(status "$t" "<" 300) |")
  peak tandem_limited env OMP_NUM_THREADS=2 "$tandem" train $(recipe mlp) --schedule none --augment none \
    --data "$data" --epochs 1 --threads 2 --train-limit 1000 --test-limit 100 --no-progress \
    --no-tensorboard --out "$out/run_limited"
  t=$(mb tandem_limited)
  rows+=("| MLP, --train-limit 1000 --test-limit 100 | $t | | | < 100 MB | $(status "$t" "<" 100) |")
  "$tandem" summary --model cnn --batch-size 128 --optimizer adam >"$out/summary_cnn.txt"
  act=$(awk '/activations/ {print $2}' "$out/summary_cnn.txt")
  rows+=("| CNN training step, batch 128: activations (eager, dry run) | $act | | | | |")
  # The compiled training step's Plan: its arena (activations, gradients, temporaries with
  # planned lifetimes) against the same graph run op by op, each intermediate freed after its
  # last use (eager's peak). `tandem graph --train` captures an SGD step.
  "$tandem" graph --model cnn --train --batch-size 128 --quiet >"$out/graph_cnn_train.txt"
  line=$(grep 'planned memory (training step)' "$out/graph_cnn_train.txt" | tail -n 1)
  arena=$(echo "$line" | sed -E 's/.*arena ([0-9.]+) MB.*/\1/')
  eager=$(echo "$line" | sed -E 's/.*eager peak ([0-9.]+) MB.*/\1/')
  rows+=("| CNN training step (SGD), batch 128: compiled plan's arena | $arena | eager peak $eager | $(ratio "$arena" "$eager") | planned < eager | $(status "$arena" "<" "$eager") |")
fi

if [ "${MEM_SKIP_ONNX:-0}" != 1 ]; then
  command -v node >/dev/null 2>&1 || die "node is not installed (apt-get install nodejs npm)"
  NODE_PATH="$ort_root/node_modules" node -e "require('onnxruntime-node')" >/dev/null 2>&1 ||
    die "onnxruntime-node cannot be loaded from $ort_root/node_modules (install: mkdir -p build/onnxruntime-node && npm install --prefix build/onnxruntime-node --ignore-scripts onnxruntime-node)"
  "$py" bench/memory_models.py "$out" 1 8 2>"$out/export.log"
  peak node_baseline node -e ''
  base=$(mb node_baseline)
  for m in resnet18 resnet50 mobilenetv2; do
    for b in 1 8; do
      peak "tandem_${m}_b$b" env OMP_NUM_THREADS=2 "$tandem" run "$out/$m.onnx" "$out/input_b$b.npy" \
        --output-dir "$out/out_${m}_b$b"
      peak "ort_${m}_b$b" env NODE_PATH="$ort_root/node_modules" node bench/memory_ort.js "$out/$m.onnx" "$b" 2
      t=$(mb "tandem_${m}_b$b")
      o=$(awk -v a="$(mb "ort_${m}_b$b")" -v b="$base" 'BEGIN { printf "%.1f", a - b }')
      rows+=("| $m inference, batch $b | $t | ONNX Runtime $o (net of node's $base) | $(ratio "$t" "$o") | ≤ ONNX Runtime | $(status "$t" "<=" "$o") |")
    done
  done
fi

{
  echo "Peak RSS in MB ($(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg) at the end)"
  echo
  echo "| job | tandem | reference | ratio | target | status |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/table.md"
