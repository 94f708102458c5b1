#!/usr/bin/python3
"""PyTorch reference data for tests/ops/test_reference.cpp.

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_reference.py

It rewrites tests/data/reference/ from scratch; running it again gives byte-identical
files (inputs come from a NumPy generator seeded by a CRC of the case name, so adding
or removing a case does not change the others).

Layout, one folder per case (tests/data/reference/<case>/):
    in_<i>.npy    the i-th input, passed to the op in this order (float64 unless the case
                  is a float32 one; int64 indices, bool masks)
    out_<k>.npy   the k-th output of the op (ops returning pairs or lists have several)
    w_<k>.npy     fixed random weights for each output that is differentiable
    grad_<i>.npy  d/d in_<i> of  sum_k sum(out_k * w_k), for each input that is
                  differentiated (a missing grad_<i> means the input is not)
    v_<i>.npy, gg_<i>.npy   second derivatives, for the cases in SECOND_ORDER (see there)
manifest.json lists every case (one line each) with the exact PyTorch expression it evaluated (inputs are
named x0, x1, ...; F = torch.nn.functional) and the inputs' shapes and dtypes. The C++
test holds a table with the same case names, each running the same op in tandem.

Adding a case: add one `case(...)` line below, regenerate, add the matching line to the
table in tests/ops/test_reference.cpp. Keep tensors small: all data stays under 2 MB.
"""
import json
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "reference")

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

CASES = []  # (name, expr, inputs, grad_inputs, generator)

# Cases that also check the second derivative (backward of the backward): for these,
# v_<i>.npy holds random weights for grad_<i>, and gg_<i>.npy is d/d in_<i> of
# sum_i sum(grad_i * v_i), the gradients taken with create_graph=True.
SECOND_ORDER = {
    "mul_broadcast", "div_broadcast", "pow_tensor", "pow_scalar_frac", "exp", "log", "sqrt", "rsqrt",
    "sin", "cos", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "leaky_relu",
    "sum_dims_keepdim", "mean_dim", "prod_dim", "amax_dim", "var_dim_unbiased", "std_all",
    "logsumexp_dim", "norm_2_all", "norm_3_dim_keepdim", "softmax_last", "log_softmax_dim1",
    "cumsum_last", "matmul_batch_broadcast", "matmul_1d_2d", "linear_bias", "bmm", "outer",
    "conv1d_stride_pad_dil", "conv2d_groups2", "conv_transpose2d_stride2_pad1_outpad1",
    "max_pool2d_pad_dil", "avg_pool2d_ceil_pad_exclude", "adaptive_avg_pool2d_uneven",
    "interpolate_bilinear_scale", "interpolate_bicubic", "interpolate_bicubic_aa_down",
    "batch_norm_train_2d", "batch_norm_eval_4d", "layer_norm_two_dims", "group_norm_affine",
    "embedding_padding_idx", "index_select_dim0", "gather_dim1_smaller_index", "scatter_add_dim0",
    "masked_fill_broadcast", "cat_dim1", "stack_dim1", "split_sizes", "pad_reflect_2d",
    "pad_circular_2d", "topk_largest", "sort_descending_dim0", "where", "minimum", "clamp_both",
    "cross_entropy_smoothing_mean", "cross_entropy_probs_sum", "nll_loss_weight_ignore_mean",
    "mse_loss_mean", "l1_loss_sum", "smooth_l1_loss_none", "bce_with_logits_weights_mean",
}


class Gen:
    """Input makers; each draws from the case's own seeded generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def n(self, *shape):  # standard normal
        return self.rng.standard_normal(shape)

    def u(self, lo, hi, *shape):  # uniform in [lo, hi)
        return self.rng.uniform(lo, hi, shape)

    def away(self, *shape, gap=0.1):  # normal, but |x| >= gap (away from kinks at 0)
        x = self.rng.standard_normal(shape)
        return np.where(np.abs(x) < gap, np.sign(x + 1e-30) * (gap + np.abs(x)), x)

    def distinct(self, *shape):  # a permutation of well-separated values (no ties)
        k = int(np.prod(shape)) if shape else 1
        return (self.rng.permutation(k).astype(np.float64) * 0.37 - k * 0.15).reshape(shape)

    def small_ints(self, lo, hi, *shape):  # integers stored as float (for ties/equality)
        return self.rng.integers(lo, hi, shape).astype(np.float64)

    def i(self, lo, hi, *shape):  # int64
        return self.rng.integers(lo, hi, shape, dtype=np.int64)

    def b(self, *shape, p=0.5):  # bool
        return self.rng.uniform(0, 1, shape) < p


def case(name, expr, make, grad=None, f32=False):
    """Registers a case.

    expr: a Python expression over x0, x1, ... (torch tensors); a tuple or list of
          tensors for ops with several outputs.
    make: g -> list of numpy inputs (g is a Gen seeded from the name).
    grad: indices of the inputs to differentiate (default: every floating input).
    f32:  cast floating inputs to float32.
    """
    assert name not in [c[0] for c in CASES], name
    g = Gen(zlib.crc32(name.encode()))
    inputs = [np.asarray(a) for a in make(g)]
    if f32:
        inputs = [a.astype(np.float32) if a.dtype == np.float64 else a for a in inputs]
    if grad is None:
        grad = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    CASES.append((name, expr, inputs, grad, g))


# ---------------------------------------------------------------------------------------
# elementwise
case("add_broadcast", "torch.add(x0, x1, alpha=2.5)", lambda g: [g.n(2, 3), g.n(3)])
case("add_scalar", "x0 + 2.5", lambda g: [g.n(2, 3)])
case("add_int_float", "x0 + x1", lambda g: [g.i(-5, 5, 2, 3), g.n(2, 3)])
case("sub_broadcast", "torch.sub(x0, x1, alpha=0.5)", lambda g: [g.n(4, 1), g.n(1, 3)])
case("rsub_scalar", "2.0 - x0", lambda g: [g.n(5)])
case("mul_broadcast", "x0 * x1", lambda g: [g.n(2, 1, 4), g.n(3, 1)])
case("mul_scalar", "x0 * 3.0", lambda g: [g.n(3, 2)])
case("div_broadcast", "x0 / x1", lambda g: [g.n(2, 3), g.u(0.5, 2, 3)])
case("div_int", "x0 / x1", lambda g: [g.i(-9, 9, 6), g.i(1, 4, 6)])
case("rdiv_scalar", "1.5 / x0", lambda g: [g.u(0.5, 2, 4)])
case("neg", "-x0", lambda g: [g.n(2, 3)])
case("pow_tensor", "torch.pow(x0, x1)", lambda g: [g.u(0.5, 2, 2, 3), g.n(3)])
case("pow_scalar", "torch.pow(x0, 3.0)", lambda g: [g.n(2, 3)])
case("pow_scalar_frac", "torch.pow(x0, 0.5)", lambda g: [g.u(0.5, 2, 5)])
case("pow_scalar_neg", "torch.pow(x0, -2.0)", lambda g: [g.u(0.5, 2, 5)])
case("exp", "torch.exp(x0)", lambda g: [g.n(3, 4)])
case("log", "torch.log(x0)", lambda g: [g.u(0.1, 3, 3, 4)])
case("log1p", "torch.log1p(x0)", lambda g: [g.u(-0.5, 3, 3, 4)])
case("sqrt", "torch.sqrt(x0)", lambda g: [g.u(0.1, 3, 3, 4)])
case("rsqrt", "torch.rsqrt(x0)", lambda g: [g.u(0.1, 3, 3, 4)])
case("abs", "torch.abs(x0)", lambda g: [g.away(3, 4)])
case("sign", "torch.sign(x0)", lambda g: [np.concatenate([g.away(7), [0.0]])])
case("sin", "torch.sin(x0)", lambda g: [g.n(3, 4) * 2])
case("cos", "torch.cos(x0)", lambda g: [g.n(3, 4) * 2])
case("tanh", "torch.tanh(x0)", lambda g: [g.n(3, 4) * 2])
case("sigmoid", "torch.sigmoid(x0)", lambda g: [g.n(3, 4) * 3])
case("relu", "torch.relu(x0)", lambda g: [g.away(3, 4)])
case("leaky_relu", "F.leaky_relu(x0, 0.2)", lambda g: [g.away(3, 4)])
case("leaky_relu_default", "F.leaky_relu(x0)", lambda g: [g.away(3, 4)])
case("gelu", "F.gelu(x0)", lambda g: [g.n(3, 4) * 2])
case("gelu_tanh", "F.gelu(x0, approximate='tanh')", lambda g: [g.n(3, 4) * 2])
case("silu", "F.silu(x0)", lambda g: [g.n(3, 4) * 2])
case("softplus", "F.softplus(x0)", lambda g: [g.n(3, 4) * 3])
case("softplus_beta_threshold", "F.softplus(x0, beta=2.0, threshold=3.0)",
     lambda g: [np.concatenate([g.n(8), g.u(2, 4, 4)])])
case("clamp_both", "torch.clamp(x0, -0.5, 0.7)", lambda g: [g.distinct(3, 4) / 4 + 0.013])
case("clamp_min", "torch.clamp(x0, min=0.1)", lambda g: [g.distinct(3, 4) / 4 + 0.013])
case("clamp_max", "torch.clamp(x0, max=0.1)", lambda g: [g.distinct(3, 4) / 4 + 0.013])
case("minimum", "torch.minimum(x0, x1)", lambda g: [g.n(2, 3), g.n(3)])
case("maximum", "torch.maximum(x0, x1)", lambda g: [g.n(2, 3), g.n(2, 1)])
case("maximum_ties", "torch.maximum(x0, x1)", lambda g: [g.small_ints(0, 3, 3, 4), g.small_ints(0, 3, 3, 4)])
case("minimum_ties", "torch.minimum(x0, x1)", lambda g: [g.small_ints(0, 3, 3, 4), g.small_ints(0, 3, 3, 4)])
case("where", "torch.where(x0, x1, x2)", lambda g: [g.b(2, 3), g.n(2, 3), g.n(3)])
case("where_broadcast_cond", "torch.where(x0, x1, x2)", lambda g: [g.b(3, 1), g.n(1, 4), g.n(3, 4)])
for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
    case(op, f"torch.{op}(x0, x1)", lambda g: [g.small_ints(0, 3, 3, 4), g.small_ints(0, 3, 4)])
case("eq_int", "torch.eq(x0, x1)", lambda g: [g.i(0, 3, 3, 4), g.i(0, 3, 3, 4)])
case("lt_int_float", "torch.lt(x0, x1)", lambda g: [g.i(0, 3, 3, 4), g.u(0, 3, 3, 4)])
for op in ["and", "or", "xor"]:
    case(f"logical_{op}", f"torch.logical_{op}(x0, x1)", lambda g: [g.b(3, 4), g.b(4)])
case("logical_and_float", "torch.logical_and(x0, x1)",
     lambda g: [g.small_ints(0, 2, 3, 4), g.small_ints(-1, 2, 3, 4)])
case("logical_not", "torch.logical_not(x0)", lambda g: [g.b(3, 4)])
case("logical_not_float", "torch.logical_not(x0)", lambda g: [g.small_ints(-1, 2, 3, 4)])
case("add_f32", "torch.add(x0, x1)", lambda g: [g.n(3, 4), g.n(4)], f32=True)
case("gelu_f32", "F.gelu(x0)", lambda g: [g.n(3, 4) * 2], f32=True)
case("gelu_tanh_f32", "F.gelu(x0, approximate='tanh')", lambda g: [g.n(3, 4) * 2], f32=True)
case("exp_f32", "torch.exp(x0)", lambda g: [g.n(3, 4)], f32=True)

# ---------------------------------------------------------------------------------------
# reductions
case("sum_all", "torch.sum(x0)", lambda g: [g.n(3, 4)])
case("sum_dims_keepdim", "torch.sum(x0, [0, 2], keepdim=True)", lambda g: [g.n(2, 3, 4)])
case("sum_neg_dim", "torch.sum(x0, [-1])", lambda g: [g.n(2, 3, 4)])
case("mean_all", "torch.mean(x0)", lambda g: [g.n(3, 4)])
case("mean_dim", "torch.mean(x0, [1])", lambda g: [g.n(2, 3, 4)])
case("mean_dims_keepdim", "torch.mean(x0, [0, 2], keepdim=True)", lambda g: [g.n(2, 3, 4)])
case("prod_all", "torch.prod(x0)", lambda g: [g.u(0.5, 1.5, 2, 3)])
case("prod_dim", "torch.prod(x0, 1)", lambda g: [g.n(3, 4)])
case("prod_dim_one_zero", "torch.prod(x0, 1)", lambda g: [np.array([[1.5, 0.0, -2.0], [0.5, 2.0, 3.0]])])
case("prod_dim_two_zeros", "torch.prod(x0, 1)", lambda g: [np.array([[1.5, 0.0, 0.0, 2.0], [0.5, 2.0, 3.0, 1.0]])])
case("amax_dim", "torch.amax(x0, [1])", lambda g: [g.n(3, 4)])
case("amax_dims_keepdim", "torch.amax(x0, [0, 2], keepdim=True)", lambda g: [g.n(2, 3, 4)])
case("amax_ties", "torch.amax(x0, [1])", lambda g: [g.small_ints(0, 3, 3, 5)])
case("amin_dim", "torch.amin(x0, [0])", lambda g: [g.n(3, 4)])
case("amin_ties", "torch.amin(x0, [1])", lambda g: [g.small_ints(0, 3, 3, 5)])
case("max_all", "torch.max(x0)", lambda g: [g.n(3, 4)])
case("max_all_ties", "torch.max(x0)", lambda g: [np.array([[1.0, 3.0, 3.0], [0.0, 3.0, -1.0]])])
case("min_all", "torch.min(x0)", lambda g: [g.n(3, 4)])
case("max_dim", "torch.max(x0, 1)", lambda g: [g.distinct(3, 4)])
case("max_dim_keepdim", "torch.max(x0, 0, keepdim=True)", lambda g: [g.distinct(3, 4, 2)])
case("min_dim", "torch.min(x0, -1)", lambda g: [g.distinct(2, 3, 4)])
case("argmax_all", "torch.argmax(x0)", lambda g: [g.distinct(3, 4)])
case("argmax_dim", "torch.argmax(x0, 1)", lambda g: [g.distinct(3, 4)])
case("argmax_dim_keepdim", "torch.argmax(x0, 0, keepdim=True)", lambda g: [g.distinct(3, 4)])
case("argmin_dim", "torch.argmin(x0, -1)", lambda g: [g.distinct(2, 3, 4)])
case("argmax_ties_first", "torch.argmax(x0, 1)", lambda g: [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])])
case("var_all", "torch.var(x0)", lambda g: [g.n(3, 4)])
case("var_dim_unbiased", "torch.var(x0, [1])", lambda g: [g.n(3, 5)])
case("var_dims_correction0_keepdim", "torch.var(x0, [0, 2], correction=0, keepdim=True)",
     lambda g: [g.n(2, 3, 4)])
case("var_correction2", "torch.var(x0, [1], correction=2)", lambda g: [g.n(3, 5)])
case("std_all", "torch.std(x0)", lambda g: [g.n(3, 4)])
case("std_dim_correction0", "torch.std(x0, [1], correction=0)", lambda g: [g.n(3, 5)])
case("std_dims_keepdim", "torch.std(x0, [0, 2], keepdim=True)", lambda g: [g.n(2, 3, 4)])
case("logsumexp_dim", "torch.logsumexp(x0, [1])", lambda g: [g.n(3, 4) * 3])
case("logsumexp_dims_keepdim", "torch.logsumexp(x0, [0, 2], keepdim=True)", lambda g: [g.n(2, 3, 4)])
case("logsumexp_large", "torch.logsumexp(x0, [1])", lambda g: [g.n(2, 4) + 800.0])
case("norm_2_all", "torch.norm(x0)", lambda g: [g.n(3, 4)])
case("norm_1_dim", "torch.norm(x0, 1, [1])", lambda g: [g.away(3, 4)])
case("norm_3_dim_keepdim", "torch.norm(x0, 3, [0], keepdim=True)", lambda g: [g.n(3, 4)])
case("norm_inf_dim", "torch.norm(x0, float('inf'), [1])", lambda g: [g.distinct(3, 4)])
case("norm_2_dims", "torch.norm(x0, 2, [0, 2])", lambda g: [g.n(2, 3, 4)])
case("softmax_last", "torch.softmax(x0, -1)", lambda g: [g.n(3, 5) * 2])
case("softmax_dim0", "torch.softmax(x0, 0)", lambda g: [g.n(3, 2, 4)])
case("softmax_large", "torch.softmax(x0, 1)", lambda g: [g.n(2, 4) * 3 + 1000.0])
case("log_softmax_last", "torch.log_softmax(x0, -1)", lambda g: [g.n(3, 5) * 2])
case("log_softmax_dim1", "torch.log_softmax(x0, 1)", lambda g: [g.n(2, 3, 4)])
case("log_softmax_large", "torch.log_softmax(x0, 1)", lambda g: [g.n(2, 4) * 3 - 1000.0])
case("cumsum_dim0", "torch.cumsum(x0, 0)", lambda g: [g.n(4, 3)])
case("cumsum_last", "torch.cumsum(x0, -1)", lambda g: [g.n(2, 3, 5)])
case("sum_f32", "torch.sum(x0, [1])", lambda g: [g.n(4, 50)], f32=True)
case("softmax_f32", "torch.softmax(x0, -1)", lambda g: [g.n(3, 7) * 3], f32=True)
case("log_softmax_f32", "torch.log_softmax(x0, -1)", lambda g: [g.n(3, 7) * 3], f32=True)
case("var_f32", "torch.var(x0, [1])", lambda g: [g.n(3, 20) + 5.0], f32=True)

# ---------------------------------------------------------------------------------------
# linear algebra
case("matmul_1d_1d", "torch.matmul(x0, x1)", lambda g: [g.n(4), g.n(4)])
case("matmul_1d_2d", "torch.matmul(x0, x1)", lambda g: [g.n(4), g.n(4, 3)])
case("matmul_2d_1d", "torch.matmul(x0, x1)", lambda g: [g.n(3, 4), g.n(4)])
case("matmul_2d_2d", "torch.matmul(x0, x1)", lambda g: [g.n(3, 4), g.n(4, 5)])
case("matmul_3d_1d", "torch.matmul(x0, x1)", lambda g: [g.n(2, 3, 4), g.n(4)])
case("matmul_1d_3d", "torch.matmul(x0, x1)", lambda g: [g.n(4), g.n(2, 4, 3)])
case("matmul_3d_2d", "torch.matmul(x0, x1)", lambda g: [g.n(2, 3, 4), g.n(4, 5)])
case("matmul_2d_3d", "torch.matmul(x0, x1)", lambda g: [g.n(3, 4), g.n(2, 4, 5)])
case("matmul_batch_broadcast", "torch.matmul(x0, x1)", lambda g: [g.n(2, 1, 3, 4), g.n(3, 4, 2)])
case("matmul_4d_4d", "torch.matmul(x0, x1)", lambda g: [g.n(2, 3, 2, 4), g.n(2, 3, 4, 3)])
case("matmul_f32", "torch.matmul(x0, x1)", lambda g: [g.n(2, 8, 16), g.n(16, 5)], f32=True)
case("linear_bias", "F.linear(x0, x1, x2)", lambda g: [g.n(3, 4), g.n(5, 4), g.n(5)])
case("linear_no_bias", "F.linear(x0, x1)", lambda g: [g.n(3, 4), g.n(5, 4)])
case("linear_3d", "F.linear(x0, x1, x2)", lambda g: [g.n(2, 3, 4), g.n(5, 4), g.n(5)])
case("linear_1d", "F.linear(x0, x1, x2)", lambda g: [g.n(4), g.n(5, 4), g.n(5)])
case("linear_f32", "F.linear(x0, x1, x2)", lambda g: [g.n(6, 16), g.n(8, 16), g.n(8)], f32=True)
case("bmm", "torch.bmm(x0, x1)", lambda g: [g.n(2, 3, 4), g.n(2, 4, 5)])
case("outer", "torch.outer(x0, x1)", lambda g: [g.n(3), g.n(4)])

# ---------------------------------------------------------------------------------------
# convolutions
case("conv1d_basic", "F.conv1d(x0, x1, x2)", lambda g: [g.n(2, 3, 7), g.n(4, 3, 3), g.n(4)])
case("conv1d_stride_pad_dil", "F.conv1d(x0, x1, x2, stride=2, padding=2, dilation=2)",
     lambda g: [g.n(2, 3, 9), g.n(4, 3, 3), g.n(4)])
case("conv1d_groups_no_bias", "F.conv1d(x0, x1, None, 1, 1, 1, 2)",
     lambda g: [g.n(1, 4, 6), g.n(6, 2, 3)])
case("conv2d_basic", "F.conv2d(x0, x1, x2)", lambda g: [g.n(2, 3, 5, 5), g.n(4, 3, 3, 3), g.n(4)])
case("conv2d_no_bias", "F.conv2d(x0, x1)", lambda g: [g.n(1, 2, 4, 5), g.n(3, 2, 2, 3)])
case("conv2d_stride2_pad1", "F.conv2d(x0, x1, x2, stride=2, padding=1)",
     lambda g: [g.n(2, 3, 6, 7), g.n(4, 3, 3, 3), g.n(4)])
case("conv2d_asym", "F.conv2d(x0, x1, x2, stride=(1, 2), padding=(2, 0), dilation=(1, 2))",
     lambda g: [g.n(1, 2, 5, 8), g.n(3, 2, 3, 2), g.n(3)])
case("conv2d_dilation2", "F.conv2d(x0, x1, x2, dilation=2)",
     lambda g: [g.n(1, 2, 7, 7), g.n(2, 2, 3, 3), g.n(2)])
case("conv2d_groups2", "F.conv2d(x0, x1, x2, padding=1, groups=2)",
     lambda g: [g.n(2, 4, 5, 5), g.n(6, 2, 3, 3), g.n(6)])
case("conv2d_depthwise", "F.conv2d(x0, x1, x2, padding=1, groups=3)",
     lambda g: [g.n(1, 3, 5, 4), g.n(3, 1, 3, 3), g.n(3)])
case("conv2d_1x1", "F.conv2d(x0, x1, x2)", lambda g: [g.n(2, 4, 3, 3), g.n(5, 4, 1, 1), g.n(5)])
case("conv2d_f32", "F.conv2d(x0, x1, x2, padding=1)",
     lambda g: [g.n(2, 8, 6, 6), g.n(8, 8, 3, 3), g.n(8)], f32=True)
case("conv_transpose2d_basic", "F.conv_transpose2d(x0, x1, x2)",
     lambda g: [g.n(2, 3, 4, 4), g.n(3, 2, 3, 3), g.n(2)])
case("conv_transpose2d_stride2_pad1_outpad1",
     "F.conv_transpose2d(x0, x1, x2, stride=2, padding=1, output_padding=1)",
     lambda g: [g.n(1, 2, 3, 4), g.n(2, 3, 3, 3), g.n(3)])
case("conv_transpose2d_groups_dilation",
     "F.conv_transpose2d(x0, x1, None, stride=(2, 1), padding=(0, 1), groups=2, dilation=(1, 2))",
     lambda g: [g.n(1, 4, 3, 3), g.n(4, 1, 2, 3)])
case("conv_transpose2d_f32", "F.conv_transpose2d(x0, x1, x2, stride=2)",
     lambda g: [g.n(1, 4, 3, 3), g.n(4, 4, 3, 3), g.n(4)], f32=True)

# ---------------------------------------------------------------------------------------
# pooling (distinct values: no ties inside a window)
case("max_pool2d_basic", "F.max_pool2d(x0, 2)", lambda g: [g.distinct(2, 2, 4, 6)])
case("max_pool2d_stride1", "F.max_pool2d(x0, 3, stride=1)", lambda g: [g.distinct(1, 2, 5, 5)])
case("max_pool2d_pad_dil", "F.max_pool2d(x0, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2))",
     lambda g: [g.distinct(1, 2, 6, 7)])
case("max_pool2d_ceil", "F.max_pool2d(x0, 2, stride=2, ceil_mode=True)", lambda g: [g.distinct(1, 2, 5, 5)])
case("max_pool2d_ceil_pad", "F.max_pool2d(x0, 3, stride=2, padding=1, ceil_mode=True)",
     lambda g: [g.distinct(1, 1, 6, 6)])
case("max_pool2d_3d_input", "F.max_pool2d(x0, 2)", lambda g: [g.distinct(2, 4, 4)])
case("max_pool2d_f32", "F.max_pool2d(x0, 2)", lambda g: [g.distinct(2, 3, 6, 6)], f32=True)
case("avg_pool2d_basic", "F.avg_pool2d(x0, 2)", lambda g: [g.n(2, 2, 4, 6)])
case("avg_pool2d_pad", "F.avg_pool2d(x0, 3, stride=2, padding=1)", lambda g: [g.n(1, 2, 5, 6)])
case("avg_pool2d_pad_exclude", "F.avg_pool2d(x0, 3, stride=2, padding=1, count_include_pad=False)",
     lambda g: [g.n(1, 2, 5, 6)])
case("avg_pool2d_ceil", "F.avg_pool2d(x0, 2, stride=2, ceil_mode=True)", lambda g: [g.n(1, 2, 5, 5)])
case("avg_pool2d_ceil_pad", "F.avg_pool2d(x0, 3, stride=2, padding=1, ceil_mode=True)",
     lambda g: [g.n(1, 1, 6, 6)])
case("avg_pool2d_ceil_pad_exclude",
     "F.avg_pool2d(x0, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)",
     lambda g: [g.n(1, 1, 6, 6)])
case("avg_pool2d_rect", "F.avg_pool2d(x0, (2, 3), stride=(1, 2))", lambda g: [g.n(1, 2, 4, 7)])
case("adaptive_avg_pool2d_divisible", "F.adaptive_avg_pool2d(x0, (2, 3))", lambda g: [g.n(2, 2, 4, 6)])
case("adaptive_avg_pool2d_uneven", "F.adaptive_avg_pool2d(x0, (3, 4))", lambda g: [g.n(1, 2, 5, 7)])
case("adaptive_avg_pool2d_global", "F.adaptive_avg_pool2d(x0, 1)", lambda g: [g.n(2, 3, 4, 5)])
case("adaptive_avg_pool2d_upsample", "F.adaptive_avg_pool2d(x0, (4, 3))", lambda g: [g.n(1, 1, 2, 2)])
case("adaptive_avg_pool2d_3d_input", "F.adaptive_avg_pool2d(x0, (2, 2))", lambda g: [g.n(2, 5, 5)])
# interpolate: every mode, size and scale_factor (the given scale drives the coordinates
# unless recomputed), align_corners, up and down, float32 coordinates.
case("interpolate_nearest_scale2", "F.interpolate(x0, scale_factor=2)", lambda g: [g.n(1, 2, 3, 4)])
case("interpolate_nearest_size", "F.interpolate(x0, size=(5, 7))", lambda g: [g.n(2, 1, 3, 4)])
case("interpolate_nearest_down_f32", "F.interpolate(x0, size=(6, 4))", lambda g: [g.n(1, 2, 10, 7)], f32=True)
case("interpolate_nearest_scale_frac", "F.interpolate(x0, scale_factor=(1.7, 0.6))", lambda g: [g.n(1, 2, 5, 9)])
case("interpolate_nearest_exact", "F.interpolate(x0, size=(3, 8), mode='nearest-exact')", lambda g: [g.n(1, 2, 7, 5)])
case("interpolate_nearest_5d", "F.interpolate(x0, scale_factor=(2, 1, 3))", lambda g: [g.n(1, 2, 2, 3, 2)])
case("interpolate_linear_1d", "F.interpolate(x0, size=8, mode='linear')", lambda g: [g.n(2, 3, 5)])
case("interpolate_linear_1d_align", "F.interpolate(x0, size=4, mode='linear', align_corners=True)",
     lambda g: [g.n(2, 3, 7)])
case("interpolate_bilinear_scale", "F.interpolate(x0, scale_factor=2.5, mode='bilinear')", lambda g: [g.n(1, 2, 3, 4)])
case("interpolate_bilinear_align", "F.interpolate(x0, size=(5, 6), mode='bilinear', align_corners=True)",
     lambda g: [g.n(2, 2, 3, 4)])
case("interpolate_bilinear_down", "F.interpolate(x0, size=(2, 3), mode='bilinear')", lambda g: [g.n(1, 3, 5, 7)])
case("interpolate_bilinear_recompute",
     "F.interpolate(x0, scale_factor=1.7, mode='bilinear', recompute_scale_factor=True)",
     lambda g: [g.n(1, 2, 4, 5)])
case("interpolate_bilinear_f32", "F.interpolate(x0, scale_factor=(1.5, 3), mode='bilinear')",
     lambda g: [g.n(2, 3, 6, 5)], f32=True)
case("interpolate_bicubic", "F.interpolate(x0, size=(6, 5), mode='bicubic')", lambda g: [g.n(1, 2, 4, 3)])
case("interpolate_bicubic_align_down", "F.interpolate(x0, size=(3, 4), mode='bicubic', align_corners=True)",
     lambda g: [g.n(1, 2, 7, 6)])
case("interpolate_trilinear", "F.interpolate(x0, scale_factor=2, mode='trilinear')", lambda g: [g.n(1, 2, 2, 3, 2)])
case("interpolate_area", "F.interpolate(x0, size=(3, 4), mode='area')", lambda g: [g.n(1, 2, 7, 9)])
case("interpolate_area_1d", "F.interpolate(x0, scale_factor=0.5, mode='area')", lambda g: [g.n(2, 2, 9)])
# antialias=True: downsampling widens the filter (and one dim up, one down, and align_corners).
case("interpolate_bilinear_aa_down", "F.interpolate(x0, size=(3, 4), mode='bilinear', antialias=True)",
     lambda g: [g.n(1, 2, 10, 9)])
case("interpolate_bilinear_aa_scale", "F.interpolate(x0, scale_factor=(0.3, 1.6), mode='bilinear', antialias=True)",
     lambda g: [g.n(2, 1, 11, 5)])
case("interpolate_bilinear_aa_align",
     "F.interpolate(x0, size=(4, 3), mode='bilinear', align_corners=True, antialias=True)",
     lambda g: [g.n(1, 2, 9, 8)])
case("interpolate_bilinear_aa_f32", "F.interpolate(x0, size=(5, 3), mode='bilinear', antialias=True)",
     lambda g: [g.n(1, 3, 12, 10)], f32=True)
case("interpolate_bicubic_aa_down", "F.interpolate(x0, size=(4, 3), mode='bicubic', antialias=True)",
     lambda g: [g.n(1, 2, 11, 10)])
case("interpolate_bicubic_aa_scale", "F.interpolate(x0, scale_factor=(0.45, 2.0), mode='bicubic', antialias=True)",
     lambda g: [g.n(1, 2, 9, 4)])
case("interpolate_bicubic_aa_align",
     "F.interpolate(x0, size=(3, 5), mode='bicubic', align_corners=True, antialias=True)",
     lambda g: [g.n(1, 1, 8, 11)])

# ---------------------------------------------------------------------------------------
# normalization (batch_norm outputs: y, then the running stats after the update)
case("batch_norm_train_4d", "(F.batch_norm(x0, x1, x2, x3, x4, training=True, momentum=0.1, eps=1e-5), x1, x2)",
     lambda g: [g.n(3, 2, 3, 4), g.n(2), g.u(0.5, 2, 2), g.n(2), g.n(2)], grad=[0, 3, 4])
case("batch_norm_train_2d", "(F.batch_norm(x0, x1, x2, x3, x4, training=True, momentum=0.3, eps=1e-3), x1, x2)",
     lambda g: [g.n(5, 3), g.n(3), g.u(0.5, 2, 3), g.n(3), g.n(3)], grad=[0, 3, 4])
case("batch_norm_train_3d_no_affine", "(F.batch_norm(x0, x1, x2, training=True), x1, x2)",
     lambda g: [g.n(2, 3, 4), g.n(3), g.u(0.5, 2, 3)], grad=[0])
case("batch_norm_eval_4d", "F.batch_norm(x0, x1, x2, x3, x4, training=False)",
     lambda g: [g.n(2, 3, 2, 2), g.n(3), g.u(0.5, 2, 3), g.n(3), g.n(3)], grad=[0, 3, 4])
case("batch_norm_eval_2d_no_affine", "F.batch_norm(x0, x1, x2, training=False, eps=0.1)",
     lambda g: [g.n(4, 3), g.n(3), g.u(0.5, 2, 3)], grad=[0])
case("batch_norm_train_f32", "(F.batch_norm(x0, x1, x2, x3, x4, training=True), x1, x2)",
     lambda g: [g.n(4, 3, 3, 3) * 2 + 1, g.n(3), g.u(0.5, 2, 3), g.n(3), g.n(3)], grad=[0, 3, 4], f32=True)
case("layer_norm_last", "F.layer_norm(x0, (4,), x1, x2)", lambda g: [g.n(3, 4), g.n(4), g.n(4)])
case("layer_norm_two_dims", "F.layer_norm(x0, (3, 4), x1, x2, eps=1e-3)",
     lambda g: [g.n(2, 3, 4), g.n(3, 4), g.n(3, 4)])
case("layer_norm_no_affine", "F.layer_norm(x0, (5,))", lambda g: [g.n(2, 3, 5)])
case("layer_norm_f32", "F.layer_norm(x0, (16,), x1, x2)",
     lambda g: [g.n(4, 16) * 3 + 2, g.n(16), g.n(16)], f32=True)
case("group_norm_affine", "F.group_norm(x0, 2, x1, x2)", lambda g: [g.n(2, 4, 3, 2), g.n(4), g.n(4)])
case("group_norm_no_affine_3d", "F.group_norm(x0, 3, eps=1e-3)", lambda g: [g.n(2, 6, 4)])
case("group_norm_one_group", "F.group_norm(x0, 1, x1, x2)", lambda g: [g.n(2, 3, 5), g.n(3), g.n(3)])
case("group_norm_per_channel", "F.group_norm(x0, 4, x1, x2)", lambda g: [g.n(2, 4, 2, 3), g.n(4), g.n(4)])
case("dropout_eval", "F.dropout(x0, 0.5, training=False)", lambda g: [g.n(3, 4)])
case("dropout_p0", "F.dropout(x0, 0.0, training=True)", lambda g: [g.n(3, 4)])
case("embedding", "F.embedding(x1, x0)", lambda g: [g.n(6, 3), g.i(0, 6, 2, 4)])
case("embedding_repeated", "F.embedding(x1, x0)", lambda g: [g.n(4, 2), np.array([1, 3, 1, 1, 0], dtype=np.int64)])
case("embedding_padding_idx", "F.embedding(x1, x0, padding_idx=2)",
     lambda g: [g.n(5, 3), np.array([[2, 0, 2], [4, 2, 1]], dtype=np.int64)])

# ---------------------------------------------------------------------------------------
# shape and indexing
case("reshape", "torch.reshape(x0, (4, 3))", lambda g: [g.n(2, 6)])
case("permute", "torch.permute(x0, (2, 0, 1))", lambda g: [g.n(2, 3, 4)])
case("transpose", "torch.transpose(x0, 0, 2)", lambda g: [g.n(2, 3, 4)])
case("squeeze_all", "torch.squeeze(x0)", lambda g: [g.n(1, 3, 1, 2)])
case("squeeze_dim", "torch.squeeze(x0, 2)", lambda g: [g.n(1, 3, 1, 2)])
case("unsqueeze", "torch.unsqueeze(x0, -1)", lambda g: [g.n(2, 3)])
case("flatten", "torch.flatten(x0, 1, 2)", lambda g: [g.n(2, 3, 4, 2)])
case("expand", "x0.expand(2, 3, 4)", lambda g: [g.n(3, 1)])
case("index_select_dim0", "torch.index_select(x0, 0, x1)",
     lambda g: [g.n(4, 3), np.array([3, 0, 3, 1], dtype=np.int64)])
case("index_select_dim1", "torch.index_select(x0, 1, x1)",
     lambda g: [g.n(2, 5, 2), np.array([4, 4, 0], dtype=np.int64)])
case("gather_dim0", "torch.gather(x0, 0, x1)", lambda g: [g.n(3, 4), g.i(0, 3, 2, 4)])
case("gather_dim1_smaller_index", "torch.gather(x0, 1, x1)", lambda g: [g.n(3, 5), g.i(0, 5, 2, 3)])
case("gather_3d", "torch.gather(x0, -1, x1)", lambda g: [g.n(2, 3, 4), g.i(0, 4, 2, 3, 6)])
case("scatter_add_dim0", "torch.scatter_add(x0, 0, x1, x2)",
     lambda g: [g.n(3, 4), g.i(0, 3, 2, 4), g.n(2, 4)])
case("scatter_add_dim1_smaller", "torch.scatter_add(x0, 1, x1, x2)",
     lambda g: [g.n(2, 5), g.i(0, 5, 2, 3), g.n(2, 3)])
case("masked_fill", "torch.masked_fill(x0, x1, -1.5)", lambda g: [g.n(3, 4), g.b(3, 4)])
case("masked_fill_broadcast", "torch.masked_fill(x0, x1, 2.0)", lambda g: [g.n(2, 3, 4), g.b(3, 1)])
case("masked_fill_neg_inf", "torch.masked_fill(x0, x1, float('-inf'))", lambda g: [g.n(3, 4), g.b(3, 4)])
case("cat_dim0", "torch.cat([x0, x1, x2], 0)", lambda g: [g.n(2, 3), g.n(1, 3), g.n(3, 3)])
case("cat_dim1", "torch.cat([x0, x1], 1)", lambda g: [g.n(2, 3, 2), g.n(2, 1, 2)])
case("cat_neg_dim", "torch.cat([x0, x1], -1)", lambda g: [g.n(2, 3), g.n(2, 2)])
case("cat_single", "torch.cat([x0], 0)", lambda g: [g.n(2, 3)])
case("cat_int", "torch.cat([x0, x1], 0)", lambda g: [g.i(0, 9, 2, 2), g.i(0, 9, 1, 2)])
case("stack_dim0", "torch.stack([x0, x1, x2], 0)", lambda g: [g.n(2, 3), g.n(2, 3), g.n(2, 3)])
case("stack_dim_last", "torch.stack([x0, x1], -1)", lambda g: [g.n(2, 3), g.n(2, 3)])
case("stack_dim1", "torch.stack([x0, x1], 1)", lambda g: [g.n(2, 3), g.n(2, 3)])
case("split_size_even", "torch.split(x0, 2, 0)", lambda g: [g.n(4, 3)])
case("split_size_uneven", "torch.split(x0, 2, 1)", lambda g: [g.n(2, 5)])
case("split_sizes", "torch.split(x0, [1, 3, 1], -1)", lambda g: [g.n(2, 5)])
case("chunk_even", "torch.chunk(x0, 3, 0)", lambda g: [g.n(6, 2)])
case("chunk_uneven", "torch.chunk(x0, 3, 1)", lambda g: [g.n(2, 5)])
case("chunk_fewer", "torch.chunk(x0, 4, 1)", lambda g: [g.n(2, 6)])
case("pad_constant_1d", "F.pad(x0, (1, 2))", lambda g: [g.n(2, 3)])
case("pad_constant_value", "F.pad(x0, (1, 0, 2, 1), value=1.5)", lambda g: [g.n(2, 3, 4)])
case("pad_constant_3dims", "F.pad(x0, (1, 1, 0, 2, 1, 0))", lambda g: [g.n(2, 3, 2)])
case("pad_constant_negative", "F.pad(x0, (-1, 2, 1, -1))", lambda g: [g.n(3, 4)])
case("pad_reflect_1d", "F.pad(x0, (2, 1), mode='reflect')", lambda g: [g.n(2, 3, 4)])
case("pad_reflect_2d", "F.pad(x0, (1, 2, 2, 1), mode='reflect')", lambda g: [g.n(1, 2, 3, 4)])
case("pad_replicate_1d", "F.pad(x0, (2, 3), mode='replicate')", lambda g: [g.n(2, 2, 3)])
case("pad_replicate_2d", "F.pad(x0, (1, 2, 3, 0), mode='replicate')", lambda g: [g.n(1, 2, 3, 3)])
case("pad_circular_1d", "F.pad(x0, (2, 1), mode='circular')", lambda g: [g.n(1, 2, 4)])
case("pad_circular_2d", "F.pad(x0, (1, 2, 2, 1), mode='circular')", lambda g: [g.n(1, 2, 3, 4)])
case("one_hot", "F.one_hot(x0, 5)", lambda g: [np.array([0, 4, 2, 2], dtype=np.int64)])
case("one_hot_infer_classes", "F.one_hot(x0)", lambda g: [np.array([[1, 3], [0, 1]], dtype=np.int64)])
case("topk_largest", "torch.topk(x0, 3)", lambda g: [g.distinct(3, 6)])
case("topk_smallest_dim0", "torch.topk(x0, 2, 0, largest=False)", lambda g: [g.distinct(4, 3)])
case("topk_k1", "torch.topk(x0, 1, 1)", lambda g: [g.distinct(2, 5, 2)])
case("sort_ascending", "torch.sort(x0)", lambda g: [g.distinct(3, 5)])
case("sort_descending_dim0", "torch.sort(x0, 0, descending=True)", lambda g: [g.distinct(4, 3)])
case("sort_3d_dim1", "torch.sort(x0, 1)", lambda g: [g.distinct(2, 4, 3)])

# ---------------------------------------------------------------------------------------
# special values: NaN / inf propagation, the derivative PyTorch picks at kinks, empty tensors.
# (grad=[]: forward only, where PyTorch's gradient is NaN or inf by construction)
nan, inf = float("nan"), float("inf")
case("special_unary_domain", "(torch.log(x0), torch.sqrt(x0), torch.rsqrt(x0), torch.log1p(x0 - 1))",
     lambda g: [np.array([0.0, -1.0, inf, nan, 1e-300])], grad=[])
case("special_exp_overflow", "(torch.exp(x0), torch.sigmoid(x0), torch.tanh(x0), F.softplus(x0), F.silu(x0))",
     lambda g: [np.array([-800.0, -40.0, 0.0, 40.0, 800.0, -inf, inf, nan])], grad=[])
case("special_gelu_extremes", "(F.gelu(x0), F.gelu(x0, approximate='tanh'))",
     lambda g: [np.array([-40.0, -8.0, 8.0, 40.0, -inf, inf, nan])], grad=[])
case("special_div_by_zero", "(x0 / x1, torch.pow(x0, -1.0))",
     lambda g: [np.array([1.0, -1.0, 0.0, 2.0]), np.array([0.0, 0.0, 0.0, inf])], grad=[])
case("special_nan_propagation",
     "(torch.relu(x0), torch.clamp(x0, -0.5, 0.5), torch.maximum(x0, x1), torch.minimum(x0, x1),"
     " torch.abs(x0), F.leaky_relu(x0))",
     lambda g: [np.array([nan, 1.0, -1.0, nan, inf, -inf]), np.array([0.0, nan, 0.0, nan, 1.0, 1.0])],
     grad=[])
case("special_log1p_tiny", "torch.log1p(x0)", lambda g: [np.array([1e-20, -1e-20, 1e-10, 3e-17])])
case("kink_abs_relu_at_zero", "(torch.abs(x0), torch.relu(x0), F.leaky_relu(x0, 0.1), torch.sign(x0))",
     lambda g: [np.array([0.0, -0.0, 1.0, -1.0])])
case("kink_clamp_at_bounds", "torch.clamp(x0, -0.5, 0.5)", lambda g: [np.array([-0.5, 0.5, 0.0, -1.0, 1.0])])
case("kink_pow_zero_base", "(torch.pow(x0, x1), torch.pow(x0, 2.0), torch.pow(x0, 0.0))",
     lambda g: [np.array([0.0, 0.0, 2.0, 0.0]), np.array([2.0, 0.0, 0.0, 1.0])])
case("kink_norm_zero_vector", "(torch.norm(x0, 2, [1]), torch.norm(x0, 1, [1]))",
     lambda g: [np.array([[0.0, 0.0, 0.0], [3.0, 0.0, -4.0]])])
case("kink_sqrt_at_zero", "torch.sqrt(x0)", lambda g: [np.array([0.0, 4.0])])
case("nan_max_reductions",
     "(torch.amax(x0, [1]), torch.amin(x0, [1]), torch.max(x0, 1)[0], torch.max(x0, 1)[1], torch.argmax(x0, 1),"
     " torch.argmin(x0, 1), torch.max(x0))",
     lambda g: [np.array([[1.0, nan, 3.0], [2.0, 5.0, -1.0], [nan, 0.0, nan]])], grad=[])
case("nan_sum_softmax", "(torch.sum(x0, [1]), torch.softmax(x0, 1), torch.logsumexp(x0, [1]), torch.cumsum(x0, 1))",
     lambda g: [np.array([[1.0, nan, 3.0], [2.0, 5.0, -1.0]])], grad=[])
case("inf_softmax_masked", "(torch.softmax(x0, -1), torch.log_softmax(x0, -1)[:, :2], torch.logsumexp(x0, [1]))",
     lambda g: [np.array([[0.5, 1.5, -inf, -inf], [-1.0, 2.0, 0.0, -inf]])])
case("inf_softmax_all_masked", "(torch.softmax(x0, -1), torch.log_softmax(x0, -1), torch.logsumexp(x0, [1]))",
     lambda g: [np.array([[-inf, -inf, -inf], [0.0, -inf, 1.0]])], grad=[])
case("inf_logsumexp_pos_inf", "torch.logsumexp(x0, [1])", lambda g: [np.array([[inf, 1.0], [inf, inf], [-inf, 0.0]])],
     grad=[])
case("nan_sort_topk", "(*torch.sort(x0, 1), *torch.sort(x0, 1, descending=True), *torch.topk(x0, 2, 1))",
     lambda g: [np.array([[3.0, nan, 1.0, 2.0], [0.5, -inf, inf, -1.0]])], grad=[])
case("empty_reductions", "(torch.sum(x0, [1]), torch.mean(x0, [1]), torch.prod(x0, 1), torch.sum(x0))",
     lambda g: [np.zeros((2, 0))])
case("empty_matmul_k0", "torch.matmul(x0, x1)", lambda g: [np.zeros((2, 0)), np.zeros((0, 3))])
case("empty_batch_linear", "F.linear(x0, x1, x2)", lambda g: [np.zeros((0, 3)), g.n(2, 3), g.n(2)])
case("empty_cat", "torch.cat([x0, x1, x2], 0)", lambda g: [g.n(2, 3), np.zeros((0, 3)), g.n(1, 3)])
case("empty_elementwise", "(x0 * x1, torch.exp(x0), torch.softmax(x0, 0))",
     lambda g: [np.zeros((0, 3)), g.n(3)])

# ---------------------------------------------------------------------------------------
# losses. Inputs: x0 = prediction, x1 = target, then weight / pos_weight.
def logits(g, *shape):
    return g.n(*shape) * 2


def probs(g, *shape, dim=1):
    p = np.exp(g.n(*shape))
    return p / p.sum(axis=dim, keepdims=True)


for red in ["mean", "sum", "none"]:
    case(f"cross_entropy_{red}", f"F.cross_entropy(x0, x1, reduction='{red}')",
         lambda g: [logits(g, 4, 5), g.i(0, 5, 4)])
    case(f"cross_entropy_weight_ignore_{red}",
         f"F.cross_entropy(x0, x1, x2, ignore_index=1, reduction='{red}')",
         lambda g: [logits(g, 6, 4), np.array([0, 1, 3, 2, 1, 3], dtype=np.int64), g.u(0.5, 2, 4)],
         grad=[0])
    case(f"cross_entropy_smoothing_{red}",
         f"F.cross_entropy(x0, x1, x2, ignore_index=2, reduction='{red}', label_smoothing=0.2)",
         lambda g: [logits(g, 5, 4), np.array([0, 2, 3, 1, 3], dtype=np.int64), g.u(0.5, 2, 4)],
         grad=[0])
    case(f"cross_entropy_probs_{red}", f"F.cross_entropy(x0, x1, reduction='{red}')",
         lambda g: [logits(g, 4, 5), probs(g, 4, 5)])
    case(f"nll_loss_{red}", f"F.nll_loss(x0, x1, reduction='{red}')",
         lambda g: [np.log(probs(g, 4, 5)), g.i(0, 5, 4)])
    case(f"nll_loss_weight_ignore_{red}", f"F.nll_loss(x0, x1, x2, ignore_index=0, reduction='{red}')",
         lambda g: [np.log(probs(g, 6, 3)), np.array([0, 1, 2, 2, 0, 1], dtype=np.int64), g.u(0.5, 2, 3)],
         grad=[0])
    case(f"mse_loss_{red}", f"F.mse_loss(x0, x1, reduction='{red}')", lambda g: [g.n(3, 4), g.n(3, 4)])
    case(f"l1_loss_{red}", f"F.l1_loss(x0, x1, reduction='{red}')", lambda g: [g.n(3, 4), g.n(3, 4)])
    case(f"smooth_l1_loss_{red}", f"F.smooth_l1_loss(x0, x1, reduction='{red}')",
         lambda g: [g.n(3, 4) * 2, g.n(3, 4)])
    case(f"bce_with_logits_{red}", f"F.binary_cross_entropy_with_logits(x0, x1, reduction='{red}')",
         lambda g: [logits(g, 3, 4), g.u(0, 1, 3, 4)])
    case(f"bce_with_logits_weights_{red}",
         f"F.binary_cross_entropy_with_logits(x0, x1, x2, pos_weight=x3, reduction='{red}')",
         lambda g: [logits(g, 3, 4), g.u(0, 1, 3, 4), g.u(0.5, 2, 3, 1), g.u(0.5, 3, 4)],
         grad=[0, 1])
case("cross_entropy_kdim", "F.cross_entropy(x0, x1)", lambda g: [logits(g, 2, 3, 2, 2), g.i(0, 3, 2, 2, 2)])
case("cross_entropy_kdim_weight_ignore_none", "F.cross_entropy(x0, x1, x2, ignore_index=0, reduction='none')",
     lambda g: [logits(g, 2, 3, 4), g.i(0, 3, 2, 4), g.u(0.5, 2, 3)], grad=[0])
case("cross_entropy_kdim_probs", "F.cross_entropy(x0, x1, label_smoothing=0.1)",
     lambda g: [logits(g, 2, 3, 4), probs(g, 2, 3, 4)])
case("cross_entropy_probs_weight_smoothing",
     "F.cross_entropy(x0, x1, x2, label_smoothing=0.3)",
     lambda g: [logits(g, 4, 3), probs(g, 4, 3), g.u(0.5, 2, 3)], grad=[0, 1])
case("cross_entropy_1d_input", "F.cross_entropy(x0, x1)", lambda g: [logits(g, 5), np.array(3, dtype=np.int64)])
case("cross_entropy_all_ignored", "F.cross_entropy(x0, x1, ignore_index=1)",
     lambda g: [logits(g, 2, 3), np.array([1, 1], dtype=np.int64)])
case("cross_entropy_f32", "F.cross_entropy(x0, x1)", lambda g: [logits(g, 8, 10), g.i(0, 10, 8)], f32=True)
case("nll_loss_kdim", "F.nll_loss(x0, x1)", lambda g: [np.log(probs(g, 2, 3, 4)), g.i(0, 3, 2, 4)])
case("smooth_l1_loss_beta", "F.smooth_l1_loss(x0, x1, beta=0.5)", lambda g: [g.n(3, 4), g.n(3, 4)])
case("smooth_l1_loss_beta0", "F.smooth_l1_loss(x0, x1, beta=0.0)", lambda g: [g.n(3, 4), g.n(3, 4)])
case("mse_loss_f32", "F.mse_loss(x0, x1)", lambda g: [g.n(4, 8), g.n(4, 8)], f32=True)
case("bce_with_logits_extreme", "F.binary_cross_entropy_with_logits(x0, x1)",
     lambda g: [np.array([-200.0, -30.0, 0.0, 30.0, 200.0]), g.u(0, 1, 5)])


# ---------------------------------------------------------------------------------------
def as_list(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def dense(x, grad):
    """A gradient as a NumPy array: zeros for None and for PyTorch's ZeroTensors (some
    backward formulas return those; they have no storage, so .numpy() would read garbage)."""
    if grad is None or grad._is_zerotensor():
        return torch.zeros_like(x).detach().numpy().copy()
    return grad.detach().numpy().copy()


def run_case(name, expr, inputs, grad, g):
    xs = [torch.from_numpy(a.copy()) for a in inputs]
    for i in grad:
        xs[i].requires_grad_(True)
    env = {f"x{i}": x for i, x in enumerate(xs)}
    env.update(torch=torch, F=F)
    outs = as_list(eval(expr, env))
    files = {}
    for i, a in enumerate(inputs):
        files[f"in_{i}"] = a
    total = None
    for k, y in enumerate(outs):
        files[f"out_{k}"] = y.detach().numpy().copy()
        if y.requires_grad:
            w = g.n(*y.shape).astype(files[f"out_{k}"].dtype)
            files[f"w_{k}"] = w
            term = (y * torch.from_numpy(w)).sum()
            total = term if total is None else total + term
    if total is None:  # a non-differentiable op (comparisons, argmax, one_hot, ...)
        grad = []
    if grad:
        gs = torch.autograd.grad(total, [xs[i] for i in grad], allow_unused=True,
                                 create_graph=name in SECOND_ORDER)
        for i, gi in zip(grad, gs):
            files[f"grad_{i}"] = dense(xs[i], gi)
        if name in SECOND_ORDER:
            total2 = None
            for i, gi in zip(grad, gs):
                v = g.n(*xs[i].shape).astype(files[f"grad_{i}"].dtype)
                files[f"v_{i}"] = v
                if gi is not None and gi.requires_grad:
                    term = (gi * torch.from_numpy(v)).sum()
                    total2 = term if total2 is None else total2 + term
            ggs = [None] * len(grad)
            if total2 is not None:
                ggs = torch.autograd.grad(total2, [xs[i] for i in grad], allow_unused=True)
            for i, ggi in zip(grad, ggs):
                files[f"gg_{i}"] = dense(xs[i], ggi)
    def sig(a):
        return f"{a.dtype}{list(a.shape)}".replace(" ", "")

    entry = {
        "expr": expr,
        "inputs": [sig(a) + (" grad" if i in grad else "") for i, a in enumerate(inputs)],
        "outputs": [sig(files[f"out_{k}"]) + (" weighted" if f"w_{k}" in files else "")
                    for k in range(len(outs))],
    }
    if name in SECOND_ORDER:
        entry["second_order"] = True
    return files, entry


def main():
    if os.path.isdir(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    manifest = {"generator": "tests/reference/gen_reference.py", "torch": torch.__version__, "cases": {}}
    assert SECOND_ORDER <= {c[0] for c in CASES}, SECOND_ORDER - {c[0] for c in CASES}
    for name, expr, inputs, grad, g in CASES:
        files, entry = run_case(name, expr, inputs, grad, g)
        os.makedirs(os.path.join(OUT_DIR, name))
        for fname, arr in files.items():
            np.save(os.path.join(OUT_DIR, name, fname + ".npy"), np.array(arr, order="C"))
        manifest["cases"][name] = entry
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:  # one line per case
        f.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
                                    for k, v in manifest.items() if k != "cases"))
        f.write(',\n"cases": {\n' + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}"
                                              for k, v in manifest["cases"].items()))
        f.write("\n}}\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT_DIR) for f in fs)
    print(f"{len(CASES)} cases, {total / 1024:.0f} KiB in {os.path.relpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
