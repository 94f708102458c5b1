// Reductions: sum, mean, prod, amax/amin, max/min (values and indices),
// argmax/argmin, var/std, logsumexp, norm, softmax/log_softmax, cumsum.
// Semantics follow PyTorch 1.13 (empty dims = all dims, integer sums in int64,
// NaN wins max/min, first index on ties). Kernels: src/backend/cpu/reduce*.
#include <cmath>

#include "../../backend/cpu/reduce_kernels.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

// mask[d]: dim d is reduced; empty dims = all dims.
std::vector<bool> reduced_mask(const Shape& shape, const IntArray& dims, const char* op) {
  int64_t n = static_cast<int64_t>(shape.size());
  std::vector<bool> mask(n, dims.empty());
  std::vector<bool> seen(std::max<int64_t>(n, 1), false);
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n, op);
    TANDEM_CHECK(!seen[w], "{}: dim {} appears more than once in the list of dims {}", op, w,
                 fmt::format("{}", fmt::join(dims, ", ")));
    seen[w] = true;
    if (n > 0) mask[w] = true;
  }
  return mask;
}

Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (!mask[i]) s.push_back(shape[i]);
    else if (keepdim) s.push_back(1);
  }
  return s;
}

int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i)
    if (mask[i]) n *= shape[i];
  return n;
}

std::vector<bool> mask_of(const Shape& shape, const Attrs& a, const char* op) {
  return reduced_mask(shape, a.get<IntArray>("dims"), op);
}

TensorMeta reduce_meta(const TensorMeta& in, const Attrs& a, const char* op, DType dtype) {
  TensorMeta m;
  m.shape = reduced_shape(in.shape, mask_of(in.shape, a, op), a.get<bool>("keepdim"));
  m.dtype = dtype;
  return m;
}

DType int_to_int64(DType t) { return is_floating(t) ? t : DType::Int64; }

void require_floating(const TensorMeta& in, const char* op, const char* what) {
  TANDEM_CHECK(is_floating(in.dtype), "{}: {}; got dtype {} (shape {}). Convert with .to(kFloat32)",
               op, what, in.dtype, shape_str(in.shape));
}

// max/min-like reductions have no value over zero elements.
void check_nonempty(const Shape& shape, const std::vector<bool>& mask, bool all_dims,
                    const char* op) {
  if (shape_numel(shape) != 0) return;
  TANDEM_CHECK(!all_dims,
               "{}(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
               "{}). Specify the reduction dim with the 'dim' argument.",
               op, shape_str(shape));
  for (size_t d = 0; d < shape.size(); ++d)
    TANDEM_CHECK(!mask[d] || shape[d] != 0,
                 "{}(): Expected reduction dim {} to have non-zero size (input shape {})", op, d,
                 shape_str(shape));
}

// The output gradient with reduced dims restored as size 1 (broadcastable to the input).
Tensor restore(const Tensor& g, const Shape& in_shape, const std::vector<bool>& mask, bool keepdim) {
  return keepdim ? g : g.reshape(reduced_shape(in_shape, mask, true));
}

struct Reduced {
  std::vector<bool> mask;
  bool keepdim;
  Tensor restore(const Tensor& t, const Shape& in_shape) const {
    return tandem::restore(t, in_shape, mask, keepdim);
  }
};
Reduced reduced_of(const BackwardContext& c, const char* op) {
  return {mask_of(c.input_meta(0).shape, c.attrs(), op), c.attrs().get<bool>("keepdim")};
}

Attrs dims_attrs(const IntArray& dims, bool keepdim) { return {{"dims", dims}, {"keepdim", keepdim}}; }

Tensor zero_of(const Tensor& t) { return scalar_tensor(0.0, {.dtype = t.dtype()}); }
// where(cond, 0, v): the masked_fill_(cond, 0) of PyTorch's formulas.
Tensor zero_where(const Tensor& cond, const Tensor& v) { return where(cond, zero_of(v), v); }

IntArray reduced_dims(const std::vector<bool>& mask) {
  IntArray dims;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) dims.push_back(static_cast<int64_t>(d));
  return dims;
}

// Gradient of amax/amin: shared evenly among the elements equal to the result.
Tensor ext_backward(const BackwardContext& c, const char* op) {
  Reduced r = reduced_of(c, op);
  const Tensor& x = c.input(0);
  Tensor mask = eq(x, r.restore(c.output(0), x.shape())).to(c.grad(0).dtype());
  Tensor count = x.dim() == 0 ? mask : sum(mask, reduced_dims(r.mask), true);
  return r.restore(c.grad(0), x.shape()) * mask / count;
}

// One-hot of `index` (size 1 at dim) along dim of a tensor of `shape`, as dtype.
Tensor one_hot_along(const Tensor& index, const Shape& shape, int64_t dim, DType dtype) {
  Shape view(shape.size(), 1);
  view[dim] = shape[dim];
  Tensor pos = arange(static_cast<double>(shape[dim])).reshape(view);
  return eq(pos, index).to(dtype);
}

// ---- registration helpers

void register_sum_like() {
  {
    OpDef d;
    d.name = "sum";
    d.doc = "Sum over `dims` (empty: all), `keepdim`. Integers and bool sum to int64.";
    d.infer = [](const Metas& in, const Attrs& a) {
      return Metas{reduce_meta(in[0], a, "sum", int_to_int64(in[0].dtype))};
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::sum_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, "sum"), k.outputs[0], false);
    };
    d.backward = [](const BackwardContext& c) {
      const Shape& in_shape = c.input_meta(0).shape;
      return Tensors{reduced_of(c, "sum").restore(c.grad(0), in_shape).expand(in_shape)};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "mean";
    d.doc = "Mean over `dims` (empty: all), `keepdim`. Floating inputs only; empty: NaN.";
    d.infer = [](const Metas& in, const Attrs& a) {
      TANDEM_CHECK(is_floating(in[0].dtype),
                   "mean(): could not infer output dtype. Input dtype must be either a floating "
                   "point or complex dtype. Got: {} (shape {}). Convert with .to(kFloat32)",
                   in[0].dtype, shape_str(in[0].shape));
      return Metas{reduce_meta(in[0], a, "mean", in[0].dtype)};
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::sum_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, "mean"), k.outputs[0], true);
    };
    d.backward = [](const BackwardContext& c) {
      const Shape& in_shape = c.input_meta(0).shape;
      Reduced r = reduced_of(c, "mean");
      double n = static_cast<double>(reduced_count(in_shape, r.mask));
      return Tensors{r.restore(c.grad(0), in_shape).expand(in_shape) / n};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "prod";
    d.doc = "Product over `dims` (empty: all), `keepdim`. Integers and bool multiply in int64.";
    d.infer = [](const Metas& in, const Attrs& a) {
      return Metas{reduce_meta(in[0], a, "prod", int_to_int64(in[0].dtype))};
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::prod_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, "prod"), k.outputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      // d prod / d x_i = product of the others. With no zero in the slice that is
      // prod / x_i; a single zero gets the product of the non-zeros; two or more
      // zeros give 0 everywhere (as PyTorch).
      const Tensor& x = c.input(0);
      Reduced r = reduced_of(c, "prod");
      IntArray dims = reduced_dims(r.mask);
      Tensor g = r.restore(c.grad(0), x.shape());
      Tensor out = r.restore(c.output(0), x.shape());
      Tensor is_zero = eq(x, zero_of(x));
      Tensor safe_x = where(is_zero, ones_like(x), x);
      Tensor nonzero_prod = x.dim() == 0 ? safe_x : prod(safe_x, dims, true);
      Tensor zeros_in = x.dim() == 0 ? is_zero.to(DType::Int64) : sum(is_zero, dims, true);
      Tensor one_zero = eq(zeros_in, scalar_tensor(1.0, {.dtype = DType::Int64}));
      Tensor at_zero = where(one_zero, nonzero_prod, zeros_like(nonzero_prod));
      return Tensors{g * where(is_zero, at_zero, out / safe_x)};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
}

template <bool kMax>
void register_extreme() {
  static constexpr const char* kName = kMax ? "amax" : "amin";
  OpDef d;
  d.name = kName;
  d.doc = "Max (min) over `dims` (empty: all), `keepdim`; NaN propagates; the gradient is "
          "shared evenly among ties.";
  d.infer = [](const Metas& in, const Attrs& a) {
    check_nonempty(in[0].shape, mask_of(in[0].shape, a, kName), a.get<IntArray>("dims").empty(),
                   kName);
    return Metas{reduce_meta(in[0], a, kName, in[0].dtype)};
  };
  d.cpu = [](const KernelArgs& k) {
    cpu::ext_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, kName), k.outputs[0], kMax);
  };
  d.backward = [](const BackwardContext& c) { return Tensors{ext_backward(c, kName)}; };
  d.save_outputs = true;
  register_op(std::move(d));
}

// The one reduced dim of max(dim)/argmax(dim) (none for a 0-dim input).
std::vector<bool> dim_mask(int64_t ndim, int64_t dim, const char* op) {
  int64_t w = wrap_dim(dim, ndim, op);
  std::vector<bool> mask(ndim, false);
  if (ndim > 0) mask[w] = true;
  return mask;
}

template <bool kMax>
void register_extreme_dim() {
  static constexpr const char* kName = kMax ? "max" : "min";
  OpDef d;
  d.name = kName;
  d.doc = "Max (min) along `dim` with `keepdim`: (values, int64 indices of the first "
          "extreme; NaN wins). The gradient goes to the index.";
  d.infer = [](const Metas& in, const Attrs& a) {
    const Shape& s = in[0].shape;
    auto mask = dim_mask(static_cast<int64_t>(s.size()), a.get<int64_t>("dim"), kName);
    check_nonempty(s, mask, false, kName);
    TensorMeta v{reduced_shape(s, mask, a.get<bool>("keepdim")), in[0].dtype};
    TensorMeta i{v.shape, DType::Int64};
    return Metas{v, i};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& x = k.inputs[0];
    cpu::arg_kernel(x, dim_mask(x.dim(), k.attrs.get<int64_t>("dim"), kName), k.outputs[0],
                    k.outputs[1], kMax);
  };
  d.backward = [](const BackwardContext& c) {
    const Shape& in_shape = c.input_meta(0).shape;
    if (in_shape.empty()) return Tensors{c.grad(0)};
    int64_t dim = wrap_dim(c.attrs().get<int64_t>("dim"), static_cast<int64_t>(in_shape.size()));
    bool keepdim = c.attrs().get<bool>("keepdim");
    Tensor g = keepdim ? c.grad(0) : c.grad(0).unsqueeze(dim);
    Tensor idx = keepdim ? c.output(1) : c.output(1).unsqueeze(dim);
    return Tensors{g * one_hot_along(idx, in_shape, dim, g.dtype())};
  };
  d.save_inputs = false;
  d.save_outputs = true;
  register_op(std::move(d));
}

template <bool kMax>
void register_arg_extreme() {
  static constexpr const char* kName = kMax ? "argmax" : "argmin";
  OpDef d;
  d.name = kName;
  d.doc = "Index of the first max (min) along `dim` (absent: of the flattened input), "
          "`keepdim`; NaN wins.";
  d.infer = [](const Metas& in, const Attrs& a) {
    const Shape& s = in[0].shape;
    TANDEM_CHECK(in[0].dtype != DType::Bool, "{}: dtype bool is not supported (shape {})", kName,
                 shape_str(s));
    bool keepdim = a.get<bool>("keepdim");
    if (!a.has("dim")) {
      check_nonempty(s, std::vector<bool>(s.size(), true), true, kName);
      return Metas{TensorMeta{keepdim ? Shape(s.size(), 1) : Shape{}, DType::Int64}};
    }
    auto mask = dim_mask(static_cast<int64_t>(s.size()), a.get<int64_t>("dim"), kName);
    check_nonempty(s, mask, false, kName);
    return Metas{TensorMeta{reduced_shape(s, mask, keepdim), DType::Int64}};
  };
  d.cpu = [](const KernelArgs& k) {
    Tensor x = k.inputs[0];
    std::vector<bool> mask;
    if (!k.attrs.has("dim")) {
      NoGradGuard no_grad;
      x = x.reshape({x.numel()});
      mask = {true};
    } else {
      mask = dim_mask(x.dim(), k.attrs.get<int64_t>("dim"), kName);
    }
    cpu::arg_kernel(x, mask, Tensor(), k.outputs[0], kMax);
  };
  d.non_differentiable = true;
  register_op(std::move(d));
}

// var and std share everything but the final square root.
template <bool kStd>
void register_var() {
  static constexpr const char* kName = kStd ? "std" : "var";
  OpDef d;
  d.name = kName;
  d.doc = "Variance (standard deviation) over `dims` (empty: all) with `correction` "
          "(divisor N - correction, 1 = unbiased), `keepdim`.";
  d.infer = [](const Metas& in, const Attrs& a) {
    require_floating(in[0], kName, "std and var only support floating point dtypes");
    return Metas{reduce_meta(in[0], a, kName, in[0].dtype)};
  };
  d.cpu = [](const KernelArgs& k) {
    cpu::var_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, kName), k.outputs[0],
                    k.attrs.get<int64_t>("correction"), kStd);
  };
  d.backward = [](const BackwardContext& c) {
    const Tensor& x = c.input(0);
    Reduced r = reduced_of(c, kName);
    double n = static_cast<double>(reduced_count(x.shape(), r.mask));
    double denom = n - static_cast<double>(c.attrs().get<int64_t>("correction"));
    Tensor centered = x - mean(x, reduced_dims(r.mask), true);
    Tensor g = r.restore(c.grad(0), x.shape());
    if constexpr (!kStd) {
      return Tensors{g * centered * (2.0 / denom)};
    } else {
      // d std = d var / (2 std); a zero std gets a zero gradient (as PyTorch).
      Tensor s = r.restore(c.output(0), x.shape());
      Tensor scale = zero_where(eq(s, zero_of(s)), g / s);
      return Tensors{scale * centered * (1.0 / denom)};
    }
  };
  d.save_outputs = kStd;
  register_op(std::move(d));
}

void register_logsumexp_norm() {
  {
    OpDef d;
    d.name = "logsumexp";
    d.doc = "log(sum(exp(x))) over `dims` (empty: all), `keepdim`, computed stably. Integer "
            "inputs give float32.";
    d.infer = [](const Metas& in, const Attrs& a) {
      DType t = is_floating(in[0].dtype) ? in[0].dtype : DType::Float32;
      return Metas{reduce_meta(in[0], a, "logsumexp", t)};
    };
    d.cpu = [](const KernelArgs& k) {
      Tensor x = k.inputs[0];
      if (x.dtype() != k.outputs[0].dtype()) {
        NoGradGuard no_grad;
        x = x.to(k.outputs[0].dtype());
      }
      cpu::logsumexp_kernel(x, mask_of(x.shape(), k.attrs, "logsumexp"), k.outputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      Reduced r = reduced_of(c, "logsumexp");
      return Tensors{r.restore(c.grad(0), x.shape()) * exp(x - r.restore(c.output(0), x.shape()))};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "norm";
    d.doc = "Vector p-norm over `dims` (empty: all), `keepdim`: p = 2, 1, inf (max |x|), -inf "
            "(min |x|), 0 (count of non-zeros) or any other p: (sum |x|^p)^(1/p).";
    d.infer = [](const Metas& in, const Attrs& a) {
      require_floating(in[0], "norm", "input dtype should be floating point");
      return Metas{reduce_meta(in[0], a, "norm", in[0].dtype)};
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::norm_kernel(k.inputs[0], mask_of(k.inputs[0].shape(), k.attrs, "norm"), k.outputs[0],
                       k.attrs.get<double>("p"));
    };
    d.backward = [](const BackwardContext& c) {
      // PyTorch's norm_backward; zero norms give zero gradients.
      const Tensor& x = c.input(0);
      Reduced r = reduced_of(c, "norm");
      double p = c.attrs().get<double>("p");
      Tensor g = r.restore(c.grad(0), x.shape());
      Tensor nrm = r.restore(c.output(0), x.shape());
      Tensor zero_norm = eq(nrm, zero_of(nrm));
      if (p == 0.0) return Tensors{zeros_like(x)};
      if (p == 1.0) return Tensors{sign(x) * g};
      if (p == 2.0) return Tensors{x * zero_where(zero_norm, g / nrm)};
      if (std::isinf(p)) {
        // Shared among the elements whose |x| is the norm (NaN norms: the NaNs).
        Tensor is_ext = logical_or(eq(abs(x), nrm), logical_and(ne(x, x), ne(nrm, nrm))).to(x.dtype());
        Tensor count = x.dim() == 0 ? is_ext : sum(is_ext, reduced_dims(r.mask), true);
        return Tensors{sign(x) * (g / count) * is_ext};
      }
      if (p < 1.0) {
        Tensor scaled = sign(x) * zero_where(eq(x, zero_of(x)), pow(abs(x), p - 1.0));
        return Tensors{scaled * g * pow(nrm, 1.0 - p)};
      }
      Tensor scaled = p < 2.0 ? sign(x) * pow(abs(x), p - 1.0) : x * pow(abs(x), p - 2.0);
      return Tensors{scaled * zero_where(zero_norm, g / pow(nrm, p - 1.0))};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
}

template <bool kLog>
void register_softmax() {
  static constexpr const char* kName = kLog ? "log_softmax" : "softmax";
  OpDef d;
  d.name = kName;
  d.doc = kLog ? "log(softmax(x)) along `dim`, computed stably: x - max - log(sum(exp(x - max)))."
               : "exp(x - max) / sum(exp(x - max)) along `dim`.";
  d.infer = [](const Metas& in, const Attrs& a) {
    wrap_dim(a.get<int64_t>("dim"), static_cast<int64_t>(in[0].shape.size()), kName);
    require_floating(in[0], kName, "expected a floating point input");
    TensorMeta m = in[0];
    m.is_wrapped_number = false;
    return Metas{m};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& x = k.inputs[0];
    cpu::softmax_kernel(x, wrap_dim(k.attrs.get<int64_t>("dim"), x.dim()), k.outputs[0], kLog);
  };
  d.backward = [](const BackwardContext& c) {
    static const OpDef& bwd = op(kLog ? "log_softmax_backward" : "softmax_backward");
    return Tensors{dispatch1(bwd, {c.grad(0), c.output(0)}, {{"dim", c.attrs().get<int64_t>("dim")}})};
  };
  d.save_inputs = false;
  d.save_outputs = true;
  register_op(std::move(d));
}

// The gradients of softmax and log_softmax as ops of their own (one fused pass
// instead of four), inputs (g, y) with y the forward output:
//   softmax:     y * (g - sum(g * y))        log_softmax:  g - exp(y) * sum(g)
// Their own gradients are written with tandem ops, so higher orders work.
template <bool kLog>
void register_softmax_backward() {
  static constexpr const char* kName = kLog ? "log_softmax_backward" : "softmax_backward";
  OpDef d;
  d.name = kName;
  d.no_onnx_export = "a gradient op (training graphs only)";
  d.num_inputs = 2;
  d.doc = kLog ? "Gradient of log_softmax: inputs (grad, output), `dim`."
               : "Gradient of softmax: inputs (grad, output), `dim`.";
  d.infer = [](const Metas& in, const Attrs& a) {
    TANDEM_CHECK(in[0].shape == in[1].shape && in[0].dtype == in[1].dtype,
                 "{}: grad ({} {}) and output ({} {}) must have the same shape and dtype", kName,
                 shape_str(in[0].shape), in[0].dtype, shape_str(in[1].shape), in[1].dtype);
    wrap_dim(a.get<int64_t>("dim"), static_cast<int64_t>(in[0].shape.size()), kName);
    require_floating(in[1], kName, "expected a floating point input");
    TensorMeta m = in[1];
    m.is_wrapped_number = false;
    return Metas{m};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& y = k.inputs[1];
    cpu::softmax_backward_kernel(k.inputs[0], y, wrap_dim(k.attrs.get<int64_t>("dim"), y.dim()),
                                 k.outputs[0], kLog);
  };
  d.backward = [](const BackwardContext& c) {
    static const OpDef& self = op(kName);
    int64_t dim = c.attrs().get<int64_t>("dim");
    const Tensor& g = c.input(0);
    const Tensor& y = c.input(1);
    const Tensor& gg = c.grad(0);
    auto sum_dim = [&](const Tensor& t) { return y.dim() == 0 ? t : sum(t, {dim}, true); };
    if constexpr (kLog) {
      // out = g - p * sum(g), p = exp(y).
      Tensor p = exp(y);
      return Tensors{c.needs_input_grad(0) ? gg - sum_dim(gg * p) : Tensor(),
                     c.needs_input_grad(1) ? -(gg * p * sum_dim(g)) : Tensor()};
    } else {
      // out = y * (g - sum(g * y)): symmetric in its g-Jacobian, so d/dg is this op again.
      return Tensors{c.needs_input_grad(0) ? dispatch1(self, {gg, y}, c.attrs()) : Tensor(),
                     c.needs_input_grad(1) ? gg * (g - sum_dim(g * y)) - g * sum_dim(gg * y) : Tensor()};
    }
  };
  register_op(std::move(d));
}

void register_cumsum() {
  {
    OpDef d;
    d.name = "cumsum";
    d.doc = "Running sum along `dim` (`reverse`: from the end). Integers and bool sum to int64.";
    d.infer = [](const Metas& in, const Attrs& a) {
      wrap_dim(a.get<int64_t>("dim"), static_cast<int64_t>(in[0].shape.size()), "cumsum");
      TensorMeta m = in[0];
      m.dtype = int_to_int64(in[0].dtype);
      m.is_wrapped_number = false;
      return Metas{m};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      cpu::cumsum_kernel(x, wrap_dim(k.attrs.get<int64_t>("dim"), x.dim()), k.outputs[0],
                         k.attrs.get_or<bool>("reverse", false));
    };
    d.backward = [](const BackwardContext& c) {
      // The gradient of a running sum is the running sum from the other end.
      static const OpDef& cs = op("cumsum");
      Attrs a = c.attrs();
      a.set("reverse", !a.get_or<bool>("reverse", false));
      return Tensors{dispatch1(cs, {c.grad(0)}, a)};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
}

}  // namespace

namespace defs {

void register_reduce() {
  register_sum_like();
  register_extreme<true>();
  register_extreme<false>();
  register_extreme_dim<true>();
  register_extreme_dim<false>();
  register_arg_extreme<true>();
  register_arg_extreme<false>();
  register_var<false>();
  register_var<true>();
  register_logsumexp_norm();
  register_softmax<false>();
  register_softmax<true>();
  register_softmax_backward<false>();
  register_softmax_backward<true>();
  register_cumsum();
}

}  // namespace defs

Tensor sum(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("sum");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor mean(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("mean");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor prod(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("prod");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor amax(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("amax");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor amin(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("amin");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor max(const Tensor& x) {
  TANDEM_CHECK(x.numel() != 0,
               "max(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
               "{}). Specify the reduction dim with the 'dim' argument.",
               shape_str(x.shape()));
  return amax(x);
}
Tensor min(const Tensor& x) {
  TANDEM_CHECK(x.numel() != 0,
               "min(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
               "{}). Specify the reduction dim with the 'dim' argument.",
               shape_str(x.shape()));
  return amin(x);
}
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  static const OpDef& d = op("max");
  auto r = dispatch(d, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  static const OpDef& d = op("min");
  auto r = dispatch(d, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  static const OpDef& d = op("argmax");
  Attrs a{{"keepdim", keepdim}};
  if (dim) a.set("dim", *dim);
  return dispatch1(d, {x}, a);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  static const OpDef& d = op("argmin");
  Attrs a{{"keepdim", keepdim}};
  if (dim) a.set("dim", *dim);
  return dispatch1(d, {x}, a);
}
Tensor var(const Tensor& x, const IntArray& dims, int64_t correction, bool keepdim) {
  static const OpDef& d = op("var");
  return dispatch1(d, {x}, {{"dims", dims}, {"correction", correction}, {"keepdim", keepdim}});
}
Tensor std(const Tensor& x, const IntArray& dims, int64_t correction, bool keepdim) {
  static const OpDef& d = op("std");
  return dispatch1(d, {x}, {{"dims", dims}, {"correction", correction}, {"keepdim", keepdim}});
}
Tensor logsumexp(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("logsumexp");
  return dispatch1(d, {x}, dims_attrs(dims, keepdim));
}
Tensor norm(const Tensor& x, double p, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("norm");
  return dispatch1(d, {x}, {{"p", p}, {"dims", dims}, {"keepdim", keepdim}});
}
Tensor softmax(const Tensor& x, int64_t dim) {
  static const OpDef& d = op("softmax");
  return dispatch1(d, {x}, {{"dim", dim}});
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  static const OpDef& d = op("log_softmax");
  return dispatch1(d, {x}, {{"dim", dim}});
}
Tensor cumsum(const Tensor& x, int64_t dim) {
  static const OpDef& d = op("cumsum");
  return dispatch1(d, {x}, {{"dim", dim}});
}

}  // namespace tandem
