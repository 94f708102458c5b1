// ONNX shape and indexing ops: Reshape Flatten Transpose Squeeze Unsqueeze Concat Split Slice
// Gather GatherElements ScatterElements Expand Tile Pad Shape Size ConstantOfShape Constant
// Range Identity-like ops. Opset differences (axes/sizes as attribute or input) are handled here.
#include <algorithm>
#include <limits>

#include "importer.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

Ts reshape_(Ctx& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> shape = c.opset < 5 ? c.ints("shape") : to_int64s(c.in(1));
  bool allowzero = c.i("allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allowzero) {
      if (static_cast<int64_t>(d) >= x.dim()) c.fail("shape has 0 beyond the input's rank");
      shape[d] = x.size(d);
    }
    if (shape[d] == -1) {
      if (infer >= 0) c.fail("shape has more than one -1");
      infer = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      c.fail(fmt::format("invalid dim {} in shape", shape[d]));
    } else if (__builtin_mul_overflow(known, shape[d], &known)) {
      c.fail(fmt::format("shape {} has more elements than int64 can count", shape_str(shape)));
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      c.fail(fmt::format("cannot reshape {} to {}", shape_str(x.shape()), shape_str(shape)));
    shape[infer] = x.numel() / known;
  }
  if (shape_numel(shape) != x.numel())
    c.fail(fmt::format("cannot reshape {} ({} elements) to {}", shape_str(x.shape()), x.numel(), shape_str(shape)));
  return {reshape(x, shape)};
}

Ts flatten_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t axis = c.i("axis", 1);
  if (axis < 0) axis += x.dim();
  if (axis < 0 || axis > x.dim()) c.fail(fmt::format("axis {} out of range for rank {}", c.i("axis", 1), x.dim()));
  int64_t a = 1;
  for (int64_t d = 0; d < axis; ++d) a *= x.size(d);
  int64_t b = 1;
  for (int64_t d = axis; d < x.dim(); ++d) b *= x.size(d);
  return {reshape(x, {a, b})};
}

Ts transpose_(Ctx& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> perm = c.ints("perm");
  if (perm.empty())
    for (int64_t d = x.dim() - 1; d >= 0; --d) perm.push_back(d);
  return {permute(x, perm).contiguous()};
}

Ts squeeze_(Ctx& c) {
  const Tensor& x = c.in(0);
  auto axes = c.ints_attr_or_input("axes", 1);
  Shape out;
  std::vector<bool> drop(x.dim(), false);
  if (!axes) {
    for (int64_t d = 0; d < x.dim(); ++d) drop[d] = x.size(d) == 1;
  } else {
    for (int64_t a : *axes) {
      a = norm_axis(a, x.dim(), c);
      if (x.size(a) != 1) c.fail(fmt::format("cannot squeeze axis {} of size {}", a, x.size(a)));
      drop[a] = true;
    }
  }
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!drop[d]) out.push_back(x.size(d));
  return {reshape(x, out)};
}

Ts unsqueeze_(Ctx& c) {
  const Tensor& x = c.in(0);
  auto axes = c.ints_attr_or_input("axes", 1);
  if (!axes) c.fail("axes are required");
  int64_t rank = x.dim() + static_cast<int64_t>(axes->size());
  std::vector<bool> ins(rank, false);
  for (int64_t a : *axes) ins[norm_axis(a, rank, c)] = true;
  Shape out;
  int64_t k = 0;
  for (int64_t d = 0; d < rank; ++d) out.push_back(ins[d] ? 1 : x.size(k++));
  return {reshape(x, out)};
}

Ts concat_(Ctx& c) {
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i)) xs.push_back(c.in(i));
  if (xs.empty()) c.fail("needs at least one input");
  int64_t axis = norm_axis(c.i("axis", 0), xs.at(0).dim(), c);
  // ONNX allows empty tensors of another rank? No: same rank; keep zero-size parts out.
  return {cat(xs, axis)};
}

Ts split_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c);
  auto sizes = c.ints_attr_or_input("split", 1);
  int64_t n = static_cast<int64_t>(c.num_outputs);
  if (!sizes || sizes->empty()) {
    int64_t parts = c.has_attr("num_outputs") ? c.i("num_outputs", n) : n;
    int64_t len = x.size(axis), chunk = (len + parts - 1) / parts;
    std::vector<int64_t> s;
    for (int64_t i = 0; i < parts; ++i) s.push_back(std::max<int64_t>(0, std::min(chunk, len - i * chunk)));
    sizes = s;
  }
  Ts out;
  int64_t start = 0;
  for (int64_t s : *sizes) {
    out.push_back(x.slice(axis, start, start + s).contiguous());
    start += s;
  }
  if (start != x.size(axis)) c.fail(fmt::format("split sizes sum to {}, axis has {}", start, x.size(axis)));
  return out;
}

Ts slice_(Ctx& c) {
  Tensor x = c.in(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = c.ints("starts");
    ends = c.ints("ends");
    axes = c.ints("axes");
  } else {
    starts = to_int64s(c.in(1));
    ends = to_int64s(c.in(2));
    if (c.has_input(3)) axes = to_int64s(c.in(3));
    if (c.has_input(4)) steps = to_int64s(c.in(4));
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts, ends, axes and steps must have the same length");
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = norm_axis(axes[i], x.dim(), c), n = x.size(a), st = steps[i];
    if (st == 0) c.fail("slice step 0");
    int64_t b = starts[i], e = ends[i];
    if (st > 0) {
      b = b < 0 ? std::max<int64_t>(0, b + n) : std::min(b, n);
      e = e < 0 ? std::max<int64_t>(0, e + n) : std::min(e, n);
      if (e < b) e = b;
      x = x.slice(a, b, e, 1);
      if (st > 1 && x.size(a) > 0) {
        // NOTE: counted in integers: st can be as large as INT64_MAX.
        std::vector<int64_t> idx;
        for (int64_t k = 0; k < x.size(a); k = st > x.size(a) - k ? x.size(a) : k + st) idx.push_back(k);
        x = index_select(x, a, tensor(idx));
      }
    } else {
      b = b < 0 ? std::max<int64_t>(-1, b + n) : std::min(b, n - 1);
      e = e < 0 ? std::max<int64_t>(-1, e + n) : std::min(e, n - 1);
      std::vector<int64_t> idx;
      for (int64_t k = b; k > e; k += st) idx.push_back(k);
      x = index_select(x, a, tensor(idx));
    }
  }
  return {x.contiguous()};
}

}  // namespace

Tensor fix_negative(const Tensor& idx, int64_t n) {
  Tensor i = as_dtype(idx, DType::Int64);
  return where(i < zeros_like(i), i + wrap_scalar(n), i);
}

namespace {

Ts gather_(Ctx& c) {
  const Tensor &x = c.in(0), &idx = c.in(1);
  int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c);
  Tensor flat = fix_negative(idx, x.size(axis)).reshape({idx.numel()});
  Tensor picked = index_select(x, axis, flat);
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  return {reshape(picked, out)};
}

Ts gather_elements_(Ctx& c) {
  const Tensor &x = c.in(0), &idx = c.in(1);
  int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c);
  return {gather(x, axis, fix_negative(idx, x.size(axis)))};
}

// ScatterElements (and opset 9's Scatter): reduction none/add/mul/max/min (opsets 16, 18)
// as tandem's scatter / scatter_reduce with self included.
Ts scatter_elements_(Ctx& c) {
  const Tensor &x = c.in(0), &idx = c.in(1), &upd = c.in(2);
  int64_t axis = norm_axis(c.i("axis", 0), x.dim(), c);
  std::string red = c.s("reduction", "none");
  Tensor i = fix_negative(idx, x.size(axis));
  if (red == "none") return {scatter(x, axis, i, upd)};
  if (red == "add") return {scatter_reduce(x, axis, i, upd, "sum")};
  if (red == "mul") return {scatter_reduce(x, axis, i, upd, "prod")};
  if (red == "max") return {scatter_reduce(x, axis, i, upd, "amax")};
  if (red == "min") return {scatter_reduce(x, axis, i, upd, "amin")};
  c.unsupported(fmt::format("reduction '{}'", red));
}

Ts expand_(Ctx& c) {
  const Tensor& x = c.in(0);
  Shape want = to_int64s(c.in(1));
  Shape target = broadcast_shapes(x.shape(), want, "Expand");
  return {expand(x, target).contiguous()};
}

Ts tile_(Ctx& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> reps = to_int64s(c.in(1));
  if (static_cast<int64_t>(reps.size()) != x.dim()) c.fail("repeats must have one entry per dim");
  Shape inter, big, out;
  for (int64_t d = 0; d < x.dim(); ++d) {
    inter.push_back(1);
    inter.push_back(x.size(d));
    big.push_back(reps[d]);
    big.push_back(x.size(d));
    out.push_back(reps[d] * x.size(d));
  }
  return {reshape(expand(reshape(x, inter), big).contiguous(), out)};
}

Ts pad_(Ctx& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> pads = c.opset < 11 ? c.ints("pads") : to_int64s(c.in(1));
  double value = c.opset < 11 ? c.f("value", 0.0) : (c.has_input(2) ? c.in(2).item<double>() : 0.0);
  std::string mode = c.s("mode", "constant");
  int64_t r = x.dim();
  std::vector<int64_t> axes;
  if (c.has_input(3)) {
    for (int64_t a : to_int64s(c.in(3))) axes.push_back(norm_axis(a, r, c));
  } else {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  int64_t na = static_cast<int64_t>(axes.size());
  if (static_cast<int64_t>(pads.size()) != 2 * na) c.fail("pads must have 2 entries per axis");
  std::vector<int64_t> begin(r, 0), end(r, 0);
  for (int64_t i = 0; i < na; ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[i + na];
  }
  // tandem (PyTorch) order: last dim first, (begin, end) pairs.
  std::vector<int64_t> tp;
  for (int64_t d = r - 1; d >= 0; --d) {
    tp.push_back(begin[d]);
    tp.push_back(end[d]);
  }
  while (tp.size() >= 2 && tp[tp.size() - 1] == 0 && tp[tp.size() - 2] == 0) tp.resize(tp.size() - 2);
  if (tp.empty()) return {x};
  std::string m = mode == "edge" ? "replicate" : mode;
  if (m != "constant" && m != "reflect" && m != "replicate") c.unsupported(fmt::format("pad mode '{}'", mode));
  return {pad(x, tp, m, value)};
}

Ts shape_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t r = x.dim();
  int64_t start = c.i("start", 0), end = c.i("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(x.size(d));
  return {tensor(dims, Shape{static_cast<int64_t>(dims.size())})};
}

Ts size_(Ctx& c) { return {scalar_tensor(static_cast<double>(c.in(0).numel()), {.dtype = DType::Int64})}; }

Ts constant_of_shape_(Ctx& c) {
  Shape shape = to_int64s(c.in(0));
  for (int64_t d : shape)
    if (d < 0) c.fail(fmt::format("negative dimension {} in shape {}", d, shape_str(shape)));
  auto v = c.t("value");
  if (!v) return {zeros(shape)};
  if (v->numel() != 1) c.fail(fmt::format("value must have one element, has {}", v->numel()));
  // Broadcast the value tensor itself so an int64 value stays exact (no round trip through double).
  return {expand(v->reshape({}), shape).contiguous()};
}

Ts constant_(Ctx& c) {
  if (auto v = c.t("value")) return {*v};
  if (c.has_attr("value_float")) return {scalar_tensor(c.f("value_float", 0))};
  if (c.has_attr("value_int")) return {tensor(std::vector<int64_t>{c.i("value_int", 0)}, Shape{})};
  if (c.has_attr("value_floats")) {
    auto v = c.floats("value_floats");
    std::vector<float> f(v.begin(), v.end());
    return {tensor(f)};
  }
  if (c.has_attr("value_ints")) return {tensor(c.ints("value_ints"))};
  c.unsupported("Constant without value/value_float(s)/value_int(s) (sparse or string)");
}

Ts range_(Ctx& c) {
  const Tensor &s = c.in(0), &l = c.in(1), &d = c.in(2);
  if (is_floating(s.dtype())) {
    double start = s.item<double>(), limit = l.item<double>(), delta = d.item<double>();
    if (delta == 0) c.fail("delta is 0");
    double count = std::ceil((limit - start) / delta);
    if (!(count < double(int64_t(1) << 40))) c.fail(fmt::format("{} elements are too many", count));
    int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
    Tensor idx = arange(0, static_cast<double>(n), 1.0, {.dtype = DType::Float64});
    return {(idx * delta + start).to(s.dtype())};
  }
  // Integers: counted and filled exactly (128-bit difference: limit - start can exceed int64).
  int64_t st = s.item<int64_t>(), li = l.item<int64_t>(), de = d.item<int64_t>();
  if (de == 0) c.fail("delta is 0");
  __int128 span = static_cast<__int128>(li) - st;
  __int128 count = span / de + ((span % de != 0 && ((span > 0) == (de > 0))) ? 1 : 0);
  if (count > (int64_t(1) << 40)) c.fail(fmt::format("more than 2^40 elements ({} to {} by {})", st, li, de));
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = st + i * de;
  return {tensor(v).to(s.dtype())};
}

Ts dropout_(Ctx& c) {
  const Tensor& x = c.in(0);
  bool training = c.has_input(2) && c.in(2).item<double>() != 0;
  double ratio = c.has_input(1) ? c.in(1).item<double>() : c.f("ratio", 0.5);
  if (training && ratio != 0) c.unsupported("Dropout in training mode with ratio > 0 (random)");
  Ts out{x};
  if (c.num_outputs > 1) out.push_back(ones(x.shape(), {.dtype = DType::Bool}));
  return out;
}

}  // namespace

void register_shape(std::map<std::string, Converter>& t) {
  t["Reshape"] = reshape_;
  t["Flatten"] = flatten_;
  t["Transpose"] = transpose_;
  t["Squeeze"] = squeeze_;
  t["Unsqueeze"] = unsqueeze_;
  t["Concat"] = concat_;
  t["Split"] = split_;
  t["Slice"] = slice_;
  t["Gather"] = gather_;
  t["GatherElements"] = gather_elements_;
  t["ScatterElements"] = scatter_elements_;
  t["Scatter"] = scatter_elements_;
  t["Expand"] = expand_;
  t["Tile"] = tile_;
  t["Pad"] = pad_;
  t["Shape"] = shape_;
  t["Size"] = size_;
  t["ConstantOfShape"] = constant_of_shape_;
  t["Constant"] = constant_;
  t["Range"] = range_;
  t["Dropout"] = dropout_;
}

}  // namespace tandem::onnx::detail
