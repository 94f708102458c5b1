#!/usr/bin/python3
"""PyTorch reference data for tests/ops/test_grid_sample.cpp: grid_sample (every mode x
padding_mode x align_corners, 4-D and 5-D), affine_grid (2-D and 3-D), pixel_shuffle,
pixel_unshuffle and cumprod (with zeros in the input).

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_grid_sample.py

It rewrites tests/data/grid_sample/ from scratch; running it again gives byte-identical files
(inputs come from a NumPy generator seeded by a CRC of the case name).

Layout, one folder per case (tests/data/grid_sample/<case>/), as tests/data/reference/:
    in_<i>.npy    the i-th input (float64 unless the case is a float32 one)
    out_0.npy     the op's output
    w_0.npy       fixed random weights for the output
    grad_<i>.npy  d/d in_<i> of sum(out_0 * w_0), for each differentiated input
manifest.json lists every case with the exact PyTorch expression it evaluated (inputs are
x0, x1, ...; F = torch.nn.functional). The C++ test holds a table with the same case names.

Grid points are drawn in [-1.3, 1.3], so every padding mode sees points outside the input.
"""
import os
import zlib

import numpy as np
import torch
import torch.nn.functional as F

from weighted_cases import write_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "grid_sample")

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

CASES = []  # (name, expr, inputs, grad, rng)


def case(name, expr, make, grad=None, f32=False):
    assert name not in [c[0] for c in CASES], name
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = [np.asarray(a) for a in make(rng)]
    if f32:
        inputs = [a.astype(np.float32) if a.dtype == np.float64 else a for a in inputs]
    if grad is None:
        grad = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    CASES.append((name, expr, inputs, grad, rng))


def img(rng, *shape):
    return rng.standard_normal(shape)


def pts(rng, *shape):
    return rng.uniform(-1.3, 1.3, shape)


# ---------------------------------------------------------------------------------------
# grid_sample 4-D: every mode x padding x align_corners
for mode in ("bilinear", "nearest", "bicubic"):
    for pad in ("zeros", "border", "reflection"):
        for align in (False, True):
            case(f"grid_sample_{mode}_{pad}_{'align' if align else 'noalign'}",
                 f"F.grid_sample(x0, x1, mode='{mode}', padding_mode='{pad}', align_corners={align})",
                 lambda g: [img(g, 2, 3, 5, 6), pts(g, 2, 4, 7, 2)])
case("grid_sample_bilinear_f32", "F.grid_sample(x0, x1, align_corners=False)",
     lambda g: [img(g, 1, 2, 6, 5), pts(g, 1, 3, 4, 2)], f32=True)
case("grid_sample_bicubic_reflection_f32",
     "F.grid_sample(x0, x1, mode='bicubic', padding_mode='reflection', align_corners=True)",
     lambda g: [img(g, 1, 2, 6, 5), pts(g, 1, 3, 4, 2)], f32=True)
case("grid_sample_size1", "F.grid_sample(x0, x1, padding_mode='reflection', align_corners=True)",
     lambda g: [img(g, 1, 2, 1, 4), pts(g, 1, 3, 3, 2)])
case("grid_sample_input_only", "F.grid_sample(x0, x1, mode='bilinear', padding_mode='border', align_corners=False)",
     lambda g: [img(g, 2, 2, 4, 4), pts(g, 2, 3, 3, 2)], grad=[0])
# grid_sample 5-D (volumetric): bilinear (trilinear weights) and nearest
for mode in ("bilinear", "nearest"):
    for pad in ("zeros", "border", "reflection"):
        align = pad != "border"
        case(f"grid_sample_3d_{mode}_{pad}",
             f"F.grid_sample(x0, x1, mode='{mode}', padding_mode='{pad}', align_corners={align})",
             lambda g: [img(g, 2, 2, 3, 4, 5), pts(g, 2, 2, 3, 4, 3)])

# affine_grid, alone and feeding grid_sample (a spatial transformer)
for align in (False, True):
    a = "align" if align else "noalign"
    case(f"affine_grid_2d_{a}", f"F.affine_grid(x0, (2, 3, 4, 5), align_corners={align})",
         lambda g: [g.standard_normal((2, 2, 3))])
    case(f"affine_grid_3d_{a}", f"F.affine_grid(x0, (2, 1, 3, 4, 2), align_corners={align})",
         lambda g: [g.standard_normal((2, 3, 4))])
case("affine_grid_then_grid_sample",
     "F.grid_sample(x0, F.affine_grid(x1, (2, 3, 5, 4), align_corners=False), align_corners=False)",
     lambda g: [img(g, 2, 3, 6, 7), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) + 0.3 * g.standard_normal((2, 2, 3))])

# pixel_shuffle / pixel_unshuffle
case("pixel_shuffle_r2", "F.pixel_shuffle(x0, 2)", lambda g: [g.standard_normal((2, 8, 3, 4))])
case("pixel_shuffle_r3_5d", "F.pixel_shuffle(x0, 3)", lambda g: [g.standard_normal((2, 1, 9, 2, 3))])
case("pixel_unshuffle_r2", "F.pixel_unshuffle(x0, 2)", lambda g: [g.standard_normal((2, 3, 4, 6))])
case("pixel_unshuffle_r3_3d", "F.pixel_unshuffle(x0, 3)", lambda g: [g.standard_normal((2, 6, 3))])


# cumprod: exact zeros (one and two per line) must give PyTorch's gradient
def with_zeros(g, *shape):
    x = g.uniform(0.5, 1.5, shape) * np.sign(g.standard_normal(shape))
    x.reshape(-1, shape[-1])[0, 2] = 0.0
    x.reshape(-1, shape[-1])[1, 1] = 0.0
    x.reshape(-1, shape[-1])[1, 4] = 0.0
    return x


case("cumprod_last", "torch.cumprod(x0, -1)", lambda g: [g.uniform(0.5, 1.5, (3, 6))])
case("cumprod_dim0", "torch.cumprod(x0, 0)", lambda g: [g.uniform(-1.5, 1.5, (5, 2, 3))])
case("cumprod_zeros", "torch.cumprod(x0, 1)", lambda g: [with_zeros(g, 3, 6)])
case("cumprod_f32", "torch.cumprod(x0, 1)", lambda g: [g.uniform(0.5, 1.5, (2, 7, 3))], f32=True)


# ---------------------------------------------------------------------------------------
def main():
    write_cases(OUT_DIR, "tests/reference/gen_grid_sample.py", CASES, {"torch": torch, "F": F})


if __name__ == "__main__":
    main()
