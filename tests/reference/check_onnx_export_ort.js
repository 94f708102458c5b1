// Runs tandem-exported ONNX models through ONNX Runtime (onnxruntime-node, CPU) and compares
// with tandem's eager outputs (tests/onnx/test_export*.cpp writes the cases).
//
//   NODE_PATH=<dir>/node_modules node check_onnx_export_ort.js CASES_DIR [rtol atol]
//
// CASES_DIR/<case>/model.onnx, input_<i>.npy, expected_<i>.npy (little-endian .npy v1/v2/v3).
// Prints one line per case and "N/M exported models pass in onnxruntime <version>"; exit 1 on
// any failure, 2 when onnxruntime-node cannot be loaded.
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.log(`SKIP: onnxruntime-node is not installed (${e.message.split('\n')[0]})`);
  process.exit(2);
}

const NPY = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '|b1': ['bool', Uint8Array], '|u1': ['uint8', Uint8Array],
  '|i1': ['int8', Int8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  if (fortran) throw new Error(`${file}: fortran order is not supported`);
  if (!NPY[descr]) throw new Error(`${file}: dtype ${descr} is not supported`);
  const [type, Arr] = NPY[descr];
  const off = hstart + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = buf.subarray(off, off + n * Arr.BYTES_PER_ELEMENT);
  const data = new Arr(new Uint8Array(bytes).buffer, 0, n);
  return { type, shape, data: type === 'bool' ? Uint8Array.from(data) : data };
}

function numbered(dir, prefix) {
  return fs.readdirSync(dir).filter(f => f.startsWith(prefix) && f.endsWith('.npy'))
    .sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    .map(f => path.join(dir, f));
}

function compare(got, want, rtol, atol) {
  const gd = Array.from(got.dims), wd = want.shape;
  if (gd.length !== wd.length || gd.some((d, i) => d !== wd[i]))
    return `shape [${gd}] != expected [${wd}]`;
  const wt = want.type;
  if (got.type !== wt) return `dtype ${got.type} != expected ${wt}`;
  const g = got.data, w = want.data;
  for (let i = 0; i < w.length; ++i) {
    if (wt === 'float32' || wt === 'float64') {
      const a = Number(g[i]), b = Number(w[i]);
      if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b)) && !(Number.isNaN(a) && Number.isNaN(b)))
        return `element ${i}: ${a} != expected ${b}`;
    } else if (BigInt(g[i] === true ? 1 : g[i] === false ? 0 : g[i]) !== BigInt(w[i])) {
      return `element ${i}: ${g[i]} != expected ${w[i]}`;
    }
  }
  return null;
}

async function checkCase(dir, rtol, atol) {
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
  const inputs = numbered(dir, 'input_').map(readNpy);
  const expected = numbered(dir, 'expected_').map(readNpy);
  if (inputs.length !== session.inputNames.length)
    return `${inputs.length} inputs for ${session.inputNames.length} model inputs`;
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const x = inputs[i];
    feeds[name] = new ort.Tensor(x.type, x.type === 'bool' ? Array.from(x.data, v => v !== 0) : x.data, x.shape);
  });
  const out = await session.run(feeds);
  if (session.outputNames.length !== expected.length)
    return `${session.outputNames.length} outputs, ${expected.length} expected`;
  for (let i = 0; i < expected.length; ++i) {
    const why = compare(out[session.outputNames[i]], expected[i], rtol, atol);
    if (why) return `output ${i} (${session.outputNames[i]}): ${why}`;
  }
  return null;
}

(async () => {
  const root = process.argv[2];
  const rtol = Number(process.argv[3] || 1e-4), atol = Number(process.argv[4] || 1e-5);
  const cases = fs.readdirSync(root).filter(d => fs.existsSync(path.join(root, d, 'model.onnx'))).sort();
  let failed = 0;
  for (const c of cases) {
    let why;
    try {
      why = await checkCase(path.join(root, c), rtol, atol);
    } catch (e) {
      why = String(e.message || e).split('\n')[0];
    }
    console.log(`${why ? 'FAIL' : 'ok  '} ${c}${why ? ': ' + why : ''}`);
    if (why) ++failed;
  }
  let version = '?';
  try { version = require('onnxruntime-node/package.json').version; } catch (e) {}
  console.log(`${cases.length - failed}/${cases.length} exported models pass in onnxruntime ${version}`);
  process.exit(failed || cases.length === 0 ? 1 : 0);
})();
