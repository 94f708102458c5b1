#!/usr/bin/python3
"""Reference safetensors files for tests/io, written from the public spec with json + struct
(Debian has no `safetensors` Python package), independently of tandem's C++ code.

    /usr/bin/python3 tests/reference/gen_safetensors.py          # writes tests/data/io/, fuzz/corpus/safetensors/
    /usr/bin/python3 tests/reference/gen_safetensors.py --check FILE...   # validate + print files

Spec (https://github.com/huggingface/safetensors#format): u64 little-endian header length N,
N bytes of UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{str: str}}, then the data; offsets are relative to the data; tensors row-major little-endian.

Files:
  ref_all_dtypes.safetensors  every dtype tandem supports, 0-dim and zero-size shapes,
      metadata with non-ASCII text; written the way tandem's writer is specified to write
      (compact JSON with sorted keys, header padded with spaces to 8 bytes, data ordered by
      item size then name), so
      tests/io compares tandem's output with it byte for byte. Each tensor's values are also in
      ref_all_dtypes.<name>.npy (float16/bfloat16 as float32).
  ref_variants.safetensors   what other writers may produce: keys unsorted, JSON with
      spaces, header not padded, tensors in data order unlike name order, an F16 tensor of
      odd length so the next F32 tensor is not 4-byte aligned, no __metadata__.
      Values in ref_variants.<name>.npy.
Each file is read back with an independent numpy reader before the script ends.
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data", "io")
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "safetensors")

# spec name -> (numpy dtype used for the bytes, itemsize)
DTYPES = {
    "BOOL": (np.bool_, 1), "U8": (np.uint8, 1), "I8": (np.int8, 1), "I16": (np.int16, 2),
    "I32": (np.int32, 4), "I64": (np.int64, 8), "F16": (np.float16, 2), "BF16": (np.uint16, 2),
    "F32": (np.float32, 4), "F64": (np.float64, 8),
}


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (values below are exact anyway)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def raw_bytes(dtype, arr):
    if dtype == "BF16":
        return bf16_bits(arr).astype("<u2").tobytes()
    npdt, _ = DTYPES[dtype]
    return np.ascontiguousarray(arr, dtype=np.dtype(npdt).newbyteorder("<")).tobytes()


def build(tensors, order, metadata, compact=True, pad=True, sort_keys=True):
    """tensors: name -> (dtype, array); order: names in data order."""
    header, chunks, off = {}, [], 0
    for name in order:
        dtype, arr = tensors[name]
        b = raw_bytes(dtype, arr)
        header[name] = {"dtype": dtype, "shape": list(np.shape(arr)), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    if metadata is not None:
        header["__metadata__"] = metadata
    seps = (",", ":") if compact else (", ", ": ")
    text = json.dumps(header, sort_keys=sort_keys, separators=seps, ensure_ascii=False).encode("utf-8")
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read(blob):
    """Independent spec reader: returns ({name: numpy array}, metadata). Raises on any violation."""
    assert len(blob) >= 8
    (n,) = struct.unpack("<Q", blob[:8])
    assert n <= len(blob) - 8
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    data = blob[8 + n:]
    out, ranges = {}, []
    for name, e in header.items():
        assert set(e) == {"dtype", "shape", "data_offsets"}, e
        npdt, size = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        count = int(np.prod(e["shape"], dtype=np.int64))
        assert end - b == count * size and 0 <= b <= end <= len(data)
        arr = np.frombuffer(data[b:end], dtype=np.dtype(npdt).newbyteorder("<")).reshape(e["shape"])
        out[name] = bf16_to_f32(arr) if e["dtype"] == "BF16" else arr
        ranges.append((b, end))
    pos = 0
    for b, end in sorted(ranges):
        assert b == pos, "gap or overlap"
        pos = end
    assert pos == len(data), "trailing bytes"
    return out, meta


def write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def as_npy_value(dtype, arr):
    """What tests/io compares against: float16/bfloat16 as float32, others as they are."""
    if dtype in ("F16", "BF16"):
        return np.asarray(arr, np.float32)
    return arr


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        for path in sys.argv[2:]:
            with open(path, "rb") as f:
                tensors, meta = read(f.read())
            print(path, "OK", meta)
            for name, arr in sorted(tensors.items()):
                print(f"  {name}: {arr.dtype} {list(arr.shape)} {arr.ravel()[:6].tolist()}")
        return

    os.makedirs(DATA, exist_ok=True)
    os.makedirs(CORPUS, exist_ok=True)
    rng = np.random.default_rng(3)

    all_dtypes = {
        "bool": ("BOOL", rng.random((2, 3)) < 0.5),
        "u8": ("U8", rng.integers(0, 256, (5,)).astype(np.uint8)),
        "i8": ("I8", rng.integers(-128, 128, (2, 2)).astype(np.int8)),
        "i32": ("I32", rng.integers(-2**31, 2**31, (3,)).astype(np.int32)),
        "i64": ("I64", rng.integers(-2**62, 2**62, (2, 2)).astype(np.int64)),
        "f16": ("F16", (rng.standard_normal((3,)) * 100).astype(np.float16)),
        # bfloat16-exact values: float32 with the low 16 bits cleared
        "bf16": ("BF16", bf16_to_f32(bf16_bits(rng.standard_normal((2, 2)).astype(np.float32)))),
        "f32": ("F32", rng.standard_normal((2, 3)).astype(np.float32)),
        "f64_scalar": ("F64", np.array(rng.standard_normal(), np.float64)),  # 0-dim
        "f32_empty": ("F32", np.zeros((0, 3), np.float32)),                  # zero-size
        "i64_4d": ("I64", np.arange(24, dtype=np.int64).reshape(1, 2, 3, 4) - 7),
    }
    meta = {"framework": "reference", "note": "héllo ✓ \"quoted\""}
    # Data order as the reference writer (and tandem's): larger items first, then by name, so
    # every tensor is aligned to its item size once the header is padded to 8 bytes.
    order = sorted(all_dtypes, key=lambda k: (-DTYPES[all_dtypes[k][0]][1], k))
    blob = build(all_dtypes, order, meta)
    write(os.path.join(DATA, "ref_all_dtypes.safetensors"), blob)
    back, back_meta = read(blob)
    assert back_meta == meta
    for name, (dtype, arr) in all_dtypes.items():
        value = as_npy_value(dtype, arr)
        assert np.array_equal(back[name], value), name
        np.save(os.path.join(DATA, f"ref_all_dtypes.{name}.npy"), value)

    variants = {
        "z_first": ("F64", np.linspace(-1, 1, 3)),
        "b_half_odd": ("F16", np.array([1.5, -2.25, 65504.0], np.float16)),   # 6 bytes
        "a_misaligned": ("F32", np.array([[1.0, -0.5], [3.25, 1e-3]], np.float32)),
        "m_u8": ("U8", np.array([0, 255, 7], np.uint8)),
    }
    blob = build(variants, ["z_first", "b_half_odd", "a_misaligned", "m_u8"], None,
                 compact=False, pad=False, sort_keys=False)
    write(os.path.join(DATA, "ref_variants.safetensors"), blob)
    back, _ = read(blob)
    for name, (dtype, arr) in variants.items():
        value = as_npy_value(dtype, arr)
        assert np.array_equal(back[name], value), name
        np.save(os.path.join(DATA, f"ref_variants.{name}.npy"), value)

    # Fuzzing seeds: the files above plus a few small valid ones; the fuzzer mutates from here.
    write(os.path.join(CORPUS, "all_dtypes.safetensors"), open(os.path.join(DATA, "ref_all_dtypes.safetensors"), "rb").read())
    write(os.path.join(CORPUS, "variants.safetensors"), blob)
    write(os.path.join(CORPUS, "empty.safetensors"), build({}, [], None))
    write(os.path.join(CORPUS, "meta_only.safetensors"), build({}, [], {"k": "v"}))
    write(os.path.join(CORPUS, "one_scalar.safetensors"), build({"x": ("F32", np.array(1.0, np.float32))}, ["x"], None))
    write(os.path.join(CORPUS, "two_zero_size.safetensors"),
          build({"a": ("I32", np.zeros((0,), np.int32)), "b": ("BOOL", np.zeros((2, 0), bool))}, ["a", "b"], {}))
    write(os.path.join(CORPUS, "unsupported_i16.safetensors"), build({"x": ("I16", np.arange(3, dtype=np.int16))}, ["x"], None))
    print("wrote", DATA, "and", CORPUS)


if __name__ == "__main__":
    main()
