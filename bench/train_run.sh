#!/usr/bin/env bash
# Training benchmark, tandem next to PyTorch in one run: MLP (SGD momentum 0.9, lr 0.01) and
# CNN (Adam lr 1e-3) on Fashion-MNIST, batch 128, samples/s in steady state at 1 and 2
# threads, then test accuracy after full epochs. Prints a Markdown table.
#
#   bench/train_run.sh                 (after a release build: make build)
# Environment: BUILD_DIR (build/release), STEPS_MLP (300), STEPS_CNN (60): timed steps;
# EPOCHS (3): epochs of the accuracy runs (0 skips them); BENCH_OUT (results dir).
#
# Steady state: PyTorch runs 10 warm-up steps then times STEPS (bench/train_torch.py);
# tandem runs `tandem train` for 2 epochs over STEPS·128 images and reports the second
# epoch's samples/s (the first is the warm-up). Both include the batch gather, forward,
# loss, backward and optimizer step; neither includes evaluation.
# PyTorch runs as installed (torch.set_num_threads(T), OpenBLAS limited to T threads: its own
# pool would otherwise use every core) and in the best configuration found
# on this machine: OpenBLAS at T threads, OPENBLAS_CORETYPE=SkylakeX, OMP_WAIT_POLICY=PASSIVE
# (set for that process only), torch itself at 1 thread or at T threads. "PyTorch best" is the
# fastest of these and the installed configuration; tandem's ratio is against it.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
tandem=$build/tools/tandem
py=/usr/bin/python3
steps_mlp=${STEPS_MLP:-300}
steps_cnn=${STEPS_CNN:-60}
epochs=${EPOCHS:-3}
out=${BENCH_OUT:-$build/bench/train_results}
data=${BENCH_DATA:-fashion-mnist}

[ -x "$tandem" ] || { echo "train_run.sh: $tandem not found; build first (make build)" >&2; exit 1; }
"$py" -c "import torch" 2>/dev/null || { echo "train_run.sh: $py cannot import torch; run scripts/setup.sh --bench" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json
if awk '{exit !($1 > 0.5)}' /proc/loadavg 2>/dev/null; then
  echo "train_run.sh: warning: load average $(cut -d' ' -f1 /proc/loadavg); timings will be noisy" >&2
fi
cp /proc/loadavg "$out/loadavg" 2>/dev/null || true
torch_data=$([ "$data" = fashion-mnist ] && echo /usr/share/datasets/fashion-mnist || echo "$data")

recipe() {  # tandem flags of the benchmark recipe for model $1
  case $1 in
    mlp) echo "--model mlp --optimizer sgd --lr 0.01 --momentum 0.9" ;;
    cnn) echo "--model cnn --optimizer adam --lr 0.001" ;;
  esac
}
best_env() {  # env of PyTorch's best configuration at $1 threads
  echo "OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$1 OMP_WAIT_POLICY=PASSIVE"
}

for model in mlp cnn; do
  steps=$([ $model = mlp ] && echo "$steps_mlp" || echo "$steps_cnn")
  for t in 1 2; do
    echo "train_run.sh: $model, $t thread(s)" >&2
    OMP_NUM_THREADS=$t "$tandem" train $(recipe $model) --schedule none --augment none \
      --data "$data" --epochs 2 --train-limit $((steps * 128)) --test-limit 1000 --threads "$t" \
      --no-progress --out "$out/run_${model}_t$t" --json | tail -n 1 >"$out/tandem_${model}_t$t.json"
    OPENBLAS_NUM_THREADS=$t "$py" bench/train_torch.py --model $model --threads "$t" --steps "$steps" --data "$torch_data" \
      >"$out/torch_installed_${model}_t$t.json"
    env $(best_env "$t") "$py" bench/train_torch.py --model $model --threads 1 --steps "$steps" \
      --data "$torch_data" >"$out/torch_best_${model}_t$t.json"
    if [ "$t" -gt 1 ]; then  # also torch's own T threads (conv runs on its oneDNN threads)
      env $(best_env "$t") "$py" bench/train_torch.py --model $model --threads "$t" --steps "$steps" \
        --data "$torch_data" >"$out/torch_best_tt_${model}_t$t.json"
    fi
  done
  if [ "$epochs" -gt 0 ]; then
    echo "train_run.sh: $model, accuracy after $epochs epochs (2 threads)" >&2
    "$tandem" train $(recipe $model) --schedule none --augment none --data "$data" \
      --epochs "$epochs" --threads 2 --no-progress --out "$out/acc_$model" --json |
      tail -n 1 >"$out/tandem_acc_$model.json"
    env $(best_env 2) "$py" bench/train_torch.py --model $model --threads 1 --steps 1 \
      --epochs "$epochs" --data "$torch_data" >"$out/torch_acc_$model.json"
  fi
done

"$py" - "$out" "$epochs" <<'EOF' | tee "$out/table.md"
import json, os, sys
out, epochs = sys.argv[1], int(sys.argv[2])
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
def steady(j):  # tandem: the second epoch; PyTorch: its timed steps
    if j is None: return None
    return j["history"][-1]["samples_per_second"] if "history" in j else j["samples_per_second"]
print("| model | threads | tandem samples/s | PyTorch as installed | PyTorch best | tandem / best |")
print("|---|---|---|---|---|---|")
for model in ("mlp", "cnn"):
    for t in (1, 2):
        a = steady(load(f"tandem_{model}_t{t}.json"))
        i = steady(load(f"torch_installed_{model}_t{t}.json"))
        b = max([v for v in (i, steady(load(f"torch_best_{model}_t{t}.json")),
                             steady(load(f"torch_best_tt_{model}_t{t}.json"))) if v] or [None])
        f = lambda v: f"{v:,.0f}" if v else "n/a"
        ratio = f"{a / b:.2f}x" if a and b else "n/a"
        print(f"| {model.upper()} | {t} | {f(a)} | {f(i)} | {f(b)} | {ratio} |")
if epochs > 0:
    print()
    print(f"| model | epochs | tandem test accuracy (2 threads) | PyTorch test accuracy (best config) |")
    print("|---|---|---|---|")
    for model in ("mlp", "cnn"):
        a, b = load(f"tandem_acc_{model}.json"), load(f"torch_acc_{model}.json")
        fa = f"{100 * a['test_accuracy']:.2f}%" if a else "n/a"
        fb = f"{100 * b['test_accuracy']:.2f}%" if b else "n/a"
        print(f"| {model.upper()} | {epochs} | {fa} | {fb} |")
EOF
