#!/usr/bin/env bash
# Graph-mode benchmark: tandem eager vs tandem::compile (bench_graph.cpp) next to PyTorch
# eager and torch.jit.trace + freeze (graph_torch.py), same cases, same thread count, at 1 and
# 2 threads; prints a Markdown table (also saved as table.md in the results dir).
#
#   bench/graph_run.sh                     (after a release build: make build, or make bench)
# Environment: BUILD_DIR (build/release), BENCH_THREADS ("1 2"), BENCH_REPETITIONS (5),
# BENCH_MIN_TIME (0.1 s per repetition), BENCH_FILTER (regex on case names), BENCH_OUT.
# PyTorch runs in its best configuration found here (bench/README.md "Training"): OpenBLAS at
# the same thread count with OPENBLAS_CORETYPE=SkylakeX (its fastest kernels on this CPU) and
# OMP_WAIT_POLICY=PASSIVE (its OpenMP and OpenBLAS thread pools otherwise spin against each
# other: 2-thread steps up to 10x slower). tandem runs with one OpenMP pool as installed.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
py=/usr/bin/python3
reps=${BENCH_REPETITIONS:-5}
min_time=${BENCH_MIN_TIME:-0.1}
filter=${BENCH_FILTER:-}
out=${BENCH_OUT:-$build/bench/graph_results}

[ -x "$build/bench/tandem_bench_graph" ] || { echo "graph_run.sh: $build/bench/tandem_bench_graph not found; build first (make bench)" >&2; exit 1; }
"$py" -c "import torch" 2>/dev/null || { echo "graph_run.sh: $py cannot import torch; run scripts/setup.sh --bench" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json
cp /proc/loadavg "$out/loadavg" 2>/dev/null || true
if awk '{exit !($1 > 0.5)}' /proc/loadavg 2>/dev/null; then
  echo "graph_run.sh: warning: load average $(cut -d' ' -f1 /proc/loadavg); timings will be noisy" >&2
fi

gbench_args=(--benchmark_format=json --benchmark_repetitions="$reps" --benchmark_min_time="$min_time"
  --benchmark_enable_random_interleaving=true)
[ -n "$filter" ] && gbench_args+=(--benchmark_filter="$filter")

for t in ${BENCH_THREADS:-1 2}; do
  echo "graph_run.sh: tandem, $t thread(s)" >&2
  OMP_NUM_THREADS=$t "$build/bench/tandem_bench_graph" --threads="$t" "${gbench_args[@]}" >"$out/tandem_t$t.json"
  echo "graph_run.sh: PyTorch, $t thread(s)" >&2
  (cd bench && OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE \
    "$py" graph_torch.py --threads "$t" --repetitions "$reps" --min-time "$min_time" --filter "$filter") \
    >"$out/torch_t$t.json"
done

"$py" - "$out" <<'EOF' | tee "$out/table.md"
import json, os, re, statistics, sys
out = sys.argv[1]
rows = {}  # (case, threads) -> {mode: ns}
counters = {}
for f in sorted(os.listdir(out)):
    m = re.match(r"(tandem|torch)_t(\d+)\.json$", f)
    if not m:
        continue
    t = int(m.group(2))
    for b in json.load(open(os.path.join(out, f)))["benchmarks"]:
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        name = re.sub(r"/real_time$", "", b.get("run_name", b["name"]))
        case, mode = name.rsplit("/", 1)
        case = case.removeprefix("graph/")
        ns = b.get("time_ns", b.get("real_time"))
        if m.group(1) == "tandem":  # repetitions arrive one by one: collect, take the median below
            rows.setdefault((case, t), {}).setdefault(mode, []).append(ns)
            for k in ("arena_bytes", "eager_peak_bytes"):
                if k in b:
                    counters[(case, t, k)] = b[k]
        else:
            rows.setdefault((case, t), {})[mode] = [ns]
def fmt(ns):
    return "n/a" if ns is None else f"{ns / 1e6:.2f} ms" if ns >= 1e6 else f"{ns / 1e3:.0f} µs"
order = ["mlp_train_b1", "mlp_train_b32", "mlp_train_b128", "cnn_train_b128",
         "mlp_infer_b1", "mlp_infer_b64", "cnn_infer_b1", "cnn_infer_b64"]
print(f"load average at start: {open(os.path.join(out, 'loadavg')).read().split()[0] if os.path.exists(os.path.join(out, 'loadavg')) else '?'}")
print()
print("| case | threads | tandem eager | tandem compiled | compiled / eager | PyTorch eager | PyTorch jit | compiled vs best PyTorch |")
print("|---|---|---|---|---|---|---|---|")
for case in order:
    for t in (1, 2):
        r = rows.get((case, t))
        if not r:
            continue
        med = {k: statistics.median(v) for k, v in r.items()}
        e, c = med.get("eager"), med.get("compiled")
        pe, pj = med.get("torch_eager"), med.get("torch_jit")
        best = min(x for x in (pe, pj) if x) if (pe or pj) else None
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "n/a"
        print(f"| {case} | {t} | {fmt(e)} | {fmt(c)} | {ratio(e, c)} | {fmt(pe)} | {fmt(pj)} | {ratio(best, c)} |")
for t in (1, 2):
    a, p = counters.get(("cnn_infer_b64", t, "arena_bytes")), counters.get(("cnn_infer_b64", t, "eager_peak_bytes"))
    if a and p:
        print(f"\nCNN inference, batch 64 ({t} thread(s)): compiled arena {a / 1e6:.2f} MB vs eager peak "
              f"{p / 1e6:.2f} MB ({100 * (a - p) / p:+.0f}%)")
        break
EOF
