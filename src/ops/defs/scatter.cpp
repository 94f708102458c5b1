// scatter (replace), scatter_reduce (sum, prod, mean, amax, amin; include_self) and the index
// ops PyTorch 1.13 builds on them: index_add, index_copy, index_fill, take_along_dim,
// advanced indexing (index, index_put), masked_select and masked_scatter.
//
// Two OpDefs carry kernels; the rest are compositions, so they inherit shape checks,
// gradients and export:
//
//   scatter(self, dim, idx, src)            -> grads: g.scatter(dim, idx, 0), gather(g, dim, idx)
//   scatter_reduce(self, dim, idx, src, r)  -> grads: PyTorch 1.13's scatter_reduce_backward
//                                              (sum, mean, prod, amax/amin ties split evenly)
//   index_add / index_copy / index_fill     -> scatter_add / scatter with the 1-D index
//                                              broadcast over the source's shape
//   take_along_dim                          -> gather on broadcast operands
//   index / index_put (x[i0, :, i2] = v)    -> the indexed dims moved first and flattened:
//                                              index_select / scatter(_add) along dim 0
//   masked_select / masked_scatter          -> the mask read on the host (data-dependent
//                                              length), then index_select / scatter
//
// Every index a kernel reads is checked against its dim first (tandem::Error names the op).
#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <numeric>

#include "defs.h"
#include "index_util.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using namespace index_detail;

int64_t sx_rank(const Shape& s) { return std::max<int64_t>(static_cast<int64_t>(s.size()), 1); }
int64_t sx_size(const Shape& s, int64_t d) { return s.empty() ? 1 : s[static_cast<size_t>(d)]; }
Shape sx_shape1(const Shape& s) { return s.empty() ? Shape{1} : s; }

// PyTorch's scatter shape rule: as many dims as self, the index no larger than src in every
// dim and no larger than self outside `dim`.
void sx_check_shapes(const char* op, const Shape& self, int64_t dim, const Shape& index,
                     const Shape& src) {
  TANDEM_CHECK(sx_rank(self) == sx_rank(index) && sx_rank(src) == sx_rank(index),
               "{}: index of shape {} must have as many dimensions as the input (shape {}) and "
               "src (shape {})", op, shape_str(index), shape_str(self), shape_str(src));
  for (int64_t d = 0; d < sx_rank(self); ++d) {
    const int64_t i = sx_size(index, d);
    TANDEM_CHECK((d == dim || i <= sx_size(self, d)) && i <= sx_size(src, d),
                 "{}: index of shape {} must be no larger than src of shape {} in every dimension "
                 "and than the input of shape {} apart from dimension {} (dimension {} differs)",
                 op, shape_str(index), shape_str(src), shape_str(self), dim, d);
  }
}

Metas sx_infer(const Metas& in, const Attrs& a, const char* op) {
  const int64_t dim = wrap(a.get<int64_t>("dim"), in[0].shape, op);
  TANDEM_CHECK(in[0].dtype == in[2].dtype,
               "{}: src dtype {} must equal the input's dtype {} (input shape {}, src shape {})",
               op, in[2].dtype, in[0].dtype, shape_str(in[0].shape), shape_str(in[2].shape));
  if (shape_numel(in[1].shape) != 0) {
    TANDEM_CHECK(in[1].dtype == DType::Int64,
                 "{}: expected an int64 index, got dtype {} (index shape {})", op, in[1].dtype,
                 shape_str(in[1].shape));
    sx_check_shapes(op, in[0].shape, dim, in[1].shape, in[2].shape);
  }
  return Metas{{in[0].shape, in[0].dtype}};
}

// The index as contiguous int64, every entry checked against [0, n).
Tensor sx_checked(const Tensor& index, int64_t n, const char* op, int64_t dim, const Shape& shape) {
  Tensor idx = dense(index, DType::Int64);
  const int64_t* p = static_cast<const int64_t*>(idx.data_ptr());
  for (int64_t i = 0; i < idx.numel(); ++i)
    TANDEM_CHECK(p[i] >= 0 && p[i] < n,
                 "{}: index {} is out of bounds for dimension {} with size {} (input shape {}, "
                 "index shape {})", op, p[i], dim, n, shape_str(shape), shape_str(index.shape()));
  return idx;
}

// out (fresh, contiguous) = self.
void sx_copy_self(const Tensor& out, const Tensor& self) {
  if (out.numel() == 0) return;
  const Tensor d = dense(self, out.dtype());
  std::memcpy(out.data_ptr(), d.data_ptr(), static_cast<size_t>(out.numel() * out.itemsize()));
}

// Calls visit(i, out_offset, src_offset) for every element i of the index (row-major), where
// out_offset already has the coordinate along dim replaced by idx[i]. Contiguous out and src.
template <typename F>
void sx_walk(const Shape& out_shape, const Shape& src_shape, const Shape& index_shape,
             int64_t dim, const int64_t* idx, F visit) {
  const Shape os = sx_shape1(out_shape), ss = sx_shape1(src_shape), is = sx_shape1(index_shape);
  const Shape ost = contiguous_strides(os), sst = contiguous_strides(ss);
  const size_t r = is.size();
  std::vector<int64_t> c(r, 0);
  const int64_t n = shape_numel(is);
  int64_t ob = 0, sb = 0;
  for (int64_t i = 0; i < n; ++i) {
    visit(ob + idx[i] * ost[static_cast<size_t>(dim)], sb);
    for (size_t d = r; d-- > 0;) {
      const int64_t od = static_cast<int64_t>(d) == dim ? 0 : ost[d];
      if (++c[d] < is[d]) {
        ob += od;
        sb += sst[d];
        break;
      }
      ob -= (is[d] - 1) * od;
      sb -= (is[d] - 1) * sst[d];
      c[d] = 0;
    }
  }
}

enum class SxReduce { Sum, Prod, Mean, Amax, Amin };

SxReduce sx_reduce_kind(const std::string& r) {
  if (r == "sum") return SxReduce::Sum;
  if (r == "prod") return SxReduce::Prod;
  if (r == "mean") return SxReduce::Mean;
  if (r == "amax") return SxReduce::Amax;
  if (r == "amin") return SxReduce::Amin;
  TANDEM_FAIL("scatter_reduce: reduce argument must be one of sum, prod, mean, amax or amin, got '{}'", r);
}

template <typename T>
T sx_identity(SxReduce r) {
  switch (r) {
    case SxReduce::Prod: return T(1);
    case SxReduce::Amax:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::lowest();
    case SxReduce::Amin:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::max();
    default: return T(0);
  }
}

template <typename T>
bool sx_isnan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// out holds self; reduces src into it as PyTorch's CPU scatter_reduce does (NaN wins amax
// and amin; integer means round down).
template <typename T>
void sx_reduce_kernel(const Tensor& out, const Tensor& src, const Tensor& idx, const Shape& ishape,
                      int64_t dim, SxReduce r, bool include_self) {
  T* o = static_cast<T*>(out.data_ptr());
  const T* s = static_cast<const T*>(src.data_ptr());
  const int64_t* ip = static_cast<const int64_t*>(idx.data_ptr());
  std::vector<int64_t> count;
  if (r == SxReduce::Mean) count.assign(static_cast<size_t>(std::max<int64_t>(out.numel(), 1)), include_self ? 1 : 0);
  if (!include_self)
    sx_walk(out.shape(), src.shape(), ishape, dim, ip,
            [&](int64_t oo, int64_t) { o[oo] = sx_identity<T>(r); });
  sx_walk(out.shape(), src.shape(), ishape, dim, ip, [&](int64_t oo, int64_t so) {
    T& d = o[oo];
    const T v = s[so];
    switch (r) {
      case SxReduce::Sum: d = static_cast<T>(d + v); break;
      case SxReduce::Mean: d = static_cast<T>(d + v); ++count[static_cast<size_t>(oo)]; break;
      case SxReduce::Prod: d = static_cast<T>(d * v); break;
      case SxReduce::Amax: d = sx_isnan(v) ? v : std::max(d, v); break;
      case SxReduce::Amin: d = sx_isnan(v) ? v : std::min(d, v); break;
    }
  });
  if (r == SxReduce::Mean)
    for (int64_t i = 0; i < out.numel(); ++i) {
      const int64_t n = count[static_cast<size_t>(i)];
      if (n <= 1) continue;  // untouched (or only self): the value stays
      if constexpr (std::is_floating_point_v<T>) o[i] = static_cast<T>(o[i] / static_cast<T>(n));
      else o[i] = static_cast<T>(std::floor(static_cast<double>(o[i]) / static_cast<double>(n)));
    }
}

const OpDef& sx_scatter_op() {
  static const OpDef& d = op("scatter");
  return d;
}
const OpDef& sx_scatter_reduce_op() {
  static const OpDef& d = op("scatter_reduce");
  return d;
}

// A gradient for src of index's shape, zero-padded to src's shape (entries the index does
// not reach get no gradient).
Tensor sx_fit_src(const Tensor& g_index_shaped, const Shape& src_shape, int64_t index_numel) {
  if (index_numel == 0) return zeros(src_shape, {.dtype = g_index_shaped.dtype()});
  if (src_shape.empty()) return g_index_shaped.reshape({});
  if (g_index_shaped.shape() == src_shape) return g_index_shaped;
  IntArray pads;
  for (size_t d = src_shape.size(); d-- > 0;) {
    pads.push_back(0);
    pads.push_back(src_shape[d] - g_index_shaped.shape()[d]);
  }
  return pad(g_index_shaped, pads);
}

// PyTorch 1.13's scatter_reduce_backward, written with tandem ops (so it is differentiable).
Tensors sx_reduce_backward(const BackwardContext& c) {
  const Tensor& g = c.grad(0);
  const Tensor &self = c.input(0), &index = c.input(1), &src = c.input(2);
  const int64_t dim = wrap(c.attrs().get<int64_t>("dim"), self.shape(), "scatter_reduce");
  const std::string reduce = c.attrs().get<std::string>("reduce");
  const bool include_self = c.attrs().get<bool>("include_self");
  const SxReduce r = sx_reduce_kind(reduce);
  const Tensor result = scatter_reduce(self, dim, index, src, reduce, include_self);
  Tensor gself, gsrc;
  if (r == SxReduce::Sum) {
    gself = g;
    gsrc = gather(g, dim, index);
  } else if (r == SxReduce::Mean) {
    Tensor n = include_self ? ones_like(g) : zeros_like(g);
    n = scatter_add(n, dim, index, ones_like(src));
    n = where(eq(n, zeros_like(n)), ones_like(n), n);
    gself = g / n;
    gsrc = gather(g, dim, index) / gather(n, dim, index);
  } else if (r == SxReduce::Prod) {
    // Zeros get the product of the others, without dividing by them.
    const Tensor self_zero = eq(self, zeros_like(self));
    const Tensor masked_self = where(self_zero, ones_like(self), self);
    const Tensor masked_self_result = scatter_reduce(masked_self, dim, index, src, reduce, include_self);
    gself = g * masked_self_result / masked_self;
    const Tensor src_zero = eq(src, zeros_like(src));
    const Tensor zeros_at = gather(scatter_add(zeros_like(self), dim, index, src_zero.to(self.dtype())), dim, index);
    const Tensor single_zero = logical_and(src_zero, eq(zeros_at, ones_like(zeros_at)));
    const Tensor masked_src = where(single_zero, ones_like(src), src);
    const Tensor masked_src_result = scatter_reduce(self, dim, index, masked_src, reduce, include_self);
    gsrc = where(single_zero, gather(g * masked_src_result, dim, index),
                 gather(g * result, dim, index) / where(src_zero, ones_like(src), src));
  } else {  // amax / amin: the gradient is split evenly between the elements equal to the result
    const Tensor value = gather(result, dim, index);
    const Tensor self_is = eq(self, result).to(self.dtype());
    const Tensor src_is = eq(src, value).to(self.dtype());
    const Tensor n = scatter_add(self_is, dim, index, src_is);
    const Tensor share = g / n;
    gself = self_is * share;
    gsrc = src_is * gather(share, dim, index);
  }
  if (!include_self) gself = scatter(gself, dim, index, 0.0);
  if (!c.needs_input_grad(0)) gself = Tensor();
  gsrc = c.needs_input_grad(2) ? sx_fit_src(gsrc, src.shape(), index.numel()) : Tensor();
  return Tensors{gself, Tensor(), gsrc};
}

void register_scatter_ops() {
  {
    OpDef d;
    d.name = "scatter";
    d.num_inputs = 3;
    d.nondiff_inputs = {1};
    d.doc = "scatter(self, index, src) along `dim`: self with out[p with coordinate dim = "
            "index[p]] = src[p] (the last write wins for repeated positions).";
    d.infer = [](const Metas& in, const Attrs& a) { return sx_infer(in, a, "scatter"); };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      const int64_t dim = wrap(k.attrs.get<int64_t>("dim"), out.shape(), "scatter");
      Tensor idx = sx_checked(k.inputs[1], sx_size(out.shape(), dim), "scatter", dim, out.shape());
      sx_copy_self(out, k.inputs[0]);
      if (idx.numel() == 0) return;
      Tensor src = dense(k.inputs[2], out.dtype());
      const size_t w = static_cast<size_t>(out.itemsize());
      char* o = static_cast<char*>(out.data_ptr());
      const char* s = static_cast<const char*>(src.data_ptr());
      sx_walk(out.shape(), src.shape(), k.inputs[1].shape(), dim,
              static_cast<const int64_t*>(idx.data_ptr()),
              [&](int64_t oo, int64_t so) { std::memcpy(o + oo * w, s + so * w, w); });
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.grad(0);
      const Tensor& index = c.input(1);
      const int64_t dim = wrap(c.attrs().get<int64_t>("dim"), c.input_meta(0).shape, "scatter");
      Tensor gself, gsrc;
      if (c.needs_input_grad(0)) gself = scatter(g, dim, index, 0.0);
      if (c.needs_input_grad(2))
        gsrc = sx_fit_src(gather(g, dim, index), c.input_meta(2).shape, index.numel());
      return Tensors{gself, Tensor(), gsrc};
    };
    d.supports_half = true;  // copies elements as bytes
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "scatter_reduce";
    d.num_inputs = 3;
    d.nondiff_inputs = {1};
    d.doc = "scatter_reduce(self, index, src) along `dim` with attrs `reduce` (sum, prod, mean, "
            "amax, amin) and `include_self`: src reduced into self's positions index[p].";
    d.infer = [](const Metas& in, const Attrs& a) {
      sx_reduce_kind(a.get<std::string>("reduce"));
      return sx_infer(in, a, "scatter_reduce");
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      const int64_t dim = wrap(k.attrs.get<int64_t>("dim"), out.shape(), "scatter_reduce");
      const SxReduce r = sx_reduce_kind(k.attrs.get<std::string>("reduce"));
      Tensor idx = sx_checked(k.inputs[1], sx_size(out.shape(), dim), "scatter_reduce", dim, out.shape());
      sx_copy_self(out, k.inputs[0]);
      if (idx.numel() == 0) return;
      Tensor src = dense(k.inputs[2], out.dtype());
      TANDEM_DISPATCH_NUMERIC(out.dtype(), "scatter_reduce", [&] {
        sx_reduce_kernel<scalar_t>(out, src, idx, k.inputs[1].shape(), dim, r,
                                   k.attrs.get<bool>("include_self"));
      });
    };
    d.backward = sx_reduce_backward;
    register_op(std::move(d));
  }
}

// A 1-D (or 0-D) index along `dim`, as int64, reshaped and broadcast over `shape`.
Tensor sx_spread_index(const Tensor& index, int64_t dim, const Shape& shape, const char* op) {
  TANDEM_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32,
               "{}: expected an int64 or int32 index, got dtype {}", op, index.dtype());
  TANDEM_CHECK(index.dim() <= 1, "{}: the index must be a 0-D or 1-D tensor, got shape {}", op,
               shape_str(index.shape()));
  Shape one(std::max<size_t>(shape.size(), 1), 1);
  one[static_cast<size_t>(dim)] = index.numel();
  return index.to(DType::Int64).reshape(one).expand(sx_shape1(shape));
}

// The shape x would have with `dim` replaced by the index's length (what index_add's source
// must be).
Shape sx_with_dim(const Shape& x, int64_t dim, int64_t k) {
  Shape s = sx_shape1(x);
  s[static_cast<size_t>(dim)] = k;
  return s;
}

void sx_check_bounds(const Tensor& index, int64_t n, const char* op, int64_t dim, const Shape& shape) {
  TANDEM_CHECK((index.dtype() == DType::Int64 || index.dtype() == DType::Int32) && index.dim() <= 1,
               "{}: expected a 0-D or 1-D int64 or int32 index, got dtype {} and shape {}", op,
               index.dtype(), shape_str(index.shape()));
  sx_checked(index, n, op, dim, shape);
}


// ---- advanced indexing

// x[i0, :, i2]: the index tensors (int64/int32, or bool masks standing for their nonzero
// positions) broadcast together, wrapped (negative counts from the end) and checked.
struct SxAdvanced {
  std::vector<int64_t> dims;  // the indexed dims of x, ascending
  Shape bshape;               // the indices' broadcast shape
  Tensor linear;              // int64 of bshape: the flat position in the indexed dims
  bool adjacent = true;       // the indexed dims are consecutive: the result keeps them there
};

// The nonzero positions of a bool/uint8 tensor, one int64 tensor per dim.
std::vector<Tensor> sx_nonzero(const Tensor& mask) {
  NoGradGuard no_grad;
  const Tensor m = mask.to(DType::UInt8).contiguous();
  const uint8_t* p = static_cast<const uint8_t*>(m.data_ptr());
  const Shape s = m.shape();
  const Shape st = contiguous_strides(s);
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < m.numel(); ++i)
    if (p[i] != 0) hits.push_back(i);
  const int64_t n = static_cast<int64_t>(hits.size());
  std::vector<Tensor> out;
  for (size_t d = 0; d < s.size(); ++d) {
    Tensor t = empty({n}, {.dtype = DType::Int64});
    int64_t* q = static_cast<int64_t*>(t.data_ptr());
    for (int64_t j = 0; j < n; ++j) q[j] = (hits[static_cast<size_t>(j)] / st[d]) % s[d];
    out.push_back(t);
  }
  return out;
}

SxAdvanced sx_plan(const Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  NoGradGuard no_grad;
  SxAdvanced a;
  std::vector<Tensor> idx;
  int64_t d = 0;
  for (size_t j = 0; j < indices.size(); ++j) {
    const Tensor& t = indices[j];
    if (!t.defined()) {
      ++d;
      continue;
    }
    if (t.dtype() == DType::Bool || t.dtype() == DType::UInt8) {
      TANDEM_CHECK(t.dim() >= 1, "{}: a 0-dim bool index is not supported (index {})", op, j);
      TANDEM_CHECK(d + t.dim() <= x.dim(),
                   "{}: too many indices for a tensor of shape {} (the bool index {} of shape {} "
                   "starts at dimension {})", op, shape_str(x.shape()), j, shape_str(t.shape()), d);
      for (int64_t e = 0; e < t.dim(); ++e)
        TANDEM_CHECK(t.size(e) == x.size(d + e),
                     "{}: the shape of the mask {} at index {} does not match the shape of the "
                     "indexed tensor {} at dimension {}", op, shape_str(t.shape()), e,
                     shape_str(x.shape()), d + e);
      for (const Tensor& nz : sx_nonzero(t)) {
        a.dims.push_back(d++);
        idx.push_back(nz);
      }
      continue;
    }
    TANDEM_CHECK(t.dtype() == DType::Int64 || t.dtype() == DType::Int32,
                 "{}: tensors used as indices must be int64, int32, uint8 or bool, got dtype {} "
                 "(index {})", op, t.dtype(), j);
    TANDEM_CHECK(d < x.dim(), "{}: too many indices for a tensor of shape {} ({} given)", op,
                 shape_str(x.shape()), indices.size());
    a.dims.push_back(d++);
    idx.push_back(t.to(DType::Int64));
  }
  TANDEM_CHECK(!idx.empty(), "{}: expected at least one index tensor", op);
  a.bshape = idx[0].shape();
  for (const Tensor& t : idx) a.bshape = broadcast_shapes(a.bshape, t.shape(), op);
  for (size_t j = 1; j < a.dims.size(); ++j) a.adjacent &= a.dims[j] == a.dims[j - 1] + 1;
  a.linear = zeros(a.bshape, {.dtype = DType::Int64});
  int64_t* lin = static_cast<int64_t*>(a.linear.data_ptr());
  const int64_t count = a.linear.numel();
  for (size_t j = 0; j < idx.size(); ++j) {
    const int64_t dim = a.dims[j], n = x.size(dim);
    const Tensor t = idx[j].expand(a.bshape).contiguous();
    const int64_t* p = static_cast<const int64_t*>(t.data_ptr());
    for (int64_t i = 0; i < count; ++i) {
      TANDEM_CHECK(p[i] >= -n && p[i] < n,
                   "{}: index {} is out of bounds for dimension {} with size {} (tensor shape {})",
                   op, p[i], dim, n, shape_str(x.shape()));
      lin[i] = lin[i] * n + (p[i] < 0 ? p[i] + n : p[i]);
    }
  }
  return a;
}

// x with the indexed dims moved first, in order: the permutation and the remaining sizes.
IntArray sx_front_perm(const Tensor& x, const SxAdvanced& a, Shape& rest, int64_t& flat) {
  IntArray perm(a.dims.begin(), a.dims.end());
  flat = 1;
  for (int64_t d : a.dims) flat *= x.size(d);
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(a.dims.begin(), a.dims.end(), d) == a.dims.end()) {
      perm.push_back(d);
      rest.push_back(x.size(d));
    }
  return perm;
}

// Where the broadcast index dims sit in the result: before the rest, or (indexed dims
// adjacent) where the first indexed dim was.
int64_t sx_result_at(const SxAdvanced& a) { return a.adjacent ? a.dims.front() : 0; }

}  // namespace

namespace defs {
void register_scatter() { register_scatter_ops(); }
}  // namespace defs

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return dispatch1(sx_scatter_op(), {x, index, src}, {{"dim", dim}});
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, double value) {
  fill_bytes(x.dtype(), value, "scatter");
  Tensor src = full(index.shape(), value, {.dtype = x.dtype()});
  return dispatch1(sx_scatter_op(), {x, index, src}, {{"dim", dim}});
}

Tensor scatter_reduce(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                      const std::string& reduce, bool include_self) {
  return dispatch1(sx_scatter_reduce_op(), {x, index, src},
                   {{"dim", dim}, {"reduce", reduce}, {"include_self", include_self}});
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                 double alpha) {
  const int64_t d = wrap(dim, x.shape(), "index_add");
  const Shape want = sx_with_dim(x.shape(), d, index.numel());
  TANDEM_CHECK(sx_shape1(source.shape()) == want && source.dtype() == x.dtype(),
               "index_add: source of shape {} and dtype {} must have the input's dtype {} and "
               "shape {} (the input's shape {} with dimension {} the index's length {})",
               shape_str(source.shape()), source.dtype(), x.dtype(), shape_str(want),
               shape_str(x.shape()), d, index.numel());
  sx_check_bounds(index, sx_size(x.shape(), d), "index_add", d, x.shape());
  const Tensor idx = sx_spread_index(index, d, want, "index_add");
  Tensor src = source.reshape(want);
  if (alpha != 1.0) src = src * scalar_tensor(alpha, {.dtype = x.dtype()});
  if (x.dim() == 0) return scatter_add(x.reshape({1}), 0, idx, src).reshape({});
  return scatter_add(x, d, idx, src);
}

Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  const int64_t d = wrap(dim, x.shape(), "index_copy");
  const Shape want = sx_with_dim(x.shape(), d, index.numel());
  TANDEM_CHECK(sx_shape1(source.shape()) == want && source.dtype() == x.dtype(),
               "index_copy: source of shape {} and dtype {} must have the input's dtype {} and "
               "shape {} (the input's shape {} with dimension {} the index's length {})",
               shape_str(source.shape()), source.dtype(), x.dtype(), shape_str(want),
               shape_str(x.shape()), d, index.numel());
  sx_check_bounds(index, sx_size(x.shape(), d), "index_copy", d, x.shape());
  const Tensor idx = sx_spread_index(index, d, want, "index_copy");
  if (x.dim() == 0) return scatter(x.reshape({1}), 0, idx, source.reshape(want)).reshape({});
  return scatter(x, d, idx, source.reshape(want));
}

Tensor index_fill(const Tensor& x, int64_t dim, const Tensor& index, double value) {
  const int64_t d = wrap(dim, x.shape(), "index_fill");
  TANDEM_CHECK(index.dtype() == DType::Int64,
               "index_fill: expected an int64 index, got dtype {}", index.dtype());
  // PyTorch's index_fill wraps negative indices.
  const int64_t n = sx_size(x.shape(), d);
  Tensor wrapped = index.to(DType::Int64).contiguous().clone();
  int64_t* p = static_cast<int64_t*>(wrapped.data_ptr());
  for (int64_t i = 0; i < wrapped.numel(); ++i) {
    TANDEM_CHECK(p[i] >= -n && p[i] < n,
                 "index_fill: index {} is out of range for dimension {} of size {} (input shape {})",
                 p[i], d, n, shape_str(x.shape()));
    if (p[i] < 0) p[i] += n;
  }
  const Tensor idx = sx_spread_index(wrapped, d, sx_with_dim(x.shape(), d, wrapped.numel()), "index_fill");
  if (x.dim() == 0) return scatter(x.reshape({1}), 0, idx, value).reshape({});
  return scatter(x, d, idx.contiguous(), value);
}

Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<int64_t> dim) {
  TANDEM_CHECK(indices.dtype() == DType::Int64,
               "take_along_dim: expected an int64 indices tensor, got dtype {}", indices.dtype());
  if (!dim) return gather(x.reshape({-1}), 0, indices.reshape({-1}));
  TANDEM_CHECK(x.dim() == indices.dim(),
               "take_along_dim: input and indices should have the same number of dimensions, but "
               "got {} (shape {}) and {} (shape {})", x.dim(), shape_str(x.shape()), indices.dim(),
               shape_str(indices.shape()));
  const int64_t d = wrap(*dim, x.shape(), "take_along_dim");
  if (x.dim() == 0) return gather(x, 0, indices);
  Shape xs = x.shape(), is = indices.shape();
  xs[static_cast<size_t>(d)] = 1;
  is[static_cast<size_t>(d)] = 1;
  const Shape b = broadcast_shapes(xs, is, "take_along_dim");
  Shape xb = b, ib = b;
  xb[static_cast<size_t>(d)] = x.size(d);
  ib[static_cast<size_t>(d)] = indices.size(d);
  return gather(x.expand(xb), d, indices.expand(ib).contiguous());
}

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  const SxAdvanced a = sx_plan(x, indices, "index");
  Shape rest;
  int64_t flat = 0;
  const IntArray perm = sx_front_perm(x, a, rest, flat);
  Shape flat_shape{flat};
  flat_shape.insert(flat_shape.end(), rest.begin(), rest.end());
  const Tensor xr = x.permute(perm).reshape(flat_shape);
  Shape out_shape = a.bshape;
  out_shape.insert(out_shape.end(), rest.begin(), rest.end());
  Tensor out = index_select(xr, 0, a.linear.reshape({-1})).reshape(out_shape);
  const int64_t at = sx_result_at(a), nb = static_cast<int64_t>(a.bshape.size());
  if (at == 0) return out;
  IntArray p;  // [B, before, after] -> [before, B, after]
  for (int64_t i = 0; i < at; ++i) p.push_back(nb + i);
  for (int64_t i = 0; i < nb; ++i) p.push_back(i);
  for (int64_t i = nb + at; i < out.dim(); ++i) p.push_back(i);
  return out.permute(p).contiguous();
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  TANDEM_CHECK(values.dtype() == x.dtype(),
               "index_put: values of dtype {} must have the dtype {} of the tensor they are put "
               "into", values.dtype(), x.dtype());
  const SxAdvanced a = sx_plan(x, indices, "index_put");
  Shape rest;
  int64_t flat = 0;
  const IntArray perm = sx_front_perm(x, a, rest, flat);
  const int64_t at = sx_result_at(a), nb = static_cast<int64_t>(a.bshape.size());
  // The shape x[indices] has, which values must broadcast to.
  Shape result(rest.begin(), rest.begin() + at);
  result.insert(result.end(), a.bshape.begin(), a.bshape.end());
  result.insert(result.end(), rest.begin() + at, rest.end());
  TANDEM_CHECK(broadcast_shapes(values.shape(), result, "index_put") == result,
               "index_put: values of shape {} cannot be broadcast to the indexed shape {}",
               shape_str(values.shape()), shape_str(result));
  Tensor v = values.expand(result);
  if (at != 0) {  // [before, B, after] -> [B, before, after]
    IntArray p;
    for (int64_t i = 0; i < nb; ++i) p.push_back(at + i);
    for (int64_t i = 0; i < at; ++i) p.push_back(i);
    for (int64_t i = at + nb; i < static_cast<int64_t>(result.size()); ++i) p.push_back(i);
    v = v.permute(p);
  }
  const int64_t count = a.linear.numel();
  Shape vshape{count};
  vshape.insert(vshape.end(), rest.begin(), rest.end());
  v = v.contiguous().reshape(vshape);
  Shape one(vshape.size(), 1);
  one[0] = count;
  const Tensor where_to = a.linear.reshape(one).expand(vshape).contiguous();
  Shape flat_shape{flat};
  flat_shape.insert(flat_shape.end(), rest.begin(), rest.end());
  const Tensor xp = x.permute(perm);
  const Tensor xr = xp.contiguous().reshape(flat_shape);
  const Tensor out = accumulate ? scatter_add(xr, 0, where_to, v) : scatter(xr, 0, where_to, v);
  IntArray inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return out.reshape(xp.shape()).permute(inverse).contiguous();
}

// The flat positions where the broadcast mask is true, and the broadcast shape.
Tensor sx_mask_positions(const Tensor& x, const Tensor& mask, const char* op, Shape& shape) {
  TANDEM_CHECK(mask.dtype() == DType::Bool || mask.dtype() == DType::UInt8,
               "{}: the mask must be a bool tensor, got dtype {} (mask shape {}, input shape {})",
               op, mask.dtype(), shape_str(mask.shape()), shape_str(x.shape()));
  shape = broadcast_shapes(x.shape(), mask.shape(), op);
  NoGradGuard no_grad;
  const Tensor flat = mask.expand(shape).reshape({-1});
  return sx_nonzero(flat.numel() == 0 ? flat.reshape({0}) : flat)[0];
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  Shape shape;
  const Tensor pos = sx_mask_positions(x, mask, "masked_select", shape);
  return index_select(x.expand(shape).contiguous().reshape({-1}), 0, pos);
}

Tensor masked_scatter(const Tensor& x, const Tensor& mask, const Tensor& source) {
  TANDEM_CHECK(source.dtype() == x.dtype(),
               "masked_scatter: source of dtype {} must have the input's dtype {}", source.dtype(),
               x.dtype());
  Shape shape;
  const Tensor pos = sx_mask_positions(x, mask, "masked_scatter", shape);
  const int64_t n = pos.numel();
  TANDEM_CHECK(source.numel() >= n,
               "masked_scatter: the mask selects {} elements but source (shape {}) has only {}", n,
               shape_str(source.shape()), source.numel());
  const Tensor vals = source.reshape({-1}).slice(0, 0, n);
  return scatter(x.expand(shape).contiguous().reshape({-1}), 0, pos, vals).reshape(shape);
}

}  // namespace tandem
