// Batch-1 latency of tandem-lite's WebAssembly build against ONNX Runtime Web (wasm backend) and
// TF.js (wasm backend), all single-threaded with SIMD, in one node process (V8, the engine of
// Chromium). bench/wasm_run.sh prepares MODELS_DIR and calls:
//   node bench/wasm_bench/bench.mjs MODELS_DIR NODE_MODULES_DIR name [name ...]
// Per model NAME: NAME.tlite (tandem convert of NAME.onnx), NAME.onnx (ORT Web), NAME.tfjs.json
// + .bin (the same weights for tfjs_model.mjs). Each runtime: 3 warm-up runs, then 30 runs (10
// for models over 50 ms) of one input, the runtimes taking turns run by run (so that load on a
// shared machine falls on all of them alike): the best CPU time, the best and median wall time.
// The outputs must agree.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { TandemLite } from '../../web/tandem_lite.js';
import { buildTfjsModel } from './tfjs_model.mjs';

const [dir, modules, ...names] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), 'bench.js'));

const ort = require('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const tf = require('@tensorflow/tfjs-core');
const tfwasm = require('@tensorflow/tfjs-backend-wasm');
tfwasm.setThreadsCount(1);
await tf.setBackend('wasm');
await tf.ready();

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// Times the runtimes' run functions in turns; returns per runtime the best and median wall time
// and the best CPU time of this process (ms). Every runtime runs single-threaded on this thread,
// so CPU time is its work alone, which the load of a shared machine does not stretch.
async function timeTogether(fns) {
  for (let i = 0; i < 3; ++i) for (const fn of fns) await fn();
  const t0 = performance.now();
  await fns[0]();
  const runs = performance.now() - t0 < 50 ? 30 : 10;
  const ts = fns.map(() => []), cpu = fns.map(() => Infinity);
  for (let i = 0; i < runs; ++i)
    for (let k = 0; k < fns.length; ++k) {
      const c = process.cpuUsage();
      const t = performance.now();
      await fns[k]();
      ts[k].push(performance.now() - t);
      const u = process.cpuUsage(c);
      cpu[k] = Math.min(cpu[k], (u.user + u.system) / 1000);
    }
  return ts.map((t, k) => ({ best: Math.min(...t), median: median(t), cpu: cpu[k] }));
}

function maxDiff(a, b) {
  let m = 0, scale = 0;
  for (let i = 0; i < a.length; ++i) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return m / Math.max(scale, 1e-12);
}

const rows = [];
for (const name of names) {
  const lite = await TandemLite.load(path.join(dir, `${name}.tlite`));
  const info = lite.inputs[0];
  const shape = info.shape.map((d) => (d < 0 ? 1 : d));
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  let seed = 7;
  for (let i = 0; i < n; ++i) x[i] = (((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24) * 2 - 1;

  const feeds = { [info.name]: { data: x, shape } };
  const yLite = lite.runSync(feeds)[lite.outputs[0].name].data;

  const session = await ort.InferenceSession.create(path.join(dir, `${name}.onnx`),
                                                    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const ortFeeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, shape) };
  const yOrt = (await session.run(ortFeeds))[session.outputNames[0]].data;

  const graph = JSON.parse(readFileSync(path.join(dir, `${name}.tfjs.json`), 'utf8'));
  const bin = readFileSync(path.join(dir, `${name}.tfjs.bin`));
  const tfModel = buildTfjsModel(tf, graph, new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4));
  const xTf = tf.tidy(() => tf.transpose(tf.tensor(x, shape), [0, 2, 3, 1]));  // NCHW -> NHWC
  const runTf = () => {
    const y = tfModel(xTf);
    const data = y.dataSync();
    y.dispose();
    return data;
  };
  const yTf = runTf();
  const [tLite, tOrt, tTf] = await timeTogether([() => lite.runSync(feeds), () => session.run(ortFeeds), runTf]);

  rows.push({ name, tLite, tOrt, tTf, dOrt: maxDiff(yLite, yOrt), dTf: maxDiff(yTf, yOrt) });
  lite.dispose();
  await session.release();
}

const f = (t) => t.toFixed(t < 10 ? 2 : 1);
const ms = (t) => `${f(t.cpu)} ms (${f(t.best)}, ${f(t.median)})`;
console.log('| model | tandem-lite wasm | ORT Web wasm | TF.js wasm | speed vs ORT Web | vs TF.js | max diff (lite, tfjs vs ORT) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.name} | ${ms(r.tLite)} | ${ms(r.tOrt)} | ${ms(r.tTf)} | ${(r.tOrt.cpu / r.tLite.cpu).toFixed(2)}x | ` +
              `${(r.tTf.cpu / r.tLite.cpu).toFixed(2)}x | ${r.dOrt.toExponential(1)}, ${r.dTf.toExponential(1)} |`);
console.log('(times: the best CPU time of a run, then the best and the median wall time; speed: the other ' +
            'runtime\'s best CPU time over tandem-lite\'s, above 1.0x when tandem-lite is faster)');
