// ONNX export: one emitter per tandem op (the table at the bottom). Each emitter reads the
// node's attributes and writes ONNX nodes through the ExportCtx; decompositions are used where the
// opset has no single operator (GELU before opset 20, LayerNormalization before 17, SiLU).
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "export_ctx.h"
#include "tandem/error.h"

namespace tandem::onnx::detail {
namespace {

using graph::Node;
using graph::Value;
using IntVec = std::vector<int64_t>;

Shape static_shape_of(const Value* v, const char* what) {
  TANDEM_CHECK(graph::is_static(v->shape), "onnx export: {} needs a static shape, got {}", what,
               graph::shape_str(v->shape));
  return graph::static_shape(v->shape);
}

bool present(const Node& n, size_t i) { return i < n.inputs.size() && n.inputs[i] != nullptr; }

DType out_dtype(const Node& n, size_t i = 0) { return n.outputs.at(i)->dtype; }

// Dtype an elementwise op computes in: the floating/larger dtype among its inputs.
DType compute_dtype(const Node& n, size_t first = 0) {
  std::vector<TensorMeta> metas;
  for (size_t i = first; i < n.inputs.size(); ++i) {
    const Value* v = n.inputs[i];
    TensorMeta m;
    m.dtype = v->dtype;
    if (v->is_constant() && v->data.defined()) {
      m.is_wrapped_number = v->data.impl()->is_wrapped_number;
      m.shape = v->data.shape();
    } else {
      m.shape = Shape(v->shape.size(), 1);
    }
    metas.push_back(m);
  }
  return result_type(metas);
}

// Comparisons: inputs converted to their common dtype, bool output.
template <const char* kOp>
void emit_compare(ExportCtx& c, const Node& n) {
  DType t = compute_dtype(n);
  c.add(kOp, {c.input_as(n, 0, t), c.input_as(n, 1, t)}, {c.output(n)});
}

template <const char* kOp>
void emit_logical(ExportCtx& c, const Node& n) {
  c.add(kOp, {c.input_as(n, 0, DType::Bool), c.input_as(n, 1, DType::Bool)}, {c.output(n)});
}

void emit_add_sub(ExportCtx& c, const Node& n, const char* op) {
  DType t = out_dtype(n);
  std::string a = c.input_as(n, 0, t), b = c.input_as(n, 1, t);
  double alpha = n.attrs.get_or<double>("alpha", 1.0);
  if (alpha != 1.0) {
    std::string s = c.tmp(n, "alpha_mul");
    c.add("Mul", {b, c.scalar(alpha, t, c.base(n, "alpha"))}, {s});
    b = s;
  }
  c.add(op, {a, b}, {c.output(n)});
}

constexpr char kEqual[] = "Equal", kLess[] = "Less", kLessEq[] = "LessOrEqual", kGreater[] = "Greater",
               kGreaterEq[] = "GreaterOrEqual";
constexpr char kAnd[] = "And", kOr[] = "Or", kXor[] = "Xor";

void emit_ne(ExportCtx& c, const Node& n) {
  DType t = compute_dtype(n);
  std::string eq = c.tmp(n, "eq");
  c.add("Equal", {c.input_as(n, 0, t), c.input_as(n, 1, t)}, {eq});
  c.add("Not", {eq}, {c.output(n)});
}

void emit_logical_not(ExportCtx& c, const Node& n) {
  c.add("Not", {c.input_as(n, 0, DType::Bool)}, {c.output(n)});
}

void emit_rsqrt(ExportCtx& c, const Node& n) {
  std::string s = c.tmp(n, "sqrt");
  c.add("Sqrt", {c.input_as(n, 0, out_dtype(n))}, {s});
  c.add("Reciprocal", {s}, {c.output(n)});
}

void emit_log1p(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::string s = c.tmp(n, "plus1");
  c.add("Add", {c.input_as(n, 0, t), c.scalar(1.0, t, c.base(n, "one"))}, {s});
  c.add("Log", {s}, {c.output(n)});
}

void emit_leaky_relu(ExportCtx& c, const Node& n) {
  auto* p = c.add("LeakyRelu", {c.input_as(n, 0, out_dtype(n))}, {c.output(n)});
  set_attr(p, "alpha", n.attrs.get_or<double>("negative_slope", 0.01));
}

void emit_silu(ExportCtx& c, const Node& n) {
  std::string x = c.input_as(n, 0, out_dtype(n)), s = c.tmp(n, "sigmoid");
  c.add("Sigmoid", {x}, {s});
  c.add("Mul", {x, s}, {c.output(n)});
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void emit_gelu(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::string x = c.input_as(n, 0, t);
  bool tanh_form = n.attrs.get_or<std::string>("approximate", "none") == "tanh";
  std::string inner = c.tmp(n, "inner"), act = c.tmp(n, tanh_form ? "tanh" : "erf");
  if (tanh_form) {
    std::string x3 = c.tmp(n, "x3"), x3k = c.tmp(n, "x3k"), sum = c.tmp(n, "sum");
    c.add("Pow", {x, c.scalar(3.0, t, c.base(n, "three"))}, {x3});
    c.add("Mul", {x3, c.scalar(0.044715, t, c.base(n, "k"))}, {x3k});
    c.add("Add", {x, x3k}, {sum});
    c.add("Mul", {sum, c.scalar(std::sqrt(2.0 / M_PI), t, c.base(n, "sqrt_2_over_pi"))}, {inner});
    c.add("Tanh", {inner}, {act});
  } else {
    c.add("Div", {x, c.scalar(std::sqrt(2.0), t, c.base(n, "sqrt2"))}, {inner});
    c.add("Erf", {inner}, {act});
  }
  std::string one_plus = c.tmp(n, "one_plus"), half_x = c.tmp(n, "half_x");
  c.add("Add", {act, c.scalar(1.0, t, c.base(n, "one"))}, {one_plus});
  c.add("Mul", {x, c.scalar(0.5, t, c.base(n, "half"))}, {half_x});
  c.add("Mul", {half_x, one_plus}, {c.output(n)});
}

// softplus(x) = log(1 + exp(beta x)) / beta (the threshold only guards overflow).
void emit_softplus(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  double beta = n.attrs.get_or<double>("beta", 1.0);
  std::string x = c.input_as(n, 0, t);
  if (beta == 1.0) {
    c.add("Softplus", {x}, {c.output(n)});
    return;
  }
  std::string bx = c.tmp(n, "beta_x"), sp = c.tmp(n, "softplus");
  std::string b = c.scalar(beta, t, c.base(n, "beta"));
  c.add("Mul", {x, b}, {bx});
  c.add("Softplus", {bx}, {sp});
  c.add("Div", {sp, b}, {c.output(n)});
}

void emit_clamp(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::vector<std::string> ins{c.input_as(n, 0, t), "", ""};
  if (n.attrs.has("min")) ins[1] = c.scalar(n.attrs.get<double>("min"), t, c.base(n, "min"));
  if (n.attrs.has("max")) ins[2] = c.scalar(n.attrs.get<double>("max"), t, c.base(n, "max"));
  if (ins[2].empty()) ins.pop_back();
  if (ins.back().empty()) ins.pop_back();
  c.add("Clip", ins, {c.output(n)});
}

void emit_where(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  c.add("Where", {c.input_as(n, 0, DType::Bool), c.input_as(n, 1, t), c.input_as(n, 2, t)}, {c.output(n)});
}

void emit_masked_fill(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::string v = c.scalar(n.attrs.get_or<double>("value", 0.0), t, c.base(n, "value"));
  c.add("Where", {c.input_as(n, 1, DType::Bool), v, c.input_as(n, 0, t)}, {c.output(n)});
}

void emit_to(ExportCtx& c, const Node& n) {
  auto* p = c.add("Cast", {c.input(n, 0)}, {c.output(n)});
  set_attr(p, "to", static_cast<int64_t>(onnx_dtype(out_dtype(n))));
}

void emit_identity(ExportCtx& c, const Node& n) { c.add("Identity", {c.input(n, 0)}, {c.output(n)}); }

// ---- linear algebra

void emit_linear(ExportCtx& c, const Node& n) {
  const Value* x = n.inputs.at(0);
  DType t = out_dtype(n);
  std::string xi = c.input_as(n, 0, t), w = c.input_as(n, 1, t);
  bool has_b = present(n, 2);
  if (x->shape.size() == 2) {
    std::vector<std::string> ins{xi, w};
    if (has_b) ins.push_back(c.input_as(n, 2, t));
    auto* p = c.add("Gemm", ins, {c.output(n)});
    set_attr(p, "transB", int64_t{1});
    return;
  }
  std::string wt = c.tmp(n, "weight_t");
  set_attr(c.add("Transpose", {w}, {wt}), "perm", IntVec{1, 0});
  if (!has_b) {
    c.add("MatMul", {xi, wt}, {c.output(n)});
    return;
  }
  std::string mm = c.tmp(n, "matmul");
  c.add("MatMul", {xi, wt}, {mm});
  c.add("Add", {mm, c.input_as(n, 2, t)}, {c.output(n)});
}

void emit_matmul(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  c.add("MatMul", {c.input_as(n, 0, t), c.input_as(n, 1, t)}, {c.output(n)});
}

// ---- convolution and pooling

IntVec twice(const IntVec& p) {  // [ph, pw] -> ONNX [ph, pw, ph, pw]
  IntVec out = p;
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

void emit_conv2d(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::vector<std::string> ins{c.input_as(n, 0, t), c.input_as(n, 1, t)};
  if (present(n, 2)) ins.push_back(c.input_as(n, 2, t));
  Shape w = static_shape_of(n.inputs[1], "conv2d weight");
  auto* p = c.add("Conv", ins, {c.output(n)});
  set_attr(p, "kernel_shape", IntVec{w[2], w[3]});
  set_attr(p, "strides", n.attrs.get<IntVec>("stride"));
  set_attr(p, "pads", twice(n.attrs.get<IntVec>("padding")));
  set_attr(p, "dilations", n.attrs.get<IntVec>("dilation"));
  set_attr(p, "group", n.attrs.get<int64_t>("groups"));
}

void emit_conv_transpose2d(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::vector<std::string> ins{c.input_as(n, 0, t), c.input_as(n, 1, t)};
  if (present(n, 2)) ins.push_back(c.input_as(n, 2, t));
  Shape w = static_shape_of(n.inputs[1], "conv_transpose2d weight");
  auto* p = c.add("ConvTranspose", ins, {c.output(n)});
  set_attr(p, "kernel_shape", IntVec{w[2], w[3]});
  set_attr(p, "strides", n.attrs.get<IntVec>("stride"));
  set_attr(p, "pads", twice(n.attrs.get<IntVec>("padding")));
  set_attr(p, "dilations", n.attrs.get<IntVec>("dilation"));
  set_attr(p, "group", n.attrs.get<int64_t>("groups"));
  IntVec op = n.attrs.get_or<IntVec>("output_padding", IntVec{0, 0});
  if (op != IntVec{0, 0}) set_attr(p, "output_padding", op);
}

void emit_max_pool2d(ExportCtx& c, const Node& n) {
  auto* p = c.add("MaxPool", {c.input(n, 0)}, {c.output(n)});
  set_attr(p, "kernel_shape", n.attrs.get<IntVec>("kernel_size"));
  set_attr(p, "strides", n.attrs.get<IntVec>("stride"));
  set_attr(p, "pads", twice(n.attrs.get<IntVec>("padding")));
  IntVec dil = n.attrs.get_or<IntVec>("dilation", IntVec{1, 1});
  if (dil != IntVec{1, 1}) set_attr(p, "dilations", dil);
  if (n.attrs.get_or<bool>("ceil_mode", false)) set_attr(p, "ceil_mode", int64_t{1});
}

void emit_avg_pool2d(ExportCtx& c, const Node& n) {
  auto* p = c.add("AveragePool", {c.input(n, 0)}, {c.output(n)});
  set_attr(p, "kernel_shape", n.attrs.get<IntVec>("kernel_size"));
  set_attr(p, "strides", n.attrs.get<IntVec>("stride"));
  set_attr(p, "pads", twice(n.attrs.get<IntVec>("padding")));
  if (n.attrs.get_or<bool>("ceil_mode", false)) set_attr(p, "ceil_mode", int64_t{1});
  if (n.attrs.get_or<bool>("count_include_pad", true)) set_attr(p, "count_include_pad", int64_t{1});
}

void emit_adaptive_avg_pool2d(ExportCtx& c, const Node& n) {
  IntVec os = n.attrs.get<IntVec>("output_size");
  const Value* x = n.inputs.at(0);
  if (std::all_of(os.begin(), os.end(), [](int64_t v) { return v == 1; })) {
    c.add("GlobalAveragePool", {c.input(n, 0)}, {c.output(n)});
    return;
  }
  Shape s = static_shape_of(x, "adaptive_avg_pool2d input");
  ExportCtx::DimSyms xd = c.dims(x);
  TANDEM_CHECK(xd[xd.size() - 1] < 0 && xd[xd.size() - 2] < 0,
               "onnx export: adaptive_avg_pool2d to {} over a dynamic image size has no ONNX form "
               "(only output size 1, GlobalAveragePool); leave the image size static",
               graph::shape_str(n.outputs.at(0)->shape));
  int64_t H = s[s.size() - 2], W = s[s.size() - 1];
  int64_t oh = os[0], ow = os.size() > 1 ? os[1] : os[0];
  TANDEM_CHECK(H % oh == 0 && W % ow == 0,
               "onnx export: adaptive_avg_pool2d to {}x{} from {}x{} has uneven windows; only "
               "output 1 (GlobalAveragePool) or sizes that divide the input are exportable",
               oh, ow, H, W);
  auto* p = c.add("AveragePool", {c.input(n, 0)}, {c.output(n)});
  set_attr(p, "kernel_shape", IntVec{H / oh, W / ow});
  set_attr(p, "strides", IntVec{H / oh, W / ow});
}

// ---- normalization

std::string param_or(ExportCtx& c, const Node& n, size_t i, double fill, int64_t C, DType t, const char* what) {
  if (present(n, i)) return c.input_as(n, i, t);
  return c.init(full({C}, fill, {.dtype = t}), c.base(n, what));
}

void emit_batch_norm(ExportCtx& c, const Node& n) {
  TANDEM_CHECK(!n.attrs.get_or<bool>("training", false),
               "onnx export: batch_norm in training mode; call module->eval() before exporting");
  for (size_t i = 1; i < n.outputs.size(); ++i)
    TANDEM_CHECK(n.outputs[i]->users.empty(), "onnx export: batch_norm's statistics outputs are used");
  TANDEM_CHECK(present(n, 1) && present(n, 2),
               "onnx export: batch_norm without running statistics cannot run in inference mode");
  DType t = out_dtype(n);
  Shape s = static_shape_of(n.inputs[1], "batch_norm running_mean");
  int64_t C = s.empty() ? 1 : s[0];
  auto* p = c.add("BatchNormalization",
                  {c.input_as(n, 0, t), param_or(c, n, 3, 1.0, C, t, "scale"), param_or(c, n, 4, 0.0, C, t, "bias"),
                   c.input_as(n, 1, t), c.input_as(n, 2, t)},
                  {c.output(n)});
  set_attr(p, "epsilon", n.attrs.get_or<double>("eps", 1e-5));
}

void emit_layer_norm(ExportCtx& c, const Node& n) {
  for (size_t i = 1; i < n.outputs.size(); ++i)
    TANDEM_CHECK(n.outputs[i]->users.empty(), "onnx export: layer_norm's statistics outputs are used");
  DType t = out_dtype(n);
  IntVec ns = n.attrs.get<IntVec>("normalized_shape");
  int64_t k = static_cast<int64_t>(ns.size());
  int64_t numel = std::accumulate(ns.begin(), ns.end(), int64_t{1}, std::multiplies<>());
  double eps = n.attrs.get_or<double>("eps", 1e-5);
  std::string x = c.input_as(n, 0, t);
  auto affine = [&](size_t i, double fill, const char* what) {
    if (present(n, i)) return c.input_as(n, i, t);
    return c.init(full(Shape(ns.begin(), ns.end()), fill, {.dtype = t}), c.base(n, what));
  };
  if (c.opset() >= 17) {
    std::vector<std::string> ins{x, affine(1, 1.0, "scale")};
    if (present(n, 2)) ins.push_back(c.input_as(n, 2, t));
    auto* p = c.add("LayerNormalization", ins, {c.output(n)});
    set_attr(p, "axis", -k);
    set_attr(p, "epsilon", eps);
    return;
  }
  (void)numel;
  IntVec axes;
  for (int64_t i = -k; i < 0; ++i) axes.push_back(i);
  std::string mean = c.tmp(n, "mean"), d = c.tmp(n, "centered"), d2 = c.tmp(n, "sq"), var = c.tmp(n, "var"),
              ve = c.tmp(n, "var_eps"), sd = c.tmp(n, "std"), y = c.tmp(n, "normed");
  set_attr(c.add("ReduceMean", {x}, {mean}), "axes", axes);
  c.add("Sub", {x, mean}, {d});
  c.add("Mul", {d, d}, {d2});
  set_attr(c.add("ReduceMean", {d2}, {var}), "axes", axes);
  c.add("Add", {var, c.scalar(eps, t, c.base(n, "eps"))}, {ve});
  c.add("Sqrt", {ve}, {sd});
  c.add("Div", {d, sd}, {y});
  if (!present(n, 1) && !present(n, 2)) {
    c.add("Identity", {y}, {c.output(n)});
    return;
  }
  if (present(n, 1) && present(n, 2)) {
    std::string yw = c.tmp(n, "scaled");
    c.add("Mul", {y, c.input_as(n, 1, t)}, {yw});
    c.add("Add", {yw, c.input_as(n, 2, t)}, {c.output(n)});
  } else if (present(n, 1)) {
    c.add("Mul", {y, c.input_as(n, 1, t)}, {c.output(n)});
  } else {
    c.add("Add", {y, c.input_as(n, 2, t)}, {c.output(n)});
  }
}

// group_norm: normalize x viewed as [N, G, rest] over the last axis, then the per-channel
// affine (GroupNormalization is opset 18).
void emit_group_norm(ExportCtx& c, const Node& n) {
  for (size_t i = 1; i < n.outputs.size(); ++i)
    TANDEM_CHECK(n.outputs[i]->users.empty(), "onnx export: group_norm's statistics outputs are used");
  DType t = out_dtype(n);
  int64_t G = n.attrs.get<int64_t>("num_groups");
  double eps = n.attrs.get_or<double>("eps", 1e-5);
  const Value* xv = n.inputs.at(0);
  size_t r = xv->shape.size();
  TANDEM_CHECK(r >= 2 && xv->shape[1].is_static(), "onnx export: group_norm needs [N, C, ...] with a static C");
  int64_t C = xv->shape[1].value;
  bool dyn0 = c.dims(xv).at(0) >= 0;
  TANDEM_CHECK(dyn0 || xv->shape[0].is_static(), "onnx export: group_norm needs a static batch dim");
  int64_t N = dyn0 ? 0 : xv->shape[0].value;
  std::string x = c.input_as(n, 0, t), g = c.tmp(n, "grouped"), mean = c.tmp(n, "mean"), d = c.tmp(n, "centered"),
              sq = c.tmp(n, "sq"), var = c.tmp(n, "var"), ve = c.tmp(n, "var_eps"), sd = c.tmp(n, "std"),
              y = c.tmp(n, "normed"), shape = c.tmp(n, "shape"), back = c.tmp(n, "ungrouped");
  c.add("Reshape", {x, c.ints({N, G, -1}, c.base(n, "group_shape"))}, {g});
  for (auto [in, out] : {std::pair{g, mean}, std::pair{sq, var}}) {
    if (out == var) {
      c.add("Sub", {g, mean}, {d});
      c.add("Mul", {d, d}, {sq});
    }
    auto* p = c.add("ReduceMean", {out == var ? sq : g}, {out});
    set_attr(p, "axes", IntVec{-1});
    set_attr(p, "keepdims", int64_t{1});
  }
  c.add("Add", {var, c.scalar(eps, t, c.base(n, "eps"))}, {ve});
  c.add("Sqrt", {ve}, {sd});
  c.add("Div", {d, sd}, {y});
  c.add("Shape", {x}, {shape});
  bool affine = present(n, 1) || present(n, 2);
  c.add("Reshape", {y, shape}, affine ? std::vector<std::string>{back} : std::vector<std::string>{c.output(n)});
  if (!affine) return;
  IntVec cshape(r - 1, 1);
  cshape[0] = C;  // [C, 1, 1, ...] broadcasts against [N, C, ...]
  std::string cur = back;
  for (size_t i : {size_t{1}, size_t{2}}) {
    if (!present(n, i)) continue;
    std::string pr = c.tmp(n, i == 1 ? "weight_c" : "bias_c");
    c.add("Reshape", {c.input_as(n, i, t), c.ints(cshape, c.base(n, "channel_shape"))}, {pr});
    bool last = i == 2 || !present(n, 2);
    std::string out = last ? c.output(n) : c.tmp(n, "scaled");
    c.add(i == 1 ? "Mul" : "Add", {cur, pr}, {out});
    cur = out;
  }
}

void emit_one_hot(ExportCtx& c, const Node& n) {
  int64_t C = static_shape_of(n.outputs.at(0), "one_hot output").back();
  std::string depth = c.ints({C}, c.base(n, "depth"));
  std::string values = c.ints({0, 1}, c.base(n, "values"));
  set_attr(c.add("OneHot", {c.input(n, 0), depth, values}, {c.output(n)}), "axis", int64_t{-1});
}

// ---- softmax and reductions

template <const char* kOp>
void emit_softmax(ExportCtx& c, const Node& n) {
  auto* p = c.add(kOp, {c.input_as(n, 0, out_dtype(n))}, {c.output(n)});
  set_attr(p, "axis", n.attrs.get<int64_t>("dim"));
}
constexpr char kSoftmax[] = "Softmax", kLogSoftmax[] = "LogSoftmax";

IntVec reduce_dims(const Node& n) {
  IntVec dims = n.attrs.get_or<IntVec>("dims", IntVec{});
  if (dims.empty() && n.attrs.has("dim")) dims = {n.attrs.get<int64_t>("dim")};
  return dims;
}

// ReduceSum takes axes as an input from opset 13; the others as an attribute until opset 18.
template <const char* kOp>
void emit_reduce(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  IntVec dims = reduce_dims(n);
  bool keep = n.attrs.get_or<bool>("keepdim", false);
  std::string x = c.input_as(n, 0, t);
  std::string op = kOp;
  ::onnx::NodeProto* p;
  if (op == "ReduceSum") {
    std::vector<std::string> ins{x};
    if (!dims.empty()) ins.push_back(c.ints(dims, c.base(n, "axes")));
    p = c.add(op, ins, {c.output(n)});
  } else {
    p = c.add(op, {x}, {c.output(n)});
    if (!dims.empty()) set_attr(p, "axes", dims);
  }
  set_attr(p, "keepdims", int64_t{keep ? 1 : 0});
}
constexpr char kReduceSum[] = "ReduceSum", kReduceMean[] = "ReduceMean", kReduceMax[] = "ReduceMax",
               kReduceMin[] = "ReduceMin", kReduceProd[] = "ReduceProd", kReduceLogSumExp[] = "ReduceLogSumExp";

void emit_norm(ExportCtx& c, const Node& n) {
  double p = n.attrs.get_or<double>("p", 2.0);
  TANDEM_CHECK(p == 1.0 || p == 2.0, "onnx export: norm with p={} (only p=1 and p=2 map to ONNX)", p);
  DType t = out_dtype(n);
  IntVec dims = reduce_dims(n);
  auto* q = c.add(p == 1.0 ? "ReduceL1" : "ReduceL2", {c.input_as(n, 0, t)}, {c.output(n)});
  if (!dims.empty()) set_attr(q, "axes", dims);
  set_attr(q, "keepdims", int64_t{n.attrs.get_or<bool>("keepdim", false) ? 1 : 0});
}

// max(x, dim) / min(x, dim): values and indices.
template <bool kMaxOp>
void emit_extreme_dim(ExportCtx& c, const Node& n) {
  int64_t dim = n.attrs.get<int64_t>("dim");
  int64_t keep = n.attrs.get_or<bool>("keepdim", false) ? 1 : 0;
  std::string x = c.input(n, 0);
  auto* p = c.add(kMaxOp ? "ReduceMax" : "ReduceMin", {x}, {c.output(n, 0)});
  set_attr(p, "axes", IntVec{dim});
  set_attr(p, "keepdims", keep);
  if (n.outputs.size() > 1) {
    auto* q = c.add(kMaxOp ? "ArgMax" : "ArgMin", {x}, {c.output(n, 1)});
    set_attr(q, "axis", dim);
    set_attr(q, "keepdims", keep);
  }
}

template <bool kMaxOp>
void emit_arg_extreme(ExportCtx& c, const Node& n) {
  std::string x = c.input(n, 0);
  int64_t keep = n.attrs.get_or<bool>("keepdim", false) ? 1 : 0;
  int64_t axis = 0;
  if (n.attrs.has("dim")) {
    axis = n.attrs.get<int64_t>("dim");
  } else {
    std::string flat = c.tmp(n, "flat");
    c.add("Reshape", {x, c.ints({-1}, c.base(n, "shape"))}, {flat});
    x = flat;
    keep = 0;
  }
  auto* p = c.add(kMaxOp ? "ArgMax" : "ArgMin", {x}, {c.output(n)});
  set_attr(p, "axis", axis);
  set_attr(p, "keepdims", keep);
}

// var/std: mean-centred sum of squares over dims / (N - correction).
template <bool kStd>
void emit_var(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  IntVec dims = reduce_dims(n);
  Shape s = static_shape_of(n.inputs.at(0), "var/std input");
  int64_t r = static_cast<int64_t>(s.size());
  if (dims.empty())
    for (int64_t i = 0; i < r; ++i) dims.push_back(i);
  double count = 1;
  for (int64_t d : dims) count *= static_cast<double>(s.at(d < 0 ? d + r : d));
  double denom = count - static_cast<double>(n.attrs.get_or<int64_t>("correction", 1));
  bool keep = n.attrs.get_or<bool>("keepdim", false);
  std::string x = c.input_as(n, 0, t), mean = c.tmp(n, "mean"), d = c.tmp(n, "centered"), sq = c.tmp(n, "sq"),
              ss = c.tmp(n, "sum_sq");
  auto* p = c.add("ReduceMean", {x}, {mean});
  set_attr(p, "axes", dims);
  set_attr(p, "keepdims", int64_t{1});
  c.add("Sub", {x, mean}, {d});
  c.add("Mul", {d, d}, {sq});
  set_attr(c.add("ReduceSum", {sq, c.ints(dims, c.base(n, "axes"))}, {ss}), "keepdims", int64_t{keep ? 1 : 0});
  std::string dn = c.scalar(denom, t, c.base(n, "denominator"));
  ExportCtx::DimSyms xd = c.dims(n.inputs.at(0));
  if (std::any_of(dims.begin(), dims.end(), [&](int64_t d) { return xd.at(static_cast<size_t>(d < 0 ? d + r : d)) >= 0; })) {
    // A dynamic reduced dim: the count from the runtime shape.
    std::string shape = c.tmp(n, "shape"), sizes = c.tmp(n, "sizes"), cnt = c.tmp(n, "count"),
                cntf = c.tmp(n, "count_f");
    c.add("Shape", {x}, {shape});
    set_attr(c.add("Gather", {shape, c.ints(dims, c.base(n, "dims"))}, {sizes}), "axis", int64_t{0});
    set_attr(c.add("ReduceProd", {sizes}, {cnt}), "keepdims", int64_t{0});
    set_attr(c.add("Cast", {cnt}, {cntf}), "to", static_cast<int64_t>(onnx_dtype(t)));
    dn = c.tmp(n, "denominator");
    c.add("Sub", {cntf, c.scalar(static_cast<double>(n.attrs.get_or<int64_t>("correction", 1)), t, c.base(n, "correction"))}, {dn});
  }
  if (!kStd) {
    c.add("Div", {ss, dn}, {c.output(n)});
    return;
  }
  std::string v = c.tmp(n, "var");
  c.add("Div", {ss, dn}, {v});
  c.add("Sqrt", {v}, {c.output(n)});
}

void emit_cumsum(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::string axis = c.init(scalar_tensor(static_cast<double>(n.attrs.get<int64_t>("dim")), {.dtype = DType::Int64}),
                            c.base(n, "axis"));
  c.add("CumSum", {c.input_as(n, 0, t), axis}, {c.output(n)});
}

// grid_sample -> GridSample (opset 16).
void emit_grid_sample(ExportCtx& c, const Node& n) {
  TANDEM_CHECK(c.opset() >= 16, "onnx export: grid_sample needs opset 16 or newer (GridSample), "
               "exporting at opset {}", c.opset());
  TANDEM_CHECK(n.inputs.at(0)->shape.size() == 4, "onnx export: GridSample takes a 4-D input; "
               "5-D grid_sample has no ONNX operator in the opsets tandem writes");
  DType t = out_dtype(n);
  const std::string mode = n.attrs.get_or<std::string>("mode", "bilinear");
  auto* g = c.add("GridSample", {c.input_as(n, 0, t), c.input_as(n, 1, t)}, {c.output(n)});
  set_attr(g, "mode", mode);
  set_attr(g, "padding_mode", n.attrs.get_or<std::string>("padding_mode", "zeros"));
  set_attr(g, "align_corners", static_cast<int64_t>(n.attrs.get_or<bool>("align_corners", false)));
}

// pixel_shuffle -> DepthToSpace (CRD); on other than 4-D inputs, Reshape around it.
void emit_pixel_shuffle(ExportCtx& c, const Node& n) {
  const Shape in = static_shape_of(n.inputs.at(0), "pixel_shuffle");
  const Shape out = static_shape_of(n.outputs.at(0), "pixel_shuffle");
  const int64_t r = n.attrs.get<int64_t>("upscale_factor");
  const size_t k = in.size();
  std::string x = c.input(n, 0);
  if (k != 4) {
    std::string flat = c.tmp(n, "in4d");
    c.add("Reshape", {x, c.ints({-1, in[k - 3], in[k - 2], in[k - 1]}, c.base(n, "shape4d"))}, {flat});
    x = flat;
  }
  std::string y = k == 4 ? c.output(n) : c.tmp(n, "out4d");
  auto* d = c.add("DepthToSpace", {x}, {y});
  set_attr(d, "blocksize", r);
  set_attr(d, "mode", std::string("CRD"));
  if (k != 4) c.add("Reshape", {y, c.ints(IntVec(out.begin(), out.end()), c.base(n, "shape"))}, {c.output(n)});
}

// pixel_unshuffle -> SpaceToDepth, whose channels come block-major ([b*b, C]); a
// Reshape/Transpose/Reshape reorders them to pixel_unshuffle's [C, b*b].
void emit_pixel_unshuffle(ExportCtx& c, const Node& n) {
  const Shape in = static_shape_of(n.inputs.at(0), "pixel_unshuffle");
  const Shape out = static_shape_of(n.outputs.at(0), "pixel_unshuffle");
  const int64_t r = n.attrs.get<int64_t>("downscale_factor");
  const size_t k = in.size();
  const int64_t C = in[k - 3], H = out[k - 2], W = out[k - 1];
  std::string x = c.input(n, 0);
  if (k != 4) {
    std::string flat = c.tmp(n, "in4d");
    c.add("Reshape", {x, c.ints({-1, C, in[k - 2], in[k - 1]}, c.base(n, "shape4d"))}, {flat});
    x = flat;
  }
  std::string s2d = c.tmp(n, "s2d"), split = c.tmp(n, "split"), swapped = c.tmp(n, "swapped");
  set_attr(c.add("SpaceToDepth", {x}, {s2d}), "blocksize", r);
  c.add("Reshape", {s2d, c.ints({-1, r * r, C, H, W}, c.base(n, "split_shape"))}, {split});
  set_attr(c.add("Transpose", {split}, {swapped}), "perm", IntVec{0, 2, 1, 3, 4});
  c.add("Reshape", {swapped, c.ints(IntVec(out.begin(), out.end()), c.base(n, "shape"))}, {c.output(n)});
}

// ---- shapes

void emit_permute(ExportCtx& c, const Node& n) {
  IntVec dims = n.attrs.get<IntVec>("dims");
  int64_t r = static_cast<int64_t>(dims.size());
  for (auto& d : dims)
    if (d < 0) d += r;
  set_attr(c.add("Transpose", {c.input(n, 0)}, {c.output(n)}), "perm", dims);
}

void emit_cat(ExportCtx& c, const Node& n) {
  DType t = out_dtype(n);
  std::vector<std::string> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i) ins.push_back(c.input_as(n, i, t));
  set_attr(c.add("Concat", ins, {c.output(n)}), "axis", n.attrs.get<int64_t>("dim"));
}

// unbind(x, dim): Split into size-1 pieces, then Squeeze each (split sizes and axes are
// inputs from opset 13).
void emit_unbind(ExportCtx& c, const Node& n) {
  int64_t dim = n.attrs.get_or<int64_t>("dim", 0);
  int64_t k = static_cast<int64_t>(n.outputs.size());
  std::vector<std::string> pieces;
  for (int64_t i = 0; i < k; ++i) pieces.push_back(c.tmp(n, fmt::format("piece{}", i)));
  set_attr(c.add("Split", {c.input(n, 0), c.ints(IntVec(k, 1), c.base(n, "split"))}, pieces), "axis", dim);
  std::string axes = c.ints({dim}, c.base(n, "axes"));
  for (int64_t i = 0; i < k; ++i) c.add("Squeeze", {pieces[i], axes}, {c.output(n, i)});
}

void emit_index_select(ExportCtx& c, const Node& n) {
  set_attr(c.add("Gather", {c.input(n, 0), c.input(n, 1)}, {c.output(n)}), "axis",
           n.attrs.get<int64_t>("dim"));
}

void emit_gather(ExportCtx& c, const Node& n) {
  set_attr(c.add("GatherElements", {c.input(n, 0), c.input(n, 1)}, {c.output(n)}), "axis",
           n.attrs.get<int64_t>("dim"));
}

// scatter -> ScatterElements; scatter_reduce (sum, prod with self included) -> ScatterElements
// with reduction add / mul (opset 16). amax/amin need opset 18's max/min,
// newer than tandem writes; mean and include_self=false have no ONNX reduction.
void emit_scatter_elements(ExportCtx& c, const Node& n, const std::string& reduction) {
  if (!reduction.empty())
    TANDEM_CHECK(c.opset() >= 16, "onnx export: {} needs opset 16 or newer (ScatterElements with "
                 "reduction '{}'), exporting at opset {}", n.op->name, reduction, c.opset());
  DType t = out_dtype(n);
  auto* s = c.add("ScatterElements", {c.input_as(n, 0, t), c.input(n, 1), c.input_as(n, 2, t)}, {c.output(n)});
  set_attr(s, "axis", n.attrs.get<int64_t>("dim"));
  if (!reduction.empty()) set_attr(s, "reduction", reduction);
}

void emit_scatter(ExportCtx& c, const Node& n) { emit_scatter_elements(c, n, ""); }

void emit_scatter_reduce(ExportCtx& c, const Node& n) {
  const std::string r = n.attrs.get<std::string>("reduce");
  TANDEM_CHECK(n.attrs.get<bool>("include_self"), "onnx export: scatter_reduce with include_self=false "
               "has no ONNX equivalent (ScatterElements always reduces into the input)");
  TANDEM_CHECK(r == "sum" || r == "prod", "onnx export: scatter_reduce '{}' has no ScatterElements "
               "reduction in opsets 13..17 ({})", r,
               r == "mean" ? "ONNX has no mean reduction" : "max/min arrive in opset 18");
  emit_scatter_elements(c, n, r == "sum" ? "add" : "mul");
}

void emit_embedding(ExportCtx& c, const Node& n) {
  set_attr(c.add("Gather", {c.input(n, 0), c.input(n, 1)}, {c.output(n)}), "axis", int64_t{0});
}

// tandem's pads are PyTorch's (last dim first, (left, right) pairs); ONNX wants all begins
// then all ends, first dim first.
void emit_pad(ExportCtx& c, const Node& n) {
  IntVec tp = n.attrs.get<IntVec>("pads");
  std::string mode = n.attrs.get_or<std::string>("mode", "constant");
  size_t r = n.inputs.at(0)->shape.size();
  IntVec pads(2 * r, 0);
  for (size_t k = 0; 2 * k + 1 < tp.size(); ++k) {
    size_t d = r - 1 - k;
    pads[d] = tp[2 * k];
    pads[r + d] = tp[2 * k + 1];
  }
  std::string onnx_mode = mode == "constant" ? "constant" : mode == "reflect" ? "reflect" : mode == "replicate" ? "edge" : "";
  TANDEM_CHECK(!onnx_mode.empty(), "onnx export: pad mode '{}' has no ONNX equivalent before opset 19 "
               "(constant, reflect, replicate are supported)", mode);
  std::vector<std::string> ins{c.input(n, 0), c.ints(pads, c.base(n, "pads"))};
  if (mode == "constant") ins.push_back(c.scalar(n.attrs.get_or<double>("value", 0.0), out_dtype(n), c.base(n, "value")));
  set_attr(c.add("Pad", ins, {c.output(n)}), "mode", onnx_mode);
}

// interpolate -> Resize (opset 13+): the coordinate transformation, nearest rounding and cubic
// coefficient carry over as attributes. A call with a scale factor exports the scales (the
// coordinates then use the scale, as PyTorch does), else the output sizes; leading dims that do
// not change (batch, channels) keep their symbolic sizes through Shape -> Slice -> Concat.
void emit_interpolate(ExportCtx& c, const Node& n) {
  const Attrs& a = n.attrs;
  const std::string mode = a.get_or<std::string>("mode", "nearest");
  TANDEM_CHECK(mode != "area", "onnx export: interpolate mode 'area' has no ONNX Resize "
               "equivalent (adaptive_avg_pool2d exports where the sizes divide)");
  TANDEM_CHECK(!a.get_or<bool>("antialias", false),
               "onnx export: interpolate with antialias has no ONNX form in opsets 13-17 (Resize's "
               "antialias attribute is opset 18); export without antialias or resample first");
  const Value* x = n.inputs.at(0);
  const Value* y = n.outputs.at(0);
  const size_t rank = x->shape.size();
  const IntVec sizes = a.get<IntVec>("sizes");
  std::vector<double> sc = a.get_or<std::vector<double>>("scales", {});
  if (sc.empty()) sc.assign(rank, 0.0);
  const ExportCtx::DimSyms in_dims = c.dims(x);
  auto changes = [&](size_t d) {
    return y->shape[d] != x->shape[d] || (sc[d] > 0 && sc[d] != 1.0);
  };
  bool all_scaled = true;
  for (size_t d = 0; d < rank; ++d) all_scaled &= !changes(d) || sc[d] > 0;

  std::vector<std::string> ins{c.input(n, 0), ""};
  if (all_scaled) {
    std::vector<float> f(rank, 1.0f);
    for (size_t d = 0; d < rank; ++d)
      if (changes(d)) f[d] = static_cast<float>(sc[d]);
    ins.push_back(c.init(tensor(f), c.base(n, "scales")));
  } else {
    size_t lead = 0;  // leading dims kept as they are
    while (lead < rank && !changes(lead)) ++lead;
    bool dynamic_lead = false;
    for (size_t d = 0; d < rank; ++d) {
      TANDEM_CHECK(d < lead || in_dims[d] < 0 || !changes(d),
                   "onnx export: interpolate resamples dim {}, whose size is dynamic", d);
      dynamic_lead |= d < lead && in_dims[d] >= 0;
    }
    if (!dynamic_lead) {
      ins.push_back("");
      ins.push_back(c.ints(sizes, c.base(n, "sizes")));
    } else {
      std::string shp = c.tmp(n, "shape"), head = c.tmp(n, "lead"), all = c.tmp(n, "sizes");
      c.add("Shape", {c.input(n, 0)}, {shp});
      c.add("Slice", {shp, c.ints({0}, c.base(n, "lead_start")),
                      c.ints({static_cast<int64_t>(lead)}, c.base(n, "lead_end"))}, {head});
      IntVec rest(sizes.begin() + static_cast<std::ptrdiff_t>(lead), sizes.end());
      set_attr(c.add("Concat", {head, c.ints(rest, c.base(n, "rest"))}, {all}), "axis", int64_t{0});
      ins.push_back("");
      ins.push_back(all);
    }
  }
  ExportCtx::DimSyms out(rank, -1);
  for (size_t d = 0; d < rank; ++d)
    if (!changes(d)) out[d] = in_dims[d];
  c.set_dims(y, out);
  auto* p = c.add("Resize", ins, {c.output(n)});
  set_attr(p, "mode", mode);
  set_attr(p, "coordinate_transformation_mode", a.get_or<std::string>("coord", "asymmetric"));
  if (mode == "nearest") set_attr(p, "nearest_mode", a.get_or<std::string>("nearest_mode", "floor"));
  if (mode == "cubic") {
    set_attr(p, "cubic_coeff_a", a.get_or<double>("cubic_a", -0.75));
    set_attr(p, "exclude_outside", int64_t{a.get_or<bool>("exclude_outside", false) ? 1 : 0});
  }
}

// fill (x.fill_(v), zeros_like, ...): the value expanded to x's shape.
void emit_fill(ExportCtx& c, const Node& n) {
  std::string shp = c.tmp(n, "shape");
  c.add("Shape", {c.input(n, 0)}, {shp});
  c.add("Expand", {c.scalar(n.attrs.get<double>("value"), out_dtype(n), c.base(n, "value")), shp},
        {c.output(n)});
}

// The importer's elementwise math back to the ONNX operator it came from.
void emit_onnx_unary(ExportCtx& c, const Node& n) {
  static const std::map<std::string, std::string> kOps = {
      {"erf", "Erf"},   {"floor", "Floor"}, {"ceil", "Ceil"},   {"round", "Round"},
      {"tan", "Tan"},   {"asin", "Asin"},   {"acos", "Acos"},   {"atan", "Atan"},
      {"sinh", "Sinh"}, {"cosh", "Cosh"},   {"asinh", "Asinh"}, {"acosh", "Acosh"},
      {"atanh", "Atanh"}, {"isnan", "IsNaN"}, {"isinf", "IsInf"}};
  const std::string& fn = n.attrs.get<std::string>("fn");
  auto it = kOps.find(fn);
  TANDEM_CHECK(it != kOps.end(), "onnx export: onnx_unary fn '{}' has no ONNX operator", fn);
  c.add(it->second, {c.input(n, 0)}, {c.output(n)});
}

// Integer division (truncating), Mod (the divisor's sign) and Mod fmod=1 (the dividend's sign).
void emit_onnx_int_div(ExportCtx& c, const Node& n) {
  const std::string& fn = n.attrs.get<std::string>("fn");
  TANDEM_CHECK(fn == "div" || fn == "mod" || fn == "fmod", "onnx export: onnx_int_div fn '{}' is unknown", fn);
  auto* p = c.add(fn == "div" ? "Div" : "Mod", {c.input(n, 0), c.input(n, 1)}, {c.output(n)});
  if (fn == "fmod") set_attr(p, "fmod", int64_t{1});
}

// scatter_add -> ScatterElements with reduction "add" (opset 16+).
void emit_scatter_add(ExportCtx& c, const Node& n) {
  TANDEM_CHECK(c.opset() >= 16, "onnx export: scatter_add needs ScatterElements' reduction (opset 16+), "
               "the export targets opset {}", c.opset());
  DType t = out_dtype(n);
  auto* p = c.add("ScatterElements", {c.input_as(n, 0, t), c.input(n, 1), c.input_as(n, 2, t)}, {c.output(n)});
  set_attr(p, "axis", n.attrs.get<int64_t>("dim"));
  set_attr(p, "reduction", std::string("add"));
}

void emit_topk(ExportCtx& c, const Node& n) {
  int64_t k = n.attrs.get<int64_t>("k"), dim = n.attrs.get_or<int64_t>("dim", -1);
  auto* p = c.add("TopK", {c.input(n, 0), c.ints({k}, c.base(n, "k"))}, {c.output(n, 0), c.output(n, 1)});
  set_attr(p, "axis", dim);
  set_attr(p, "largest", int64_t{n.attrs.get_or<bool>("largest", true) ? 1 : 0});
  set_attr(p, "sorted", int64_t{n.attrs.get_or<bool>("sorted", true) ? 1 : 0});
}

// roi_align(x, boxes [K, 5]) -> RoiAlign(x, rois = boxes[:, 1:5], batch_indices = int64(boxes[:, 0])).
void emit_roi_align(ExportCtx& c, const Node& n) {
  const bool aligned = n.attrs.get_or<bool>("aligned", false);
  TANDEM_CHECK(!aligned || c.opset() >= 16,
               "onnx export: roi_align with aligned=true needs RoiAlign-16 "
               "(coordinate_transformation_mode half_pixel); export with opset 16 or 17");
  std::string rois = c.tmp(n, "rois"), bidx = c.tmp(n, "batch"), batch = c.tmp(n, "batch_indices");
  set_attr(c.add("Gather", {c.input(n, 1), c.ints({1, 2, 3, 4}, c.base(n, "coords"))}, {rois}), "axis",
           int64_t{1});
  set_attr(c.add("Gather", {c.input(n, 1), c.scalar(0, DType::Int64, c.base(n, "zero"))}, {bidx}), "axis",
           int64_t{1});
  set_attr(c.add("Cast", {bidx}, {batch}), "to", static_cast<int64_t>(onnx_dtype(DType::Int64)));
  auto* p = c.add("RoiAlign", {c.input(n, 0), rois, batch}, {c.output(n)});
  const IntVec os = n.attrs.get<IntVec>("output_size");
  set_attr(p, "output_height", os.at(0));
  set_attr(p, "output_width", os.at(1));
  set_attr(p, "sampling_ratio", std::max<int64_t>(0, n.attrs.get_or<int64_t>("sampling_ratio", -1)));
  set_attr(p, "spatial_scale", n.attrs.get_or<double>("spatial_scale", 1.0));
  set_attr(p, "mode", n.attrs.get_or<std::string>("mode", "avg"));
  if (c.opset() >= 16)
    set_attr(p, "coordinate_transformation_mode", std::string(aligned ? "half_pixel" : "output_half_pixel"));
}

void emit_sort(ExportCtx& c, const Node& n) {
  int64_t dim = n.attrs.get_or<int64_t>("dim", -1);
  Shape s = static_shape_of(n.inputs.at(0), "sort input");
  int64_t r = static_cast<int64_t>(s.size());
  const size_t axis = static_cast<size_t>(dim < 0 ? dim + r : dim);
  std::string k = c.ints({s.at(axis)}, c.base(n, "k"));
  if (c.dims(n.inputs.at(0)).at(axis) >= 0) {  // a dynamic dim: k is its runtime size
    std::string shape = c.tmp(n, "shape");
    c.add("Shape", {c.input(n, 0)}, {shape});
    k = c.tmp(n, "k");
    set_attr(c.add("Gather", {shape, c.ints({static_cast<int64_t>(axis)}, c.base(n, "axis"))}, {k}), "axis", int64_t{0});
  }
  auto* p = c.add("TopK", {c.input(n, 0), k}, {c.output(n, 0), c.output(n, 1)});
  set_attr(p, "axis", dim);
  set_attr(p, "largest", int64_t{n.attrs.get_or<bool>("descending", false) ? 1 : 0});
  set_attr(p, "sorted", int64_t{1});
}

void emit_dropout(ExportCtx& c, const Node& n) {
  TANDEM_FAIL("onnx export: dropout in training mode; call module->eval() (eval dropout is the identity)");
}

}  // namespace

// An op whose OpDef names its ONNX operator: every input converted to the output's dtype.
void emit_one_to_one(ExportCtx& c, const Node& n) {
  const DType t = out_dtype(n);
  std::vector<std::string> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i) ins.push_back(c.input_as(n, i, t));
  c.add(n.op->onnx_op, ins, {c.output(n)});
}

const std::map<std::string, Emitter>& emitters() {
  static const std::map<std::string, Emitter> table = {
      {"add", [](ExportCtx& c, const Node& n) { emit_add_sub(c, n, "Add"); }},
      {"sub", [](ExportCtx& c, const Node& n) { emit_add_sub(c, n, "Sub"); }},
      {"eq", emit_compare<kEqual>},
      {"ne", emit_ne},
      {"lt", emit_compare<kLess>},
      {"le", emit_compare<kLessEq>},
      {"gt", emit_compare<kGreater>},
      {"ge", emit_compare<kGreaterEq>},
      {"logical_and", emit_logical<kAnd>},
      {"logical_or", emit_logical<kOr>},
      {"logical_xor", emit_logical<kXor>},
      {"logical_not", emit_logical_not},
      {"where", emit_where},
      {"masked_fill", emit_masked_fill},
      {"log1p", emit_log1p},
      {"rsqrt", emit_rsqrt},
      {"silu", emit_silu},
      {"gelu", emit_gelu},
      {"leaky_relu", emit_leaky_relu},
      {"softplus", emit_softplus},
      {"clamp", emit_clamp},
      {"to", emit_to},
      {"clone", emit_identity},
      {"copy", emit_identity},
      {"linear", emit_linear},
      {"matmul", emit_matmul},
      {"bmm", emit_matmul},
      {"conv2d", emit_conv2d},
      {"conv_transpose2d", emit_conv_transpose2d},
      {"max_pool2d", emit_max_pool2d},
      {"avg_pool2d", emit_avg_pool2d},
      {"adaptive_avg_pool2d", emit_adaptive_avg_pool2d},
      {"batch_norm", emit_batch_norm},
      {"layer_norm", emit_layer_norm},
      {"softmax", emit_softmax<kSoftmax>},
      {"log_softmax", emit_softmax<kLogSoftmax>},
      {"sum", emit_reduce<kReduceSum>},
      {"mean", emit_reduce<kReduceMean>},
      {"amax", emit_reduce<kReduceMax>},
      {"amin", emit_reduce<kReduceMin>},
      {"prod", emit_reduce<kReduceProd>},
      {"logsumexp", emit_reduce<kReduceLogSumExp>},
      {"norm", emit_norm},
      {"max", emit_extreme_dim<true>},
      {"min", emit_extreme_dim<false>},
      {"argmax", emit_arg_extreme<true>},
      {"argmin", emit_arg_extreme<false>},
      {"cumsum", emit_cumsum},
      {"grid_sample", emit_grid_sample},
      {"pixel_shuffle", emit_pixel_shuffle},
      {"pixel_unshuffle", emit_pixel_unshuffle},
      {"var", emit_var<false>},
      {"std", emit_var<true>},
      {"group_norm", emit_group_norm},
      {"one_hot", emit_one_hot},
      {"reshape", emit_reshape},
      {"expand", emit_expand},
      {"permute", emit_permute},
      {"slice", emit_slice},
      {"cat", emit_cat},
      {"index_select", emit_index_select},
      {"unbind", emit_unbind},
      {"gather", emit_gather},
      {"scatter", emit_scatter},
      {"scatter_reduce", emit_scatter_reduce},
      {"embedding", emit_embedding},
      {"pad", emit_pad},
      {"interpolate", emit_interpolate},
      {"fill", emit_fill},
      {"onnx_unary", emit_onnx_unary},
      {"onnx_int_div", emit_onnx_int_div},
      {"scatter_add", emit_scatter_add},
      {"topk", emit_topk},
      {"sort", emit_sort},
      {"roi_align", emit_roi_align},
      {"dropout", emit_dropout},
      {"rnn_layer", emit_rnn_layer},
  };
  return table;
}

Emitter find_emitter(const OpDef& op) {
  const auto& table = emitters();
  auto it = table.find(op.name);
  if (it != table.end()) return it->second;
  return op.onnx_op.empty() ? nullptr : emit_one_to_one;
}

}  // namespace tandem::onnx::detail
