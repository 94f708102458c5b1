// `tandem convert`: an imported model's inference graph -> .tlite (see convert_lite.h).
#include "tandem/onnx/convert_lite.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "lite/format.h"
#include "tandem/error.h"
#include "tandem/graph/passes.h"
#include "tandem/io/atomic_file.h"
#include "tandem/onnx.h"
#include "tandem/quant.h"

namespace tandem::onnx {

namespace lite_conv {

using tlite::Act;
using tlite::Attr;
using tlite::AttrType;
using tlite::Key;
using tlite::NodeInfo;
using tlite::Op;

Attr ai(Key k, int64_t v) {
  Attr a;
  a.key = k;
  a.type = AttrType::Int;
  a.i = v;
  return a;
}
Attr af(Key k, double v) {
  Attr a;
  a.key = k;
  a.type = AttrType::Float;
  a.f = v;
  return a;
}
Attr al(Key k, std::vector<int64_t> v) {
  Attr a;
  a.key = k;
  a.type = AttrType::Ints;
  a.ints = std::move(v);
  return a;
}

// A pair attribute of 0, 1 or 2 values (tandem's conv/pool attrs), `fallback` when absent/empty.
std::pair<int64_t, int64_t> pair_attr(const Attrs& a, const char* name, std::pair<int64_t, int64_t> fallback) {
  IntArray v = a.get_or<IntArray>(name, {});
  if (v.empty()) return fallback;
  if (v.size() == 1) return {v[0], v[0]};
  return {v[0], v[1]};
}

// The activation of a fused op (attrs act, act_p0, act_p1) or of a plain unary node.
bool act_of(const std::string& op, const Attrs& a, std::vector<Attr>& out) {
  const double inf = std::numeric_limits<double>::infinity();
  auto finite = [](double v) { return std::isinf(v) ? (v > 0 ? 3.0e38 : -3.0e38) : v; };
  Act k;
  double p0 = 0, p1 = 0;
  if (op == "relu") k = Act::Relu;
  else if (op == "sigmoid") k = Act::Sigmoid;
  else if (op == "tanh") k = Act::Tanh;
  else if (op == "silu") k = Act::Silu;
  else if (op == "hardswish") k = Act::Hardswish;  // fuse_matmul_act's conv2d_act / linear_act
  else if (op == "gelu") k = a.get_or<std::string>("approximate", "none") == "tanh" ? Act::GeluTanh : Act::Gelu;
  else if (op == "gelu_tanh") k = Act::GeluTanh;
  else if (op == "leaky_relu") {
    k = Act::LeakyRelu;
    p0 = a.get_or<double>("negative_slope", a.get_or<double>("act_p0", 0.01));
  } else if (op == "clamp") {
    k = Act::Clamp;
    p0 = finite(a.get_or<double>("min", a.get_or<double>("act_p0", -inf)));
    p1 = finite(a.get_or<double>("max", a.get_or<double>("act_p1", inf)));
  } else if (op == "neg") k = Act::Neg;
  else if (op == "exp") k = Act::Exp;
  else if (op == "log") k = Act::Log;
  else if (op == "sqrt") k = Act::Sqrt;
  else if (op == "rsqrt") k = Act::Rsqrt;
  else if (op == "abs") k = Act::Abs;
  else if (op == "onnx_unary" && a.get_or<std::string>("fn", "") == "erf") k = Act::Erf;
  else return false;
  out.push_back(ai(Key::ActKind, int64_t(k)));
  if (p0 != 0) out.push_back(af(Key::ActP0, p0));
  if (p1 != 0) out.push_back(af(Key::ActP1, p1));
  return true;
}

const std::set<std::string>& identity_ops() {
  static const std::set<std::string> s = {"contiguous", "clone", "alias", "dropout", "detach"};
  return s;
}

std::vector<std::string> supported() {
  std::vector<std::string> v = {"conv2d", "conv2d_act", "linear", "linear_act", "matmul", "max_pool2d",
                                "avg_pool2d", "adaptive_avg_pool2d", "add", "sub", "mul", "div", "pow",
                                "maximum", "minimum", "relu", "sigmoid", "tanh", "silu", "hardswish", "gelu", "leaky_relu",
                                "clamp", "neg", "exp", "log", "sqrt", "rsqrt", "abs", "onnx_unary(erf)", "cat",
                                "slice", "reshape", "expand", "permute", "softmax", "log_softmax", "layer_norm",
                                "batch_norm", "mean", "to(float32)", "quantize_linear", "dequantize_linear",
                                "qlinear_conv2d", "qlinear_linear"};
  for (const std::string& s : identity_ops()) v.push_back(s);
  return v;
}

struct Converter {
  explicit Converter(graph::Graph& graph) : g(graph) {}
  graph::Graph& g;
  bool dynamic = false;
  tlite::Writer w;
  std::unordered_map<const graph::Value*, uint32_t> ids;
  std::map<std::string, int64_t> missing;  // graph op -> count
  std::vector<std::string> problems;       // supported op used in a way lite lacks
  LiteConvertReport* report = nullptr;
  int64_t const_bytes = 0;

  std::vector<int64_t> dims(const graph::Value* v) {
    std::vector<int64_t> d;
    for (const graph::Dim& x : v->shape) d.push_back(x.is_static() ? x.value : tlite::kDynamic);
    return d;
  }

  uint32_t constant(const Tensor& t, const std::string& name) {
    Tensor c = t.to(DType::Float32).contiguous();
    tlite::ValueInfo vi;
    vi.name = name;
    for (int64_t s : c.shape()) vi.dims.push_back(s);
    const_bytes += c.numel() * 4;
    return w.add_constant(std::move(vi), c.data_ptr(), size_t(c.numel()) * 4);
  }

  // The lite id of `v`: inputs and earlier nodes' outputs are mapped; constants and variables
  // are written on first use (float32).
  uint32_t id(const graph::Value* v) {
    if (v == nullptr) return tlite::kNone;
    auto it = ids.find(v);
    if (it != ids.end()) return it->second;
    if (auto f = folded.find(v); f != folded.end()) {
      uint32_t i = constant(f->second, v->name);
      ids[v] = i;
      return i;
    }
    if (v->kind != graph::Value::Kind::Constant && v->kind != graph::Value::Kind::Variable) {
      // Produced by a node that could not be mapped (reported there).
      if (missing.empty() && problems.empty())
        problems.push_back(fmt::format("value %{} ({}) has no lite value", v->id, v->producer ? v->producer->op->name : "?"));
      return tlite::kNone;
    }
    TANDEM_CHECK(v->dtype == DType::Float32 || v->dtype == DType::Float64 || v->dtype == DType::Float16,
                 "convert: constant '{}' of dtype {} feeds a lite op; tandem-lite computes in float32 only",
                 v->name, v->dtype);
    uint32_t i = constant(v->data, v->name);
    ids[v] = i;
    return i;
  }

  // ---- int8 ----

  static bool is_q8(DType t) { return t == DType::Int8 || t == DType::UInt8; }
  static tlite::DType lite_q8(DType t) { return t == DType::Int8 ? tlite::DType::I8 : tlite::DType::U8; }

  // Quantization parameters from a scale and an optional zero-point constant (axis -1: one value).
  bool quant_of(const graph::Value* scale, const graph::Value* zp, int64_t axis, tlite::Quant& q, std::string what) {
    if (scale == nullptr || !scale->data.defined() || (zp != nullptr && !zp->data.defined())) {
      problems.push_back(what + ": scale and zero point must be constants");
      return false;
    }
    std::vector<float> s = scale->data.to(DType::Float32).contiguous().reshape({-1}).to_vector<float>();
    std::vector<int32_t> z = zp ? zp->data.to(DType::Int32).contiguous().reshape({-1}).to_vector<int32_t>()
                                : std::vector<int32_t>(s.size(), 0);
    if (s.empty() || z.size() != s.size() || (s.size() > 1 && axis < 0)) {
      problems.push_back(what + ": scale and zero point sizes do not match");
      return false;
    }
    q.axis = s.size() == 1 ? -1 : int32_t(axis);
    q.scales = s;
    q.zero_points = z;
    return true;
  }

  static bool same_quant(const tlite::Quant& a, const tlite::Quant& b) {
    return a.axis == b.axis && a.scales == b.scales && a.zero_points == b.zero_points;
  }

  uint32_t q_constant(const Tensor& t, const std::string& name, tlite::Quant q) {
    Tensor c = t.contiguous();
    tlite::ValueInfo vi;
    vi.name = name;
    vi.dtype = lite_q8(c.dtype());
    vi.quant = std::move(q);
    for (int64_t d : c.shape()) vi.dims.push_back(d);
    const_bytes += c.numel();
    return w.add_constant(std::move(vi), c.data_ptr(), size_t(c.numel()));
  }

  // The lite id of an int8 activation `v` whose parameters must be `want` (per tensor).
  uint32_t q_input(const graph::Value* v, const tlite::Quant& want, const std::string& what) {
    uint32_t i = id(v);
    if (i == tlite::kNone) return i;
    auto it = pending_quant.find(i);
    if (it == pending_quant.end() || !same_quant(it->second, want))
      problems.push_back(what + ": its int8 input was not quantized with the parameters it reads");
    return i;
  }

  void quantize_node(const graph::Node* n) {
    tlite::Quant q;
    const graph::Value* zp = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
    if (!quant_of(n->inputs[1], zp, -1, q, "quantize_linear")) return;
    if (q.scales.size() != 1) return (void)problems.push_back("quantize_linear per axis (tandem-lite quantizes per tensor)");
    uint32_t x = id(n->inputs[0]);
    emit_q(Op::Quantize, n, {x}, {}, q);
  }

  void dequantize_node(const graph::Node* n) {
    const graph::Value* x = n->inputs[0];
    const graph::Value* zp = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
    // An int8 weight that no int8 layer took (a layer left float; const_fold skips large
    // results): dequantized here, it becomes a float32 constant like any other.
    if (x->data.defined() && n->inputs[1]->data.defined() && (zp == nullptr || zp->data.defined())) {
      folded[n->output()] = tandem::dequantize_linear(x->data, n->inputs[1]->data, zp ? zp->data : Tensor(),
                                                      n->attrs.get_or<int64_t>("axis", 1));
      return;
    }
    tlite::Quant q;
    int64_t axis = n->attrs.get_or<int64_t>("axis", 1);
    if (axis < 0) axis += int64_t(x->shape.size());
    if (!quant_of(n->inputs[1], zp, axis, q, "dequantize_linear")) return;
    if (!is_q8(x->dtype)) return (void)problems.push_back(fmt::format("dequantize_linear of {}", x->dtype));
    uint32_t xi;
    if (x->data.defined() && !ids.count(x)) {
      xi = q_constant(x->data, x->name, q);
      ids[x] = xi;
    } else {
      xi = id(x);
      auto it = pending_quant.find(xi);
      if (xi != tlite::kNone && (it == pending_quant.end() || !same_quant(it->second, q)))
        problems.push_back("dequantize_linear with other parameters than its input was quantized with");
    }
    emit(Op::Dequantize, n, {xi}, {});
  }

  // qlinear_conv2d / qlinear_linear (fuse_qdq's int8 layers): x_q, x_scale, x_zp, w_q, w_scale,
  // w_zp, y_scale, y_zp, bias.
  void qlayer_node(const graph::Node* n) {
    const bool conv = n->op->name == "qlinear_conv2d";
    const std::string& op = n->op->name;
    auto at = [&](size_t i) { return i < n->inputs.size() ? n->inputs[i] : nullptr; };
    tlite::Quant xq, wq, yq;
    const graph::Value* wv = at(3);
    if (!quant_of(at(1), at(2), -1, xq, op) || !quant_of(at(4), at(5), 0, wq, op) || !quant_of(at(6), at(7), -1, yq, op))
      return;
    if (!wv->data.defined() || !is_q8(wv->dtype)) return (void)problems.push_back(op + " with a weight that is not an int8 constant");
    uint32_t x = q_input(at(0), xq, op);
    uint32_t wid = ids.count(wv) ? ids[wv] : q_constant(wv->data, wv->name, wq);
    ids[wv] = wid;
    uint32_t b = tlite::kNone;
    if (const graph::Value* bv = at(8)) {
      if (!bv->data.defined()) return (void)problems.push_back(op + " with a bias that is not a constant");
      b = id(bv);
    }
    const Attrs& a = n->attrs;
    std::vector<Attr> attrs;
    if (conv) {
      attrs = {al(Key::Stride, a.get_or<std::vector<int64_t>>("stride", {1, 1})),
               al(Key::Pad, a.get_or<std::vector<int64_t>>("padding", {0, 0, 0, 0})),
               al(Key::Dilation, a.get_or<std::vector<int64_t>>("dilation", {1, 1})),
               ai(Key::Groups, a.get_or<int64_t>("groups", 1))};
    }
    if (a.get_or<std::string>("act", "none") == "relu") attrs.push_back(ai(Key::ActKind, int64_t(Act::Relu)));
    // The full runtime runs an int8-weight, zero-weight-zero-point convolution as one oneDNN
    // primitive, whose requantization adds the bias before scaling (rounding 1); everything
    // else requantizes as src/quant does (rounding 0).
    bool zero_wzp = std::all_of(wq.zero_points.begin(), wq.zero_points.end(), [](int32_t z) { return z == 0; });
    bool onednn = conv && wv->dtype == DType::Int8 && zero_wzp && a.get_or<int64_t>("reference", 0) == 0;
    attrs.push_back(ai(Key::Rounding, onednn ? 1 : 0));
    emit_q(conv ? Op::QConv2d : Op::QLinear, n, {x, wid, b}, attrs, yq);
  }

  void emit_q(Op op, const graph::Node* n, std::vector<uint32_t> inputs, std::vector<Attr> attrs, tlite::Quant q) {
    const graph::Value* y = n->output();
    if (!is_q8(y->dtype)) return (void)problems.push_back(fmt::format("{} with a {} output", n->op->name, y->dtype));
    NodeInfo info;
    info.op = op;
    info.inputs = std::move(inputs);
    info.attrs = std::move(attrs);
    tlite::ValueInfo vi;
    vi.name = y->name;
    vi.dims = dims(y);
    for (int64_t& d : vi.dims)
      if (d < 0) d = 1;
    vi.dtype = lite_q8(y->dtype);
    vi.quant = q;
    uint32_t i = w.add_value(std::move(vi));
    ids[y] = i;
    pending_quant[i] = std::move(q);
    info.outputs.push_back(i);
    w.add_node(std::move(info));
    if (report) report->lite_ops[tlite::op_name(op)]++;
  }

  std::map<uint32_t, tlite::Quant> pending_quant;  // lite id -> parameters of an int8 value
  std::unordered_map<const graph::Value*, Tensor> folded;  // dequantized int8 constants (float32)

  // A float layer's int8 weight (dequantize_linear of an int8 constant [N, K]): kept int8 in the
  // file, transposed to [K, N], and dequantized by a lite node at run time (the same float
  // values the full runtime folds it to), so the file stays ~4x smaller. kNone: not such a weight.
  uint32_t int8_linear_weight(const graph::Value* wv) {
    const graph::Node* dq = wv->producer;
    if (!folded.count(wv) || dq == nullptr || dq->op->name != "dequantize_linear" || wv->shape.size() != 2) return tlite::kNone;
    Tensor q = dq->inputs[0]->data;
    tlite::Quant qq;
    int64_t axis = dq->attrs.get_or<int64_t>("axis", 1);
    if (axis < 0) axis += 2;
    if (!quant_of(dq->inputs[1], dq->inputs.size() > 2 ? dq->inputs[2] : nullptr, axis, qq, "linear weight"))
      return tlite::kNone;
    if (qq.axis >= 0) qq.axis = 1 - qq.axis;
    uint32_t qid = q_constant(q.t().contiguous(), wv->name.empty() ? "" : wv->name + "_t", qq);
    tlite::ValueInfo vi;
    vi.dims = {q.size(1), q.size(0)};
    uint32_t out = w.add_value(std::move(vi));
    NodeInfo info;
    info.op = Op::Dequantize;
    info.inputs = {qid};
    info.outputs = {out};
    w.add_node(std::move(info));
    if (report) report->lite_ops[tlite::op_name(Op::Dequantize)]++;
    return out;
  }

  // A constant's data: a graph constant's, or one the converter folded.
  Tensor const_data(const graph::Value* v) {
    if (v->data.defined()) return v->data;
    auto f = folded.find(v);
    return f == folded.end() ? Tensor() : f->second;
  }

  uint32_t out_value(const graph::Value* v) {
    tlite::ValueInfo vi;
    vi.name = v->name;
    vi.dims = dims(v);
    for (int64_t& d : vi.dims)
      if (d < 0) d = 1;  // activations: the traced shape, recomputed at run time
    uint32_t i = w.add_value(std::move(vi));
    ids[v] = i;
    return i;
  }

  void emit(Op op, const graph::Node* n, std::vector<uint32_t> inputs, std::vector<Attr> attrs, size_t outputs = 1) {
    NodeInfo info;
    info.op = op;
    info.inputs = std::move(inputs);
    info.attrs = std::move(attrs);
    for (size_t i = 0; i < outputs; ++i) info.outputs.push_back(out_value(n->outputs[i]));
    w.add_node(std::move(info));
    if (report) report->lite_ops[tlite::op_name(op)]++;
  }

  void only_first_output_used(const graph::Node* n) {
    for (size_t i = 1; i < n->outputs.size(); ++i)
      if (!n->outputs[i]->users.empty() || graph::is_graph_result(g, n->outputs[i]))
        problems.push_back(fmt::format("{}: output {} (statistics) is used; tandem-lite computes only the "
                                       "normalized output", n->op->name, i));
  }

  // Reshape/expand targets: with a dynamic batch, dim 0 equal to the input's dim 0 follows it.
  std::vector<int64_t> batch_follow(const graph::Node* n, std::vector<int64_t> shape) {
    const graph::Value* x = n->inputs[0];
    if (dynamic && !shape.empty() && !x->shape.empty() && x->shape[0].is_static() && shape[0] == x->shape[0].value)
      shape[0] = 0;
    return shape;
  }

  void node(const graph::Node* n) {
    const std::string& op = n->op->name;
    const Attrs& a = n->attrs;
    auto in = [&](size_t i) { return i < n->inputs.size() ? id(n->inputs[i]) : tlite::kNone; };
    if (identity_ops().count(op) || (op == "to" && n->output()->dtype == DType::Float32)) {
      ids[n->output()] = in(0);
      return;
    }
    std::vector<Attr> act;
    if (act_of(op, a, act)) return emit(Op::Activation, n, {in(0)}, act);
    if (op == "quantize_linear") return quantize_node(n);
    if (op == "dequantize_linear") return dequantize_node(n);
    if (op == "qlinear_conv2d" || op == "qlinear_linear") return qlayer_node(n);
    if (op == "conv2d" || op == "conv2d_act") {
      auto [sh, sw] = pair_attr(a, "stride", {1, 1});
      auto [ph, pw] = pair_attr(a, "padding", {0, 0});
      auto [dh, dw] = pair_attr(a, "dilation", {1, 1});
      std::vector<Attr> at = {al(Key::Stride, {sh, sw}), al(Key::Pad, {ph, pw, ph, pw}), al(Key::Dilation, {dh, dw}),
                              ai(Key::Groups, a.get_or<int64_t>("groups", 1))};
      if (op == "conv2d_act" && !act_of(a.get<std::string>("act"), a, at))
        problems.push_back("conv2d_act: activation '" + a.get<std::string>("act") + "' not in tandem-lite");
      if (n->inputs[0]->shape.size() != 4) problems.push_back("conv2d on a non-4-D input");
      return emit(Op::Conv2d, n, {in(0), in(1), in(2)}, at);
    }
    if (op == "linear" || op == "linear_act") {
      const graph::Value* wv = n->inputs[1];
      if (uint32_t wq = int8_linear_weight(wv); wq != tlite::kNone) {
        std::vector<Attr> at;
        if (op == "linear_act" && !act_of(a.get<std::string>("act"), a, at))
          problems.push_back("linear_act: activation '" + a.get<std::string>("act") + "' not in tandem-lite");
        return emit(Op::Linear, n, {in(0), wq, in(2)}, at);
      }
      Tensor wd = const_data(wv);
      if (!wd.defined() || wv->shape.size() != 2) {
        problems.push_back("linear with a weight that is not a 2-D constant");
        return;
      }
      // Lite's Linear reads the weight as [K, N]: transposed once here.
      uint32_t wt = constant(wd.t().contiguous(), wv->name.empty() ? "" : wv->name + "_t");
      std::vector<Attr> at;
      if (op == "linear_act" && !act_of(a.get<std::string>("act"), a, at))
        problems.push_back("linear_act: activation '" + a.get<std::string>("act") + "' not in tandem-lite");
      return emit(Op::Linear, n, {in(0), wt, in(2)}, at);
    }
    if (op == "matmul") {
      if (n->inputs[0]->shape.size() < 2 || n->inputs[1]->shape.size() < 2)
        problems.push_back("matmul with a 1-D operand");
      return emit(Op::MatMul, n, {in(0), in(1)}, {});
    }
    if (op == "max_pool2d" || op == "avg_pool2d") {
      if (n->inputs[0]->shape.size() != 4) problems.push_back(op + " on a non-4-D input");
      auto [kh, kw] = pair_attr(a, "kernel_size", {1, 1});
      auto [sh, sw] = pair_attr(a, "stride", {kh, kw});
      auto [ph, pw] = pair_attr(a, "padding", {0, 0});
      std::vector<Attr> at = {al(Key::Kernel, {kh, kw}), al(Key::Stride, {sh, sw}), al(Key::Pad, {ph, pw, ph, pw}),
                              ai(Key::CeilMode, a.get_or<bool>("ceil_mode", false) ? 1 : 0)};
      if (op == "max_pool2d") {
        auto [dh, dw] = pair_attr(a, "dilation", {1, 1});
        at.push_back(al(Key::Dilation, {dh, dw}));
        return emit(Op::MaxPool2d, n, {in(0)}, at);
      }
      at.push_back(ai(Key::CountIncludePad, a.get_or<bool>("count_include_pad", true) ? 1 : 0));
      return emit(Op::AvgPool2d, n, {in(0)}, at);
    }
    if (op == "adaptive_avg_pool2d") {
      if (n->inputs[0]->shape.size() != 4) problems.push_back(op + " on a non-4-D input");
      auto [oh, ow] = pair_attr(a, "output_size", {1, 1});
      return emit(Op::AdaptiveAvgPool2d, n, {in(0)}, {al(Key::Output, {oh, ow})});
    }
    static const std::map<std::string, Op> binary = {{"add", Op::Add}, {"sub", Op::Sub}, {"mul", Op::Mul},
                                                     {"div", Op::Div}, {"pow", Op::Pow}, {"maximum", Op::Maximum},
                                                     {"minimum", Op::Minimum}};
    if (auto it = binary.find(op); it != binary.end()) {
      if (a.get_or<double>("alpha", 1.0) != 1.0) problems.push_back(op + " with alpha != 1");
      if (op == "div" && !a.get_or<std::string>("rounding_mode", "").empty()) problems.push_back("div with rounding");
      return emit(it->second, n, {in(0), in(1)}, {});
    }
    if (op == "cat") {
      std::vector<uint32_t> ins;
      for (const graph::Value* v : n->inputs) ins.push_back(id(v));
      return emit(Op::Concat, n, ins, {ai(Key::Axis, a.get<int64_t>("dim"))});
    }
    if (op == "slice") {
      return emit(Op::Slice, n, {in(0)},
                  {ai(Key::Axis, a.get<int64_t>("dim")), ai(Key::Start, a.get<int64_t>("start")),
                   ai(Key::End, std::min<int64_t>(a.get<int64_t>("end"), tlite::kMaxDim)),
                   ai(Key::Step, a.get<int64_t>("step"))});
    }
    if (op == "reshape") {
      std::vector<int64_t> s = dims(n->output());
      return emit(Op::Reshape, n, {in(0)}, {al(Key::Shape, batch_follow(n, s))});
    }
    if (op == "expand") {
      IntArray s = a.get<IntArray>("shape");
      return emit(Op::Expand, n, {in(0)}, {al(Key::Shape, batch_follow(n, std::vector<int64_t>(s.begin(), s.end())))});
    }
    if (op == "permute") {
      IntArray d = a.get<IntArray>("dims");
      std::vector<int64_t> perm;
      for (int64_t x : d) perm.push_back(x < 0 ? x + int64_t(d.size()) : x);
      return emit(Op::Transpose, n, {in(0)}, {al(Key::Perm, perm)});
    }
    if (op == "softmax" || op == "log_softmax")
      return emit(Op::Softmax, n, {in(0)}, {ai(Key::Axis, a.get<int64_t>("dim")), ai(Key::Log, op == "log_softmax")});
    if (op == "layer_norm") {
      only_first_output_used(n);
      int64_t k = int64_t(a.get<IntArray>("normalized_shape").size());
      return emit(Op::LayerNorm, n, {in(0), in(1), in(2)},
                  {ai(Key::Axis, int64_t(n->inputs[0]->shape.size()) - k), af(Key::Eps, a.get_or<double>("eps", 1e-5))});
    }
    if (op == "batch_norm") {
      only_first_output_used(n);
      if (a.get_or<bool>("training", false)) problems.push_back("batch_norm in training mode");
      if (!n->inputs[1] || !n->inputs[2]) problems.push_back("batch_norm without running statistics");
      return emit(Op::BatchNorm, n, {in(0), in(1), in(2), in(3), in(4)}, {af(Key::Eps, a.get_or<double>("eps", 1e-5))});
    }
    if (op == "mean") {
      IntArray d = a.get<IntArray>("dims");
      std::vector<int64_t> dv(d.begin(), d.end());
      if (dv.empty())
        for (size_t i = 0; i < n->inputs[0]->shape.size(); ++i) dv.push_back(int64_t(i));
      return emit(Op::Mean, n, {in(0)}, {al(Key::Dims, dv), ai(Key::KeepDim, a.get_or<bool>("keepdim", false))});
    }
    missing[op]++;
  }
};

}  // namespace lite_conv

std::vector<std::string> lite_supported_ops() { return lite_conv::supported(); }

std::string LiteConvertReport::str() const {
  std::string s = passes;
  s += fmt::format("graph nodes after the passes: {}\nlite ops:", graph_nodes);
  for (const auto& [op, n] : lite_ops) s += fmt::format(" {}={}", op, n);
  s += fmt::format("\nweights: {} bytes, file: {} bytes\n", constants_bytes, file_bytes);
  return s;
}

std::string convert_graph_to_lite(graph::Graph& g, const std::vector<bool>& dynamic_batch,
                                  const std::vector<std::string>& output_names, LiteConvertReport* report) {
  graph::PipelineOptions po;
  // The backend-independent inference passes: no prepacking or blocked layouts (oneDNN-specific).
  // fuse_qdq before const_fold, as in the full pipeline: the int8 layers keep their int8 weights.
  po.passes = "shape_infer,fuse_qdq,const_fold,simplify,cse,dce,fold_batchnorm,fuse_matmul_act,fuse_hardswish,dce";
  po.inference = true;
  graph::PipelineReport pr = graph::run_pipeline(g, po);
  TANDEM_CHECK(g.updates().empty(), "convert: the graph updates variables in place (a training step?); "
               "tandem-lite runs inference graphs only");
  lite_conv::Converter c(g);
  c.report = report;
  for (bool d : dynamic_batch) c.dynamic |= d;
  std::vector<uint32_t> ins, outs;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const graph::Value* v = g.inputs()[i];
    TANDEM_CHECK(v->dtype == DType::Float32, "convert: input '{}' is {}; tandem-lite takes float32 inputs", v->name,
                 v->dtype);
    tlite::ValueInfo vi;
    vi.name = v->name.empty() ? fmt::format("input_{}", i) : v->name;
    vi.kind = tlite::ValueKind::Input;
    vi.dims = c.dims(v);
    if (i < dynamic_batch.size() && dynamic_batch[i] && !vi.dims.empty()) vi.dims[0] = tlite::kDynamic;
    uint32_t id = c.w.add_value(std::move(vi));
    c.ids[v] = id;
    ins.push_back(id);
  }
  for (const graph::Node* n : g.nodes()) c.node(n);
  if (!c.missing.empty() || !c.problems.empty()) {
    std::string msg = "convert: the model needs what tandem-lite lacks:";
    if (!c.missing.empty()) {
      msg += " ops";
      for (const auto& [op, k] : c.missing) msg += fmt::format(" {} (x{})", op, k);
    }
    for (const std::string& p : c.problems) msg += "; " + p;
    msg += fmt::format(". tandem-lite maps: {}", fmt::join(lite_supported_ops(), ", "));
    TANDEM_FAIL("{}", msg);
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const graph::Value* v = g.outputs()[i];
    TANDEM_CHECK(v->dtype == DType::Float32, "convert: output {} is {}; tandem-lite returns float32 outputs", i,
                 v->dtype);
    uint32_t id = c.id(v);
    outs.push_back(id);
    // Output names go on the values (an input or a value that is an output twice keeps its first name).
    if (c.w.value(id).kind == tlite::ValueKind::Activation || c.w.value(id).name.empty()) {
      bool first = std::count(outs.begin(), outs.end(), id) == 1;
      if (first) c.w.set_name(id, i < output_names.size() ? output_names[i] : fmt::format("output_{}", i));
    }
  }
  c.w.set_io(ins, outs);
  std::string bytes = c.w.finish();
  if (report) {
    report->passes = pr.str();
    report->graph_nodes = int64_t(g.num_nodes());
    report->constants_bytes = c.const_bytes;
    report->file_bytes = int64_t(bytes.size());
  }
  return bytes;
}

LiteConvertReport convert_to_lite(const std::string& onnx_path, const std::string& tlite_path) {
  Model m = Model::load(onnx_path);
  const ModelInfo& info = m.info();
  std::vector<bool> dynamic;
  for (const ValueInfo& v : info.inputs) {
    TANDEM_CHECK(v.type.empty() && v.has_shape, "convert: input '{}' is not a tensor of known rank", v.name);
    bool dyn = !v.shape.empty() && !v.shape[0].is_static();
    for (size_t i = 1; i < v.shape.size(); ++i)
      TANDEM_CHECK(v.shape[i].is_static(), "convert: input '{}' has a symbolic dim {} ('{}'); tandem-lite allows a "
                   "dynamic batch dim (dim 0) only", v.name, i, v.shape[i].symbol);
    dynamic.push_back(dyn);
  }
  graph::Graph g = m.to_graph({}, {});  // untouched: convert_graph_to_lite picks the passes
  // The graph's inputs and outputs by the model's names.
  for (size_t i = 0; i < g.inputs().size() && i < info.inputs.size(); ++i) g.inputs()[i]->name = info.inputs[i].name;
  std::vector<std::string> names;
  for (const ValueInfo& v : info.outputs) names.push_back(v.name);
  LiteConvertReport r;
  std::string bytes = convert_graph_to_lite(g, dynamic, names, &r);
  io::write_file_atomic(tlite_path, [&](std::ostream& os) { os.write(bytes.data(), std::streamsize(bytes.size())); });
  return r;
}

}  // namespace tandem::onnx
