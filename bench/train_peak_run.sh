#!/usr/bin/env bash
# Training against the machine's limit: MLP (SGD momentum) and CNN (Adam) training on
# Fashion-MNIST, batch 128, at 1 and 2 threads, fp32 and bf16 (`tandem train --precision`,
# PyTorch under torch.autocast), as samples/s, as GFLOP/s and a fraction of the FMA peak that
# tandem_bench's fma_peak measures at the same thread count, and against PyTorch's best
# configuration (bench/train_run.sh's: OMP_WAIT_POLICY=PASSIVE, OpenBLAS SkylakeX, torch at
# 1 or T threads, the faster). Then (EPOCHS > 0) the main job (`tandem train --model cnn`,
# its defaults) for EPOCHS epochs at 2 threads in fp32 and bf16: test accuracy and samples/s.
# Prints Markdown tables; every ratio comes from this one run.
#
#   bench/train_peak_run.sh            (after a release build: make build)
# Environment: BUILD_DIR (build/release), STEPS_MLP (200), STEPS_CNN (40), EPOCHS (6), BENCH_OUT.
# FLOPs per training sample (forward, weight gradients, input gradients but the first layer's):
# MLP 784-512-256-10 2.41 M; CNN (the zoo's) 25 M, as bench/README.md counts them.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
tandem=$build/tools/tandem
benchbin=$build/bench/tandem_bench
py=/usr/bin/python3
steps_mlp=${STEPS_MLP:-200}
steps_cnn=${STEPS_CNN:-40}
epochs=${EPOCHS:-6}
out=${BENCH_OUT:-$build/bench/train_peak}
[ -x "$tandem" ] && [ -x "$benchbin" ] || { echo "train_peak_run.sh: build first (make build)" >&2; exit 1; }
mkdir -p "$out"
[ -n "${ONLY_TABLE:-}" ] || rm -f "$out"/*.json
if [ -z "${ONLY_TABLE:-}" ]; then  # ONLY_TABLE=1: print the table of an earlier run's files
uptime | tee "$out/uptime"

for t in 1 2; do
  "$benchbin" --threads="$t" --benchmark_filter='^(fma_peak|bf16_dot_peak)' --benchmark_repetitions=3 \
    --benchmark_format=json >"$out/peak_t$t.json"
done
recipe() {
  case $1 in
    mlp) echo "--model mlp --optimizer sgd --lr 0.01 --momentum 0.9" ;;
    cnn) echo "--model cnn --optimizer adam --lr 0.001" ;;
  esac
}
for model in mlp cnn; do
  steps=$([ $model = mlp ] && echo "$steps_mlp" || echo "$steps_cnn")
  for t in 1 2; do
    for p in fp32 bf16; do
      echo "train_peak_run.sh: $model, $t thread(s), $p" >&2
      "$tandem" train $(recipe $model) --schedule none --augment none --epochs 2 \
        --train-limit $((steps * 128)) --test-limit 500 --threads "$t" --precision "$p" --no-progress \
        --no-tensorboard --out "$out/run" --json | tail -n 1 >"$out/tandem_${model}_${p}_t$t.json"
      for tt in $([ "$t" = 1 ] && echo 1 || echo "1 $t"); do
        env OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE \
          "$py" bench/train_torch.py --model $model --threads "$tt" --steps "$steps" --precision "$p" \
          >"$out/torch_${model}_${p}_t${t}_tt$tt.json"
      done
    done
  done
done
if [ "$epochs" -gt 0 ]; then
  for p in fp32 bf16; do
    echo "train_peak_run.sh: the main job, $epochs epochs, $p" >&2
    "$tandem" train --model cnn --epochs "$epochs" --threads 2 --precision "$p" --no-progress \
      --no-tensorboard --out "$out/acc_$p" --json | tail -n 1 >"$out/acc_$p.json"
  done
fi
fi

"$py" - "$out" "$epochs" <<'PY' | tee "$out/table.md"
import glob, json, os, sys
out, epochs = sys.argv[1], int(sys.argv[2])
flops = {"mlp": 2.41e6, "cnn": 25e6}
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
def peak(t, name="fma_peak"):
    j = load(f"peak_t{t}.json")
    runs = [b["core_GFLOPs"] for b in j["benchmarks"]
            if b.get("run_type") == "iteration" and b["name"].startswith(name) and "core_GFLOPs" in b]
    return max(runs) if runs else None
def tandem(m, p, t):
    j = load(f"tandem_{m}_{p}_t{t}.json")
    return j["history"][-1]["samples_per_second"] if j else None
def torch(m, p, t):
    v = [json.load(open(f))["samples_per_second"] for f in glob.glob(os.path.join(out, f"torch_{m}_{p}_t{t}_tt*.json"))
         if os.path.getsize(f)]
    return max(v) if v else None
print(f"FMA peak (fma_peak, per thread CPU time): {peak(1):.0f} GFLOP/s at 1 thread, {peak(2):.0f} at 2.")
if peak(1, "bf16_dot_peak"):
    print(f"bf16 dot-product peak (bf16_dot_peak, the ceiling of oneDNN's bf16 kernels): "
          f"{peak(1, 'bf16_dot_peak'):.0f} GFLOP/s at 1 thread, {peak(2, 'bf16_dot_peak'):.0f} at 2.")
print()
print("| model | threads | precision | tandem samples/s | GFLOP/s | of FMA peak | PyTorch best samples/s | tandem / PyTorch | bf16 / fp32 (tandem) |")
print("|---|---|---|---|---|---|---|---|---|")
for m in ("mlp", "cnn"):
    for t in (1, 2):
        for p in ("fp32", "bf16"):
            a, b = tandem(m, p, t), torch(m, p, t)
            g = a * flops[m] / 1e9 if a else None
            f = lambda v: f"{v:,.0f}" if v else "n/a"
            r = f"{a / b:.2f}x" if a and b else "n/a"
            sp = tandem(m, "fp32", t)
            s = f"{a / sp:.2f}x" if p == "bf16" and a and sp else ""
            print(f"| {m.upper()} | {t} | {p} | {f(a)} | {g:.0f} | {100 * g / peak(t):.0f}% | {f(b)} | {r} | {s} |")
if epochs > 0:
    print()
    print(f"| the main job (`tandem train --model cnn`, 2 threads) | epochs | test accuracy | samples/s |")
    print("|---|---|---|---|")
    for p in ("fp32", "bf16"):
        j = load(f"acc_{p}.json")
        if j:
            sps = sum(h["samples_per_second"] for h in j["history"]) / len(j["history"])
            print(f"| {p} | {epochs} | {100 * j['test_accuracy']:.2f}% | {sps:,.0f} |")
PY
