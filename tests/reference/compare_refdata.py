#!/usr/bin/python3
"""Compares regenerated reference data with the committed files (make refdata).

    /usr/bin/python3 tests/reference/compare_refdata.py FRESH_ROOT REPO_ROOT

FRESH_ROOT holds what the generators wrote into a copy of the tree (tests/data/..., fuzz/...).
Every file written there must exist in REPO_ROOT and match it: .npy arrays by dtype, shape
and value (integers and booleans exactly; floats within a few ulps, because PyTorch's
kernels may sum in another order on another CPU), .npz members the same
way (np.savez stamps the zip with the time), everything else byte for byte. Under
tests/data, a committed file in a folder the generators rewrote that they no longer write is
reported too (stale data). Exit 1 listing every difference, 0 when all match.
"""
import os
import sys

import numpy as np


def arrays_differ(a, b):
    if a.dtype != b.dtype:
        return f"dtype {b.dtype} committed, {a.dtype} regenerated"
    if a.shape != b.shape:
        return f"shape {b.shape} committed, {a.shape} regenerated"
    if a.dtype.kind in "fc":
        # NOTE: a few ulps of slack: BLAS and conv kernels sum in another order on another
        # CPU or thread count. Wrong or stale data differs far beyond this.
        rtol, atol = {2: (2e-3, 1e-4), 4: (1e-5, 1e-6)}.get(a.dtype.itemsize, (1e-12, 1e-14))
        ok = np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        if not ok:
            d = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))
            return f"values differ (max abs difference {d:.3g})"
        return None
    if a.dtype.kind == "V":  # raw bytes (e.g. bfloat16 stored as void)
        return None if a.tobytes() == b.tobytes() else "bytes differ"
    return None if np.array_equal(a, b) else "values differ"


def differs(fresh, committed):
    if fresh.endswith(".npy"):
        return arrays_differ(np.load(fresh, allow_pickle=False), np.load(committed, allow_pickle=False))
    if fresh.endswith(".npz"):
        with np.load(fresh) as a, np.load(committed) as b:
            if sorted(a.files) != sorted(b.files):
                return f"members {sorted(b.files)} committed, {sorted(a.files)} regenerated"
            for k in a.files:
                why = arrays_differ(a[k], b[k])
                if why:
                    return f"member {k}: {why}"
        return None
    with open(fresh, "rb") as f, open(committed, "rb") as g:
        return None if f.read() == g.read() else "bytes differ"


def main():
    fresh_root, repo_root = sys.argv[1], sys.argv[2]
    problems, checked = [], 0
    written_dirs = set()
    for top in ("tests/data", "fuzz"):
        for d, _, files in os.walk(os.path.join(fresh_root, top)):
            for name in files:
                rel = os.path.relpath(os.path.join(d, name), fresh_root)
                committed = os.path.join(repo_root, rel)
                checked += 1
                if top == "tests/data":
                    written_dirs.add(os.path.dirname(rel))
                if not os.path.exists(committed):
                    problems.append(f"{rel}: regenerated but not committed")
                    continue
                why = differs(os.path.join(fresh_root, rel), committed)
                if why:
                    problems.append(f"{rel}: {why}")
    for rel_dir in sorted(written_dirs):
        for name in sorted(os.listdir(os.path.join(repo_root, rel_dir))):
            rel = os.path.join(rel_dir, name)
            if name.endswith(".py") or os.path.isdir(os.path.join(repo_root, rel)):
                continue
            if not os.path.exists(os.path.join(fresh_root, rel)):
                problems.append(f"{rel}: committed but no generator writes it any more")
    for p in problems:
        print(p)
    print(f"refdata: {checked} files regenerated, {len(problems)} differ from the committed ones")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
