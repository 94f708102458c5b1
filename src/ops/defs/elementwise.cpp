// Elementwise ops with two or three inputs: arithmetic (add, sub, mul, div, pow,
// minimum, maximum), where, comparisons and logical ops, plus the C++ operators.
// The one-input math and activations are in elementwise_unary.cpp.
//
// Types follow PyTorch 1.13: binary ops promote with result_type() (dimensioned
// tensors > 0-dim tensors > C++ numbers, by category), div is true division,
// comparisons and logical ops return bool and have no gradient. uint16, which PyTorch
// lacks, promotes as NumPy (promote_types).
// Kernels: float32/float64 go to the per-ISA vectorized table, integers and bool
// to the generic loops (src/backend/cpu/elementwise*.cpp).
#include "../../backend/cpu/elementwise.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/operators.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;
using cpu::Binary;

using defs::is_float_compute;

// NOTE: results are built in place: `return {m}` would copy the shape twice,
// and this runs at every op call.
Metas binary_meta(const Metas& in, const char* op) {
  Metas r(1);
  r[0].shape = broadcast_shapes(in[0].shape, in[1].shape, op);
  r[0].dtype = result_type(in);
  return r;
}

// The dtype both inputs of a comparison are compared in.
DType compute_type(const Tensor& a, const Tensor& b) {
  return result_type({TensorMeta::of(a), TensorMeta::of(b)});
}

void arith_kernel(const KernelArgs& k, Binary op, const cpu::EwParams& p = {}) {
  const Tensor& out = k.outputs[0];
  if (is_float_compute(out.dtype())) cpu::ew_binary(op, k.inputs[0], k.inputs[1], out, p);
  else cpu::ew_binary_int(op, k.inputs[0], k.inputs[1], out, p);
}

// add/sub: alpha must be an integer for integer results (as PyTorch).
Metas add_sub_meta(const Metas& in, const Attrs& a, const char* op) {
  Metas m = binary_meta(in, op);
  double alpha = a.get_or<double>("alpha", 1.0);
  TANDEM_CHECK(is_floating(m[0].dtype) || alpha == static_cast<double>(static_cast<int64_t>(alpha)),
               "{}: alpha must be an integer for integer tensors (result dtype {}), got {}", op,
               m[0].dtype, alpha);
  return m;
}

// maximum/minimum gradient: all of g where this input wins, half on ties.
Tensor minmax_grad(const Tensor& g, const Tensor& self, const Tensor& other, bool is_max) {
  Tensor lose = is_max ? lt(self, other) : gt(self, other);
  Tensor share = where(eq(self, other), g * 0.5, g);
  return where(lose, wrap_scalar(0.0), share);
}

OpDef binary_def(const char* name, InferFn infer, KernelFn cpu) {
  OpDef d;
  d.name = name;
  d.num_inputs = 2;
  d.infer = infer;
  d.cpu = cpu;
  d.elementwise = true;
  return d;
}

template <cpu::Compare C>
void compare_kernel(const KernelArgs& k) {
  cpu::ew_compare(C, k.inputs[0], k.inputs[1], compute_type(k.inputs[0], k.inputs[1]), k.outputs[0]);
}

Metas bool_meta(const Metas& in, const char* op) {
  Metas r(1);
  r[0].shape = in.size() == 1 ? in[0].shape : broadcast_shapes(in[0].shape, in[1].shape, op);
  r[0].dtype = DType::Bool;
  return r;
}

}  // namespace

namespace defs {

void register_elementwise_unary();  // elementwise_unary.cpp

void register_elementwise() {
  {
    OpDef d = binary_def("add", [](const Metas& in, const Attrs& a) { return add_sub_meta(in, a, "add"); },
                         [](const KernelArgs& k) {
                           arith_kernel(k, Binary::Add, {.alpha = k.attrs.get_or<double>("alpha", 1.0)});
                         });
    d.doc = "a + alpha * b (attribute alpha, default 1).";
    d.backward = [](const BackwardContext& c) {
      double alpha = c.attrs().get_or<double>("alpha", 1.0);
      return Tensors{c.grad(0), alpha == 1.0 ? c.grad(0) : c.grad(0) * alpha};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def(
        "sub",
        [](const Metas& in, const Attrs& a) {
          TANDEM_CHECK(in[0].dtype != DType::Bool && in[1].dtype != DType::Bool,
                       "sub: subtraction (the - operator) with a bool tensor is not supported "
                       "(shapes {} and {}); use logical_xor or logical_not instead",
                       shape_str(in[0].shape), shape_str(in[1].shape));
          return add_sub_meta(in, a, "sub");
        },
        [](const KernelArgs& k) {
          arith_kernel(k, Binary::Sub, {.alpha = k.attrs.get_or<double>("alpha", 1.0)});
        });
    d.doc = "a - alpha * b (attribute alpha, default 1).";
    d.backward = [](const BackwardContext& c) {
      double alpha = c.attrs().get_or<double>("alpha", 1.0);
      return Tensors{c.grad(0), alpha == 1.0 ? -c.grad(0) : c.grad(0) * -alpha};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def("mul", [](const Metas& in, const Attrs&) { return binary_meta(in, "mul"); },
                         [](const KernelArgs& k) { arith_kernel(k, Binary::Mul); });
    d.backward = [](const BackwardContext& c) {
      return Tensors{c.needs_input_grad(0) ? c.grad(0) * c.input(1) : Tensor(),
                     c.needs_input_grad(1) ? c.grad(0) * c.input(0) : Tensor()};
    };
    d.onnx_op = "Mul";
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def(
        "div",
        [](const Metas& in, const Attrs&) {
          Metas m = binary_meta(in, "div");
          if (!is_floating(m[0].dtype)) m[0].dtype = DType::Float32;  // true division
          return m;
        },
        [](const KernelArgs& k) { cpu::ew_binary(Binary::Div, k.inputs[0], k.inputs[1], k.outputs[0]); });
    d.doc = "True division: integer inputs give float32.";
    d.backward = [](const BackwardContext& c) {
      const Tensor& a = c.input(0);
      const Tensor& b = c.input(1);
      return Tensors{c.needs_input_grad(0) ? c.grad(0) / b : Tensor(),
                     c.needs_input_grad(1) ? -c.grad(0) * ((a / b) / b) : Tensor()};
    };
    d.onnx_op = "Div";
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def("pow", [](const Metas& in, const Attrs&) { return binary_meta(in, "pow"); },
                         [](const KernelArgs& k) { arith_kernel(k, Binary::Pow); });
    d.doc = "base ** exponent. Integers: exact, wrapping; negative exponents give 0 "
            "except for bases 1 and -1 (PyTorch's rule for tensor exponents).";
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& e = c.input(1);
      const Tensor& g = c.grad(0);
      Tensor gx, gexp;
      if (c.needs_input_grad(0)) {
        if (e.numel() == 1 && !e.requires_grad()) {
          // One constant exponent: g * e * x^(e-1), nothing at all for e == 0.
          double ev = cpu::scalar_value(e);
          gx = ev == 0.0 ? zeros_like(g) : g * (ev * pow(x, ev - 1.0));
        } else {
          gx = where(eq(e, wrap_scalar(0.0)), wrap_scalar(0.0), g * (e * pow(x, e - 1.0)));
        }
      }
      if (c.needs_input_grad(1)) {
        Tensor zero_base = logical_and(eq(x, wrap_scalar(0.0)), ge(e, wrap_scalar(0.0)));
        gexp = g * where(zero_base, wrap_scalar(0.0), c.output(0) * log(x));
      }
      return Tensors{gx, gexp};
    };
    d.save_outputs = true;
    d.onnx_op = "Pow";
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def("minimum", [](const Metas& in, const Attrs&) { return binary_meta(in, "minimum"); },
                         [](const KernelArgs& k) { arith_kernel(k, Binary::Minimum); });
    d.doc = "Elementwise minimum; NaN if either is NaN. Ties split the gradient.";
    d.backward = [](const BackwardContext& c) {
      const Tensor& a = c.input(0);
      const Tensor& b = c.input(1);
      return Tensors{c.needs_input_grad(0) ? minmax_grad(c.grad(0), a, b, false) : Tensor(),
                     c.needs_input_grad(1) ? minmax_grad(c.grad(0), b, a, false) : Tensor()};
    };
    d.onnx_op = "Min";
    register_op(std::move(d));
  }
  {
    OpDef d = binary_def("maximum", [](const Metas& in, const Attrs&) { return binary_meta(in, "maximum"); },
                         [](const KernelArgs& k) { arith_kernel(k, Binary::Maximum); });
    d.doc = "Elementwise maximum; NaN if either is NaN. Ties split the gradient.";
    d.backward = [](const BackwardContext& c) {
      const Tensor& a = c.input(0);
      const Tensor& b = c.input(1);
      return Tensors{c.needs_input_grad(0) ? minmax_grad(c.grad(0), a, b, true) : Tensor(),
                     c.needs_input_grad(1) ? minmax_grad(c.grad(0), b, a, true) : Tensor()};
    };
    d.onnx_op = "Max";
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "where";
    d.num_inputs = 3;
    d.doc = "where(cond, a, b): a where cond is true, else b; cond is bool (or uint8).";
    d.infer = [](const Metas& in, const Attrs&) {
      TANDEM_CHECK(in[0].dtype == DType::Bool || in[0].dtype == DType::UInt8,
                   "where: expected the condition to be a bool tensor, got {} (shape {})",
                   in[0].dtype, shape_str(in[0].shape));
      Metas r(1);
      r[0].shape = broadcast_shapes(broadcast_shapes(in[0].shape, in[1].shape, "where"), in[2].shape,
                                    "where");
      r[0].dtype = result_type({in[1], in[2]});
      return r;
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::ew_where(k.inputs[0], k.inputs[1], k.inputs[2], k.outputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& cond = c.input(0);
      Tensor zero = wrap_scalar(0.0);
      return Tensors{Tensor(), c.needs_input_grad(1) ? where(cond, c.grad(0), zero) : Tensor(),
                     c.needs_input_grad(2) ? where(cond, zero, c.grad(0)) : Tensor()};
    };
    d.nondiff_inputs = {0};
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }

  // Comparisons: bool results, compared in the promoted dtype, no gradient.
#define TANDEM_COMPARE_OP(op_name, C)                                                        \
  {                                                                                          \
    OpDef d = binary_def(#op_name,                                                           \
                         [](const Metas& in, const Attrs&) { return bool_meta(in, #op_name); }, \
                         compare_kernel<cpu::Compare::C>);                                    \
    d.non_differentiable = true;                                                             \
    register_op(std::move(d));                                                               \
  }
  TANDEM_COMPARE_OP(eq, Eq)
  TANDEM_COMPARE_OP(ne, Ne)
  TANDEM_COMPARE_OP(lt, Lt)
  TANDEM_COMPARE_OP(le, Le)
  TANDEM_COMPARE_OP(gt, Gt)
  TANDEM_COMPARE_OP(ge, Ge)
#undef TANDEM_COMPARE_OP

#define TANDEM_LOGICAL_OP(op_name, L)                                                        \
  {                                                                                          \
    OpDef d = binary_def(                                                                    \
        #op_name, [](const Metas& in, const Attrs&) { return bool_meta(in, #op_name); },      \
        [](const KernelArgs& k) {                                                            \
          cpu::ew_logical(cpu::Logical::L, k.inputs[0], k.inputs[1], k.outputs[0]);          \
        });                                                                                  \
    d.doc = "Inputs of any dtype count as true when nonzero (NaN is true).";                 \
    d.non_differentiable = true;                                                             \
    d.supports_half = true;                                                                  \
    register_op(std::move(d));                                                               \
  }
  TANDEM_LOGICAL_OP(logical_and, And)
  TANDEM_LOGICAL_OP(logical_or, Or)
  TANDEM_LOGICAL_OP(logical_xor, Xor)
#undef TANDEM_LOGICAL_OP
  {
    OpDef d;
    d.name = "logical_not";
    d.infer = [](const Metas& in, const Attrs&) { return bool_meta(in, "logical_not"); };
    d.cpu = [](const KernelArgs& k) { cpu::ew_logical_not(k.inputs[0], k.outputs[0]); };
    d.non_differentiable = true;
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }

  register_elementwise_unary();
}

}  // namespace defs

Tensor wrap_scalar(double v) {
  Tensor t = scalar_tensor(v, {.dtype = DType::Float64});
  t.impl()->is_wrapped_number = true;
  return t;
}
Tensor wrap_scalar(int64_t v) {
  Tensor t = empty({}, {.dtype = DType::Int64});
  *t.data<int64_t>() = v;
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
Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  static const OpDef& d = op("sub");
  return alpha == 1.0 ? dispatch1(d, {a, b}) : dispatch1(d, {a, b}, {{"alpha", alpha}});
}

#define TANDEM_BINARY_FN(fn)                          \
  Tensor fn(const Tensor& a, const Tensor& b) {       \
    static const OpDef& d = op(#fn);                  \
    return dispatch1(d, {a, b});                      \
  }
TANDEM_BINARY_FN(mul)
TANDEM_BINARY_FN(div)
TANDEM_BINARY_FN(pow)
TANDEM_BINARY_FN(minimum)
TANDEM_BINARY_FN(maximum)
TANDEM_BINARY_FN(eq)
TANDEM_BINARY_FN(ne)
TANDEM_BINARY_FN(lt)
TANDEM_BINARY_FN(le)
TANDEM_BINARY_FN(gt)
TANDEM_BINARY_FN(ge)
TANDEM_BINARY_FN(logical_and)
TANDEM_BINARY_FN(logical_or)
TANDEM_BINARY_FN(logical_xor)
#undef TANDEM_BINARY_FN

Tensor pow(const Tensor& base, double exponent) { return pow(base, wrap_scalar(exponent)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  static const OpDef& d = op("where");
  return dispatch1(d, {cond, a, b});
}
Tensor logical_not(const Tensor& x) {
  static const OpDef& d = op("logical_not");
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
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
Tensor operator!(const Tensor& x) { return logical_not(x); }

namespace {
void check_bool_operands(const char* sym, const char* fn, const Tensor& a, const Tensor* b) {
  bool ok = a.dtype() == DType::Bool && (!b || b->dtype() == DType::Bool);
  TANDEM_CHECK(ok,
               "operator{}: defined for bool tensors only (logical {}), got {}{}; tandem has no "
               "bitwise integer ops: compare first (e.g. (x > 0) {} (y > 0))",
               sym, fn, a.dtype(), b ? fmt::format(" and {}", b->dtype()) : std::string(), sym);
}
}  // namespace
Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool_operands("&", "and", a, &b);
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool_operands("|", "or", a, &b);
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool_operands("^", "xor", a, &b);
  return logical_xor(a, b);
}
Tensor operator~(const Tensor& x) {
  check_bool_operands("~", "not", x, nullptr);
  return logical_not(x);
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  static const OpDef& d = op("add");
  return alpha == 1.0 ? dispatch_inplace(d, *this, {other})
                      : dispatch_inplace(d, *this, {other}, {{"alpha", alpha}});
}
Tensor& Tensor::sub_(const Tensor& other, double alpha) {
  static const OpDef& d = op("sub");
  return alpha == 1.0 ? dispatch_inplace(d, *this, {other})
                      : dispatch_inplace(d, *this, {other}, {{"alpha", alpha}});
}
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

}  // namespace tandem
