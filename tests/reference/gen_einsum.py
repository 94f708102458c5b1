#!/usr/bin/python3
"""PyTorch 1.13 references for tests/ops/test_einsum.cpp: torch.einsum with diagonals
(a label repeated in one operand), "..." in every position, broadcasting and the implicit
output form.

    /usr/bin/python3 tests/reference/gen_einsum.py     # rewrites tests/data/einsum/

One folder per case (tests/data/einsum/<case>/):
    in_<i>.npy    float64 inputs (NumPy generator seeded by a CRC of the case name)
    out_0.npy     torch.einsum(equation, *inputs)
    w_0.npy       fixed random weights for the output
    grad_<i>.npy  d/d in_<i> of sum(out_0 * w_0)
manifest.json maps each case to its equation; the C++ test holds the same table.
"""
import json
import os
import shutil
import zlib

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "einsum")

CASES = [
    ("diagonal", "ii->i", [(4, 4)]),
    ("trace", "ii->", [(4, 4)]),
    ("trace_implicit", "ii", [(3, 3)]),
    ("diag_keep_j", "iij->ij", [(3, 3, 5)]),
    ("batch_diagonal", "bii->bi", [(2, 4, 4)]),
    ("triple_diagonal", "iii->i", [(3, 3, 3)]),
    ("diag_then_matmul", "iij,jk->ik", [(3, 3, 4), (4, 2)]),
    ("diag_both_operands", "ii,jj->ij", [(3, 3), (2, 2)]),
    ("diag_outer_order", "jii->ij", [(2, 3, 3)]),
    ("ellipsis_front", "...ij->...ji", [(2, 3, 4, 5)]),
    ("ellipsis_middle", "i...j,j...k->i...k", [(3, 2, 4), (4, 2, 5)]),
    ("ellipsis_end", "ij...->ji...", [(3, 4, 2)]),
    ("ellipsis_diagonal", "...ii->...i", [(2, 3, 3)]),
    ("ellipsis_trace_implicit", "...ii", [(2, 3, 3)]),
    ("ellipsis_broadcast", "...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)]),
    ("ellipsis_empty", "...ij,jk->...ik", [(3, 4), (4, 2)]),
    ("implicit_transpose", "ba", [(2, 3)]),
    ("bilinear", "bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
]


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def save(folder, name, a):
    np.save(os.path.join(folder, name + ".npy"), np.array(a, order="C"))  # keeps 0-d arrays 0-d


def main():
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    os.makedirs(OUT_DIR)
    manifest = {}
    for name, eq, shapes in CASES:
        rng = rng_for(name)
        folder = os.path.join(OUT_DIR, name)
        os.makedirs(folder)
        xs = [torch.tensor(rng.standard_normal(s), dtype=torch.float64, requires_grad=True) for s in shapes]
        y = torch.einsum(eq, *xs)
        w = torch.tensor(rng.standard_normal(tuple(y.shape)), dtype=torch.float64)
        grads = torch.autograd.grad((y * w).sum(), xs)
        for i, (x, g) in enumerate(zip(xs, grads)):
            save(folder, f"in_{i}", x.detach().numpy())
            save(folder, f"grad_{i}", g.numpy())
        save(folder, "out_0", y.detach().numpy())
        save(folder, "w_0", w.numpy())
        manifest[name] = eq
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
