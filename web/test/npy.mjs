// A minimal .npy reader for the tests: little-endian float32 arrays in C order (what
// tests/lite/gen_lite_data.py and the demo's generator write). Anything else throws.
import { readFileSync } from 'node:fs';

export function readNpy(path) {
  const bytes = readFileSync(path);
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...u8.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = u8[6];
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(u8.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) throw new Error(`${path}: unreadable header ${header}`);
  if (descr[1] !== '<f4') throw new Error(`${path}: dtype ${descr[1]}, the reader takes <f4 only`);
  if (fortran[1] !== 'False') throw new Error(`${path}: Fortran order`);
  const shape = shapeText[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (u8.length - offset !== n * 4) throw new Error(`${path}: ${u8.length - offset} data bytes for shape [${shape}]`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = view.getFloat32(offset + 4 * i, true);
  return { data, shape };
}
