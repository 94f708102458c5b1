// ONNX Runtime's side of bench/memory_run.sh: loads one model and runs it once on random
// input [BATCH, 3, 224, 224], so that /usr/bin/time's peak RSS of this process (minus that of
// a bare `node -e ''`) is ONNX Runtime's memory for the job.
//
//   NODE_PATH=<dir>/node_modules node memory_ort.js MODEL.onnx BATCH THREADS
const ort = require('onnxruntime-node');

async function main() {
  const [model, batch, threads] = process.argv.slice(2);
  const n = Number(batch);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
  });
  const data = new Float32Array(n * 3 * 224 * 224);
  for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i);  // any values; not timed
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, [n, 3, 224, 224]) });
  const y = out[session.outputNames[0]];
  if (y.dims[0] !== n) throw new Error(`unexpected output shape ${y.dims}`);
}
main().catch(e => { console.error(`memory_ort.js: ${e.message}`); process.exit(1); });
