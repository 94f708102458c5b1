// Reductions. (Initial version: sum with a plain serial loop.)
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

// Normalized, sorted reduction dims; empty attribute = all dims.
std::vector<bool> reduced_mask(const Shape& shape, const IntArray& dims, const char* op) {
  int64_t n = static_cast<int64_t>(shape.size());
  std::vector<bool> mask(n, dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n, op);
    if (n == 0) continue;
    TANDEM_CHECK(!mask[w], "{}: dim {} appears more than once", op, w);
    mask[w] = true;
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

}  // namespace

namespace defs {

void register_reduce() {
  OpDef d;
  d.name = "sum";
  d.doc = "Sum over attribute `dims` (empty: all), `keepdim`. Integers and bool sum to int64.";
  d.infer = [](const Metas& in, const Attrs& a) {
    auto mask = reduced_mask(in[0].shape, a.get<IntArray>("dims"), "sum");
    TensorMeta m;
    m.shape = reduced_shape(in[0].shape, mask, a.get<bool>("keepdim"));
    m.dtype = is_floating(in[0].dtype) ? in[0].dtype : DType::Int64;
    return Metas{m};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& x = k.inputs[0];
    Tensor& out = k.outputs[0];
    auto mask = reduced_mask(x.shape(), k.attrs.get<IntArray>("dims"), "sum");
    Shape ost(x.dim(), 0);
    Shape keep_shape = reduced_shape(x.shape(), mask, true);
    Shape keep_strides = contiguous_strides(keep_shape);
    for (int64_t i = 0; i < x.dim(); ++i) ost[i] = mask[i] ? 0 : keep_strides[i];
    cpu::StridedLoop<2> loop(x.shape(), {ost, x.strides()});
    TANDEM_DISPATCH_NUMERIC(out.dtype(), "sum", [&] {
      using acc_t = std::conditional_t<std::is_floating_point_v<scalar_t>, double, int64_t>;
      std::vector<acc_t> acc(out.numel(), acc_t(0));
      TANDEM_DISPATCH_ALL(x.dtype(), "sum", [&] {
        const scalar_t* p = static_cast<const scalar_t*>(x.data_ptr());
        loop.run([&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
          for (int64_t i = 0; i < n; ++i)
            acc[off[0] + i * st[0]] += static_cast<acc_t>(static_cast<double>(p[off[1] + i * st[1]]));
        }, INT64_MAX);
      });
      auto* o = static_cast<scalar_t*>(out.data_ptr());
      for (int64_t i = 0; i < out.numel(); ++i) o[i] = static_cast<scalar_t>(acc[i]);
    });
  };
  d.backward = [](const BackwardContext& c) {
    const Shape& in_shape = c.input_meta(0).shape;
    auto mask = reduced_mask(in_shape, c.attrs().get<IntArray>("dims"), "sum");
    Tensor g = c.grad(0);
    if (!c.attrs().get<bool>("keepdim")) g = g.reshape(reduced_shape(in_shape, mask, true));
    return Tensors{g.expand(in_shape)};
  };
  d.save_inputs = false;
  register_op(std::move(d));
}

}  // namespace defs

Tensor sum(const Tensor& x, const IntArray& dims, bool keepdim) {
  static const OpDef& d = op("sum");
  return dispatch1(d, {x}, {{"dims", dims}, {"keepdim", keepdim}});
}

// ---- not implemented yet
Tensor mean(const Tensor& x, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("mean: not implemented yet");
}
Tensor prod(const Tensor& x, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("prod: not implemented yet");
}
Tensor amax(const Tensor& x, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("amax: not implemented yet");
}
Tensor amin(const Tensor& x, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("amin: not implemented yet");
}
Tensor max(const Tensor& x) {
  TANDEM_FAIL("max: not implemented yet");
}
Tensor min(const Tensor& x) {
  TANDEM_FAIL("min: not implemented yet");
}
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  TANDEM_FAIL("max: not implemented yet");
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  TANDEM_FAIL("min: not implemented yet");
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  TANDEM_FAIL("argmax: not implemented yet");
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  TANDEM_FAIL("argmin: not implemented yet");
}
Tensor var(const Tensor& x, const IntArray& dims, int64_t correction, bool keepdim) {
  TANDEM_FAIL("var: not implemented yet");
}
Tensor std(const Tensor& x, const IntArray& dims, int64_t correction, bool keepdim) {
  TANDEM_FAIL("std: not implemented yet");
}
Tensor logsumexp(const Tensor& x, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("logsumexp: not implemented yet");
}
Tensor norm(const Tensor& x, double p, const IntArray& dims, bool keepdim) {
  TANDEM_FAIL("norm: not implemented yet");
}
Tensor softmax(const Tensor& x, int64_t dim) {
  TANDEM_FAIL("softmax: not implemented yet");
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  TANDEM_FAIL("log_softmax: not implemented yet");
}
Tensor cumsum(const Tensor& x, int64_t dim) {
  TANDEM_FAIL("cumsum: not implemented yet");
}

}  // namespace tandem
