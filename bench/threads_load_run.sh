#!/usr/bin/env bash
# Threads under load: `tandem train` samples/s at 1 and 2 threads, alone and next to one
# competing busy process (a shell busy loop at nice 0, pinned nowhere), with tandem's
# default OpenMP waiting (passive, set by the CLI) and with libgomp's own default (spin
# 300,000 rounds before sleeping: GOMP_SPINCOUNT=300000, which the CLI leaves alone). Prints a Markdown table; every ratio comes from this one run.
#
#   bench/threads_load_run.sh                 (after a release build: make build)
# Environment: BUILD_DIR (build/release), MODELS ("mlp cnn"), STEPS_MLP (60), STEPS_CNN (20):
# timed steps per epoch (batch 128; the second of two epochs is reported), BENCH_OUT.
# The busy process is started and killed by this script (also on Ctrl-C or an error).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
tandem=$build/tools/tandem
models=${MODELS:-mlp cnn}
steps_mlp=${STEPS_MLP:-60}
steps_cnn=${STEPS_CNN:-20}
out=${BENCH_OUT:-$build/bench/threads_load}
[ -x "$tandem" ] || { echo "threads_load_run.sh: $tandem not found; build first (make build)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json

busy_pid=""
stop_busy() {
  if [ -n "$busy_pid" ]; then kill "$busy_pid" 2>/dev/null || true; wait "$busy_pid" 2>/dev/null || true; fi
  busy_pid=""
}
trap stop_busy EXIT
trap 'exit 130' INT TERM  # exit runs the EXIT trap, which stops the busy process
start_busy() {
  # Bounded: the loop ends by itself after 15 minutes even if this script is killed hard.
  nice -n 0 timeout 900 sh -c 'while :; do :; done' &
  busy_pid=$!
}

recipe() {
  case $1 in
    mlp) echo "--model mlp --optimizer sgd --lr 0.01 --momentum 0.9" ;;
    cnn) echo "--model cnn --optimizer adam --lr 0.001" ;;
  esac
}

uptime | tee "$out/uptime"
for model in $models; do
  steps=$([ "$model" = mlp ] && echo "$steps_mlp" || echo "$steps_cnn")
  for load in idle busy; do
    [ "$load" = busy ] && start_busy
    for wait in passive spin; do
      for t in 1 2; do
        echo "threads_load_run.sh: $model, $t thread(s), $load, $wait" >&2
        spin=$([ "$wait" = spin ] && echo GOMP_SPINCOUNT=300000 || echo TANDEM_BENCH_WAIT=passive)
        env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT $spin "$tandem" train $(recipe "$model") --schedule none --augment none \
          --epochs 2 --train-limit $((steps * 128)) --test-limit 500 --threads "$t" --no-progress \
          --no-tensorboard --out "$out/run" --json | tail -n 1 >"$out/${model}_${load}_${wait}_t$t.json"
      done
    done
    stop_busy
  done
done

/usr/bin/python3 - "$out" "$models" <<'PY' | tee "$out/table.md"
import json, os, sys
out, models = sys.argv[1], sys.argv[2].split()
def sps(name):
    p = os.path.join(out, name)
    if not os.path.exists(p) or not os.path.getsize(p): return None
    return json.load(open(p))["history"][-1]["samples_per_second"]
print("| model | load | waiting | 1 thread samples/s | 2 threads samples/s | 2 / 1 threads |")
print("|---|---|---|---|---|---|")
for m in models:
    for load in ("idle", "busy"):
        for wait in ("passive", "spin"):
            a, b = sps(f"{m}_{load}_{wait}_t1.json"), sps(f"{m}_{load}_{wait}_t2.json")
            f = lambda v: f"{v:,.0f}" if v else "n/a"
            r = f"{b / a:.2f}x" if a and b else "n/a"
            name = "passive (tandem's default)" if wait == "passive" else "spin (libgomp's default)"
            print(f"| {m.upper()} | {'one busy competitor' if load == 'busy' else 'idle'} | {name} | {f(a)} | {f(b)} | {r} |")
PY
