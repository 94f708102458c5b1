// Elementwise ops. (Initial version: add, sub, mul, div, neg with a plain strided
// loop; to be replaced by vectorized kernels.)
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

Metas infer_binary(const Metas& in, const Attrs&) {
  TensorMeta m;
  m.shape = broadcast_shapes(in[0].shape, in[1].shape, "elementwise");
  m.dtype = result_type(in);
  return {m};
}

template <typename F>
void binary_kernel(const KernelArgs& k, F f) {
  const Tensor& out = k.outputs[0];
  NoGradGuard no_grad;
  Tensor a = k.inputs[0].to(out.dtype()), b = k.inputs[1].to(out.dtype());
  cpu::StridedLoop<3> loop(out.shape(), {out.strides(), cpu::broadcast_strides(a, out.shape()),
                                         cpu::broadcast_strides(b, out.shape())});
  TANDEM_DISPATCH_NUMERIC(out.dtype(), "binary", [&] {
    scalar_t* o = static_cast<scalar_t*>(out.data_ptr());
    const scalar_t* pa = static_cast<const scalar_t*>(a.data_ptr());
    const scalar_t* pb = static_cast<const scalar_t*>(b.data_ptr());
    loop.run([&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i * st[0]] = f(pa[off[1] + i * st[1]], pb[off[2] + i * st[2]]);
    });
  });
}

}  // namespace

namespace defs {

void register_elementwise() {
  {
    OpDef d;
    d.name = "add";
    d.num_inputs = 2;
    d.infer = infer_binary;
    d.cpu = [](const KernelArgs& k) {
      double alpha = k.attrs.get_or<double>("alpha", 1.0);
      binary_kernel(k, [alpha](auto a, auto b) { return static_cast<decltype(a)>(a + alpha * b); });
    };
    d.backward = [](const BackwardContext& c) {
      double alpha = c.attrs().get_or<double>("alpha", 1.0);
      return Tensors{c.grad(0), alpha == 1.0 ? c.grad(0) : c.grad(0) * alpha};
    };
    d.save_inputs = false;
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "mul";
    d.num_inputs = 2;
    d.infer = infer_binary;
    d.cpu = [](const KernelArgs& k) { binary_kernel(k, [](auto a, auto b) { return a * b; }); };
    d.backward = [](const BackwardContext& c) {
      return Tensors{c.needs_input_grad(0) ? c.grad(0) * c.input(1) : Tensor(),
                     c.needs_input_grad(1) ? c.grad(0) * c.input(0) : Tensor()};
    };
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "div";
    d.num_inputs = 2;
    d.infer = [](const Metas& in, const Attrs& a) {
      Metas m = infer_binary(in, a);
      if (!is_floating(m[0].dtype)) m[0].dtype = DType::Float32;  // true division
      return m;
    };
    d.cpu = [](const KernelArgs& k) { binary_kernel(k, [](auto a, auto b) { return a / b; }); };
    d.backward = [](const BackwardContext& c) {
      const Tensor& a = c.input(0);
      const Tensor& b = c.input(1);
      return Tensors{c.needs_input_grad(0) ? c.grad(0) / b : Tensor(),
                     c.needs_input_grad(1) ? -(c.grad(0) * a / (b * b)) : Tensor()};
    };
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "neg";
    d.infer = infer_same_as_input;
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      Tensor x = k.inputs[0];
      cpu::StridedLoop<2> loop(out.shape(), {out.strides(), x.strides()});
      TANDEM_DISPATCH_NUMERIC(out.dtype(), "neg", [&] {
        scalar_t* o = static_cast<scalar_t*>(out.data_ptr());
        const scalar_t* p = static_cast<const scalar_t*>(x.data_ptr());
        loop.run([&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
          for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] = -p[off[1] + i * st[1]];
        });
      });
    };
    d.backward = [](const BackwardContext& c) { return Tensors{-c.grad(0)}; };
    d.save_inputs = false;
    d.elementwise = true;
    register_op(std::move(d));
  }
}

}  // namespace defs

Tensor wrap_scalar(double v) {
  Tensor t = scalar_tensor(v, {.dtype = DType::Float64});
  t.impl()->is_wrapped_number = true;
  return t;
}
Tensor wrap_scalar(int64_t v) {
  Tensor t = scalar_tensor(static_cast<double>(v), {.dtype = DType::Int64});
  t.impl()->is_wrapped_number = true;
  return t;
}
Tensor wrap_scalar(bool v) {
  Tensor t = scalar_tensor(v ? 1.0 : 0.0, {.dtype = DType::Bool});
  t.impl()->is_wrapped_number = true;
  return t;
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  static const OpDef& d = op("add");
  return alpha == 1.0 ? dispatch1(d, {a, b}) : dispatch1(d, {a, b}, {{"alpha", alpha}});
}
Tensor sub(const Tensor& a, const Tensor& b, double alpha) { return add(a, b, -alpha); }
Tensor mul(const Tensor& a, const Tensor& b) {
  static const OpDef& d = op("mul");
  return dispatch1(d, {a, b});
}
Tensor div(const Tensor& a, const Tensor& b) {
  static const OpDef& d = op("div");
  return dispatch1(d, {a, b});
}
Tensor neg(const Tensor& x) {
  static const OpDef& d = op("neg");
  return dispatch1(d, {x});
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, wrap_scalar(b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, wrap_scalar(b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, wrap_scalar(b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, wrap_scalar(b)); }
Tensor operator+(double a, const Tensor& b) { return add(wrap_scalar(a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(wrap_scalar(a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(wrap_scalar(a), b); }
Tensor operator/(double a, const Tensor& b) { return div(wrap_scalar(a), b); }

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  static const OpDef& d = op("add");
  return alpha == 1.0 ? dispatch_inplace(d, *this, {other})
                      : dispatch_inplace(d, *this, {other}, {{"alpha", alpha}});
}
Tensor& Tensor::sub_(const Tensor& other, double alpha) { return add_(other, -alpha); }
Tensor& Tensor::mul_(const Tensor& other) {
  static const OpDef& d = op("mul");
  return dispatch_inplace(d, *this, {other});
}
Tensor& Tensor::div_(const Tensor& other) {
  static const OpDef& d = op("div");
  return dispatch_inplace(d, *this, {other});
}
Tensor& Tensor::add_(double other) { return add_(wrap_scalar(other)); }
Tensor& Tensor::mul_(double other) { return mul_(wrap_scalar(other)); }
Tensor Tensor::neg() const { return tandem::neg(*this); }

// ---- not implemented yet
Tensor pow(const Tensor& base, const Tensor& exponent) {
  TANDEM_FAIL("pow: not implemented yet");
}
Tensor pow(const Tensor& base, double exponent) {
  TANDEM_FAIL("pow: not implemented yet");
}
Tensor exp(const Tensor& x) {
  TANDEM_FAIL("exp: not implemented yet");
}
Tensor log(const Tensor& x) {
  TANDEM_FAIL("log: not implemented yet");
}
Tensor log1p(const Tensor& x) {
  TANDEM_FAIL("log1p: not implemented yet");
}
Tensor sqrt(const Tensor& x) {
  TANDEM_FAIL("sqrt: not implemented yet");
}
Tensor rsqrt(const Tensor& x) {
  TANDEM_FAIL("rsqrt: not implemented yet");
}
Tensor abs(const Tensor& x) {
  TANDEM_FAIL("abs: not implemented yet");
}
Tensor sign(const Tensor& x) {
  TANDEM_FAIL("sign: not implemented yet");
}
Tensor sin(const Tensor& x) {
  TANDEM_FAIL("sin: not implemented yet");
}
Tensor cos(const Tensor& x) {
  TANDEM_FAIL("cos: not implemented yet");
}
Tensor tanh(const Tensor& x) {
  TANDEM_FAIL("tanh: not implemented yet");
}
Tensor sigmoid(const Tensor& x) {
  TANDEM_FAIL("sigmoid: not implemented yet");
}
Tensor relu(const Tensor& x) {
  TANDEM_FAIL("relu: not implemented yet");
}
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  TANDEM_FAIL("leaky_relu: not implemented yet");
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  TANDEM_FAIL("gelu: not implemented yet");
}
Tensor silu(const Tensor& x) {
  TANDEM_FAIL("silu: not implemented yet");
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  TANDEM_FAIL("softplus: not implemented yet");
}
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  TANDEM_FAIL("clamp: not implemented yet");
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("minimum: not implemented yet");
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("maximum: not implemented yet");
}
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("where: not implemented yet");
}
Tensor eq(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("eq: not implemented yet");
}
Tensor ne(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("ne: not implemented yet");
}
Tensor lt(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("lt: not implemented yet");
}
Tensor le(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("le: not implemented yet");
}
Tensor gt(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("gt: not implemented yet");
}
Tensor ge(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("ge: not implemented yet");
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("logical_and: not implemented yet");
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("logical_or: not implemented yet");
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("logical_xor: not implemented yet");
}
Tensor logical_not(const Tensor& x) {
  TANDEM_FAIL("logical_not: not implemented yet");
}
Tensor operator==(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator==: not implemented yet");
}
Tensor operator!=(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator!=: not implemented yet");
}
Tensor operator<(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator<: not implemented yet");
}
Tensor operator<=(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator<=: not implemented yet");
}
Tensor operator>(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator>: not implemented yet");
}
Tensor operator>=(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator>=: not implemented yet");
}
Tensor operator&&(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator&&: not implemented yet");
}
Tensor operator||(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("operator||: not implemented yet");
}
Tensor operator!(const Tensor& x) {
  TANDEM_FAIL("operator!: not implemented yet");
}

}  // namespace tandem
