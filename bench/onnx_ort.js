// ONNX Runtime (onnxruntime-node, CPU) on the cases bench/bench_onnx.cpp writes, for
// bench/onnx_run.sh: same model files, same inputs, same thread count.
//
//   NODE_PATH=<dir>/node_modules node onnx_ort.js DIR THREADS [REPETITIONS MIN_TIME_S FILTER]
//
// For each DIR/<model>_b<batch>.input.npy next to DIR/<model>.onnx: one InferenceSession
// (intraOpNumThreads = THREADS, interOpNumThreads = 1, graphOptimizationLevel 'all',
// executionProviders ['cpu']), a warm-up, then REPETITIONS (5) timed repetitions of an
// iteration count chosen so one repetition takes >= MIN_TIME_S (0.1 s); the time per run is
// the median over repetitions, wall clock around `await session.run(feeds)` (so it includes
// the binding's per-call cost: tensor wrapping, promise); cpu_ns is the process's CPU time per
// run (all threads, node's included), median likewise. When DIR/<case>.tandem.npy exists,
// the largest absolute difference from tandem's output is reported too.
// Prints one JSON object: {"version": ..., "threads": N, "cases": {name: {ns, reps_ns, cpu_ns, iterations,
// max_abs_diff, max_abs_output}}}.
// Exit 2 when onnxruntime-node cannot be loaded.
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error(`onnx_ort.js: onnxruntime-node cannot be loaded (${e.message.split('\n')[0]})`);
  process.exit(2);
}

// Little-endian float32 .npy (v1-v3), C order: what tandem's io::save_npy writes here.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (descr !== '<f4' || /'fortran_order':\s*True/.test(header)) throw new Error(`${file}: expected C-order <f4, got ${header}`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  return { shape, data: new Float32Array(new Uint8Array(buf.subarray(off, off + 4 * n)).buffer) };
}

const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const now = () => process.hrtime.bigint();

async function timeCase(session, feeds, reps, minTimeNs) {
  // Warm-up: at least 5 runs and 0.05 s (first runs allocate and pick kernels).
  let t0 = now(), warm = 0;
  while (warm < 5 || Number(now() - t0) < 5e7) { await session.run(feeds); ++warm; }
  // Iterations per repetition from the warm-up's pace, like Google Benchmark's min_time.
  const per = Number(now() - t0) / warm;
  const iters = Math.max(1, Math.ceil(minTimeNs / per));
  const repsNs = [], cpuNs = [];
  for (let r = 0; r < reps; ++r) {
    const s = now(), c = process.cpuUsage();
    for (let i = 0; i < iters; ++i) await session.run(feeds);
    repsNs.push(Number(now() - s) / iters);
    const dc = process.cpuUsage(c);
    cpuNs.push(1e3 * (dc.user + dc.system) / iters);
  }
  return { ns: median(repsNs), reps_ns: repsNs, cpu_ns: median(cpuNs), iterations: iters };
}

(async () => {
  const [dir, threadsArg, repsArg, minTimeArg, filter] = process.argv.slice(2);
  if (!dir || !threadsArg) {
    console.error('usage: node onnx_ort.js DIR THREADS [REPETITIONS MIN_TIME_S FILTER]');
    process.exit(1);
  }
  const threads = Number(threadsArg), reps = Number(repsArg || 5), minTimeNs = 1e9 * Number(minTimeArg || 0.1);
  const re = filter ? new RegExp(filter) : null;
  const cases = {};
  for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.input.npy')).sort()) {
    const name = f.slice(0, -'.input.npy'.length);
    if (re && !re.test(name)) continue;
    const model = path.join(dir, name.replace(/_b\d+$/, '') + '.onnx');
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
    const x = readNpy(path.join(dir, f));
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    const c = await timeCase(session, feeds, reps, minTimeNs);
    const ref = path.join(dir, name + '.tandem.npy');
    if (fs.existsSync(ref)) {
      const want = readNpy(ref);
      if (want.data.length !== out.data.length || want.shape.some((d, i) => d !== Number(out.dims[i]))) {
        c.max_abs_diff = null;
        c.mismatch = `shape [${out.dims}] vs tandem [${want.shape}]`;
      } else {
        let d = 0, m = 0;
        for (let i = 0; i < want.data.length; ++i) {
          d = Math.max(d, Math.abs(want.data[i] - out.data[i]));
          m = Math.max(m, Math.abs(want.data[i]));
        }
        c.max_abs_diff = d;
        c.max_abs_output = m;  // the scale the difference is relative to
      }
    }
    cases[name] = c;
    console.error(`onnx_ort.js: ${name} ${threads} thread(s): ${(c.ns / 1e3).toFixed(1)} us`);
    await session.release();
  }
  console.log(JSON.stringify({ version: require('onnxruntime-node/package.json').version, threads, cases }));
})().catch(e => { console.error(`onnx_ort.js: ${e.message || e}`); process.exit(1); });
