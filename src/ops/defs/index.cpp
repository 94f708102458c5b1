// Indexing ops, PyTorch 1.13 semantics. Gradients pair up as adjoints:
//
//   index_select(x, dim, idx)         -> grad: index_select_backward(g, idx)  (rows summed)
//   index_select_backward(g, idx)     -> grad: index_select(gg, dim, idx)
//   gather(x, dim, idx)               -> grad: scatter_add(zeros, dim, idx, g)
//   scatter_add(self, dim, idx, src)  -> grads: g, gather(g, dim, idx)
//   masked_fill(x, mask, v)           -> grad: where(mask, 0, g)
//   cat(xs, dim)                      -> grads: slices of g
//   pad(x, pads, mode)                -> grad: pad(g, -pads) (constant) or pad_backward(g)
//   pad_backward(g)                   -> grad: pad(gg, pads, mode)
//   sort / topk                       -> grad: scatter_add(zeros, dim, indices, g)
//   one_hot                           -> no gradient
//   unbind(x, dim)                    -> grad: stack(gs, dim)
// stack, split and chunk are compositions (unsqueeze + cat, narrow views).
// Indices and masks never get gradients. Kernels: src/backend/cpu/index_kernels.cpp.
#include <cmath>
#include <limits>

#include "../../backend/cpu/index_kernels.h"
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "index_util.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using namespace index_detail;

// 0-dim tensors index like shape [1] (PyTorch's ensure_nonempty).
int64_t ndim1(const Shape& s) { return std::max<int64_t>(static_cast<int64_t>(s.size()), 1); }
int64_t size1(const Shape& s, int64_t d) { return s.empty() ? 1 : s[d]; }

void check_index_dtype(const TensorMeta& m, const char* op, bool allow_int32) {
  TANDEM_CHECK(m.dtype == DType::Int64 || (allow_int32 && m.dtype == DType::Int32),
               "{}: expected {} indices, got dtype {} (index shape {})", op,
               allow_int32 ? "int64 or int32" : "int64", m.dtype, shape_str(m.shape));
}

// Contiguous int64 indices, every one checked against [0, size).
Tensor checked_indices(const Tensor& index, int64_t size, const char* op, int64_t dim,
                       const Shape& shape) {
  Tensor idx = dense(index, DType::Int64);
  const int64_t* p = static_cast<const int64_t*>(idx.data_ptr());
  for (int64_t i = 0; i < idx.numel(); ++i)
    TANDEM_CHECK(p[i] >= 0 && p[i] < size,
                 "{}: index {} is out of range for dimension {} of size {} (input shape {})", op,
                 p[i], dim, size, shape_str(shape));
  return idx;
}

void throw_if_bad(const cpu::BadIndex& bad, const char* op, int64_t dim, int64_t size,
                  const Shape& shape, const Shape& index_shape) {
  TANDEM_CHECK(!bad.seen(),
               "{}: index {} is out of bounds for dimension {} with size {} (tensor shape {}, "
               "index shape {})", op, bad.value(), dim, size, shape_str(shape),
               shape_str(index_shape));
}

// Zeros as one broadcast element: scatter_add's kernel then writes them in one pass.
Tensor zeros_of(const Shape& shape, DType dt) { return scalar_tensor(0.0, {.dtype = dt}).expand(shape); }

const OpDef& scatter_add_op() {
  static const OpDef& d = op("scatter_add");
  return d;
}
// The gradient of an op that picked x's elements at `index` along dim: g put back there.
Tensor scatter_into_zeros(const Tensor& g, int64_t dim, const Tensor& index, const Shape& shape) {
  return dispatch1(scatter_add_op(), {zeros_of(shape, g.dtype()), index, g}, {{"dim", dim}});
}

// ---- index_select

void register_index_select() {
  {
    OpDef d;
    d.name = "index_select";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.doc = "index_select(x, index) along `dim`: the entries index[j] (0-D or 1-D, int64/int32).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& s = in[0].shape;
      check_index_dtype(in[1], "index_select", true);
      TANDEM_CHECK(in[1].shape.size() <= 1,
                   "index_select: the index must be a 0-D or 1-D tensor, got shape {} (input shape {})",
                   shape_str(in[1].shape), shape_str(s));
      int64_t dim = wrap(a.get<int64_t>("dim"), s, "index_select");
      int64_t k = shape_numel(in[1].shape);
      if (s.empty()) {
        TANDEM_CHECK(k >= 1, "index_select: empty index for a 0-dim input");
        return Metas{{Shape{}, in[0].dtype}};
      }
      Shape o = s;
      o[dim] = k;
      return Metas{{o, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      int64_t dim = wrap(k.attrs.get<int64_t>("dim"), x.shape(), "index_select");
      Tensor idx = checked_indices(k.inputs[1], size1(x.shape(), dim), "index_select", dim, x.shape());
      int64_t n = x.dim() == 0 ? 1 : idx.numel();  // a 0-dim input gives its one element
      cpu::index_select(dense(x, x.dtype()), dim, static_cast<const int64_t*>(idx.data_ptr()), n,
                        k.outputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& bwd = op("index_select_backward");
      Attrs a{{"dim", c.attrs().get<int64_t>("dim")}, {"input_shape", c.input_meta(0).shape}};
      return Tensors{dispatch1(bwd, {c.grad(0), c.input(1)}, a), Tensor()};
    };
    d.supports_half = true;  // copies elements as bytes
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "index_select_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.doc = "index_select_backward(g, index): zeros of `input_shape` with g's rows added into "
            "rows index[j] along `dim` (index_add).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& s = a.get<IntArray>("input_shape");
      check_index_dtype(in[1], "index_select_backward", true);
      TANDEM_CHECK(is_floating(in[0].dtype),
                   "index_select_backward: expected a floating-point gradient, got {}", in[0].dtype);
      int64_t dim = wrap(a.get<int64_t>("dim"), s, "index_select_backward");
      Shape want = s;
      if (!s.empty()) want[dim] = shape_numel(in[1].shape);
      TANDEM_CHECK(in[1].shape.size() <= 1 && in[0].shape == want,
                   "index_select_backward: gradient of shape {} does not match an index of shape "
                   "{} into shape {}", shape_str(in[0].shape), shape_str(in[1].shape), shape_str(s));
      return Metas{{s, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      int64_t dim = wrap(k.attrs.get<int64_t>("dim"), out.shape(), "index_select_backward");
      Tensor idx = checked_indices(k.inputs[1], size1(out.shape(), dim), "index_select_backward",
                                   dim, out.shape());
      int64_t n = out.dim() == 0 ? 1 : idx.numel();
      cpu::index_add_rows(dense(k.inputs[0], out.dtype()), dim,
                          static_cast<const int64_t*>(idx.data_ptr()), n, out);
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{index_select(c.grad(0), c.attrs().get<int64_t>("dim"), c.input(1)), Tensor()};
    };
    register_op(std::move(d));
  }
}

// ---- gather / scatter_add

// PyTorch's gather/scatter shape rule: same number of dims, index no larger than
// `other` (src) in every dim and no larger than self outside `dim`.
void check_scatter_shapes(const char* op, const Shape& self, int64_t dim, const Shape& index,
                          const Shape* src) {
  TANDEM_CHECK(ndim1(self) == ndim1(index),
               "{}: index of shape {} must have as many dimensions as the input of shape {}", op,
               shape_str(index), shape_str(self));
  if (src)
    TANDEM_CHECK(ndim1(*src) == ndim1(index),
                 "{}: index of shape {} must have as many dimensions as src of shape {}", op,
                 shape_str(index), shape_str(*src));
  for (int64_t d = 0; d < ndim1(self); ++d) {
    const int64_t i = size1(index, d);
    bool ok = (d == dim || i <= size1(self, d)) && (!src || i <= size1(*src, d));
    TANDEM_CHECK(ok, "{}: index of shape {} must be no larger than {} of shape {}{} in dimension {}",
                 op, shape_str(index), src ? "src" : "the input", shape_str(src ? *src : self),
                 src ? fmt::format(" (and than the input of shape {} apart from dimension {})",
                                   shape_str(self), dim)
                     : fmt::format(" apart from dimension {}", dim),
                 d);
  }
}

void register_gather_scatter() {
  {
    OpDef d;
    d.name = "gather";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.doc = "gather(x, index) along `dim`: out[p] = x[p with coordinate dim = index[p]].";
    d.infer = [](const Metas& in, const Attrs& a) {
      int64_t dim = wrap(a.get<int64_t>("dim"), in[0].shape, "gather");
      if (shape_numel(in[1].shape) != 0) {  // as PyTorch: an empty index is never checked
        check_index_dtype(in[1], "gather", false);
        check_scatter_shapes("gather", in[0].shape, dim, in[1].shape, nullptr);
      }
      return Metas{{in[1].shape, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      int64_t dim = wrap(k.attrs.get<int64_t>("dim"), x.shape(), "gather");
      cpu::BadIndex bad;
      cpu::gather(x, dim, k.inputs[1], k.outputs[0], bad);
      throw_if_bad(bad, "gather", dim, size1(x.shape(), dim), x.shape(), k.inputs[1].shape());
    };
    d.backward = [](const BackwardContext& c) {
      int64_t dim = wrap(c.attrs().get<int64_t>("dim"), c.input_meta(0).shape, "gather");
      return Tensors{scatter_into_zeros(c.grad(0), dim, c.input(1), c.input_meta(0).shape), Tensor()};
    };
    d.supports_half = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "scatter_add";
    d.num_inputs = 3;
    d.nondiff_inputs = {1};
    d.doc = "scatter_add(self, index, src) along `dim`: self with src[p] added at "
            "out[p with coordinate dim = index[p]].";
    d.infer = [](const Metas& in, const Attrs& a) {
      int64_t dim = wrap(a.get<int64_t>("dim"), in[0].shape, "scatter_add");
      if (shape_numel(in[1].shape) != 0) {
        check_index_dtype(in[1], "scatter_add", false);
        TANDEM_CHECK(in[0].dtype == in[2].dtype,
                     "scatter_add: src dtype {} must equal the input's dtype {} (input shape {}, "
                     "src shape {})", in[2].dtype, in[0].dtype, shape_str(in[0].shape),
                     shape_str(in[2].shape));
        check_scatter_shapes("scatter_add", in[0].shape, dim, in[1].shape, &in[2].shape);
      }
      return Metas{{in[0].shape, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      int64_t dim = wrap(k.attrs.get<int64_t>("dim"), out.shape(), "scatter_add");
      cpu::copy_same_type(out, k.inputs[0]);
      cpu::BadIndex bad;
      cpu::scatter_add(k.inputs[2], dim, k.inputs[1], out, bad);
      throw_if_bad(bad, "scatter_add", dim, size1(out.shape(), dim), out.shape(), k.inputs[1].shape());
    };
    d.backward = [](const BackwardContext& c) {
      const Shape& src_shape = c.input_meta(2).shape;
      Tensor gsrc;
      if (c.needs_input_grad(2)) {
        const Tensor& index = c.input(1);
        int64_t dim = wrap(c.attrs().get<int64_t>("dim"), c.input_meta(0).shape, "scatter_add");
        gsrc = gather(c.grad(0), dim, index);
        if (index.numel() == 0) {
          gsrc = zeros(src_shape, {.dtype = c.grad(0).dtype()});
        } else if (src_shape.empty()) {
          gsrc = gsrc.reshape({});
        } else if (gsrc.shape() != src_shape) {
          // src entries the index does not reach get no gradient.
          IntArray pads;
          for (size_t d = src_shape.size(); d-- > 0;) {
            pads.push_back(0);
            pads.push_back(src_shape[d] - gsrc.shape()[d]);
          }
          gsrc = pad(gsrc, pads);
        }
      }
      return Tensors{c.grad(0), Tensor(), gsrc};
    };
    register_op(std::move(d));
  }
}

// ---- masked_fill

void register_masked_fill() {
  OpDef d;
  d.name = "masked_fill";
  d.num_inputs = 2;
  d.nondiff_inputs = {1};
  d.doc = "masked_fill(x, mask) with attr `value`: value where the bool mask (broadcast) is true.";
  d.infer = [](const Metas& in, const Attrs& a) {
    TANDEM_CHECK(in[1].dtype == DType::Bool || in[1].dtype == DType::UInt8,
                 "masked_fill: the mask must be a bool tensor, got dtype {} (mask shape {}, input "
                 "shape {}); convert it with .to(kBool)", in[1].dtype, shape_str(in[1].shape),
                 shape_str(in[0].shape));
    fill_bytes(in[0].dtype, a.get<double>("value"), "masked_fill");
    return Metas{{broadcast_shapes(in[0].shape, in[1].shape, "masked_fill"), in[0].dtype}};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& out = k.outputs[0];
    FillBytes v = fill_bytes(out.dtype(), k.attrs.get<double>("value"), "masked_fill");
    cpu::masked_fill(k.inputs[0], k.inputs[1], v.bytes, out);
  };
  d.backward = [](const BackwardContext& c) {
    const Tensor& g = c.grad(0);
    return Tensors{where(c.input(1), scalar_tensor(0.0, {.dtype = g.dtype()}), g), Tensor()};
  };
  d.supports_half = true;
  register_op(std::move(d));
}

// ---- cat

struct CatPlan {
  int64_t dim = 0;
  Shape out;
  std::vector<bool> skip;  // 1-D empty tensors, ignored as in PyTorch
};

CatPlan plan_cat(const Metas& in, int64_t dim) {
  TANDEM_CHECK(!in.empty(), "cat: expected a non-empty list of tensors");
  CatPlan p;
  int64_t ref = -1;
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    TANDEM_CHECK(!s.empty(), "cat: zero-dimensional tensor (at position {}) cannot be concatenated", i);
    p.skip.push_back(s.size() == 1 && s[0] == 0);
    if (ref < 0 && !p.skip.back()) ref = static_cast<int64_t>(i);
  }
  if (ref < 0) {  // only 1-D empty tensors
    p.out = Shape{0};
    return p;
  }
  const Shape& r = in[ref].shape;
  p.dim = wrap(dim, r, "cat");
  p.out = r;
  p.out[p.dim] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (p.skip[i]) continue;
    const Shape& s = in[i].shape;
    TANDEM_CHECK(s.size() == r.size(),
                 "cat: tensors must have the same number of dimensions: got {} (shape {}) and {} "
                 "(shape {}, tensor {})", r.size(), shape_str(r), s.size(), shape_str(s), i);
    for (size_t d = 0; d < s.size(); ++d)
      TANDEM_CHECK(static_cast<int64_t>(d) == p.dim || s[d] == r[d],
                   "cat: sizes of tensors must match except in dimension {}. Expected size {} but "
                   "got size {} for tensor number {} in the list (shapes {} and {})", p.dim, r[d],
                   s[d], i, shape_str(r), shape_str(s));
    p.out[p.dim] += s[p.dim];
  }
  return p;
}

Tensor view_of(const Tensor& base, Shape sizes, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->numel = shape_numel(sizes);
  impl->strides = base.strides();
  impl->sizes = std::move(sizes);
  impl->offset = base.offset() + offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

void register_cat() {
  OpDef d;
  d.name = "cat";
  d.num_inputs = -1;
  d.doc = "Concatenation along `dim` with type promotion; 1-D empty inputs are skipped.";
  d.infer = [](const Metas& in, const Attrs& a) {
    CatPlan p = plan_cat(in, a.get<int64_t>("dim"));
    DType dt = in[0].dtype;
    for (const TensorMeta& m : in) dt = promote_types(dt, m.dtype);
    return Metas{{p.out, dt}};
  };
  d.cpu = [](const KernelArgs& k) {
    Metas in;
    for (const Tensor& t : k.inputs) in.push_back(TensorMeta::of(t));
    CatPlan p = plan_cat(in, k.attrs.get<int64_t>("dim"));
    const Tensor& out = k.outputs[0];
    std::vector<Tensor> parts;
    for (size_t i = 0; i < k.inputs.size(); ++i)
      if (!p.skip[i]) parts.push_back(k.inputs[i]);
    if (cpu::cat_contiguous(parts, p.dim, out)) return;
    int64_t at = 0;
    for (const Tensor& x : parts) {
      cpu::copy_into(view_of(out, x.shape(), at * out.strides()[p.dim]), x);
      at += x.shape()[p.dim];
    }
  };
  d.backward = [](const BackwardContext& c) {
    Metas in(c.input_meta_);
    CatPlan p = plan_cat(in, c.attrs().get<int64_t>("dim"));
    Tensors grads(in.size());
    int64_t at = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (p.skip[i]) continue;
      const int64_t n = in[i].shape[p.dim];
      if (c.needs_input_grad(i)) grads[i] = c.grad(0).slice(p.dim, at, at + n);
      at += n;
    }
    return grads;
  };
  d.save_inputs = false;
  d.supports_half = true;  // copy_into converts any dtype
  register_op(std::move(d));
}

// ---- unbind: one node with a contiguous copy per slice, so a loop that reads the slices one
// at a time (an RNN over time steps) gets one stack() in backward instead of one zero-filled
// full-size gradient per slice.
void register_unbind() {
  OpDef d;
  d.name = "unbind";
  d.doc = "The slices x.select(dim, i) for every i, as separate contiguous tensors (copies).";
  d.infer = [](const Metas& in, const Attrs& a) {
    const int64_t dim = a.get<int64_t>("dim");  // wrapped by unbind()
    Shape s = in[0].shape;
    const int64_t n = s[dim];
    s.erase(s.begin() + dim);
    return Metas(static_cast<size_t>(n), TensorMeta{s, in[0].dtype, in[0].device});
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& x = k.inputs[0];
    const int64_t dim = k.attrs.get<int64_t>("dim");
    Shape s = x.shape(), st = x.strides();
    const int64_t step = st[dim];
    s.erase(s.begin() + dim);
    st.erase(st.begin() + dim);
    for (size_t i = 0; i < k.outputs.size(); ++i) {
      auto impl = std::make_shared<TensorImpl>();
      impl->storage = x.storage();
      impl->numel = shape_numel(s);
      impl->sizes = s;
      impl->strides = st;
      impl->offset = x.offset() + static_cast<int64_t>(i) * step;
      impl->dtype = x.dtype();
      cpu::copy_into(k.outputs[i], Tensor(std::move(impl)));
    }
  };
  d.backward = [](const BackwardContext& c) {
    Tensors gs;
    for (size_t i = 0; i < c.grads_.size(); ++i) gs.push_back(c.grad(i));
    return Tensors{stack(gs, c.attrs().get<int64_t>("dim"))};
  };
  d.save_inputs = false;
  d.supports_half = true;  // copy_into converts any dtype
  register_op(std::move(d));
}

}  // namespace

namespace defs {
void register_index_more();  // index_pad_sort.cpp: pad, one_hot, sort, topk

void register_index() {
  register_index_select();
  register_gather_scatter();
  register_masked_fill();
  register_cat();
  register_unbind();
  register_index_more();
}

}  // namespace defs

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  static const OpDef& d = op("index_select");
  return dispatch1(d, {x, index}, {{"dim", dim}});
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  static const OpDef& d = op("gather");
  return dispatch1(d, {x, index}, {{"dim", dim}});
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return dispatch1(scatter_add_op(), {x, index, src}, {{"dim", dim}});
}
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  static const OpDef& d = op("masked_fill");
  return dispatch1(d, {x, mask}, {{"value", value}});
}
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TANDEM_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  static const OpDef& d = op("cat");
  return dispatch1(d, tensors, {{"dim", dim}});
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TANDEM_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const Shape& s0 = tensors[0].shape();
  for (size_t i = 1; i < tensors.size(); ++i)
    TANDEM_CHECK(tensors[i].shape() == s0,
                 "stack: expects each tensor to be equal size, but got {} at entry 0 and {} at "
                 "entry {}", shape_str(s0), shape_str(tensors[i].shape()), i);
  Shape with_new = s0;
  with_new.push_back(1);
  int64_t d = wrap(dim, with_new, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d));
  return cat(parts, d);
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  TANDEM_CHECK(x.dim() > 0, "unbind: expects at least a 1-dimensional tensor, got shape {}", shape_str(x.shape()));
  const int64_t d = wrap(dim, x.shape(), "unbind");
  if (x.shape()[d] == 0) return {};
  static const OpDef& op_ = op("unbind");
  return dispatch(op_, {x}, {{"dim", d}});
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  TANDEM_CHECK(x.dim() > 0, "split: expects at least a 1-dimensional tensor, got shape {}",
               shape_str(x.shape()));
  TANDEM_CHECK(split_size >= 0, "split: expects split_size to be non-negative, got {} (shape {})",
               split_size, shape_str(x.shape()));
  int64_t d = wrap(dim, x.shape(), "split");
  const int64_t n = x.shape()[d];
  TANDEM_CHECK(split_size > 0 || n == 0,
               "split: split_size can only be 0 if dimension {} has size 0, but it has size {} "
               "(shape {})", d, n, shape_str(x.shape()));
  if (n == 0) return {x.narrow(d, 0, 0)};
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < n; at += split_size) parts.push_back(x.narrow(d, at, std::min(split_size, n - at)));
  return parts;
}

std::vector<Tensor> split(const Tensor& x, const IntArray& split_sizes, int64_t dim) {
  TANDEM_CHECK(x.dim() > 0, "split: expects at least a 1-dimensional tensor, got shape {}",
               shape_str(x.shape()));
  int64_t d = wrap(dim, x.shape(), "split");
  const int64_t n = x.shape()[d];
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    TANDEM_CHECK(s >= 0, "split: split_sizes must be non-negative, got [{}]", fmt::join(split_sizes, ", "));
    total += s;
  }
  TANDEM_CHECK(total == n,
               "split: split_sizes [{}] must sum exactly to {} (the size of dimension {} of the "
               "input of shape {})", fmt::join(split_sizes, ", "), n, d, shape_str(x.shape()));
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : split_sizes) {
    parts.push_back(x.narrow(d, at, s));
    at += s;
  }
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  TANDEM_CHECK(x.dim() > 0, "chunk: expects at least a 1-dimensional tensor, got shape {}",
               shape_str(x.shape()));
  TANDEM_CHECK(chunks > 0, "chunk: expects `chunks` to be greater than 0, got {}", chunks);
  int64_t d = wrap(dim, x.shape(), "chunk");
  const int64_t n = x.shape()[d], size = (n + chunks - 1) / chunks;
  // An empty dim still gives `chunks` (empty) pieces, as PyTorch.
  if (n == 0) return split(x, IntArray(chunks, 0), d);
  return split(x, size, d);
}

}  // namespace tandem
