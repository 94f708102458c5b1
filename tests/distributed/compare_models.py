#!/usr/bin/python3
"""Compares the tensors of two safetensors files (read with NumPy from the public format:
8-byte little-endian header length, JSON header, raw little-endian data).

  compare_models.py A B --exact        every tensor bit for bit
  compare_models.py A B --atol 1e-4    max |a - b| <= atol for every tensor
Exit 0 when they match, 1 otherwise (the worst tensor is printed either way).
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def load(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--atol", type=float, default=0.0)
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    if sorted(a) != sorted(b):
        print(f"different tensor names: {sorted(a)} vs {sorted(b)}")
        return 1
    worst, worst_name = 0.0, ""
    for name in a:
        if args.exact and a[name].tobytes() != b[name].tobytes():
            print(f"{name} differs (bit-exact comparison)")
            return 1
        d = float(np.max(np.abs(a[name].astype(np.float64) - b[name].astype(np.float64)))) if a[name].size else 0.0
        if d > worst:
            worst, worst_name = d, name
    print(f"{len(a)} tensors, max |a - b| = {worst:.3g} ({worst_name or '-'})")
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
