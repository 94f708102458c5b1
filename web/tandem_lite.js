// tandem-lite in JavaScript: runs .tlite models (written by `tandem convert`) in browsers and in
// node, on the WebAssembly build of tandem-lite (dist/tandem_lite.mjs + .wasm, `make wasm`).
//
//   import { TandemLite, tensorFromImageData } from './tandem_lite.js';
//   const model = await TandemLite.load('cnn.tlite');          // a URL, a path (node), or bytes
//   model.inputs;   // [{name: 'input', shape: [-1, 1, 28, 28], dtype: 'float32'}]  (-1: any size)
//   const out = await model.run({ input: { data: pixels, shape: [1, 1, 28, 28] } });
//   out.logits.data;   // Float32Array, out.logits.shape: [1, 10]
//   model.dispose();
//
// A plain Float32Array as an input takes the model's shape (a dynamic dimension from the length).
// Every failure is a TandemLiteError (an Error) whose message says what was wrong: an unknown or
// missing input name, a data type other than Float32Array, a length that does not match the
// shape, tandem-lite's own message for a shape the model rejects or a file that is not a model.
// Outputs are copies: they stay valid after the next run and after dispose().
// One WebAssembly instance serves every model of the page; runs execute on the calling thread.

const DTYPES = ['float32', 'int8', 'uint8', 'int32', 'int64'];

export class TandemLiteError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TandemLiteError';
  }
}

const isNode = typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
               typeof process.versions.node === 'string';

let modulePromise = null;

// The emscripten module, instantiated once. Under node the .wasm bytes are read here (the
// module's own loader is the browser's fetch).
function wasmModule() {
  if (!modulePromise) {
    modulePromise = (async () => {
      const { default: create } = await import('./dist/tandem_lite.mjs');
      const options = {};
      if (isNode) {
        const fs = await import('node:fs/promises');
        options.wasmBinary = await fs.readFile(new URL('./dist/tandem_lite.wasm', import.meta.url));
      }
      return create(options);
    })();
    modulePromise.catch(() => { modulePromise = null; });
  }
  return modulePromise;
}

async function readModelBytes(source) {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof source !== 'string' && !(source instanceof URL))
    throw new TandemLiteError('TandemLite.load: expected a URL, a path or an ArrayBuffer, got ' + describe(source));
  const text = String(source);
  if (isNode && !/^(https?|data|blob):/.test(text)) {
    const fs = await import('node:fs/promises');
    try {
      return new Uint8Array(await fs.readFile(text.startsWith('file:') ? new URL(text) : text));
    } catch (e) {
      throw new TandemLiteError(`TandemLite.load: cannot read '${text}': ${e.message}`);
    }
  }
  let response;
  try {
    response = await fetch(source);
  } catch (e) {
    throw new TandemLiteError(`TandemLite.load: cannot fetch '${text}': ${e.message}`);
  }
  if (!response.ok) throw new TandemLiteError(`TandemLite.load: cannot fetch '${text}': HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function describe(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'an Array';
  return typeof v === 'object' ? (v.constructor ? v.constructor.name : 'an object') : typeof v;
}

function lastError(M) {
  return M.UTF8ToString(M._tlw_last_error());
}

function readInfo(M, ptr, output, count) {
  const list = [];
  for (let i = 0; i < count; ++i) {
    if (M._tlw_io_select(ptr, output, i) !== 0) throw new TandemLiteError(lastError(M));
    const shape = [];
    for (let d = 0, r = M._tlw_io_rank(); d < r; ++d) shape.push(M._tlw_io_dim(d));
    list.push(Object.freeze({ name: M.UTF8ToString(M._tlw_io_name()), shape: Object.freeze(shape),
                              dtype: DTYPES[M._tlw_io_dtype()] || 'unknown' }));
  }
  return Object.freeze(list);
}

export class TandemLite {
  // Use TandemLite.load.
  constructor(M, model, context) {
    this._M = M;
    this._model = model;
    this._context = context;
    this.inputs = readInfo(M, model, 0, M._tlw_io_count(model, 0));
    this.outputs = readInfo(M, model, 1, M._tlw_io_count(model, 1));
  }

  // A model from a URL (fetched), a file path or file: URL (node), or an ArrayBuffer /
  // typed array with the .tlite bytes (copied).
  static async load(source) {
    const [M, bytes] = await Promise.all([wasmModule(), readModelBytes(source)]);
    const buf = M._malloc(Math.max(bytes.length, 1));
    if (!buf) throw new TandemLiteError('TandemLite.load: out of memory');
    let model = 0;
    try {
      M.HEAPU8.set(bytes, buf);
      model = M._tlw_model_load(buf, bytes.length);
    } finally {
      M._free(buf);
    }
    if (!model) throw new TandemLiteError('TandemLite.load: ' + lastError(M));
    const context = M._tlw_context_create(model);
    if (!context) {
      const message = lastError(M);
      M._tlw_model_destroy(model);
      throw new TandemLiteError('TandemLite.load: ' + message);
    }
    return new TandemLite(M, model, context);
  }

  // Runs the model on `feeds` ({inputName: Float32Array | {data: Float32Array, shape}}, every
  // input given) and resolves to {outputName: {data: Float32Array, shape: number[]}}.
  async run(feeds) {
    return this.runSync(feeds);
  }

  // run() without the promise (same checks, same result).
  runSync(feeds) {
    const M = this._M;
    if (!this._context) throw new TandemLiteError('run: the model was disposed');
    if (typeof feeds !== 'object' || feeds === null || ArrayBuffer.isView(feeds))
      throw new TandemLiteError('run: expected an object {inputName: tensor}, got ' + describe(feeds));
    const known = new Set(this.inputs.map((v) => v.name));
    for (const name of Object.keys(feeds))
      if (!known.has(name))
        throw new TandemLiteError(`run: unknown input '${name}' (the model's inputs: ${[...known].join(', ')})`);
    this.inputs.forEach((info, index) => {
      if (!(info.name in feeds)) throw new TandemLiteError(`run: input '${info.name}' is missing`);
      const { data, shape } = this._inputTensor(info, feeds[info.name]);
      const bytes = data.length * 4 + shape.length * 4;
      const buf = M._malloc(Math.max(bytes, 4));
      if (!buf) throw new TandemLiteError('run: out of memory');
      try {
        M.HEAPF32.set(data, buf >> 2);
        const shapePtr = buf + data.length * 4;
        M.HEAP32.set(shape, shapePtr >> 2);
        if (M._tlw_set_input(this._context, index, shapePtr, shape.length, buf) !== 0)
          throw new TandemLiteError('run: ' + lastError(M));
      } finally {
        M._free(buf);
      }
    });
    if (M._tlw_run(this._context) !== 0) throw new TandemLiteError('run: ' + lastError(M));
    const result = {};
    this.outputs.forEach((info, index) => {
      const ptr = M._tlw_output(this._context, index);
      if (!ptr) throw new TandemLiteError('run: ' + lastError(M));
      const shape = [];
      for (let d = 0, r = M._tlw_io_rank(); d < r; ++d) shape.push(M._tlw_io_dim(d));
      const n = shape.reduce((a, b) => a * b, 1);
      result[info.name] = { data: M.HEAPF32.slice(ptr >> 2, (ptr >> 2) + n), shape };
    });
    return result;
  }

  _inputTensor(info, value) {
    let data = value, shape = null;
    if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && 'data' in value) {
      data = value.data;
      shape = value.shape;
    }
    if (!(data instanceof Float32Array))
      throw new TandemLiteError(`run: input '${info.name}' must be a Float32Array (the model takes ${info.dtype}), ` +
                                `got ${describe(data)}`);
    if (shape === null || shape === undefined) {
      // The model's shape; a dynamic dimension takes what the length leaves.
      const fixed = info.shape.reduce((a, d) => (d > 0 ? a * d : a), 1);
      const dynamic = info.shape.filter((d) => d < 0).length;
      if (dynamic > 1)
        throw new TandemLiteError(`run: input '${info.name}' has ${dynamic} dynamic dimensions: give {data, shape}`);
      const rest = fixed > 0 ? data.length / fixed : 0;
      if (!Number.isInteger(rest) || (dynamic === 0 && rest !== 1) || rest < 1)
        throw new TandemLiteError(`run: input '${info.name}' has ${data.length} values, which does not fit the ` +
                                  `model's shape [${info.shape.map((d) => (d < 0 ? '?' : d)).join(', ')}]`);
      shape = info.shape.map((d) => (d < 0 ? rest : d));
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 31))
      throw new TandemLiteError(`run: input '${info.name}': shape must be an array of non-negative integers`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new TandemLiteError(`run: input '${info.name}': shape [${shape.join(', ')}] needs ${n} values, ` +
                                `the Float32Array has ${data.length}`);
    return { data, shape };
  }

  // Frees the model's WebAssembly memory; the model cannot run afterwards.
  dispose() {
    if (!this._context) return;
    this._M._tlw_context_destroy(this._context);
    this._M._tlw_model_destroy(this._model);
    this._context = 0;
    this._model = 0;
  }
}

// An input tensor from an ImageData (a canvas's getImageData, or {data, width, height} with RGBA
// bytes): value = (byte / 255 - mean[c]) / std[c].
//   channels: 3 (RGB, the default) or 1 (gray: the mean of R, G and B)
//   layout:   'nchw' (the default) or 'nhwc'
//   mean, std: one number or one per channel (defaults 0 and 1)
// Returns {data: Float32Array, shape: [1, C, H, W] or [1, H, W, C]}.
export function tensorFromImageData(imageData, options = {}) {
  const { channels = 3, layout = 'nchw' } = options;
  if (!imageData || !imageData.data || !Number.isInteger(imageData.width) || !Number.isInteger(imageData.height))
    throw new TandemLiteError('tensorFromImageData: expected an ImageData (data, width, height)');
  const { width: W, height: H, data: px } = imageData;
  if (px.length !== W * H * 4)
    throw new TandemLiteError(`tensorFromImageData: ${px.length} bytes for ${W}x${H} RGBA (want ${W * H * 4})`);
  if (channels !== 1 && channels !== 3)
    throw new TandemLiteError(`tensorFromImageData: channels must be 1 or 3, got ${channels}`);
  if (layout !== 'nchw' && layout !== 'nhwc')
    throw new TandemLiteError(`tensorFromImageData: layout must be 'nchw' or 'nhwc', got '${layout}'`);
  const perChannel = (v, name, fallback) => {
    const a = v === undefined ? [fallback] : Array.isArray(v) ? v : [v];
    if (a.length !== 1 && a.length !== channels)
      throw new TandemLiteError(`tensorFromImageData: ${name} needs 1 or ${channels} values, got ${a.length}`);
    return Array.from({ length: channels }, (_, c) => Number(a.length === 1 ? a[0] : a[c]));
  };
  const mean = perChannel(options.mean, 'mean', 0), std = perChannel(options.std, 'std', 1);
  const out = new Float32Array(channels * H * W);
  for (let p = 0; p < H * W; ++p) {
    for (let c = 0; c < channels; ++c) {
      const byte = channels === 1 ? (px[4 * p] + px[4 * p + 1] + px[4 * p + 2]) / 3 : px[4 * p + c];
      const v = (byte / 255 - mean[c]) / std[c];
      out[layout === 'nchw' ? c * H * W + p : p * channels + c] = v;
    }
  }
  return { data: out, shape: layout === 'nchw' ? [1, channels, H, W] : [1, H, W, channels] };
}

export default TandemLite;
