#!/usr/bin/python3
"""PyTorch reference data for tests/ops/test_scatter.cpp: scatter (src and value),
scatter_reduce (every reduction, with and without self), index_add, index_copy, index_fill,
take_along_dim, advanced indexing (x[i0, :, i2], bool masks) and index_put, masked_select
and masked_scatter. Indices repeat where the op defines what repeats do; amax/amin and prod
cases use small integer values so ties and zeros occur.

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_scatter.py

It rewrites tests/data/scatter/ from scratch; running it again gives byte-identical files
(inputs come from a NumPy generator seeded by a CRC of the case name).

Layout, one folder per case (tests/data/scatter/<case>/), as tests/data/grid_sample/:
    in_<i>.npy    the i-th input (float64 values, int64 indices, bool masks)
    out_0.npy     the op's output
    w_0.npy       fixed random weights for the output
    grad_<i>.npy  d/d in_<i> of sum(out_0 * w_0), for each float input
manifest.json lists every case with the exact PyTorch expression it evaluated (inputs are
x0, x1, ...). The C++ test holds a table with the same case names.
"""
import os
import zlib

import numpy as np
import torch

from weighted_cases import write_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "scatter")

torch.set_num_threads(1)

CASES = []  # (name, expr, inputs, grad, rng)


def case(name, expr, make):
    assert name not in [c[0] for c in CASES], name
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = [np.asarray(a) for a in make(rng)]
    grad = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    CASES.append((name, expr, inputs, grad, rng))


def val(rng, *shape):
    return rng.standard_normal(shape)


def small_ints(rng, *shape):  # -2..2 as floats: ties and zeros
    return rng.integers(-2, 3, shape).astype(np.float64)


def idx(rng, high, *shape):
    return rng.integers(0, high, shape).astype(np.int64)


def perm_rows(rng, high, rows, k):  # k distinct indices per row (no repeats for replace ops)
    return np.stack([rng.permutation(high)[:k] for _ in range(rows)]).astype(np.int64)


# ---------------------------------------------------------------------------------------
# scatter: distinct targets (repeated ones are unordered in PyTorch)
case("scatter_src_dim0", "torch.scatter(x0, 0, x1, x2)",
     lambda g: [val(g, 4, 3), perm_rows(g, 4, 3, 3).T.copy(), val(g, 3, 3)])
case("scatter_src_neg_dim", "torch.scatter(x0, -1, x1, x2)",
     lambda g: [val(g, 3, 5), perm_rows(g, 5, 3, 4), val(g, 3, 4)])
case("scatter_value", "torch.scatter(x0, 1, x1, 2.5)",
     lambda g: [val(g, 3, 5), perm_rows(g, 5, 2, 3)])
case("scatter_3d_smaller_index", "torch.scatter(x0, 1, x1, x2)",
     lambda g: [val(g, 2, 4, 3), np.stack([perm_rows(g, 4, 2, 2).T for _ in range(2)]), val(g, 2, 2, 2)])

# scatter_reduce: every reduction, with and without self, repeated targets
for r in ("sum", "prod", "mean", "amax", "amin"):
    make = small_ints if r in ("prod", "amax", "amin") else val
    case(f"scatter_reduce_{r}_self", f"torch.scatter_reduce(x0, -1, x1, x2, '{r}', include_self=True)",
         lambda g, make=make: [make(g, 4, 5), idx(g, 5, 4, 7), make(g, 4, 7)])
    case(f"scatter_reduce_{r}_noself", f"torch.scatter_reduce(x0, 0, x1, x2, '{r}', include_self=False)",
         lambda g, make=make: [make(g, 4, 5), idx(g, 3, 6, 5), make(g, 6, 5)])
case("scatter_reduce_mean_3d", "torch.scatter_reduce(x0, 1, x1, x2, 'mean', include_self=False)",
     lambda g: [val(g, 2, 3, 4), idx(g, 3, 2, 5, 4), val(g, 2, 5, 4)])

# index_add / index_copy / index_fill
case("index_add_dups_alpha", "torch.index_add(x0, 0, x1, x2, alpha=2.0)",
     lambda g: [val(g, 5, 3), np.array([0, 2, 2, 4], np.int64), val(g, 4, 3)])
case("index_add_neg_dim", "torch.index_add(x0, -1, x1, x2)",
     lambda g: [val(g, 3, 5), np.array([4, 0, 4], np.int64), val(g, 3, 3)])
case("index_copy", "torch.index_copy(x0, 0, x1, x2)",
     lambda g: [val(g, 5, 3), np.array([4, 0, 2], np.int64), val(g, 3, 3)])
case("index_copy_dim1", "torch.index_copy(x0, 1, x1, x2)",
     lambda g: [val(g, 2, 4, 3), np.array([3, 1], np.int64), val(g, 2, 2, 3)])
case("index_fill_neg_index", "torch.index_fill(x0, 1, x1, -3.0)",
     lambda g: [val(g, 4, 5), np.array([-1, 0, 2], np.int64)])

# take_along_dim
case("take_along_dim", "torch.take_along_dim(x0, x1, dim=1)",
     lambda g: [val(g, 3, 4), idx(g, 4, 3, 6)])
case("take_along_dim_broadcast", "torch.take_along_dim(x0, x1, dim=-1)",
     lambda g: [val(g, 2, 1, 4), idx(g, 4, 1, 3, 5)])
case("take_along_dim_flat", "torch.take_along_dim(x0, x1)",
     lambda g: [val(g, 3, 4), idx(g, 12, 7)])

# advanced indexing
case("index_one_tensor_negative", "x0[x1]",
     lambda g: [val(g, 4, 5), g.integers(-4, 4, (2, 3)).astype(np.int64)])
case("index_gap", "x0[x1, :, x2]",
     lambda g: [val(g, 4, 5, 6), idx(g, 4, 3), g.integers(-6, 6, (2, 1)).astype(np.int64)])
case("index_adjacent", "x0[:, x1, x2]",
     lambda g: [val(g, 3, 4, 5), idx(g, 4, 2, 3), idx(g, 5, 3)])
case("index_bool_mask", "x0[x1]",
     lambda g: [val(g, 4, 5, 2), g.random((4, 5)) < 0.4])
case("index_put", "torch.index_put(x0, (x1, x2), x3)",
     lambda g: [val(g, 4, 5), np.array([0, 3, 1], np.int64), np.array([4, -1, 0], np.int64), val(g, 3)])
case("index_put_accumulate_dups", "torch.index_put(x0, (x1,), x2, accumulate=True)",
     lambda g: [val(g, 5, 3), np.array([0, 2, 2, 4, 0], np.int64), val(g, 5, 3)])
case("index_put_gap_broadcast_values", "put(x0, (x1, slice(None), x2), x3)",
     lambda g: [val(g, 4, 5, 6), np.array([0, 3, 1], np.int64), np.array([5, 0, 2], np.int64), val(g, 5)])
case("index_put_adjacent_accumulate", "torch.index_put(x0, (torch.arange(3)[:, None], x1, x2), x3, accumulate=True)",
     lambda g: [val(g, 3, 4, 5), np.array([1, 1, 3], np.int64), np.array([2, 2, 0], np.int64), val(g, 3, 3)])
case("index_put_bool_mask", "torch.index_put(x0, (x1,), x2)",
     lambda g: [val(g, 4, 5, 2), g.random((4, 5)) < 0.4, val(g, 2)])

# masked_select / masked_scatter
case("masked_select", "torch.masked_select(x0, x1)",
     lambda g: [val(g, 3, 4), g.random((3, 4)) < 0.5])
case("masked_select_broadcast", "torch.masked_select(x0, x1)",
     lambda g: [val(g, 3, 1), g.random((3, 4)) < 0.5])
case("masked_scatter", "torch.masked_scatter(x0, x1, x2)",
     lambda g: [val(g, 3, 4), g.random((3, 4)) < 0.5, val(g, 14)])
case("masked_scatter_broadcast_mask", "torch.masked_scatter(x0, x1, x2)",
     lambda g: [val(g, 3, 4), g.random((4,)) < 0.5, val(g, 3, 5)])


# ---------------------------------------------------------------------------------------
def put(x, index, v):
    """x[index] = v out of place (index_put does not take full slices from Python)."""
    y = x.clone()
    y[index] = v
    return y


def main():
    write_cases(OUT_DIR, "tests/reference/gen_scatter.py", CASES, {"torch": torch, "put": put})


if __name__ == "__main__":
    main()
