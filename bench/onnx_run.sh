#!/usr/bin/env bash
# ONNX inference latency: tandem's importer (onnx::Model::load + run, bench_onnx.cpp) next to
# ONNX Runtime through node (onnxruntime-node, bench/onnx_ort.js) on the same exported files
# and inputs, at batch 1 and 8 and at 1 and 2 threads; prints a Markdown table (also saved as
# table.md in the results dir) with the ratio per case and its geometric mean, per model the
# layout reorders of tandem's plan and its share of time in oneDNN, and, per case, the largest
# difference between the two outputs.
#
#   bench/onnx_run.sh                  (after a release build of tandem_cli and tandem_bench_onnx)
#
# The zoo models (mlp cnn resnet) are exported with `tandem export --random-weights
# --dynamic-batch` (eval mode; latency does not depend on the weights' values); the deployed
# architectures (resnet18 ... vit_block, `bench/vision_models.py --list`) by PyTorch through
# bench/vision_models.py (needs Debian's python3-torchvision).
# torchvision's segmentation and detection models (fcn_resnet50 ... ssdlite320_mobilenet_v3_large,
# `bench/vision_tasks.py --list`; batch 1 only, their inputs are static) when named in
# BENCH_MODELS, e.g. BENCH_MODELS="$(/usr/bin/python3 bench/vision_tasks.py --list)" BENCH_BATCHES=1.
# Environment: BUILD_DIR (build/release), BENCH_MODELS (the zoo and the whole set),
# BENCH_BATCHES (1,8), BENCH_THREADS ("1 2"), BENCH_REPETITIONS (5), BENCH_MIN_TIME (0.1 s per
# repetition), BENCH_OUT (results dir), TANDEM_ONNXRUNTIME_NODE (where onnxruntime-node is
# installed, default build/onnxruntime-node, as for the ONNX tests).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build/release}
zoo="mlp cnn resnet"
vision=$(/usr/bin/python3 bench/vision_models.py --list)
tasks=$(/usr/bin/python3 bench/vision_tasks.py --list)
models=${BENCH_MODELS:-$zoo $vision}
batches=${BENCH_BATCHES:-1,8}
reps=${BENCH_REPETITIONS:-5}
min_time=${BENCH_MIN_TIME:-0.1}
out=${BENCH_OUT:-$build/bench/onnx_results}
ort_root=${TANDEM_ONNXRUNTIME_NODE:-$PWD/build/onnxruntime-node}
install_hint="mkdir -p build/onnxruntime-node && npm install --prefix build/onnxruntime-node --ignore-scripts onnxruntime-node"

die() { echo "onnx_run.sh: $*" >&2; exit 1; }
[ -x "$build/tools/tandem" ] || die "$build/tools/tandem not found; build it (cmake --build --preset release --target tandem_cli)"
[ -x "$build/bench/tandem_bench_onnx" ] || die "$build/bench/tandem_bench_onnx not found; build it (cmake --build --preset release --target tandem_bench_onnx; needs libbenchmark-dev)"
command -v node >/dev/null 2>&1 || die "node is not installed (apt-get install nodejs npm)"
NODE_PATH="$ort_root/node_modules" node -e "require('onnxruntime-node')" >/dev/null 2>&1 ||
  die "onnxruntime-node cannot be loaded from $ort_root/node_modules (install: $install_hint)"

mkdir -p "$out"
rm -f "$out"/*.onnx "$out"/*.npy "$out"/*.json "$out"/others_t* "$out"/table.md
# PyTorch's exports are kept in $out/vision (re-exported when bench/vision_models.py changes).
vision_wanted=()
tasks_wanted=()
for m in $models; do
  if [[ " $zoo " == *" $m "* ]]; then
    "$build/tools/tandem" export --model "$m" --random-weights --dynamic-batch --out "$out/$m.onnx" >&2
  elif [[ " $vision " == *" $m "* ]]; then
    vision_wanted+=("$m")
  elif [[ " $tasks " == *" $m "* ]]; then
    tasks_wanted+=("$m")
  else
    die "unknown model $m (zoo: $zoo; set: $vision; tasks: $tasks)"
  fi
done
if [ ${#vision_wanted[@]} -gt 0 ]; then
  /usr/bin/python3 bench/vision_models.py "$out/vision" --models "$(IFS=,; echo "${vision_wanted[*]}")" >&2
  for m in "${vision_wanted[@]}"; do ln -sf "vision/$m.onnx" "$out/$m.onnx"; done
fi
if [ ${#tasks_wanted[@]} -gt 0 ]; then
  /usr/bin/python3 bench/vision_tasks.py "$out/tasks" --models "$(IFS=,; echo "${tasks_wanted[*]}")" >&2
  for m in "${tasks_wanted[@]}"; do
    ln -sf "tasks/$m.onnx" "$out/$m.onnx"
    cp "$out/tasks/${m}_b1.input.npy" "$out/${m}_b1.input.npy"
  done
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
  echo "onnx_run.sh: warning: load average $(cut -d' ' -f1 /proc/loadavg); timings will be noisy" >&2
fi

gbench_args=(--benchmark_format=json --benchmark_repetitions="$reps" --benchmark_min_time="$min_time"
  --benchmark_enable_random_interleaving=true)
# CPU ticks of the whole machine and of this script's finished children: their difference
# over a pass is what other processes took (as in bench/run.sh).
cpu_ticks() {
  echo "$(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat) $(awk '{print $16 + $17}' "/proc/$$/stat")"
}
for t in ${BENCH_THREADS:-1 2}; do
  read -r busy0 own0 < <(cpu_ticks)
  start=$(date +%s.%N)
  echo "onnx_run.sh: tandem, $t thread(s)" >&2
  # The first run also writes <case>.input.npy and <case>.tandem.npy, which ONNX Runtime reads.
  OMP_NUM_THREADS=$t "$build/bench/tandem_bench_onnx" --onnx-dir="$out" --batches="$batches" --threads="$t" \
    "${gbench_args[@]}" >"$out/tandem_t$t.json"
  echo "onnx_run.sh: ONNX Runtime, $t thread(s)" >&2
  OMP_NUM_THREADS=$t NODE_PATH="$ort_root/node_modules" node bench/onnx_ort.js "$out" "$t" "$reps" "$min_time" \
    >"$out/ort_t$t.json"
  read -r busy1 own1 < <(cpu_ticks)
  awk -v ticks=$(( (busy1 - busy0) - (own1 - own0) )) -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$(date +%s.%N)" \
    'BEGIN {printf "%.0f\n", 100 * ticks / hz / (e - s)}' >"$out/others_t$t"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

node - "$out" "$load_start" "$load_end" "$models" <<'EOF' | tee "$out/table.md"
const fs = require('fs'), path = require('path');
const [out, loadStart, loadEnd, modelList] = process.argv.slice(2);
const median = xs => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const unitNs = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
const rows = {};  // "case|threads" -> {tandem: ns, ort: ns, diff, scale, spread}
const counters = {};  // "case|threads" -> a tandem repetition (its reorders, nchw_convs, onednn_pct)
let ortVersion = '?';
for (const f of fs.readdirSync(out).sort()) {
  const m = /^(tandem|ort)_t(\d+)\.json$/.exec(f);
  if (!m) continue;
  // Google Benchmark writes NaN (not JSON) for the spread of a counter that never varies.
  const j = JSON.parse(fs.readFileSync(path.join(out, f), 'utf8').replace(/\bNaN\b/g, 'null'));
  if (m[1] === 'tandem') {
    const reps = {};
    for (const b of j.benchmarks) {
      if (b.run_type === 'aggregate' || b.error_occurred) continue;
      const name = (b.run_name || b.name).replace(/\/real_time$/, '').replace(/^onnx\//, '');
      (reps[name] = reps[name] || []).push([b.real_time, b.cpu_time].map(x => x * unitNs[b.time_unit || 'ns']));
      if (b.reorders !== undefined) counters[`${name}|${m[2]}`] = b;
    }
    for (const [name, xs] of Object.entries(reps)) {
      const r = rows[`${name}|${m[2]}`] = rows[`${name}|${m[2]}`] || {};
      const wall = xs.map(x => x[0]);
      r.tandem = median(wall);
      r.tandemCpu = median(xs.map(x => x[1]));  // the main thread's CPU time: all of it at 1 thread
      r.tandemSpread = Math.max(...wall) / Math.min(...wall);
    }
  } else {
    ortVersion = j.version;
    for (const [name, c] of Object.entries(j.cases)) {
      const r = rows[`${name}|${m[2]}`] = rows[`${name}|${m[2]}`] || {};
      r.ort = c.ns;
      r.ortCpu = c.cpu_ns;
      r.ortSpread = Math.max(...c.reps_ns) / Math.min(...c.reps_ns);
      r.diff = c.max_abs_diff;
      r.scale = c.max_abs_output;
      r.mismatch = c.mismatch;
    }
  }
}
const fmt = (ns, spread) => ns === undefined ? 'n/a'
  : (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`) + (spread > 1.5 ? ' ⚠' : '');
const keys = Object.keys(rows).map(k => { const [c, t] = k.split('|'); const mm = /^(.*)_b(\d+)$/.exec(c); return { k, model: mm[1], batch: +mm[2], t: +t }; });
const order = modelList.split(/\s+/);
keys.sort((a, b) => order.indexOf(a.model) - order.indexOf(b.model) || a.batch - b.batch || a.t - b.t);
const others = fs.readdirSync(out).filter(f => /^others_t\d+$/.test(f)).sort()
  .map(f => `${fs.readFileSync(path.join(out, f), 'utf8').trim()}% of a core during the ${f.slice(8)}-thread pass`);
console.log(`ONNX Runtime ${ortVersion} (onnxruntime-node, CPU EP) vs tandem onnx::Model; load average ${loadStart} at start, ` +
            `${loadEnd} at end${others.length ? '; other processes used ' + others.join(', ') : ''}.`);
console.log('Median time per inference; ⚠: the slowest repetition took over 1.5x the fastest. ratio = ONNX Runtime time / tandem time (> 1: tandem faster).');
console.log();
console.log('| model | batch | threads | tandem | ONNX Runtime | ratio |');
console.log('|---|---|---|---|---|---|');
for (const { k, model, batch, t } of keys) {
  const r = rows[k];
  const ratio = r.tandem && r.ort ? (r.ort / r.tandem).toFixed(2) : 'n/a';
  console.log(`| ${model} | ${batch} | ${t} | ${fmt(r.tandem, r.tandemSpread)} | ${fmt(r.ort, r.ortSpread)} | ${ratio} |`);
}
const ratios = keys.map(x => rows[x.k]).filter(r => r.tandem && r.ort).map(r => r.ort / r.tandem);
if (ratios.length)
  console.log(`\nGeometric mean of the ratios over ${ratios.length} cases: ` +
              `${Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length).toFixed(2)}`);
// One row per model and batch, each ratio across the thread counts, the plan's layout facts.
const threadList = [...new Set(keys.map(x => x.t))].sort((a, b) => a - b);
const byCase = {};
for (const x of keys) (byCase[`${x.model}_b${x.batch}`] = byCase[`${x.model}_b${x.batch}`] || []).push(x);
console.log();
console.log('Per case: ratio at each thread count; tandem\'s plan at the fewest threads: reorders (from_blocked, ' +
            'and blocked convolutions reading NCHW), convolutions left in NCHW, % of op time in oneDNN.');
console.log();
console.log(`| case | ${threadList.map(t => `ratio ${t} thr`).join(' | ')} | reorders | NCHW convs | oneDNN % |`);
console.log(`|---|${threadList.map(() => '---').join('|')}|---|---|---|`);
for (const [c, xs] of Object.entries(byCase)) {
  const cells = threadList.map(t => { const x = xs.find(y => y.t === t); const r = x && rows[x.k];
                                      return r && r.tandem && r.ort ? (r.ort / r.tandem).toFixed(2) : 'n/a'; });
  const k = counters[`${c}|${threadList[0]}`];
  const f = v => k && k[v] !== undefined ? (v === 'onednn_pct' ? k[v].toFixed(0) : String(k[v])) : 'n/a';
  console.log(`| ${c} | ${cells.join(' | ')} | ${f('reorders')} | ${f('nchw_convs')} | ${f('onednn_pct')} |`);
}
const one = keys.filter(x => x.t === 1);
if (one.length) {
  console.log();
  console.log('1 thread, CPU time per inference (less sensitive than wall clock to other processes on the machine; ' +
              'tandem: the thread that runs it, ONNX Runtime: the node process):');
  console.log();
  console.log('| model | batch | tandem CPU | ONNX Runtime CPU | ratio |');
  console.log('|---|---|---|---|---|');
  for (const { k, model, batch } of one) {
    const r = rows[k];
    const ratio = r.tandemCpu && r.ortCpu ? (r.ortCpu / r.tandemCpu).toFixed(2) : 'n/a';
    console.log(`| ${model} | ${batch} | ${fmt(r.tandemCpu)} | ${fmt(r.ortCpu)} | ${ratio} |`);
  }
}
console.log();
console.log('Outputs, same input (tandem vs ONNX Runtime, 1 thread):');
console.log();
console.log('| model | batch | max abs diff | max abs output |');
console.log('|---|---|---|---|');
let bad = 0;
for (const { k, model, batch, t } of keys) {
  if (t !== Math.min(...keys.filter(x => x.model === model && x.batch === batch).map(x => x.t))) continue;
  const r = rows[k];
  if (r.diff === undefined) continue;
  const why = r.mismatch ? ` (${r.mismatch})` : '';
  if (r.diff === null || !(r.diff <= 1e-4 + 1e-4 * r.scale)) ++bad;
  console.log(`| ${model} | ${batch} | ${r.diff === null ? 'n/a' : r.diff.toExponential(2)}${why} | ${r.scale === undefined ? 'n/a' : r.scale.toFixed(3)} |`);
}
if (bad) console.log(`\n${bad} case(s) differ by more than 1e-4 (absolute + relative to the largest output).`);
EOF
