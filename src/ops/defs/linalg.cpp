// Linear algebra: matmul (NumPy semantics), linear, bmm, outer.
// Kernels live in backend/cpu/gemm (oneDNN for float32, a blocked loop otherwise);
// backward formulas are matmuls of the gradient with transposes, so they can be
// differentiated again.
#include "../../backend/cpu/fused.h"
#include "../../backend/cpu/gemm.h"
#include "../../backend/cpu/packed_weights.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;
using cpu::MatView;

DType matmul_dtype(const char* op, const TensorMeta& a, const TensorMeta& b) {
  DType t = promote_types(a.dtype, b.dtype);
  TANDEM_CHECK(t != DType::Bool, "{}: bool tensors are not supported (shapes {} and {})", op,
               shape_str(a.shape), shape_str(b.shape));
  return t;
}

// Output shape of matmul(a, b): a 1-D left operand is a row vector and a 1-D
// right operand a column vector, the added dim removed from the result; batch
// dims broadcast.
Shape matmul_shape(const Shape& a, const Shape& b) {
  TANDEM_CHECK(!a.empty() && !b.empty(),
               "matmul: both arguments need at least 1 dimension, got shapes {} and {}",
               shape_str(a), shape_str(b));
  int64_t ka = a.back(), kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  TANDEM_CHECK(ka == kb, "matmul: shapes {} and {} cannot be multiplied ({} != {})", shape_str(a),
               shape_str(b), ka, kb);
  Shape batch_a(a.begin(), a.end() - std::min<size_t>(a.size(), 2));
  Shape batch_b(b.begin(), b.end() - std::min<size_t>(b.size(), 2));
  Shape out = broadcast_shapes(batch_a, batch_b, "matmul");
  if (a.size() >= 2) out.push_back(a[a.size() - 2]);
  if (b.size() >= 2) out.push_back(b.back());
  return out;
}

// Views a (and b) as matrices with the output's rank (1-D operands as a row / column).
void run_matmul(const Tensor& a0, const Tensor& b0, const Tensor& out) {
  NoGradGuard no_grad;
  Tensor a = a0.dtype() == out.dtype() ? a0 : a0.to(out.dtype());
  Tensor b = b0.dtype() == out.dtype() ? b0 : b0.to(out.dtype());
  MatView av = MatView::of(a), bv = MatView::of(b);
  if (a.dim() == 1) av = {av.data, {1, a.size(0)}, {0, a.stride(0)}};
  if (b.dim() == 1) bv = {bv.data, {b.size(0), 1}, {b.stride(0), 0}};
  Shape cs = out.shape();
  if (a.dim() == 1) cs.insert(cs.end() - (b.dim() == 1 ? 0 : 1), 1);
  if (b.dim() == 1) cs.push_back(1);
  int64_t nd = static_cast<int64_t>(cs.size());
  av.expand_rank(nd);
  bv.expand_rank(nd);
  cpu::gemm(std::move(av), std::move(bv), Tensor(), out, cs);
}

Tensor mT(const Tensor& t) { return t.transpose(-1, -2); }

std::vector<TensorMeta> infer_matmul(const Metas& in, const Attrs&) {
  TensorMeta m;
  m.shape = matmul_shape(in[0].shape, in[1].shape);
  m.dtype = matmul_dtype("matmul", in[0], in[1]);
  return {m};
}

Tensors matmul_backward(const BackwardContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  // Treat 1-D operands as matrices and give the gradient their extra dims back.
  Tensor g = c.grad(0);
  if (b.dim() == 1) g = g.unsqueeze(-1);
  if (a.dim() == 1) g = g.unsqueeze(g.dim() == 1 ? 0 : -2);
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(-1) : b;
  Tensor ga, gb;
  if (c.needs_input_grad(0)) {
    ga = matmul(g, mT(b2));  // the engine sums broadcast batch dims
    if (a.dim() == 1) ga = ga.squeeze(-2);
  }
  if (c.needs_input_grad(1)) {
    if (b2.dim() == 2 && a2.dim() > 2) {
      // A shared matrix: one GEMM over the flattened batch instead of a batch of
      // products summed afterwards.
      int64_t k = a2.size(-1), n = g.size(-1);
      gb = matmul(mT(a2.reshape({-1, k})), g.reshape({-1, n}));
    } else {
      gb = matmul(mT(a2), g);
    }
    if (b.dim() == 1) gb = gb.squeeze(-1);
  }
  return {ga, gb};
}

}  // namespace

namespace defs {

void register_linalg() {
  {
    OpDef d;
    d.name = "matmul";
    d.num_inputs = 2;
    d.doc = "Matrix product with NumPy semantics: 1-D operands are promoted to a row (left) or "
            "column (right) and the added dim removed; leading batch dims broadcast.";
    d.infer = infer_matmul;
    d.cpu = [](const KernelArgs& k) { run_matmul(k.inputs[0], k.inputs[1], k.outputs[0]); };
    d.backward = matmul_backward;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "bmm";
    d.num_inputs = 2;
    d.doc = "Batched matrix product of [B, M, K] and [B, K, N] (no broadcasting).";
    d.infer = [](const Metas& in, const Attrs&) {
      const Shape& a = in[0].shape;
      const Shape& b = in[1].shape;
      TANDEM_CHECK(a.size() == 3 && b.size() == 3,
                   "bmm: expected two 3-D tensors, got shapes {} and {}", shape_str(a), shape_str(b));
      TANDEM_CHECK(a[0] == b[0] && a[2] == b[1],
                   "bmm: shapes {} and {} do not match ([B, M, K] and [B, K, N] expected)",
                   shape_str(a), shape_str(b));
      TensorMeta m;
      m.shape = {a[0], a[1], b[2]};
      m.dtype = matmul_dtype("bmm", in[0], in[1]);
      return Metas{m};
    };
    d.cpu = [](const KernelArgs& k) { run_matmul(k.inputs[0], k.inputs[1], k.outputs[0]); };
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.grad(0);
      return Tensors{c.needs_input_grad(0) ? bmm(g, mT(c.input(1))) : Tensor(),
                     c.needs_input_grad(1) ? bmm(mT(c.input(0)), g) : Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "linear";
    d.num_inputs = 3;
    d.optional_inputs = {2};
    d.doc = "x · weightᵀ + bias for x [..., in], weight [out, in], bias [out] (optional). Attr prepacked = 1 "
            "(set by graph::run_prepack_weights): the weight is constant for the graph and is reordered once.";
    d.infer = [](const Metas& in, const Attrs&) {
      const Shape& x = in[0].shape;
      const Shape& w = in[1].shape;
      TANDEM_CHECK(w.size() == 2, "linear: weight must be 2-D [out, in], got shape {}", shape_str(w));
      TANDEM_CHECK(!x.empty() && x.back() == w[1],
                   "linear: input shape {} does not match weight shape {} (input's last dim must "
                   "be in_features = {})", shape_str(x), shape_str(w), w[1]);
      DType t = matmul_dtype("linear", in[0], in[1]);
      if (in[2].defined) {
        TANDEM_CHECK(in[2].shape == Shape{w[0]},
                     "linear: bias shape {} does not match weight shape {} (expected [{}])",
                     shape_str(in[2].shape), shape_str(w), w[0]);
        t = matmul_dtype("linear", {{}, t}, in[2]);
      }
      TensorMeta m;
      m.shape = x;
      m.shape.back() = w[0];
      m.dtype = t;
      return Metas{m};
    };
    d.cpu = [](const KernelArgs& k) {
      NoGradGuard no_grad;
      const Tensor& out = k.outputs[0];
      // The weight is constant for the graph (graph::run_prepack_weights): one matmul on weights
      // reordered once; cases it does not cover (other dtypes, layouts) take the path below.
      if (k.attrs.get_or<int64_t>("prepacked", 0) != 0) {
        if (cpu::linear_onednn(k.inputs[0], k.inputs[1], k.inputs[2], out, nullptr, true)) return;
        cpu::packed_weights::ensure_plain(k.inputs[1]);  // the plain path reads it
      }
      auto cast = [&](const Tensor& t) { return !t.defined() || t.dtype() == out.dtype() ? t : t.to(out.dtype()); };
      Tensor x = cast(k.inputs[0]), w = cast(k.inputs[1]), bias = cast(k.inputs[2]);
      int64_t in_f = w.size(1), out_f = w.size(0);
      MatView xv = MatView::of(x);
      Shape cs = out.shape();
      if (x.dim() == 1) {
        xv = {xv.data, {1, in_f}, {in_f, x.stride(0)}};
        cs = {1, out_f};
      }
      // wᵀ through strides; its batch dims are 1, so gemm folds x's leading dims into rows.
      MatView wt = MatView::of(w);
      wt.transpose().expand_rank(xv.ndim());
      cpu::gemm(std::move(xv), std::move(wt), bias, out, cs);
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(1);
      const Tensor& g = c.grad(0);
      int64_t out_f = w.size(0), in_f = w.size(1);
      Tensor gx, gw, gb;
      if (c.needs_input_grad(0)) gx = matmul(g, w);
      if (c.needs_input_grad(1)) gw = matmul(mT(g.reshape({-1, out_f})), x.reshape({-1, in_f}));
      if (c.num_inputs() > 2 && c.needs_input_grad(2)) gb = g.reshape({-1, out_f}).sum({0});
      return Tensors{gx, gw, gb};
    };
    register_op(std::move(d));
  }
}

}  // namespace defs

Tensor matmul(const Tensor& a, const Tensor& b) {
  static const OpDef& d = op("matmul");
  return dispatch1(d, {a, b});
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  static const OpDef& d = op("linear");
  return dispatch1(d, {x, weight, bias});
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  static const OpDef& d = op("bmm");
  return dispatch1(d, {a, b});
}

// A composite: the broadcast product of a column and a row.
Tensor outer(const Tensor& a, const Tensor& b) {
  TANDEM_CHECK(a.dim() == 1 && b.dim() == 1, "outer: expected two 1-D tensors, got shapes {} and {}",
               shape_str(a.shape()), shape_str(b.shape()));
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

}  // namespace tandem
