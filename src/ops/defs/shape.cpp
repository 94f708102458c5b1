// View ops: outputs share storage with their input (reshape copies only when no
// view is possible). Gradients are views or the slice_backward op.
#include <algorithm>
#include <numeric>

#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->numel = shape_numel(sizes);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

// Resolves one -1 and checks the element count.
Shape infer_size(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TANDEM_CHECK(infer_at < 0, "{}: only one dimension can be -1, got shape {}", op, shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      TANDEM_CHECK(out[i] >= 0, "{}: invalid size {} in shape {}", op, out[i], shape_str(shape));
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    TANDEM_CHECK(known != 0 && numel % known == 0,
                 "{}: shape {} is invalid for an input of {} elements (shape {})", op,
                 shape_str(shape), numel, shape_str(from));
    out[infer_at] = numel / known;
  }
  TANDEM_CHECK(shape_numel(out) == numel,
               "{}: shape {} is invalid for an input of {} elements (shape {})", op,
               shape_str(shape), numel, shape_str(from));
  return out;
}

// Strides for viewing (sizes, strides) as new_sizes without a copy, if possible.
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& new_sizes) {
  int64_t numel = shape_numel(sizes);
  Shape out(new_sizes.size());
  if (numel == 0) return contiguous_strides(new_sizes);
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Metas meta_with_shape(const TensorMeta& m, Shape s) {
  TensorMeta o = m;
  o.shape = std::move(s);
  o.is_wrapped_number = false;
  return {o};
}

}  // namespace

namespace defs {

void register_shape() {
  {
    OpDef d;
    d.name = "reshape";
    d.doc = "A view with attribute `shape` (one -1 allowed); copies when no view is possible.";
    d.infer = [](const Metas& in, const Attrs& a) {
      return meta_with_shape(in[0], infer_size(a.get<IntArray>("shape"), shape_numel(in[0].shape),
                                               "reshape", in[0].shape));
    };
    d.view = [](const Tensors& in, const Attrs& a) {
      const Tensor& x = in[0];
      Shape s = infer_size(a.get<IntArray>("shape"), x.numel(), "reshape", x.shape());
      if (auto st = view_strides(x.shape(), x.strides(), s)) return Tensors{make_view(x, s, *st, x.offset())};
      Tensor c = empty(x.shape(), {.dtype = x.dtype()});
      cpu::copy_into(c, x);
      return Tensors{make_view(c, s, contiguous_strides(s), 0)};
    };
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0).reshape(c.input_meta(0).shape)}; };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "permute";
    d.doc = "Reorders dimensions by attribute `dims`.";
    d.infer = [](const Metas& in, const Attrs& a) {
      const auto& dims = a.get<IntArray>("dims");
      int64_t n = static_cast<int64_t>(in[0].shape.size());
      TANDEM_CHECK(static_cast<int64_t>(dims.size()) == n,
                   "permute: {} dims given for a {}-D tensor (shape {})", dims.size(), n, shape_str(in[0].shape));
      std::vector<bool> seen(n, false);
      Shape s(n);
      for (int64_t i = 0; i < n; ++i) {
        int64_t d = wrap_dim(dims[i], n, "permute");
        TANDEM_CHECK(!seen[d], "permute: dimension {} repeats in [{}]", d, fmt::join(dims, ", "));
        seen[d] = true;
        s[i] = in[0].shape[d];
      }
      return meta_with_shape(in[0], s);
    };
    d.view = [](const Tensors& in, const Attrs& a) {
      const Tensor& x = in[0];
      const auto& dims = a.get<IntArray>("dims");
      Shape s(dims.size()), st(dims.size());
      for (size_t i = 0; i < dims.size(); ++i) {
        int64_t d = wrap_dim(dims[i], x.dim(), "permute");
        s[i] = x.shape()[d];
        st[i] = x.strides()[d];
      }
      return Tensors{make_view(x, s, st, x.offset())};
    };
    d.backward = [](const BackwardContext& c) {
      const auto& dims = c.attrs().get<IntArray>("dims");
      IntArray inv(dims.size());
      for (size_t i = 0; i < dims.size(); ++i)
        inv[wrap_dim(dims[i], static_cast<int64_t>(dims.size()))] = static_cast<int64_t>(i);
      return Tensors{c.grad(0).permute(inv)};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "slice";
    d.doc = "Elements start, start+step, ... < end along `dim` (attributes already normalized).";
    d.infer = [](const Metas& in, const Attrs& a) {
      Shape s = in[0].shape;
      int64_t dim = a.get<int64_t>("dim"), start = a.get<int64_t>("start"),
              end = a.get<int64_t>("end"), step = a.get<int64_t>("step");
      s[dim] = end > start ? (end - start + step - 1) / step : 0;
      return meta_with_shape(in[0], s);
    };
    d.view = [](const Tensors& in, const Attrs& a) {
      const Tensor& x = in[0];
      int64_t dim = a.get<int64_t>("dim"), start = a.get<int64_t>("start"),
              end = a.get<int64_t>("end"), step = a.get<int64_t>("step");
      Shape s = x.shape(), st = x.strides();
      s[dim] = end > start ? (end - start + step - 1) / step : 0;
      st[dim] *= step;
      return Tensors{make_view(x, s, st, x.offset() + start * x.strides()[dim])};
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& sb = op("slice_backward");
      Attrs a = c.attrs();
      a.set("input_shape", c.input_meta(0).shape);
      return Tensors{dispatch1(sb, {c.grad(0)}, a)};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "slice_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "Zeros of `input_shape` with the gradient written into the slice (dim, start, end, step).";
    d.infer = [](const Metas& in, const Attrs& a) {
      return meta_with_shape(in[0], a.get<IntArray>("input_shape"));
    };
    d.cpu = [](const KernelArgs& k) {
      Tensor& out = k.outputs[0];
      std::memset(out.data_ptr(), 0, out.nbytes());
      const Attrs& a = k.attrs;
      int64_t dim = a.get<int64_t>("dim"), start = a.get<int64_t>("start"), step = a.get<int64_t>("step");
      Shape s = out.shape(), st = out.strides();
      s[dim] = k.inputs[0].shape()[dim];
      st[dim] *= step;
      cpu::copy_into(make_view(out, s, st, start * out.strides()[dim]), k.inputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      const Attrs& a = c.attrs();
      return Tensors{c.grad(0).slice(a.get<int64_t>("dim"), a.get<int64_t>("start"),
                                     a.get<int64_t>("end"), a.get<int64_t>("step"))};
    };
    d.save_inputs = false;
    d.supports_half = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "expand";
    d.doc = "Broadcasts to attribute `shape` (-1 keeps a size) without copying (stride 0).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& want = a.get<IntArray>("shape");
      const Shape& have = in[0].shape;
      TANDEM_CHECK(want.size() >= have.size(), "expand: cannot expand shape {} to fewer dims {}",
                   shape_str(have), shape_str(want));
      Shape s = want;
      size_t lead = want.size() - have.size();
      for (size_t i = 0; i < want.size(); ++i) {
        if (i < lead) {
          TANDEM_CHECK(want[i] >= 0, "expand: new leading dimension must be sized, got {}", shape_str(want));
          continue;
        }
        int64_t h = have[i - lead];
        if (want[i] == -1) s[i] = h;
        else
          TANDEM_CHECK(h == want[i] || h == 1,
                       "expand: the size {} of dimension {} (shape {}) must be 1 to expand it to {}",
                       h, i - lead, shape_str(have), shape_str(want));
      }
      return meta_with_shape(in[0], s);
    };
    d.view = [](const Tensors& in, const Attrs& a) {
      const Tensor& x = in[0];
      const Shape& want = a.get<IntArray>("shape");
      Shape s = want, st(want.size(), 0);
      size_t lead = want.size() - x.dim();
      for (size_t i = lead; i < want.size(); ++i) {
        int64_t h = x.shape()[i - lead];
        if (want[i] == -1) s[i] = h;
        st[i] = (h == 1 && s[i] != 1) ? 0 : x.strides()[i - lead];
      }
      return Tensors{make_view(x, s, st, x.offset())};
    };
    // The engine sums the gradient back to the input's shape.
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0)}; };
    d.save_inputs = false;
    register_op(std::move(d));
  }
}

}  // namespace defs

// ---- public view functions

namespace {
const OpDef& reshape_op() {
  static const OpDef& d = op("reshape");
  return d;
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_size(shape, numel(), "view", this->shape());
  TANDEM_CHECK(view_strides(this->shape(), strides(), s).has_value(),
               "view: shape {} is not compatible with the input's size {} and strides {}; use "
               "reshape() (which copies when needed)", shape_str(shape), shape_str(this->shape()),
               shape_str(strides()));
  return dispatch1(reshape_op(), {*this}, {{"shape", s}});
}
Tensor Tensor::reshape(const Shape& shape) const {
  if (shape == this->shape()) return *this;
  return dispatch1(reshape_op(), {*this}, {{"shape", shape}});
}
Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }

Tensor Tensor::permute(const IntArray& dims) const {
  static const OpDef& d = op("permute");
  return dispatch1(d, {*this}, {{"dims", dims}});
}
Tensor permute(const Tensor& x, const IntArray& dims) { return x.permute(dims); }

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  int64_t n = dim();
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  if (n == 0 || d0 == d1) return *this;
  IntArray dims(n);
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[d0], dims[d1]);
  return permute(dims);
}
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) { return x.transpose(d0, d1); }

Tensor Tensor::t() const {
  TANDEM_CHECK(dim() <= 2, "t: expects a tensor with <= 2 dimensions, got shape {}", shape_str(shape()));
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t dim_, std::optional<int64_t> start, std::optional<int64_t> end,
                     int64_t step) const {
  TANDEM_CHECK(dim() > 0, "slice: cannot slice a 0-dim tensor");
  int64_t d = wrap_dim(dim_, dim(), "slice");
  TANDEM_CHECK(step > 0, "slice: step must be positive, got {}", step);
  int64_t n = shape()[d];
  auto clampi = [n](int64_t v) {
    if (v < 0) v += n;
    return std::clamp<int64_t>(v, 0, n);
  };
  int64_t s = clampi(start.value_or(0)), e = clampi(end.value_or(n));
  if (e < s) e = s;
  static const OpDef& op_ = op("slice");
  Attrs a{{"dim", d}, {"start", s}, {"end", e}, {"step", step}};
  // Counted from the end (x[:, -1]): recorded so that an ONNX export along a dynamic dim keeps
  // the index relative to the runtime size. The kernels read only the normalized values.
  if (start && *start < 0) a.set("start_from_end", true);
  if (end && *end < 0) a.set("end_from_end", true);
  return dispatch1(op_, {*this}, a);
}

Tensor Tensor::narrow(int64_t dim_, int64_t start, int64_t length) const {
  int64_t d = wrap_dim(dim_, dim(), "narrow");
  int64_t n = shape()[d];
  if (start < 0) start += n;
  TANDEM_CHECK(start >= 0 && length >= 0 && start + length <= n,
               "narrow: start {} + length {} exceeds dimension {} of size {} (shape {})", start,
               length, d, n, shape_str(shape()));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t dim_, int64_t index) const {
  TANDEM_CHECK(dim() > 0, "select: cannot select from a 0-dim tensor");
  int64_t d = wrap_dim(dim_, dim(), "select");
  int64_t n = shape()[d];
  TANDEM_CHECK(index >= -n && index < n,
               "select: index {} is out of range for dimension {} of size {} (shape {})", index, d,
               n, shape_str(shape()));
  // A negative index stays negative (slice records it as counted from the end).
  if (index < 0) return slice(d, index, index == -1 ? std::nullopt : std::optional<int64_t>(index + 1)).squeeze(d);
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& shape) const {
  static const OpDef& d = op("expand");
  return dispatch1(d, {*this}, {{"shape", shape}});
}
Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }

Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t v : shape())
    if (v != 1) s.push_back(v);
  return reshape(s);
}
Tensor Tensor::squeeze(int64_t dim_) const {
  if (dim() == 0) return *this;
  int64_t d = wrap_dim(dim_, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape();
  s.erase(s.begin() + d);
  return reshape(s);
}
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) { return dim ? x.squeeze(*dim) : x.squeeze(); }

Tensor Tensor::unsqueeze(int64_t dim_) const {
  int64_t d = wrap_dim(dim_, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return reshape(s);
}
Tensor unsqueeze(const Tensor& x, int64_t dim) { return x.unsqueeze(dim); }

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  TANDEM_CHECK(s <= e, "flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape out(shape().begin(), shape().begin() + s);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= shape()[i];
  out.push_back(m);
  out.insert(out.end(), shape().begin() + e + 1, shape().end());
  return reshape(out);
}
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) { return x.flatten(start_dim, end_dim); }

}  // namespace tandem
