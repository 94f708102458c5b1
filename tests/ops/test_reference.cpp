// Every op against PyTorch 1.13: outputs and gradients from tests/data/reference/<case>/,
// written by tests/reference/gen_reference.py (its header describes the files; the case's
// PyTorch expression is in tests/data/reference/manifest.json).
//
// Each case below runs the same op in tandem on in_*.npy, compares every out_*.npy, then
// compares the gradients of sum_k sum(out_k * w_k) with grad_*.npy (and, for the cases
// that have v_*.npy, the gradients of sum_i sum(grad_i * v_i) with gg_*.npy). It runs twice: on
// contiguous inputs and on non-contiguous copies of them (every other element of a buffer
// twice as long in the last dim). Adding a case: one line in gen_reference.py, regenerate,
// one line in the table here with the same name.
//
// Nothing is skipped: an op that throws, or disagrees with PyTorch, fails its case.
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "reference_case.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

using Outs = std::vector<Tensor>;

Outs outs(const Tensor& t) { return {t}; }
Outs outs(const std::pair<Tensor, Tensor>& p) { return {p.first, p.second}; }
Outs outs(const std::vector<Tensor>& v) { return v; }

const Tensor none;
constexpr double kInf = INFINITY;

// NOTE: the names match gen_reference.py; each expression mirrors the PyTorch one there.
#define REF(name, ...) \
  { name, [](const Tensors& x) { return outs(__VA_ARGS__); } }

std::map<std::string, ReferenceFn> make_cases() {
  std::map<std::string, ReferenceFn> m = {
      // ---- elementwise
      REF("add_broadcast", add(x[0], x[1], 2.5)),
      REF("add_scalar", x[0] + 2.5),
      REF("add_int_float", x[0] + x[1]),
      REF("sub_broadcast", sub(x[0], x[1], 0.5)),
      REF("rsub_scalar", 2.0 - x[0]),
      REF("mul_broadcast", x[0] * x[1]),
      REF("mul_scalar", x[0] * 3.0),
      REF("div_broadcast", x[0] / x[1]),
      REF("div_int", div(x[0], x[1])),
      REF("rdiv_scalar", 1.5 / x[0]),
      REF("neg", -x[0]),
      REF("pow_tensor", pow(x[0], x[1])),
      REF("pow_scalar", pow(x[0], 3.0)),
      REF("pow_scalar_frac", pow(x[0], 0.5)),
      REF("pow_scalar_neg", pow(x[0], -2.0)),
      REF("exp", exp(x[0])),
      REF("log", log(x[0])),
      REF("log1p", log1p(x[0])),
      REF("sqrt", sqrt(x[0])),
      REF("rsqrt", rsqrt(x[0])),
      REF("abs", abs(x[0])),
      REF("sign", sign(x[0])),
      REF("sin", sin(x[0])),
      REF("cos", cos(x[0])),
      REF("tanh", tanh(x[0])),
      REF("sigmoid", sigmoid(x[0])),
      REF("relu", relu(x[0])),
      REF("leaky_relu", leaky_relu(x[0], 0.2)),
      REF("leaky_relu_default", leaky_relu(x[0])),
      REF("gelu", gelu(x[0])),
      REF("gelu_tanh", gelu(x[0], "tanh")),
      REF("silu", silu(x[0])),
      REF("softplus", softplus(x[0])),
      REF("softplus_beta_threshold", softplus(x[0], 2.0, 3.0)),
      REF("clamp_both", clamp(x[0], -0.5, 0.7)),
      REF("clamp_min", clamp(x[0], 0.1, std::nullopt)),
      REF("clamp_max", clamp(x[0], std::nullopt, 0.1)),
      REF("minimum", minimum(x[0], x[1])),
      REF("maximum", maximum(x[0], x[1])),
      REF("maximum_ties", maximum(x[0], x[1])),
      REF("minimum_ties", minimum(x[0], x[1])),
      REF("where", where(x[0], x[1], x[2])),
      REF("where_broadcast_cond", where(x[0], x[1], x[2])),
      REF("eq", eq(x[0], x[1])),
      REF("ne", ne(x[0], x[1])),
      REF("lt", lt(x[0], x[1])),
      REF("le", le(x[0], x[1])),
      REF("gt", gt(x[0], x[1])),
      REF("ge", ge(x[0], x[1])),
      REF("eq_int", x[0] == x[1]),
      REF("lt_int_float", x[0] < x[1]),
      REF("logical_and", logical_and(x[0], x[1])),
      REF("logical_or", logical_or(x[0], x[1])),
      REF("logical_xor", logical_xor(x[0], x[1])),
      REF("logical_and_float", x[0] && x[1]),
      REF("logical_not", logical_not(x[0])),
      REF("logical_not_float", !x[0]),
      REF("add_f32", add(x[0], x[1])),
      REF("gelu_f32", gelu(x[0])),
      REF("gelu_tanh_f32", gelu(x[0], "tanh")),
      REF("exp_f32", exp(x[0])),

      // ---- reductions
      REF("sum_all", sum(x[0])),
      REF("sum_dims_keepdim", sum(x[0], {0, 2}, true)),
      REF("sum_neg_dim", sum(x[0], {-1})),
      REF("mean_all", mean(x[0])),
      REF("mean_dim", mean(x[0], {1})),
      REF("mean_dims_keepdim", mean(x[0], {0, 2}, true)),
      REF("prod_all", prod(x[0])),
      REF("prod_dim", prod(x[0], {1})),
      REF("prod_dim_one_zero", prod(x[0], {1})),
      REF("prod_dim_two_zeros", prod(x[0], {1})),
      REF("amax_dim", amax(x[0], {1})),
      REF("amax_dims_keepdim", amax(x[0], {0, 2}, true)),
      REF("amax_ties", amax(x[0], {1})),
      REF("amin_dim", amin(x[0], {0})),
      REF("amin_ties", amin(x[0], {1})),
      REF("max_all", max(x[0])),
      REF("max_all_ties", max(x[0])),
      REF("min_all", min(x[0])),
      REF("max_dim", max(x[0], 1)),
      REF("max_dim_keepdim", max(x[0], 0, true)),
      REF("min_dim", min(x[0], -1)),
      REF("argmax_all", argmax(x[0])),
      REF("argmax_dim", argmax(x[0], 1)),
      REF("argmax_dim_keepdim", argmax(x[0], 0, true)),
      REF("argmin_dim", argmin(x[0], -1)),
      REF("argmax_ties_first", argmax(x[0], 1)),
      REF("var_all", var(x[0])),
      REF("var_dim_unbiased", var(x[0], {1})),
      REF("var_dims_correction0_keepdim", var(x[0], {0, 2}, 0, true)),
      REF("var_correction2", var(x[0], {1}, 2)),
      REF("std_all", tandem::std(x[0])),
      REF("std_dim_correction0", tandem::std(x[0], {1}, 0)),
      REF("std_dims_keepdim", tandem::std(x[0], {0, 2}, 1, true)),
      REF("logsumexp_dim", logsumexp(x[0], {1})),
      REF("logsumexp_dims_keepdim", logsumexp(x[0], {0, 2}, true)),
      REF("logsumexp_large", logsumexp(x[0], {1})),
      REF("norm_2_all", norm(x[0])),
      REF("norm_1_dim", norm(x[0], 1, {1})),
      REF("norm_3_dim_keepdim", norm(x[0], 3, {0}, true)),
      REF("norm_inf_dim", norm(x[0], kInf, {1})),
      REF("norm_2_dims", norm(x[0], 2, {0, 2})),
      REF("softmax_last", softmax(x[0], -1)),
      REF("softmax_dim0", softmax(x[0], 0)),
      REF("softmax_large", softmax(x[0], 1)),
      REF("log_softmax_last", log_softmax(x[0], -1)),
      REF("log_softmax_dim1", log_softmax(x[0], 1)),
      REF("log_softmax_large", log_softmax(x[0], 1)),
      REF("cumsum_dim0", cumsum(x[0], 0)),
      REF("cumsum_last", cumsum(x[0], -1)),
      REF("sum_f32", sum(x[0], {1})),
      REF("softmax_f32", softmax(x[0], -1)),
      REF("log_softmax_f32", log_softmax(x[0], -1)),
      REF("var_f32", var(x[0], {1})),

      // ---- linear algebra
      REF("matmul_1d_1d", matmul(x[0], x[1])),
      REF("matmul_1d_2d", matmul(x[0], x[1])),
      REF("matmul_2d_1d", matmul(x[0], x[1])),
      REF("matmul_2d_2d", matmul(x[0], x[1])),
      REF("matmul_3d_1d", matmul(x[0], x[1])),
      REF("matmul_1d_3d", matmul(x[0], x[1])),
      REF("matmul_3d_2d", matmul(x[0], x[1])),
      REF("matmul_2d_3d", matmul(x[0], x[1])),
      REF("matmul_batch_broadcast", matmul(x[0], x[1])),
      REF("matmul_4d_4d", matmul(x[0], x[1])),
      REF("matmul_f32", matmul(x[0], x[1])),
      REF("linear_bias", linear(x[0], x[1], x[2])),
      REF("linear_no_bias", linear(x[0], x[1])),
      REF("linear_3d", linear(x[0], x[1], x[2])),
      REF("linear_1d", linear(x[0], x[1], x[2])),
      REF("linear_f32", linear(x[0], x[1], x[2])),
      REF("bmm", bmm(x[0], x[1])),
      REF("outer", outer(x[0], x[1])),

      // ---- convolutions
      REF("conv1d_basic", conv1d(x[0], x[1], x[2])),
      REF("conv1d_stride_pad_dil", conv1d(x[0], x[1], x[2], 2, 2, 2)),
      REF("conv1d_groups_no_bias", conv1d(x[0], x[1], none, 1, 1, 1, 2)),
      REF("conv2d_basic", conv2d(x[0], x[1], x[2])),
      REF("conv2d_no_bias", conv2d(x[0], x[1])),
      REF("conv2d_stride2_pad1", conv2d(x[0], x[1], x[2], {2, 2}, {1, 1})),
      REF("conv2d_asym", conv2d(x[0], x[1], x[2], {1, 2}, {2, 0}, {1, 2})),
      REF("conv2d_dilation2", conv2d(x[0], x[1], x[2], {1, 1}, {0, 0}, {2, 2})),
      REF("conv2d_groups2", conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 2)),
      REF("conv2d_depthwise", conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 3)),
      REF("conv2d_1x1", conv2d(x[0], x[1], x[2])),
      REF("conv2d_f32", conv2d(x[0], x[1], x[2], {1, 1}, {1, 1})),
      REF("conv_transpose2d_basic", conv_transpose2d(x[0], x[1], x[2])),
      REF("conv_transpose2d_stride2_pad1_outpad1",
          conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1})),
      REF("conv_transpose2d_groups_dilation",
          conv_transpose2d(x[0], x[1], none, {2, 1}, {0, 1}, {0, 0}, 2, {1, 2})),
      REF("conv_transpose2d_f32", conv_transpose2d(x[0], x[1], x[2], {2, 2})),

      // ---- pooling
      REF("max_pool2d_basic", max_pool2d(x[0], {2, 2})),
      REF("max_pool2d_stride1", max_pool2d(x[0], {3, 3}, {1, 1})),
      REF("max_pool2d_pad_dil", max_pool2d(x[0], {3, 2}, {2, 1}, {1, 1}, {1, 2})),
      REF("max_pool2d_ceil", max_pool2d(x[0], {2, 2}, {2, 2}, {0, 0}, {1, 1}, true)),
      REF("max_pool2d_ceil_pad", max_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true)),
      REF("max_pool2d_3d_input", max_pool2d(x[0], {2, 2})),
      REF("max_pool2d_f32", max_pool2d(x[0], {2, 2})),
      REF("avg_pool2d_basic", avg_pool2d(x[0], {2, 2})),
      REF("avg_pool2d_pad", avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1})),
      REF("avg_pool2d_pad_exclude", avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, false, false)),
      REF("avg_pool2d_ceil", avg_pool2d(x[0], {2, 2}, {2, 2}, {0, 0}, true)),
      REF("avg_pool2d_ceil_pad", avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true)),
      REF("avg_pool2d_ceil_pad_exclude", avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true, false)),
      REF("avg_pool2d_rect", avg_pool2d(x[0], {2, 3}, {1, 2})),
      REF("adaptive_avg_pool2d_divisible", adaptive_avg_pool2d(x[0], {2, 3})),
      REF("adaptive_avg_pool2d_uneven", adaptive_avg_pool2d(x[0], {3, 4})),
      REF("adaptive_avg_pool2d_global", adaptive_avg_pool2d(x[0], {1, 1})),
      REF("adaptive_avg_pool2d_upsample", adaptive_avg_pool2d(x[0], {4, 3})),
      REF("adaptive_avg_pool2d_3d_input", adaptive_avg_pool2d(x[0], {2, 2})),
      REF("interpolate_nearest_scale2", interpolate(x[0], {.scale_factor = {2.0}})),
      REF("interpolate_nearest_size", interpolate(x[0], {.size = {5, 7}})),
      REF("interpolate_nearest_down_f32", interpolate(x[0], {.size = {6, 4}})),
      REF("interpolate_nearest_scale_frac", interpolate(x[0], {.scale_factor = {1.7, 0.6}})),
      REF("interpolate_nearest_exact", interpolate(x[0], {.size = {3, 8}, .mode = "nearest-exact"})),
      REF("interpolate_nearest_5d", interpolate(x[0], {.scale_factor = {2.0, 1.0, 3.0}})),
      REF("interpolate_linear_1d", interpolate(x[0], {.size = {8}, .mode = "linear"})),
      REF("interpolate_linear_1d_align",
          interpolate(x[0], {.size = {4}, .mode = "linear", .align_corners = true})),
      REF("interpolate_bilinear_scale", interpolate(x[0], {.scale_factor = {2.5}, .mode = "bilinear"})),
      REF("interpolate_bilinear_align",
          interpolate(x[0], {.size = {5, 6}, .mode = "bilinear", .align_corners = true})),
      REF("interpolate_bilinear_down", interpolate(x[0], {.size = {2, 3}, .mode = "bilinear"})),
      REF("interpolate_bilinear_recompute",
          interpolate(x[0], {.scale_factor = {1.7}, .mode = "bilinear", .recompute_scale_factor = true})),
      REF("interpolate_bilinear_f32", interpolate(x[0], {.scale_factor = {1.5, 3.0}, .mode = "bilinear"})),
      REF("interpolate_bicubic", interpolate(x[0], {.size = {6, 5}, .mode = "bicubic"})),
      REF("interpolate_bicubic_align_down",
          interpolate(x[0], {.size = {3, 4}, .mode = "bicubic", .align_corners = true})),
      REF("interpolate_trilinear", interpolate(x[0], {.scale_factor = {2.0}, .mode = "trilinear"})),
      REF("interpolate_area", interpolate(x[0], {.size = {3, 4}, .mode = "area"})),
      REF("interpolate_area_1d", interpolate(x[0], {.scale_factor = {0.5}, .mode = "area"})),
      REF("interpolate_bilinear_aa_down",
          interpolate(x[0], {.size = {3, 4}, .mode = "bilinear", .antialias = true})),
      REF("interpolate_bilinear_aa_scale",
          interpolate(x[0], {.scale_factor = {0.3, 1.6}, .mode = "bilinear", .antialias = true})),
      REF("interpolate_bilinear_aa_align",
          interpolate(x[0], {.size = {4, 3}, .mode = "bilinear", .align_corners = true, .antialias = true})),
      REF("interpolate_bilinear_aa_f32",
          interpolate(x[0], {.size = {5, 3}, .mode = "bilinear", .antialias = true})),
      REF("interpolate_bicubic_aa_down",
          interpolate(x[0], {.size = {4, 3}, .mode = "bicubic", .antialias = true})),
      REF("interpolate_bicubic_aa_scale",
          interpolate(x[0], {.scale_factor = {0.45, 2.0}, .mode = "bicubic", .antialias = true})),
      REF("interpolate_bicubic_aa_align",
          interpolate(x[0], {.size = {3, 5}, .mode = "bicubic", .align_corners = true, .antialias = true})),

      // ---- normalization (training batch_norm also returns the updated running stats)
      REF("batch_norm_train_4d", Outs{batch_norm(x[0], x[1], x[2], x[3], x[4], true, 0.1, 1e-5), x[1], x[2]}),
      REF("batch_norm_train_2d", Outs{batch_norm(x[0], x[1], x[2], x[3], x[4], true, 0.3, 1e-3), x[1], x[2]}),
      REF("batch_norm_train_3d_no_affine", Outs{batch_norm(x[0], x[1], x[2], none, none, true), x[1], x[2]}),
      REF("batch_norm_eval_4d", batch_norm(x[0], x[1], x[2], x[3], x[4], false)),
      REF("batch_norm_eval_2d_no_affine", batch_norm(x[0], x[1], x[2], none, none, false, 0.1, 0.1)),
      REF("batch_norm_train_f32", Outs{batch_norm(x[0], x[1], x[2], x[3], x[4], true), x[1], x[2]}),
      REF("layer_norm_last", layer_norm(x[0], {4}, x[1], x[2])),
      REF("layer_norm_two_dims", layer_norm(x[0], {3, 4}, x[1], x[2], 1e-3)),
      REF("layer_norm_no_affine", layer_norm(x[0], {5})),
      REF("layer_norm_f32", layer_norm(x[0], {16}, x[1], x[2])),
      REF("group_norm_affine", group_norm(x[0], 2, x[1], x[2])),
      REF("group_norm_no_affine_3d", group_norm(x[0], 3, none, none, 1e-3)),
      REF("group_norm_one_group", group_norm(x[0], 1, x[1], x[2])),
      REF("group_norm_per_channel", group_norm(x[0], 4, x[1], x[2])),
      REF("dropout_eval", dropout(x[0], 0.5, false)),
      REF("dropout_p0", dropout(x[0], 0.0, true)),
      REF("embedding", embedding(x[0], x[1])),
      REF("embedding_repeated", embedding(x[0], x[1])),
      REF("embedding_padding_idx", embedding(x[0], x[1], 2)),

      // ---- shape and indexing
      REF("reshape", reshape(x[0], {4, 3})),
      REF("permute", permute(x[0], {2, 0, 1})),
      REF("transpose", transpose(x[0], 0, 2)),
      REF("squeeze_all", squeeze(x[0])),
      REF("squeeze_dim", squeeze(x[0], 2)),
      REF("unsqueeze", unsqueeze(x[0], -1)),
      REF("flatten", flatten(x[0], 1, 2)),
      REF("expand", expand(x[0], {2, 3, 4})),
      REF("index_select_dim0", index_select(x[0], 0, x[1])),
      REF("index_select_dim1", index_select(x[0], 1, x[1])),
      REF("gather_dim0", gather(x[0], 0, x[1])),
      REF("gather_dim1_smaller_index", gather(x[0], 1, x[1])),
      REF("gather_3d", gather(x[0], -1, x[1])),
      REF("scatter_add_dim0", scatter_add(x[0], 0, x[1], x[2])),
      REF("scatter_add_dim1_smaller", scatter_add(x[0], 1, x[1], x[2])),
      REF("masked_fill", masked_fill(x[0], x[1], -1.5)),
      REF("masked_fill_broadcast", masked_fill(x[0], x[1], 2.0)),
      REF("masked_fill_neg_inf", masked_fill(x[0], x[1], -kInf)),
      REF("cat_dim0", cat({x[0], x[1], x[2]}, 0)),
      REF("cat_dim1", cat({x[0], x[1]}, 1)),
      REF("cat_neg_dim", cat({x[0], x[1]}, -1)),
      REF("cat_single", cat({x[0]}, 0)),
      REF("cat_int", cat({x[0], x[1]}, 0)),
      REF("stack_dim0", stack({x[0], x[1], x[2]}, 0)),
      REF("stack_dim_last", stack({x[0], x[1]}, -1)),
      REF("stack_dim1", stack({x[0], x[1]}, 1)),
      REF("split_size_even", split(x[0], 2, 0)),
      REF("split_size_uneven", split(x[0], 2, 1)),
      REF("split_sizes", split(x[0], IntArray{1, 3, 1}, -1)),
      REF("chunk_even", chunk(x[0], 3, 0)),
      REF("chunk_uneven", chunk(x[0], 3, 1)),
      REF("chunk_fewer", chunk(x[0], 4, 1)),
      REF("pad_constant_1d", pad(x[0], {1, 2})),
      REF("pad_constant_value", pad(x[0], {1, 0, 2, 1}, "constant", 1.5)),
      REF("pad_constant_3dims", pad(x[0], {1, 1, 0, 2, 1, 0})),
      REF("pad_constant_negative", pad(x[0], {-1, 2, 1, -1})),
      REF("pad_reflect_1d", pad(x[0], {2, 1}, "reflect")),
      REF("pad_reflect_2d", pad(x[0], {1, 2, 2, 1}, "reflect")),
      REF("pad_replicate_1d", pad(x[0], {2, 3}, "replicate")),
      REF("pad_replicate_2d", pad(x[0], {1, 2, 3, 0}, "replicate")),
      REF("pad_circular_1d", pad(x[0], {2, 1}, "circular")),
      REF("pad_circular_2d", pad(x[0], {1, 2, 2, 1}, "circular")),
      REF("one_hot", one_hot(x[0], 5)),
      REF("one_hot_infer_classes", one_hot(x[0])),
      REF("topk_largest", topk(x[0], 3)),
      REF("topk_smallest_dim0", topk(x[0], 2, 0, false)),
      REF("topk_k1", topk(x[0], 1, 1)),
      REF("sort_ascending", sort(x[0])),
      REF("sort_descending_dim0", sort(x[0], 0, true)),
      REF("sort_3d_dim1", sort(x[0], 1)),

      // ---- special values: NaN / inf, PyTorch's derivative at kinks, empty tensors
      REF("special_unary_domain", Outs{log(x[0]), sqrt(x[0]), rsqrt(x[0]), log1p(x[0] - 1.0)}),
      REF("special_exp_overflow", Outs{exp(x[0]), sigmoid(x[0]), tanh(x[0]), softplus(x[0]), silu(x[0])}),
      REF("special_gelu_extremes", Outs{gelu(x[0]), gelu(x[0], "tanh")}),
      REF("special_div_by_zero", Outs{x[0] / x[1], pow(x[0], -1.0)}),
      REF("special_nan_propagation", Outs{relu(x[0]), clamp(x[0], -0.5, 0.5), maximum(x[0], x[1]),
                                          minimum(x[0], x[1]), abs(x[0]), leaky_relu(x[0])}),
      REF("special_log1p_tiny", log1p(x[0])),
      REF("kink_abs_relu_at_zero", Outs{abs(x[0]), relu(x[0]), leaky_relu(x[0], 0.1), sign(x[0])}),
      REF("kink_clamp_at_bounds", clamp(x[0], -0.5, 0.5)),
      REF("kink_pow_zero_base", Outs{pow(x[0], x[1]), pow(x[0], 2.0), pow(x[0], 0.0)}),
      REF("kink_norm_zero_vector", Outs{norm(x[0], 2, {1}), norm(x[0], 1, {1})}),
      REF("kink_sqrt_at_zero", sqrt(x[0])),
      REF("nan_max_reductions", Outs{amax(x[0], {1}), amin(x[0], {1}), max(x[0], 1).first, max(x[0], 1).second,
                                     argmax(x[0], 1), argmin(x[0], 1), max(x[0])}),
      REF("nan_sum_softmax", Outs{sum(x[0], {1}), softmax(x[0], 1), logsumexp(x[0], {1}), cumsum(x[0], 1)}),
      REF("inf_softmax_masked",
          Outs{softmax(x[0], -1), log_softmax(x[0], -1).slice(1, 0, 2), logsumexp(x[0], {1})}),
      REF("inf_softmax_all_masked", Outs{softmax(x[0], -1), log_softmax(x[0], -1), logsumexp(x[0], {1})}),
      REF("inf_logsumexp_pos_inf", logsumexp(x[0], {1})),
      REF("nan_sort_topk", [&] {
        auto [a, ai] = sort(x[0], 1);
        auto [d, di] = sort(x[0], 1, true);
        auto [t, ti] = topk(x[0], 2, 1);
        return Outs{a, ai, d, di, t, ti};
      }()),
      REF("empty_reductions", Outs{sum(x[0], {1}), mean(x[0], {1}), prod(x[0], {1}), sum(x[0])}),
      REF("empty_matmul_k0", matmul(x[0], x[1])),
      REF("empty_batch_linear", linear(x[0], x[1], x[2])),
      REF("empty_cat", cat({x[0], x[1], x[2]}, 0)),
      REF("empty_elementwise", Outs{x[0] * x[1], exp(x[0]), softmax(x[0], 0)}),

      // ---- losses: x[0] prediction, x[1] target, then weight / pos_weight
      REF("cross_entropy_kdim", cross_entropy(x[0], x[1])),
      REF("cross_entropy_kdim_weight_ignore_none", cross_entropy(x[0], x[1], x[2], 0, Reduction::None)),
      REF("cross_entropy_kdim_probs", cross_entropy(x[0], x[1], none, -100, Reduction::Mean, 0.1)),
      REF("cross_entropy_probs_weight_smoothing", cross_entropy(x[0], x[1], x[2], -100, Reduction::Mean, 0.3)),
      REF("cross_entropy_1d_input", cross_entropy(x[0], x[1])),
      REF("cross_entropy_all_ignored", cross_entropy(x[0], x[1], none, 1)),
      REF("cross_entropy_f32", cross_entropy(x[0], x[1])),
      REF("nll_loss_kdim", nll_loss(x[0], x[1])),
      REF("smooth_l1_loss_beta", smooth_l1_loss(x[0], x[1], Reduction::Mean, 0.5)),
      REF("smooth_l1_loss_beta0", smooth_l1_loss(x[0], x[1], Reduction::Mean, 0.0)),
      REF("mse_loss_f32", mse_loss(x[0], x[1])),
      REF("bce_with_logits_extreme", binary_cross_entropy_with_logits(x[0], x[1])),
  };
  // The losses' reduction variants, as the loop in gen_reference.py.
  for (const auto& reduction : std::vector<std::pair<std::string, Reduction>>{
           {"mean", Reduction::Mean}, {"sum", Reduction::Sum}, {"none", Reduction::None}}) {
    const std::string& rn = reduction.first;  // captured below: no structured binding (clang 14)
    const Reduction r = reduction.second;
    auto add_case = [&](const std::string& stem, std::function<Tensor(const Tensors&, Reduction)> f) {
      m[stem + "_" + rn] = [f, r](const Tensors& x) { return Outs{f(x, r)}; };
    };
    add_case("cross_entropy", [](const Tensors& x, Reduction r) { return cross_entropy(x[0], x[1], none, -100, r); });
    add_case("cross_entropy_weight_ignore",
             [](const Tensors& x, Reduction r) { return cross_entropy(x[0], x[1], x[2], 1, r); });
    add_case("cross_entropy_smoothing",
             [](const Tensors& x, Reduction r) { return cross_entropy(x[0], x[1], x[2], 2, r, 0.2); });
    add_case("cross_entropy_probs",
             [](const Tensors& x, Reduction r) { return cross_entropy(x[0], x[1], none, -100, r); });
    add_case("nll_loss", [](const Tensors& x, Reduction r) { return nll_loss(x[0], x[1], none, -100, r); });
    add_case("nll_loss_weight_ignore", [](const Tensors& x, Reduction r) { return nll_loss(x[0], x[1], x[2], 0, r); });
    add_case("mse_loss", [](const Tensors& x, Reduction r) { return mse_loss(x[0], x[1], r); });
    add_case("l1_loss", [](const Tensors& x, Reduction r) { return l1_loss(x[0], x[1], r); });
    add_case("smooth_l1_loss", [](const Tensors& x, Reduction r) { return smooth_l1_loss(x[0], x[1], r); });
    add_case("bce_with_logits", [](const Tensors& x, Reduction r) {
      return binary_cross_entropy_with_logits(x[0], x[1], none, none, r);
    });
    add_case("bce_with_logits_weights", [](const Tensors& x, Reduction r) {
      return binary_cross_entropy_with_logits(x[0], x[1], x[2], x[3], r);
    });
  }
  return m;
}

#undef REF

const std::map<std::string, ReferenceFn>& cases() {
  static const std::map<std::string, ReferenceFn> m = make_cases();
  return m;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : cases()) names.push_back(name);
  return names;
}

class Reference : public ::testing::TestWithParam<std::string> {};

// Float64 cases are computed in float64 on both sides and differ only by summation order;
// float32 ones may use different kernels (close_by_dtype's tolerances).
TEST_P(Reference, MatchesPyTorch) {
  const std::string& name = GetParam();
  check_reference_case("reference", name, cases().at(name));
}

INSTANTIATE_TEST_SUITE_P(Ops, Reference, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(ReferenceData, EveryGeneratedCaseHasATandemCase) {
  // tests/data/reference/<case> and the table above name the same cases.
  EXPECT_EQ(reference_case_dirs("reference"), case_names());
}

}  // namespace
