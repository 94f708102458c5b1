// The operators of ops.h as functions of tandem (PyTorch's names and keyword arguments), most
// of them also Tensor methods (alias_method: the same function object, bound to self). Every
// kernel runs with the GIL released.
#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {

using Rel = py::gil_scoped_release;

// PyTorch's `dim` arguments: None (all), an int or a tuple of ints.
IntArray dims_of(py::handle dim) { return int_list(dim, "dim"); }

Tensor cast_if(const Tensor& t, py::handle dtype) {
  if (dtype.is_none()) return t;
  return t.to(dtype_arg(dtype, t.dtype()));
}

Reduction reduction_of(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw Error(fmt::format("reduction: expected 'mean', 'sum' or 'none', got '{}'", r));
}

}  // namespace

void bind_ops(py::module_& m) {
  py::object cls = m.attr("Tensor");
  py::object namedtuple = py::module_::import("collections").attr("namedtuple");
  py::object values_indices = namedtuple("return_types", "values indices");
  m.attr("_values_indices") = values_indices;
  auto pair = [values_indices](std::pair<Tensor, Tensor> p) {
    return values_indices(py::cast(p.first), py::cast(p.second));
  };
  auto method = [&](const char* name) { alias_method(m, cls, name); };

#define TANDEM_UNARY(NAME)                                                              \
  m.def(#NAME, [](const Tensor& x) { Rel r; return tandem::NAME(x); }, "input"_a); \
  method(#NAME)
  TANDEM_UNARY(neg);
  TANDEM_UNARY(exp);
  TANDEM_UNARY(log);
  TANDEM_UNARY(log1p);
  TANDEM_UNARY(sqrt);
  TANDEM_UNARY(rsqrt);
  TANDEM_UNARY(abs);
  TANDEM_UNARY(sign);
  TANDEM_UNARY(sin);
  TANDEM_UNARY(cos);
  TANDEM_UNARY(tanh);
  TANDEM_UNARY(sigmoid);
  TANDEM_UNARY(relu);
  TANDEM_UNARY(logical_not);
#undef TANDEM_UNARY
  m.attr("negative") = m.attr("neg");
  method("negative");

  // ---- binary: other may be a number
#define TANDEM_BINARY(NAME, FN)                                                 \
  m.def(#NAME, [](const Tensor& a, py::handle b) {                             \
    Tensor o = operand(b, #NAME);                                              \
    Rel r;                                                                     \
    return FN(a, o);                                                           \
  }, "input"_a, "other"_a);                                                    \
  method(#NAME)
  TANDEM_BINARY(mul, tandem::mul);
  TANDEM_BINARY(multiply, tandem::mul);
  TANDEM_BINARY(eq, tandem::eq);
  TANDEM_BINARY(ne, tandem::ne);
  TANDEM_BINARY(lt, tandem::lt);
  TANDEM_BINARY(le, tandem::le);
  TANDEM_BINARY(gt, tandem::gt);
  TANDEM_BINARY(ge, tandem::ge);
  TANDEM_BINARY(minimum, tandem::minimum);
  TANDEM_BINARY(maximum, tandem::maximum);
  TANDEM_BINARY(logical_and, tandem::logical_and);
  TANDEM_BINARY(logical_or, tandem::logical_or);
  TANDEM_BINARY(logical_xor, tandem::logical_xor);
#undef TANDEM_BINARY
  m.def("add", [](const Tensor& a, py::handle b, double alpha) {
    Tensor o = operand(b, "add");
    Rel r;
    return add(a, o, alpha);
  }, "input"_a, "other"_a, py::kw_only(), "alpha"_a = 1.0);
  method("add");
  m.def("sub", [](const Tensor& a, py::handle b, double alpha) {
    Tensor o = operand(b, "sub");
    Rel r;
    return sub(a, o, alpha);
  }, "input"_a, "other"_a, py::kw_only(), "alpha"_a = 1.0);
  method("sub");
  m.attr("subtract") = m.attr("sub");
  method("subtract");
  m.def("div", [](const Tensor& a, py::handle b, py::object rounding_mode) {
    Tensor o = operand(b, "div");
    if (!rounding_mode.is_none()) {
      TANDEM_CHECK(rounding_mode.cast<std::string>() == "floor",
                   "div: rounding_mode '{}' is not supported (None or 'floor')",
                   rounding_mode.cast<std::string>());
      Rel r;
      return floor_divide(a, o);
    }
    Rel r;
    return div(a, o);
  }, "input"_a, "other"_a, py::kw_only(), "rounding_mode"_a = py::none());
  method("div");
  m.attr("divide") = m.attr("div");
  method("divide");
  m.def("pow", [](const Tensor& a, py::handle b) {
    Tensor o = operand(b, "pow");
    Rel r;
    return pow(a, o);
  }, "input"_a, "exponent"_a);
  method("pow");
  m.def("where", [](const Tensor& c, py::handle a, py::handle b) {
    Tensor x = operand(a, "where"), y = operand(b, "where");
    Rel r;
    return where(c, x, y);
  }, "condition"_a, "input"_a, "other"_a);
  m.def("clamp", [](const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
    Rel r;
    return clamp(x, lo, hi);
  }, "input"_a, "min"_a = py::none(), "max"_a = py::none());
  method("clamp");
  m.attr("clip") = m.attr("clamp");
  method("clip");

  // ---- reductions
  m.def("sum", [](const Tensor& x, py::handle dim, bool keepdim, py::handle dtype) {
    IntArray d = dims_of(dim);
    Tensor in = cast_if(x, dtype);
    Rel r;
    return sum(in, d, keepdim);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false, py::kw_only(), "dtype"_a = py::none());
  method("sum");
  m.def("mean", [](const Tensor& x, py::handle dim, bool keepdim, py::handle dtype) {
    IntArray d = dims_of(dim);
    Tensor in = cast_if(x, dtype);
    Rel r;
    return mean(in, d, keepdim);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false, py::kw_only(), "dtype"_a = py::none());
  method("mean");
  m.def("prod", [](const Tensor& x, py::handle dim, bool keepdim) {
    IntArray d = dims_of(dim);
    Rel r;
    return prod(x, d, keepdim);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false);
  method("prod");
  m.def("amax", [](const Tensor& x, py::handle dim, bool keepdim) {
    IntArray d = dims_of(dim);
    Rel r;
    return amax(x, d, keepdim);
  }, "input"_a, "dim"_a = py::tuple(), "keepdim"_a = false);
  method("amax");
  m.def("amin", [](const Tensor& x, py::handle dim, bool keepdim) {
    IntArray d = dims_of(dim);
    Rel r;
    return amin(x, d, keepdim);
  }, "input"_a, "dim"_a = py::tuple(), "keepdim"_a = false);
  method("amin");
  // max(input) / max(input, dim, keepdim) -> (values, indices) / max(input, other).
  m.def("max", [pair](const Tensor& x, py::handle dim, bool keepdim) -> py::object {
    if (dim.is_none()) { Rel r; return py::cast(tandem::max(x)); }
    if (py::isinstance<Tensor>(dim)) return py::cast(maximum(x, dim.cast<Tensor>()));
    int64_t d = dim.cast<int64_t>();
    std::pair<Tensor, Tensor> p;
    { Rel r; p = tandem::max(x, d, keepdim); }
    return pair(p);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false);
  method("max");
  m.def("min", [pair](const Tensor& x, py::handle dim, bool keepdim) -> py::object {
    if (dim.is_none()) { Rel r; return py::cast(tandem::min(x)); }
    if (py::isinstance<Tensor>(dim)) return py::cast(minimum(x, dim.cast<Tensor>()));
    int64_t d = dim.cast<int64_t>();
    std::pair<Tensor, Tensor> p;
    { Rel r; p = tandem::min(x, d, keepdim); }
    return pair(p);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false);
  method("min");
  m.def("argmax", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
    Rel r;
    return argmax(x, dim, keepdim);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false);
  method("argmax");
  m.def("argmin", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
    Rel r;
    return argmin(x, dim, keepdim);
  }, "input"_a, "dim"_a = py::none(), "keepdim"_a = false);
  method("argmin");
  // var/std: PyTorch 1.13's unbiased flag or the newer correction.
  auto var_like = [](bool is_std) {
    return [is_std](const Tensor& x, py::handle dim, bool unbiased, bool keepdim,
                    std::optional<int64_t> correction) {
      IntArray d = dims_of(dim);
      int64_t c = correction.value_or(unbiased ? 1 : 0);
      Rel r;
      return is_std ? tandem::std(x, d, c, keepdim) : var(x, d, c, keepdim);
    };
  };
  m.def("var", var_like(false), "input"_a, "dim"_a = py::none(), "unbiased"_a = true,
        "keepdim"_a = false, py::kw_only(), "correction"_a = py::none());
  method("var");
  m.def("std", var_like(true), "input"_a, "dim"_a = py::none(), "unbiased"_a = true,
        "keepdim"_a = false, py::kw_only(), "correction"_a = py::none());
  method("std");
  m.def("logsumexp", [](const Tensor& x, py::handle dim, bool keepdim) {
    IntArray d = dims_of(dim);
    Rel r;
    return logsumexp(x, d, keepdim);
  }, "input"_a, "dim"_a, "keepdim"_a = false);
  method("logsumexp");
  m.def("norm", [](const Tensor& x, py::handle p, py::handle dim, bool keepdim) {
    double pv = 2.0;
    if (py::isinstance<py::str>(p)) {
      TANDEM_CHECK(p.cast<std::string>() == "fro", "norm: p='{}' is not supported (a number or "
                   "'fro')", p.cast<std::string>());
    } else if (!p.is_none()) {
      pv = p.cast<double>();
    }
    IntArray d = dims_of(dim);
    Rel r;
    return norm(x, pv, d, keepdim);
  }, "input"_a, "p"_a = "fro", "dim"_a = py::none(), "keepdim"_a = false);
  method("norm");
  m.def("softmax", [](const Tensor& x, int64_t dim, py::handle dtype) {
    Tensor in = cast_if(x, dtype);
    Rel r;
    return softmax(in, dim);
  }, "input"_a, "dim"_a, "dtype"_a = py::none());
  method("softmax");
  m.def("log_softmax", [](const Tensor& x, int64_t dim, py::handle dtype) {
    Tensor in = cast_if(x, dtype);
    Rel r;
    return log_softmax(in, dim);
  }, "input"_a, "dim"_a, "dtype"_a = py::none());
  method("log_softmax");
  m.def("cumsum", [](const Tensor& x, int64_t dim, py::handle dtype) {
    Tensor in = cast_if(x, dtype);
    Rel r;
    return cumsum(in, dim);
  }, "input"_a, "dim"_a, py::kw_only(), "dtype"_a = py::none());
  method("cumsum");

  // ---- linear algebra
  m.def("matmul", [](const Tensor& a, const Tensor& b) { Rel r; return matmul(a, b); }, "input"_a, "other"_a);
  method("matmul");
  m.def("mm", [](const Tensor& a, const Tensor& b) {
    TANDEM_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got shapes {} and {}",
                 shape_str(a.shape()), shape_str(b.shape()));
    Rel r;
    return matmul(a, b);
  }, "input"_a, "mat2"_a);
  method("mm");
  m.def("bmm", [](const Tensor& a, const Tensor& b) { Rel r; return bmm(a, b); }, "input"_a, "mat2"_a);
  method("bmm");
  m.def("outer", [](const Tensor& a, const Tensor& b) { Rel r; return outer(a, b); }, "input"_a, "vec2"_a);
  method("outer");
  m.def("dot", [](const Tensor& a, const Tensor& b) {
    TANDEM_CHECK(a.dim() == 1 && b.dim() == 1, "dot: expected 1-D tensors, got shapes {} and {}",
                 shape_str(a.shape()), shape_str(b.shape()));
    Rel r;
    return sum(mul(a, b));
  }, "input"_a, "other"_a);
  method("dot");

  // ---- shape and indexing
  m.def("reshape", [](const Tensor& x, py::handle shape) {
    Shape s = int_list(shape, "reshape");
    return x.reshape(s);
  }, "input"_a, "shape"_a);
  m.def("permute", [](const Tensor& x, py::handle dims) { return x.permute(int_list(dims, "permute")); },
        "input"_a, "dims"_a);
  m.def("transpose", [](const Tensor& x, int64_t d0, int64_t d1) { return x.transpose(d0, d1); },
        "input"_a, "dim0"_a, "dim1"_a);
  method("transpose");
  m.attr("swapaxes") = m.attr("transpose");
  method("swapaxes");
  m.def("squeeze", [](const Tensor& x, std::optional<int64_t> dim) { return squeeze(x, dim); },
        "input"_a, "dim"_a = py::none());
  method("squeeze");
  m.def("unsqueeze", [](const Tensor& x, int64_t dim) { return x.unsqueeze(dim); }, "input"_a, "dim"_a);
  method("unsqueeze");
  m.def("flatten", [](const Tensor& x, int64_t s, int64_t e) { return x.flatten(s, e); },
        "input"_a, "start_dim"_a = 0, "end_dim"_a = -1);
  method("flatten");
  m.def("index_select", [](const Tensor& x, int64_t dim, const Tensor& i) {
    Rel r;
    return index_select(x, dim, i);
  }, "input"_a, "dim"_a, "index"_a);
  method("index_select");
  m.def("gather", [](const Tensor& x, int64_t dim, const Tensor& i) { Rel r; return gather(x, dim, i); },
        "input"_a, "dim"_a, "index"_a);
  method("gather");
  m.def("scatter_add", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s) {
    Rel r;
    return scatter_add(x, dim, i, s);
  }, "input"_a, "dim"_a, "index"_a, "src"_a);
  method("scatter_add");
  m.def("masked_fill", [](const Tensor& x, const Tensor& mask, double v) {
    Rel r;
    return masked_fill(x, mask, v);
  }, "input"_a, "mask"_a, "value"_a);
  method("masked_fill");
  m.def("scatter", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s) {
    Rel r;
    return scatter(x, dim, i, s);
  }, "input"_a, "dim"_a, "index"_a, "src"_a);
  m.def("scatter", [](const Tensor& x, int64_t dim, const Tensor& i, double v) {
    Rel r;
    return scatter(x, dim, i, v);
  }, "input"_a, "dim"_a, "index"_a, "value"_a);
  method("scatter");
  m.def("scatter_reduce", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s,
                             const std::string& reduce, bool include_self) {
    Rel r;
    return scatter_reduce(x, dim, i, s, reduce, include_self);
  }, "input"_a, "dim"_a, "index"_a, "src"_a, "reduce"_a, "include_self"_a = true);
  method("scatter_reduce");
  m.def("index_add", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s, double alpha) {
    Rel r;
    return index_add(x, dim, i, s, alpha);
  }, "input"_a, "dim"_a, "index"_a, "source"_a, "alpha"_a = 1.0);
  method("index_add");
  m.def("index_copy", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s) {
    Rel r;
    return index_copy(x, dim, i, s);
  }, "input"_a, "dim"_a, "index"_a, "source"_a);
  method("index_copy");
  m.def("index_fill", [](const Tensor& x, int64_t dim, const Tensor& i, double v) {
    Rel r;
    return index_fill(x, dim, i, v);
  }, "input"_a, "dim"_a, "index"_a, "value"_a);
  method("index_fill");
  m.def("take_along_dim", [](const Tensor& x, const Tensor& i, std::optional<int64_t> dim) {
    Rel r;
    return take_along_dim(x, i, dim);
  }, "input"_a, "indices"_a, "dim"_a = py::none());
  method("take_along_dim");
  // indices: tensors, None for a full slice.
  m.def("index_put", [](const Tensor& x, const std::vector<std::optional<Tensor>>& idx, const Tensor& v,
                        bool accumulate) {
    std::vector<Tensor> ts;
    for (const auto& t : idx) ts.push_back(t ? *t : Tensor());
    Rel r;
    return index_put(x, ts, v, accumulate);
  }, "input"_a, "indices"_a, "values"_a, "accumulate"_a = false);
  method("index_put");
  m.def("masked_select", [](const Tensor& x, const Tensor& mask) { Rel r; return masked_select(x, mask); },
        "input"_a, "mask"_a);
  method("masked_select");
  m.def("masked_scatter", [](const Tensor& x, const Tensor& mask, const Tensor& s) {
    Rel r;
    return masked_scatter(x, mask, s);
  }, "input"_a, "mask"_a, "source"_a);
  method("masked_scatter");
  m.def("cat", [](const std::vector<Tensor>& ts, int64_t dim) { Rel r; return cat(ts, dim); },
        "tensors"_a, "dim"_a = 0);
  m.attr("concat") = m.attr("cat");
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t dim) { Rel r; return stack(ts, dim); },
        "tensors"_a, "dim"_a = 0);
  m.def("split", [](const Tensor& x, py::handle size, int64_t dim) {
    std::vector<Tensor> parts;
    if (PyLong_Check(size.ptr())) {
      int64_t n = size.cast<int64_t>();
      Rel r;
      parts = split(x, n, dim);
    } else {
      IntArray sizes = int_list(size, "split");
      Rel r;
      parts = split(x, sizes, dim);
    }
    return py::tuple(py::cast(parts));
  }, "tensor"_a, "split_size_or_sections"_a, "dim"_a = 0);
  method("split");
  m.def("chunk", [](const Tensor& x, int64_t chunks, int64_t dim) {
    std::vector<Tensor> parts;
    { Rel r; parts = chunk(x, chunks, dim); }
    return py::tuple(py::cast(parts));
  }, "input"_a, "chunks"_a, "dim"_a = 0);
  method("chunk");
  m.def("unbind", [](const Tensor& x, int64_t dim) {
    std::vector<Tensor> parts;
    { Rel r; parts = unbind(x, dim); }
    return py::tuple(py::cast(parts));
  }, "input"_a, "dim"_a = 0);
  method("unbind");
  m.def("topk", [pair](const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
    std::pair<Tensor, Tensor> p;
    { Rel r; p = topk(x, k, dim, largest, sorted); }
    return pair(p);
  }, "input"_a, "k"_a, "dim"_a = -1, "largest"_a = true, "sorted"_a = true);
  method("topk");
  m.def("sort", [pair](const Tensor& x, int64_t dim, bool descending) {
    std::pair<Tensor, Tensor> p;
    { Rel r; p = sort(x, dim, descending); }
    return pair(p);
  }, "input"_a, "dim"_a = -1, "descending"_a = false);
  method("sort");
  m.def("argsort", [](const Tensor& x, int64_t dim, bool descending) {
    Rel r;
    return sort(x, dim, descending).second;
  }, "input"_a, "dim"_a = -1, "descending"_a = false);
  method("argsort");

  // ---- neural-network functions (tandem.nn.functional re-exports them)
  py::module_ f = m.def_submodule("_functional");
  f.def("linear", [](const Tensor& x, const Tensor& w, py::handle b) {
    Tensor bias = opt_tensor(b, "linear(bias=...)");
    Rel r;
    return linear(x, w, bias);
  }, "input"_a, "weight"_a, "bias"_a = py::none());
  f.def("conv1d", [](const Tensor& x, const Tensor& w, py::handle b, int64_t stride,
                     int64_t padding, int64_t dilation, int64_t groups) {
    Tensor bias = opt_tensor(b, "conv1d(bias=...)");
    Rel r;
    return conv1d(x, w, bias, stride, padding, dilation, groups);
  }, "input"_a, "weight"_a, "bias"_a = py::none(), "stride"_a = 1, "padding"_a = 0,
        "dilation"_a = 1, "groups"_a = 1);
  auto pair2 = [](py::handle h, const char* what) {
    IntArray v = int_list(h, what);
    if (v.size() == 1) v.push_back(v[0]);
    TANDEM_CHECK(v.size() == 2, "{}: expected an int or a pair of ints", what);
    return v;
  };
  f.def("conv2d", [pair2](const Tensor& x, const Tensor& w, py::handle b, py::handle stride,
                          py::handle padding, py::handle dilation, int64_t groups) {
    Tensor bias = opt_tensor(b, "conv2d(bias=...)");
    IntArray s = pair2(stride, "conv2d(stride)"), p = pair2(padding, "conv2d(padding)"),
             d = pair2(dilation, "conv2d(dilation)");
    Rel r;
    return conv2d(x, w, bias, s, p, d, groups);
  }, "input"_a, "weight"_a, "bias"_a = py::none(), "stride"_a = 1, "padding"_a = 0,
        "dilation"_a = 1, "groups"_a = 1);
  f.def("conv_transpose2d", [pair2](const Tensor& x, const Tensor& w, py::handle b,
                                    py::handle stride, py::handle padding, py::handle out_pad,
                                    int64_t groups, py::handle dilation) {
    Tensor bias = opt_tensor(b, "conv_transpose2d(bias=...)");
    IntArray s = pair2(stride, "stride"), p = pair2(padding, "padding"),
             o = pair2(out_pad, "output_padding"), d = pair2(dilation, "dilation");
    Rel r;
    return conv_transpose2d(x, w, bias, s, p, o, groups, d);
  }, "input"_a, "weight"_a, "bias"_a = py::none(), "stride"_a = 1, "padding"_a = 0,
        "output_padding"_a = 0, "groups"_a = 1, "dilation"_a = 1);
  f.def("max_pool2d", [pair2](const Tensor& x, py::handle k, py::handle stride, py::handle padding,
                              py::handle dilation, bool ceil_mode) {
    IntArray kk = pair2(k, "max_pool2d(kernel_size)");
    IntArray s = stride.is_none() ? IntArray{} : pair2(stride, "max_pool2d(stride)");
    IntArray p = pair2(padding, "max_pool2d(padding)"), d = pair2(dilation, "max_pool2d(dilation)");
    Rel r;
    return max_pool2d(x, kk, s, p, d, ceil_mode);
  }, "input"_a, "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, "dilation"_a = 1,
        "ceil_mode"_a = false);
  f.def("avg_pool2d", [pair2](const Tensor& x, py::handle k, py::handle stride, py::handle padding,
                              bool ceil_mode, bool count_include_pad) {
    IntArray kk = pair2(k, "avg_pool2d(kernel_size)");
    IntArray s = stride.is_none() ? IntArray{} : pair2(stride, "avg_pool2d(stride)");
    IntArray p = pair2(padding, "avg_pool2d(padding)");
    Rel r;
    return avg_pool2d(x, kk, s, p, ceil_mode, count_include_pad);
  }, "input"_a, "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, "ceil_mode"_a = false,
        "count_include_pad"_a = true);
  f.def("adaptive_avg_pool2d", [pair2](const Tensor& x, py::handle size) {
    IntArray s = pair2(size, "adaptive_avg_pool2d(output_size)");
    Rel r;
    return adaptive_avg_pool2d(x, s);
  }, "input"_a, "output_size"_a);
  f.def("batch_norm", [](const Tensor& x, py::handle rm, py::handle rv, py::handle w, py::handle b,
                         bool training, double momentum, double eps) {
    Tensor m_ = opt_tensor(rm, "batch_norm(running_mean)"), v = opt_tensor(rv, "running_var"),
           wt = opt_tensor(w, "weight"), bs = opt_tensor(b, "bias");
    Rel r;
    return batch_norm(x, m_, v, wt, bs, training, momentum, eps);
  }, "input"_a, "running_mean"_a, "running_var"_a, "weight"_a = py::none(), "bias"_a = py::none(),
        "training"_a = false, "momentum"_a = 0.1, "eps"_a = 1e-5);
  f.def("layer_norm", [](const Tensor& x, py::handle shape, py::handle w, py::handle b, double eps) {
    Shape s = int_list(shape, "layer_norm(normalized_shape)");
    Tensor wt = opt_tensor(w, "weight"), bs = opt_tensor(b, "bias");
    Rel r;
    return layer_norm(x, s, wt, bs, eps);
  }, "input"_a, "normalized_shape"_a, "weight"_a = py::none(), "bias"_a = py::none(), "eps"_a = 1e-5);
  f.def("group_norm", [](const Tensor& x, int64_t groups, py::handle w, py::handle b, double eps) {
    Tensor wt = opt_tensor(w, "weight"), bs = opt_tensor(b, "bias");
    Rel r;
    return group_norm(x, groups, wt, bs, eps);
  }, "input"_a, "num_groups"_a, "weight"_a = py::none(), "bias"_a = py::none(), "eps"_a = 1e-5);
  f.def("dropout", [](const Tensor& x, double p, bool training) { Rel r; return dropout(x, p, training); },
        "input"_a, "p"_a = 0.5, "training"_a = true);
  f.def("embedding", [](const Tensor& i, const Tensor& w, std::optional<int64_t> padding_idx) {
    Rel r;
    return embedding(w, i, padding_idx);
  }, "input"_a, "weight"_a, "padding_idx"_a = py::none());
  f.def("pad", [](const Tensor& x, py::handle pads, const std::string& mode, double value) {
    IntArray p = int_list(pads, "pad");
    Rel r;
    return pad(x, p, mode, value);
  }, "input"_a, "pad"_a, "mode"_a = "constant", "value"_a = 0.0);
  f.def("one_hot", [](const Tensor& i, int64_t n) { Rel r; return one_hot(i, n); }, "tensor"_a,
        "num_classes"_a = -1);
  f.def("leaky_relu", [](const Tensor& x, double s) { Rel r; return leaky_relu(x, s); }, "input"_a,
        "negative_slope"_a = 0.01);
  f.def("gelu", [](const Tensor& x, const std::string& a) { Rel r; return gelu(x, a); }, "input"_a,
        "approximate"_a = "none");
  f.def("silu", [](const Tensor& x) { Rel r; return silu(x); }, "input"_a);
  f.def("softplus", [](const Tensor& x, double beta, double threshold) {
    Rel r;
    return softplus(x, beta, threshold);
  }, "input"_a, "beta"_a = 1.0, "threshold"_a = 20.0);
  f.def("normalize", [](const Tensor& x, double p, int64_t dim, double eps) {
    Rel r;
    return nn::functional::normalize(x, p, dim, eps);
  }, "input"_a, "p"_a = 2.0, "dim"_a = 1, "eps"_a = 1e-12);
  f.def("cross_entropy", [](const Tensor& x, const Tensor& t, py::handle w, int64_t ignore_index,
                            const std::string& red, double smoothing) {
    Tensor wt = opt_tensor(w, "cross_entropy(weight)");
    Reduction rd = reduction_of(red);
    Rel r;
    return cross_entropy(x, t, wt, ignore_index, rd, smoothing);
  }, "input"_a, "target"_a, "weight"_a = py::none(), "ignore_index"_a = -100,
        "reduction"_a = "mean", "label_smoothing"_a = 0.0);
  f.def("nll_loss", [](const Tensor& x, const Tensor& t, py::handle w, int64_t ignore_index,
                       const std::string& red) {
    Tensor wt = opt_tensor(w, "nll_loss(weight)");
    Reduction rd = reduction_of(red);
    Rel r;
    return nll_loss(x, t, wt, ignore_index, rd);
  }, "input"_a, "target"_a, "weight"_a = py::none(), "ignore_index"_a = -100, "reduction"_a = "mean");
  f.def("mse_loss", [](const Tensor& x, const Tensor& t, const std::string& red) {
    Reduction rd = reduction_of(red);
    Rel r;
    return mse_loss(x, t, rd);
  }, "input"_a, "target"_a, "reduction"_a = "mean");
  f.def("l1_loss", [](const Tensor& x, const Tensor& t, const std::string& red) {
    Reduction rd = reduction_of(red);
    Rel r;
    return l1_loss(x, t, rd);
  }, "input"_a, "target"_a, "reduction"_a = "mean");
  f.def("smooth_l1_loss", [](const Tensor& x, const Tensor& t, const std::string& red, double beta) {
    Reduction rd = reduction_of(red);
    Rel r;
    return smooth_l1_loss(x, t, rd, beta);
  }, "input"_a, "target"_a, "reduction"_a = "mean", "beta"_a = 1.0);
  f.def("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& t, py::handle w,
                                               const std::string& red, py::handle pw) {
    Tensor wt = opt_tensor(w, "weight"), p = opt_tensor(pw, "pos_weight");
    Reduction rd = reduction_of(red);
    Rel r;
    return binary_cross_entropy_with_logits(x, t, wt, p, rd);
  }, "input"_a, "target"_a, "weight"_a = py::none(), "reduction"_a = "mean",
        "pos_weight"_a = py::none());

  // ---- detection ops (tandem.ops re-exports them, torchvision.ops' names)
  py::module_ v = m.def_submodule("_vision");
  v.def("box_area", [](const Tensor& b) { Rel r; return box_area(b); }, "boxes"_a);
  v.def("box_iou", [](const Tensor& a, const Tensor& b) { Rel r; return box_iou(a, b); },
        "boxes1"_a, "boxes2"_a);
  v.def("box_convert", [](const Tensor& b, const std::string& in, const std::string& out) {
    Rel r;
    return box_convert(b, in, out);
  }, "boxes"_a, "in_fmt"_a, "out_fmt"_a);
  v.def("nms", [](const Tensor& b, const Tensor& s, double t) { Rel r; return nms(b, s, t); },
        "boxes"_a, "scores"_a, "iou_threshold"_a);
  v.def("batched_nms", [](const Tensor& b, const Tensor& s, const Tensor& i, double t) {
    Rel r;
    return batched_nms(b, s, i, t);
  }, "boxes"_a, "scores"_a, "idxs"_a, "iou_threshold"_a);
  v.def("roi_align", [](const Tensor& x, const Tensor& boxes, py::handle output_size,
                        double spatial_scale, int64_t sampling_ratio, bool aligned) {
    IntArray os = int_list(output_size, "output_size");
    Rel r;
    return roi_align(x, boxes, os, spatial_scale, sampling_ratio, aligned);
  }, "input"_a, "boxes"_a, "output_size"_a, "spatial_scale"_a = 1.0, "sampling_ratio"_a = -1,
        "aligned"_a = false);
}

}  // namespace tandem::py
