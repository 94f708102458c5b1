#!/usr/bin/python3
"""Differential ONNX import data: small PyTorch programs exported with torch.onnx.export.

Run with Debian's python (torch 1.13 + numpy + onnx), from anywhere:

    /usr/bin/python3 tests/reference/gen_onnx_torch.py [OUT_DIR]

Layout, one folder per case (tests/data/onnx_torch/<case>/ unless OUT_DIR is given):
    model.onnx            the export (inputs x0, x1, ...; outputs y0, y1, ...)
    input_<i>.npy         the inputs, in the model's input order
    output_<i>.npy        PyTorch's outputs for those inputs (the reference)

tests/onnx/test_onnx_torch.cpp imports every model, runs it and compares with PyTorch.
The programs are chosen for what the exporter writes that small hand-made ONNX files do
not: INT64_MAX / INT64_MIN as open slice bounds, negative steps, Shape -> Gather -> Concat
chains for dynamic sizes, int64 constants above 2^53, mixed dtypes and Cast nodes.
Every input comes from a generator seeded per case, so a rerun writes the same numbers.
"""
import io
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "onnx_torch")

CASES = []  # (name, fn, inputs, opset, dynamic)


def case(name, inputs, opset=14, dynamic=False):
    """Registers fn(*inputs) as a case; dynamic=True exports every input's dim 0 as symbolic."""
    def wrap(fn):
        CASES.append((name, fn, inputs, opset, dynamic))
        return fn
    return wrap


def rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def f32(name, *shape):
    return rng(name).standard_normal(shape).astype(np.float32)


def i64(name, lo, hi, *shape):
    return rng(name).integers(lo, hi, size=shape, dtype=np.int64)


BIG = 2**62 + 12345  # not representable as a double: a round trip through float shows


# ---- slicing: open, negative, huge and empty bounds, steps
@case("slice_open_end", [f32("a", 3, 6)])
def _(x): return x[:, 3:]                      # ends = INT64_MAX


@case("slice_open_end_int64", [i64("b", -BIG, BIG, 2, 5)])
def _(x): return x[:, 2:]


@case("slice_open_start", [f32("c", 3, 6)])
def _(x): return x[:, :2]


@case("slice_negative_start", [f32("d", 3, 6)])
def _(x): return x[:, -2:]


@case("slice_negative_both", [f32("e", 2, 3, 7)])
def _(x): return x[..., 1:-1]


@case("slice_step2", [f32("f", 4, 7)])
def _(x): return x[:, ::2]


@case("slice_step3_offset", [f32("g", 5, 8)])
def _(x): return x[1:, 1::3]


@case("slice_huge_end", [f32("h", 3, 6)])
def _(x): return x[:, 2:10**15]


@case("slice_empty", [f32("i", 3, 6)])
def _(x): return x[:, 5:2] + 1


@case("slice_start_beyond", [f32("j", 3, 6)])
def _(x): return x[:, 10:]


@case("slice_multi_axis", [f32("k", 4, 5, 6)])
def _(x): return x[1:-1, :, -3:]


@case("slice_dynamic_end", [f32("l", 3, 6)], dynamic=True)
def _(x): return x[: x.shape[0] - 1, 1:]


@case("flip_negative_step", [f32("m", 3, 5)])
def _(x): return torch.flip(x, [1])           # Slice steps = -1, ends = INT64_MIN


@case("flip_two_axes", [f32("n", 2, 3, 4)])
def _(x): return torch.flip(x, [0, -1])


@case("narrow", [f32("o", 3, 6)])
def _(x): return x.narrow(1, 1, 3)


# ---- indexing and gathers
@case("select_row", [f32("p", 4, 3)])
def _(x): return x[1]


@case("select_last_column", [f32("q", 4, 3)])
def _(x): return x[:, -1]


@case("ellipsis_index", [f32("r", 2, 3, 4)])
def _(x): return x[..., 0]


@case("index_list", [f32("s", 4, 5)])
def _(x): return x[:, [0, 2, 4]]


@case("index_tensor", [f32("t", 5, 3), np.array([4, 0, 0, 2], dtype=np.int64)])
def _(x, i): return x[i]


@case("index_negative", [f32("u", 5, 3), np.array([-1, 0, -5], dtype=np.int64)])
def _(x, i): return x[i]


@case("index_select", [f32("v", 3, 6)])
def _(x): return torch.index_select(x, 1, torch.tensor([5, 1, 1]))


@case("gather_dim1", [f32("w", 3, 4), i64("w2", 0, 4, 3, 2)])
def _(x, i): return torch.gather(x, 1, i)


@case("masked_fill", [f32("x", 3, 4)])
def _(x): return x.masked_fill(x < 0, -7.0)


@case("topk", [f32("y", 3, 6)])
def _(x): return torch.topk(x, 2, dim=1)


# ---- shapes
@case("reshape_minus1", [f32("z", 2, 3, 4)])
def _(x): return x.reshape(-1, 4)


@case("view_dynamic_batch", [f32("aa", 2, 3, 4)], dynamic=True)
def _(x): return x.view(x.size(0), -1)


@case("flatten_1", [f32("ab", 2, 3, 4)])
def _(x): return torch.flatten(x, 1)


@case("flatten_0_1", [f32("ac", 2, 3, 4)])
def _(x): return torch.flatten(x, 0, 1)


@case("unsqueeze_squeeze", [f32("ad", 3, 1, 4)])
def _(x): return x.squeeze(1).unsqueeze(-1)


@case("transpose", [f32("ae", 2, 3, 4)])
def _(x): return x.transpose(0, 2)


@case("permute", [f32("af", 2, 3, 4)])
def _(x): return x.permute(2, 0, 1) * 2


@case("expand", [f32("ag", 3, 1)])
def _(x): return x.expand(3, 4)


@case("repeat", [f32("ah", 2, 3)])
def _(x): return x.repeat(2, 3)


@case("concat", [f32("ai", 2, 3), f32("ai2", 2, 2)])
def _(x, y): return torch.cat([x, y], dim=-1)


@case("split_sizes", [f32("aj", 2, 5)])
def _(x): return torch.split(x, [1, 4], dim=1)


@case("chunk", [f32("ak", 4, 3)])
def _(x): return x.chunk(2, dim=0)


@case("stack", [f32("al", 2, 3), f32("al2", 2, 3)])
def _(x, y): return torch.stack([x, y], dim=1)


@case("pad_constant", [f32("am", 2, 3)])
def _(x): return F.pad(x, (1, 2), value=0.5)


@case("pad_reflect", [f32("an", 1, 2, 5)])
def _(x): return F.pad(x, (2, 1), mode="reflect")


@case("arange_dynamic", [f32("ao", 3, 4)], dynamic=True)
def _(x): return x + torch.arange(x.shape[0], dtype=torch.float32).unsqueeze(1)


# ---- reductions
@case("sum_keepdim", [f32("ap", 3, 4)])
def _(x): return x.sum(dim=1, keepdim=True)


@case("mean_two_dims", [f32("aq", 2, 3, 4)])
def _(x): return x.mean(dim=(-1, -2))


@case("amax", [f32("ar", 3, 4)])
def _(x): return torch.amax(x, dim=0)


@case("max_dim_values_indices", [f32("as", 3, 4)])
def _(x): return torch.max(x, dim=1, keepdim=True)


@case("argmin", [f32("at", 3, 4)])
def _(x): return torch.argmin(x, dim=-1)


@case("prod", [f32("au", 3, 4)])
def _(x): return torch.prod(x, dim=1)


@case("var_unbiased", [f32("av", 3, 5)])
def _(x): return torch.var(x, dim=1, unbiased=True, keepdim=True)


@case("cumsum", [f32("aw", 3, 4)])
def _(x): return torch.cumsum(x, dim=1)


@case("cumsum_int64", [i64("ax", -BIG // 8, BIG // 8, 2, 5)])
def _(x): return torch.cumsum(x, dim=-1)


@case("softmax_log_softmax", [f32("ay", 2, 5)])
def _(x): return torch.softmax(x, dim=-1), torch.log_softmax(x, dim=0)


# ---- broadcasting, dtypes, elementwise
@case("broadcast_add", [f32("az", 3, 1), f32("az2", 1, 4)])
def _(x, y): return x + y


@case("broadcast_scalar_mul", [f32("ba", 2, 3)])
def _(x): return x * 2.5 - 1


@case("int_plus_float", [i64("bb", -5, 5, 2, 3), f32("bb2", 2, 3)])
def _(a, b): return a + b


@case("int64_big_constant", [i64("bc", -1000, 1000, 2, 3)])
def _(a): return a + BIG


@case("int64_big_input", [i64("bd", -BIG, BIG, 2, 3)])
def _(a): return a * 1 + 1


@case("floor_divide_int", [i64("be", -20, 20, 2, 4), i64("be2", 1, 6, 2, 4)])
def _(a, b): return torch.div(a, b, rounding_mode="floor")


@case("floor_divide_int64_big", [i64("bea", -BIG, BIG, 2, 4), i64("bea2", -(2**40), 2**40, 2, 4)])
def _(a, b): return torch.div(a, b, rounding_mode="floor"), torch.div(a, b, rounding_mode="trunc")


@case("fmod_remainder_int64_big", [i64("beb", -BIG, BIG, 2, 4), i64("beb2", 1, 2**40, 2, 4)])
def _(a, b): return torch.fmod(a, b), torch.remainder(a, -b)


@case("remainder", [f32("bf", 2, 4)])
def _(x): return torch.remainder(x * 5, 3)


@case("cast_float_to_int", [f32("bg", 2, 4)])
def _(x): return (x * 10).to(torch.int32), (x * 10).long()


@case("where", [f32("bh", 3, 4), f32("bh2", 3, 4)])
def _(x, y): return torch.where(x > y, x, y * 0.5)


@case("clamp", [f32("bi", 3, 4)])
def _(x): return torch.clamp(x, min=-0.5, max=0.5)


@case("clamp_int64", [i64("bj", -100, 100, 3, 4)])
def _(x): return torch.clamp(x, min=-10, max=20)


@case("logical_ops", [f32("bk", 3, 4)])
def _(x): return torch.logical_and(x > -0.5, x < 0.5) | (x > 1.5)


@case("abs_neg_int", [i64("bl", -9, 9, 3, 3)])
def _(x): return torch.abs(x) - x


# NOTE: torch 1.13 writes full_like's fill value through a double (BIG would arrive rounded in
# the model itself), so the ConstantOfShape value here is one a double holds exactly; the
# inexact BIG comes in as an int64 constant.
@case("full_like_big", [i64("bm", 0, 9, 2, 3)], dynamic=True)
def _(x): return torch.full_like(x, 2**62) + x + BIG


@case("zeros_dynamic", [f32("bn", 2, 3)], dynamic=True)
def _(x): return torch.zeros(x.shape[0], 2) + x[:, :2]


@case("matmul_batched_broadcast", [f32("bo", 2, 3, 4), f32("bo2", 4, 5)])
def _(x, y): return torch.matmul(x, y)


@case("slice_opset11_open_end", [f32("bp", 3, 6)], opset=11)
def _(x): return x[:, 1:]


@case("slice_opset17_negative_step", [f32("bq", 6, 2)], opset=17)
def _(x): return torch.flip(x, [0])[1:]


class Program(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def outputs_of(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def write_case(name, fn, inputs, opset, dynamic):
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder)
    tensors = [torch.from_numpy(a) for a in inputs]
    with torch.no_grad():
        outs = outputs_of(fn(*tensors))
    in_names = [f"x{i}" for i in range(len(inputs))]
    out_names = [f"y{i}" for i in range(len(outs))]
    axes = {n: {0: "n"} for n in in_names} if dynamic else None
    buf = io.BytesIO()
    torch.onnx.export(Program(fn), tuple(tensors), buf, opset_version=opset, input_names=in_names,
                      output_names=out_names, dynamic_axes=axes, do_constant_folding=True)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(buf.getvalue())
    for i, a in enumerate(inputs):
        np.save(os.path.join(folder, f"input_{i}.npy"), np.ascontiguousarray(a))
    for i, t in enumerate(outs):  # C order: a transpose's result is a Fortran-ordered view
        np.save(os.path.join(folder, f"output_{i}.npy"), np.ascontiguousarray(t.numpy()))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if os.path.isdir(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    for c in CASES:
        write_case(*c)
    print(f"wrote {len(CASES)} cases to {OUT_DIR}")


if __name__ == "__main__":
    main()
