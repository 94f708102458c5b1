// The JavaScript API (web/tandem_lite.js) under node, on the WebAssembly build in web/dist.
//   node web/test/test_api.mjs tests/lite/data
// Outputs of the committed .tlite cases must equal the full tandem runtime's outputs (the .npy
// files gen_lite_data.py wrote, which lite_selftest also checks natively) within 1e-5; wrong
// names, types, shapes, a disposed model and corrupt files must fail with a clear message.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { TandemLite, TandemLiteError, tensorFromImageData } from '../tandem_lite.js';
import { readNpy } from './npy.mjs';

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: node test_api.mjs DATA_DIR');
  process.exit(2);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function rejects(promise, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof TandemLiteError, `expected a TandemLiteError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

const cases = readFileSync(path.join(dataDir, 'cases.txt'), 'utf8').split('\n')
  .filter((l) => l.trim() && !l.startsWith('#')).map((l) => {
    const [name, nin, nout] = l.trim().split(/\s+/);
    return { name, nin: Number(nin), nout: Number(nout) };
  });

test('cases.txt lists cases', () => assert.ok(cases.length >= 2));

for (const c of cases) {
  test(`${c.name}: outputs equal the full runtime's within 1e-5`, async () => {
    const model = await TandemLite.load(path.join(dataDir, `${c.name}.tlite`));
    assert.equal(model.inputs.length, c.nin);
    assert.equal(model.outputs.length, c.nout);
    const feeds = {};
    model.inputs.forEach((info, i) => {
      assert.equal(info.dtype, 'float32');
      feeds[info.name] = readNpy(path.join(dataDir, `${c.name}.input_${i}.npy`));
    });
    for (let repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the planned arena
      const out = await model.run(feeds);
      assert.deepEqual(Object.keys(out), model.outputs.map((o) => o.name));
      model.outputs.forEach((info, i) => {
        const want = readNpy(path.join(dataDir, `${c.name}.output_${i}.npy`));
        assert.deepEqual(out[info.name].shape, want.shape);
        const d = maxAbsDiff(out[info.name].data, want.data);
        assert.ok(d <= 1e-5, `${c.name} output ${info.name}: max |diff| ${d}`);
      });
    }
    model.dispose();
  });
}

test('the model loads from an ArrayBuffer and a file: URL alike', async () => {
  const file = path.join(dataDir, 'tiny_cnn.tlite');
  const bytes = readFileSync(file);
  const a = await TandemLite.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const b = await TandemLite.load(new URL('file://' + path.resolve(file)));
  const x = readNpy(path.join(dataDir, 'tiny_cnn.input_0.npy'));
  const ya = (await a.run({ input: x })).output, yb = (await b.run({ input: x })).output;
  assert.deepEqual(ya.data, yb.data);
  a.dispose();
  b.dispose();
});

test('a plain Float32Array takes the model shape (the dynamic batch from its length)', async () => {
  const model = await TandemLite.load(path.join(dataDir, 'tiny_cnn.tlite'));
  assert.deepEqual(model.inputs[0].shape, [-1, 3, 16, 16]);
  const x = readNpy(path.join(dataDir, 'tiny_cnn.input_0.npy'));
  const y = (await model.run({ input: x.data })).output;
  const want = readNpy(path.join(dataDir, 'tiny_cnn.output_0.npy'));
  assert.deepEqual(y.shape, want.shape);
  assert.ok(maxAbsDiff(y.data, want.data) <= 1e-5);
  model.dispose();
});

test('bad inputs are rejected with a clear message', async () => {
  const model = await TandemLite.load(path.join(dataDir, 'tiny_cnn.tlite'));
  const ok = new Float32Array(3 * 16 * 16);
  await rejects(model.run({ image: ok }), /unknown input 'image' \(the model's inputs: input\)/);
  await rejects(model.run({}), /input 'input' is missing/);
  await rejects(model.run({ input: new Float64Array(3 * 16 * 16) }), /must be a Float32Array .*got Float64Array/);
  await rejects(model.run({ input: Array.from(ok) }), /must be a Float32Array .*got an Array/);
  await rejects(model.run({ input: { data: ok, shape: [1, 3, 16, 15] } }), /needs 720 values, the Float32Array has 768/);
  await rejects(model.run({ input: { data: ok, shape: [1, 16, 16, 3] } }),
                /shape \[1, 16, 16, 3\] does not match the model's \[\?, 3, 16, 16\]/);
  await rejects(model.run({ input: { data: ok, shape: [3, 16, 16] } }), /does not match the model's/);
  await rejects(model.run({ input: new Float32Array(100) }), /100 values, which does not fit the model's shape/);
  await rejects(model.run({ input: { data: ok, shape: [1, 3, 16, 16.5] } }), /non-negative integers/);
  await rejects(model.run(new Float32Array(4)), /expected an object/);
  // The model still runs after the rejections.
  const y = (await model.run({ input: ok })).output;
  assert.deepEqual(y.shape, [1, 10]);
  model.dispose();
  await rejects(model.run({ input: ok }), /disposed/);
});

test('corrupt and missing model files are rejected', async () => {
  const bytes = new Uint8Array(readFileSync(path.join(dataDir, 'tiny_cnn.tlite')));
  await rejects(TandemLite.load(bytes.slice(0, 8)), /^TandemLite\.load: .*too short/);
  const badMagic = bytes.slice();
  badMagic[0] ^= 0xff;
  await rejects(TandemLite.load(badMagic), /^TandemLite\.load: /);
  await rejects(TandemLite.load(bytes.slice(0, Math.floor(bytes.length / 2))), /^TandemLite\.load: /);
  await rejects(TandemLite.load(readFileSync(path.join(dataDir, 'tiny_cnn.input_0.npy'))), /^TandemLite\.load: /);
  await rejects(TandemLite.load(path.join(dataDir, 'no_such.tlite')), /cannot read .*no_such\.tlite/);
  await rejects(TandemLite.load(42), /expected a URL, a path or an ArrayBuffer, got number/);
  // Random bytes over the body: every load either fails cleanly or yields a model that runs or
  // fails cleanly (never a crash of the module).
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
  for (let trial = 0; trial < 40; ++trial) {
    const b = bytes.slice();
    for (let k = 0; k < 4; ++k) b[16 + (rand() % (b.length - 16))] = rand() & 0xff;
    let model = null;
    try {
      model = await TandemLite.load(b);
    } catch (e) {
      assert.ok(e instanceof TandemLiteError, `trial ${trial}: ${e}`);
      continue;
    }
    try {
      await model.run({ input: new Float32Array(3 * 16 * 16) });
    } catch (e) {
      assert.ok(e instanceof TandemLiteError, `trial ${trial}: ${e}`);
    }
    model.dispose();
  }
  // The module is still healthy.
  const model = await TandemLite.load(bytes);
  const want = readNpy(path.join(dataDir, 'tiny_cnn.output_0.npy'));
  const y = (await model.run({ input: readNpy(path.join(dataDir, 'tiny_cnn.input_0.npy')) })).output;
  assert.ok(maxAbsDiff(y.data, want.data) <= 1e-5);
  model.dispose();
});

test('tensorFromImageData normalizes RGBA bytes into NCHW or NHWC', () => {
  // A 2x3 image: pixel p has R = 10p, G = 10p + 1, B = 10p + 2, A = 255.
  const W = 3, H = 2;
  const px = new Uint8ClampedArray(W * H * 4);
  for (let p = 0; p < W * H; ++p) px.set([10 * p, 10 * p + 1, 10 * p + 2, 255], 4 * p);
  const img = { data: px, width: W, height: H };
  const mean = [0.5, 0.25, 0.125], std = [0.5, 0.25, 2];
  const nchw = tensorFromImageData(img, { mean, std });
  assert.deepEqual(nchw.shape, [1, 3, 2, 3]);
  const nhwc = tensorFromImageData(img, { mean, std, layout: 'nhwc' });
  assert.deepEqual(nhwc.shape, [1, 2, 3, 3]);
  for (let p = 0; p < W * H; ++p)
    for (let c = 0; c < 3; ++c) {
      const want = Math.fround(((10 * p + c) / 255 - mean[c]) / std[c]);
      assert.equal(nchw.data[c * W * H + p], want);
      assert.equal(nhwc.data[p * 3 + c], want);
    }
  const gray = tensorFromImageData(img, { channels: 1, mean: 0.286, std: 0.353 });
  assert.deepEqual(gray.shape, [1, 1, 2, 3]);
  for (let p = 0; p < W * H; ++p) assert.equal(gray.data[p], Math.fround(((10 * p + 1) / 255 - 0.286) / 0.353));
  assert.throws(() => tensorFromImageData(img, { channels: 2 }), /channels must be 1 or 3/);
  assert.throws(() => tensorFromImageData(img, { layout: 'chw' }), /layout must be 'nchw' or 'nhwc'/);
  assert.throws(() => tensorFromImageData(img, { mean: [1, 2] }), /mean needs 1 or 3 values/);
  assert.throws(() => tensorFromImageData({ data: px, width: 4, height: 2 }), /24 bytes for 4x2 RGBA/);
  assert.throws(() => tensorFromImageData(null), /expected an ImageData/);
});

// The demo's float32 and int8 CNNs on its 20 Fashion-MNIST test images, the input made as the
// page makes it (tensorFromImageData from the gray bytes): the native `tandem-lite run` logits
// (web/test/demo_expected.json, gen_demo.py) within 1e-5, the int8 model through wasm's
// portable int8 kernels.
const webDir = new URL('..', import.meta.url);
test('demo CNN, float32 and int8: the native tandem-lite run logits within 1e-5 on 20 test images', async () => {
  const examples = JSON.parse(readFileSync(new URL('demo/examples.json', webDir), 'utf8'));
  const expected = JSON.parse(readFileSync(new URL('test/demo_expected.json', webDir), 'utf8'));
  assert.equal(examples.examples.length, 20);
  for (const [file, key] of [['cnn.tlite', 'logits'], ['cnn_int8.tlite', 'int8_logits']]) {
    const model = await TandemLite.load(new URL('demo/' + file, webDir));
    let worst = 0;
    examples.examples.forEach((ex, n) => {
      const gray = Buffer.from(ex.pixels, 'base64');
      const rgba = new Uint8ClampedArray(28 * 28 * 4);
      gray.forEach((v, i) => rgba.set([v, v, v, 255], 4 * i));
      const input = tensorFromImageData({ data: rgba, width: 28, height: 28 },
                                        { channels: 1, mean: examples.mean, std: examples.std });
      const y = model.runSync({ input }).output;
      assert.equal(expected.examples[n].index, ex.index);
      worst = Math.max(worst, maxAbsDiff(y.data, expected.examples[n][key]));
    });
    assert.ok(worst <= 1e-5, `${file}: max |diff| ${worst}`);
    console.log(`     ${file}: max |diff| ${worst.toExponential(2)}`);
    model.dispose();
  }
});

let failed = 0;
for (const t of tests) {
  try {
    await t.fn();
    console.log(`ok   ${t.name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${t.name}\n${e.stack || e}`);
  }
}
console.log(`${tests.length - failed}/${tests.length} passed`);
process.exit(failed ? 1 : 0);
