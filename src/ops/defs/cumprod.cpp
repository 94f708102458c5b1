// cumprod (torch.cumprod) and its gradient op.
//
// y_j = prod_{i <= j} x_i along `dim`. Its gradient is computed without dividing by x (so
// zeros in x are exact, as PyTorch's cumprod_backward):
//   dx_k = sum_{j >= k} g_j * prod_{i <= j, i != k} x_i = P_{k-1} * R_k,
//   P_k = prod_{i <= k} x_i,   R_k = g_k + x_{k+1} * R_{k+1}   (R from the end),
// one pass each way per line. The second derivative is not implemented.
#include <algorithm>

#include "defs.h"
#include "nn_util.h"
#include "tandem/sampling.h"

namespace tandem {
namespace {

using namespace nn_detail;

struct CumprodLines {
  int64_t outer = 1, n = 1, inner = 1;
};

CumprodLines cumprod_lines(const Shape& s, int64_t dim) {
  CumprodLines l;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    (d < dim ? l.outer : d == dim ? l.n : l.inner) *= s[static_cast<size_t>(d)];
  return l;
}

template <typename T>
void cumprod_forward(const CumprodLines& l, const T* px, T* py) {
  // NOTE: float products run in double, as PyTorch's CPU cumprod accumulates.
  using A = std::conditional_t<std::is_floating_point_v<T>, double, T>;
#pragma omp parallel for schedule(static) if (l.outer * l.inner > 64)
  for (int64_t line = 0; line < l.outer * l.inner; ++line) {
    const int64_t base = (line / l.inner) * l.n * l.inner + line % l.inner;
    A acc = 1;
    for (int64_t j = 0; j < l.n; ++j) {
      acc *= static_cast<A>(px[base + j * l.inner]);
      py[base + j * l.inner] = static_cast<T>(acc);
    }
  }
}

// The gradient as differentiable tandem ops, for higher orders (O(n^2) per line, where the
// kernel is O(n)): with z_k the line with x_i replaced by 1 for i <= k, cumprod(z_k)_j =
// prod_{k < i <= j} x_i, so R_k = sum_{j >= k} g_j * cumprod(z_k)_j and dx_k = P_{k-1} * R_k.
Tensor cumprod_backward_composite(const Tensor& g, const Tensor& x, const Attrs& a) {
  const int64_t dim = wrap_dim(a.get<int64_t>("dim"), x.dim(), "cumprod");
  const Tensor xt = x.transpose(dim, -1), gl = g.transpose(dim, -1);
  const int64_t n = xt.size(-1);
  if (n == 0) return zeros_like(x);
  const Tensor idx = arange(static_cast<double>(n));
  const Tensor later = gt(idx.reshape({1, n}), idx.reshape({n, 1}));   // [k, i]: i > k
  const Tensor from_k = ge(idx.reshape({1, n}), idx.reshape({n, 1}));   // [k, j]: j >= k
  Shape sq = xt.shape();
  sq.push_back(n);
  const Tensor xs = xt.unsqueeze(-2).expand(sq);
  const Tensor z = where(later, xs, ones_like(xs));
  const Tensor r = sum(where(from_k, cumprod(z, -1) * gl.unsqueeze(-2), zeros_like(xs)), {-1});
  const Tensor one = ones_like(xt.narrow(-1, 0, 1));
  const Tensor before = cat({one, cumprod(xt, -1).narrow(-1, 0, n - 1)}, -1);
  return (before * r).transpose(dim, -1);
}

}  // namespace

namespace defs {
void register_cumprod() {
  {
    OpDef d;
    d.name = "cumprod";
    d.no_onnx_export = "ONNX has no cumulative product (only CumSum)";
    d.doc = "Running product along `dim`. Integers and bool multiply to int64.";
    d.infer = [](const Metas& in, const Attrs& a) {
      wrap_dim(a.get<int64_t>("dim"), static_cast<int64_t>(in[0].shape.size()), "cumprod");
      return Metas{{in[0].shape, is_floating(in[0].dtype) ? in[0].dtype : DType::Int64}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      if (y.numel() == 0) return;
      Tensor x = dense(k.inputs[0], y.dtype());
      const CumprodLines l = cumprod_lines(x.shape(), wrap_dim(k.attrs.get<int64_t>("dim"), x.dim()));
      TANDEM_DISPATCH_NUMERIC(y.dtype(), "cumprod", [&] {
        cumprod_forward<scalar_t>(l, static_cast<const scalar_t*>(x.data_ptr()),
                                  static_cast<scalar_t*>(y.data_ptr()));
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& b = op("cumprod_backward");
      if (is_grad_enabled()) return Tensors{cumprod_backward_composite(c.grad(0), c.input(0), c.attrs())};
      return Tensors{dispatch1(b, {c.grad(0), c.input(0)}, c.attrs())};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "cumprod_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.doc = "The gradient of cumprod from (grad_output, input), exact where the input has zeros.";
    d.infer = [](const Metas& in, const Attrs& a) {
      wrap_dim(a.get<int64_t>("dim"), static_cast<int64_t>(in[1].shape.size()), "cumprod_backward");
      check_floating(in[1], "cumprod_backward");
      TANDEM_CHECK(in[0].shape == in[1].shape, "cumprod_backward: gradient of shape {} does not "
                   "match the input shape {}", shape_str(in[0].shape), shape_str(in[1].shape));
      return Metas{{in[1].shape, in[1].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      if (gx.numel() == 0) return;
      Tensor g = dense(k.inputs[0], gx.dtype()), x = dense(k.inputs[1], gx.dtype());
      const CumprodLines l = cumprod_lines(x.shape(), wrap_dim(k.attrs.get<int64_t>("dim"), x.dim()));
      for_float(gx, "cumprod_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        const T* pg = cptr<T>(g);
        const T* px = cptr<T>(x);
        T* out = optr<T>(gx);
#pragma omp parallel for schedule(static) if (l.outer * l.inner > 64)
        for (int64_t line = 0; line < l.outer * l.inner; ++line) {
          const int64_t base = (line / l.inner) * l.n * l.inner + line % l.inner, s = l.inner;
          // R_k from the end into out, then multiplied by the running prefix product.
          double r = 0;
          for (int64_t j = l.n - 1; j >= 0; --j) {
            r = static_cast<double>(pg[base + j * s]) +
                (j + 1 < l.n ? static_cast<double>(px[base + (j + 1) * s]) * r : 0.0);
            out[base + j * s] = static_cast<T>(r);
          }
          double p = 1;
          for (int64_t j = 0; j < l.n; ++j) {
            out[base + j * s] = static_cast<T>(p * static_cast<double>(out[base + j * s]));
            p *= static_cast<double>(px[base + j * s]);
          }
        }
      });
    };
    // Used only when no graph of the gradient is wanted (cumprod's backward takes the
    // composite otherwise).
    d.non_differentiable = true;
    register_op(std::move(d));
  }
}
}  // namespace defs

Tensor cumprod(const Tensor& x, int64_t dim) {
  static const OpDef& d = op("cumprod");
  return dispatch1(d, {x}, {{"dim", dim}});
}

}  // namespace tandem
