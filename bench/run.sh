#!/usr/bin/env bash
# Runs tandem's benchmarks and the same cases in PyTorch at 1 and 2 threads, then prints
# the side-by-side Markdown table (bench/report.py). Builds nothing: `make bench` builds
# the release preset first.
#
#   bench/run.sh                       everything (a few minutes)
#   BENCH_FILTER=matmul bench/run.sh   only cases whose name matches this regex (the
#                                      ceilings are onednn_matmul, onednn_sgemm, memcpy)
# Environment: BUILD_DIR (default build/release), BENCH_THREADS ("1 2"),
# BENCH_REPETITIONS (5), BENCH_MIN_TIME (seconds per repetition, 0.05), BENCH_OUT (results dir).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
py=/usr/bin/python3  # Debian's python3-torch lives here, not in the first python3 on PATH
reps=${BENCH_REPETITIONS:-5}
min_time=${BENCH_MIN_TIME:-0.05}
filter=${BENCH_FILTER:-}
out=${BENCH_OUT:-$build/bench/results}

if [ ! -x "$build/bench/tandem_bench" ]; then
  echo "run.sh: $build/bench/tandem_bench not found; build first (make bench)" >&2
  exit 1
fi
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "run.sh: $py cannot import torch; run scripts/setup.sh --bench" >&2
  exit 1
fi
mkdir -p "$out"
rm -f "$out"/*.json

# Timings on a 2-core machine mean little while something else runs (2-thread cases wait
# on a descheduled OpenMP thread): say so, and keep the load in the results.
cp /proc/loadavg "$out/loadavg" 2>/dev/null || true
if awk '{exit !($1 > 0.5)}' /proc/loadavg 2>/dev/null; then
  echo "run.sh: warning: load average $(cut -d' ' -f1 /proc/loadavg); timings will be noisy" >&2
fi

# Repetitions run in random order across cases, so one burst of other load spoils one
# repetition of several cases (which the median drops) instead of all of one case.
gbench_args=(--benchmark_format=json --benchmark_repetitions="$reps" --benchmark_min_time="$min_time"
  --benchmark_enable_random_interleaving=true)
[ -n "$filter" ] && gbench_args+=(--benchmark_filter="$filter")

# CPU ticks spent by the whole machine and by this script's finished children: their
# difference over a pass is what other processes took from us (report.py prints it).
cpu_ticks() {
  local busy own
  busy=$(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
  own=$(awk '{print $16 + $17}' "/proc/$$/stat")  # cutime + cstime (waited-for children)
  echo "$busy $own"
}

for t in ${BENCH_THREADS:-1 2}; do
  export OMP_NUM_THREADS=$t
  read -r busy0 own0 < <(cpu_ticks)
  start=$(date +%s.%N)
  echo "run.sh: tandem, $t thread(s)" >&2
  "$build/bench/tandem_bench" --threads="$t" "${gbench_args[@]}" >"$out/tandem_t$t.json"
  if [ -x "$build/bench/torch_dispatch_bench" ]; then
    echo "run.sh: PyTorch C++ API (dispatch), $t thread(s)" >&2
    "$build/bench/torch_dispatch_bench" --threads="$t" "${gbench_args[@]}" >"$out/torch_cpp_t$t.json"
  fi
  echo "run.sh: PyTorch from Python, $t thread(s)" >&2
  "$py" bench/torch_bench.py --threads "$t" --repetitions "$reps" --min-time "$min_time" \
    --filter "$filter" >"$out/torch_py_t$t.json"
  read -r busy1 own1 < <(cpu_ticks)
  echo "$(( (busy1 - busy0) - (own1 - own0) )) $(getconf CLK_TCK) $(date +%s.%N) $start" >"$out/others_t$t"
done

"$py" bench/report.py "$out" | tee "$out/table.md"
