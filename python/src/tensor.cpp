// tandem.Tensor: the class, its metadata, autograd, operators and creation functions.
// Methods that are plain ops (exp, sum, ...) are bound once as functions in ops.cpp and made
// methods there; indexing, printing and PyTorch's varargs spellings are in tandem/_tensor.py.
#include <pybind11/functional.h>

#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

int64_t to_int(py::handle h) {
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!i) throw py::error_already_set();
  return i.cast<int64_t>();
}

double to_float(py::handle h) {
  double v = PyFloat_AsDouble(h.ptr());
  if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

Tensor operand(py::handle h, const char* op) {
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  // bool before int: Python's bool is an int subclass, but True + int64 tensor stays int64
  // in PyTorch either way; a bool tensor + True must stay bool.
  if (PyBool_Check(h.ptr())) return wrap_scalar(h.ptr() == Py_True);
  if (PyLong_Check(h.ptr())) return wrap_scalar(static_cast<int64_t>(h.cast<int64_t>()));
  if (PyFloat_Check(h.ptr())) return wrap_scalar(PyFloat_AS_DOUBLE(h.ptr()));
  // NumPy scalars and other numbers: integral ones through __index__, others through float.
  if (PyIndex_Check(h.ptr())) return wrap_scalar(to_int(h));
  if (PyNumber_Check(h.ptr()) && py::hasattr(h, "__float__"))
    return wrap_scalar(to_float(h));
  throw Error(fmt::format("{}: expected a Tensor or a number, got {}", op,
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

IntArray int_list(py::handle h, const char* what) {
  if (h.is_none()) return {};
  if (PyIndex_Check(h.ptr()) && !py::isinstance<Tensor>(h)) return {to_int(h)};
  if (py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h)) {
    IntArray out;
    for (py::handle x : h) {
      if (!PyIndex_Check(x.ptr()))
        throw Error(fmt::format("{}: expected a sequence of ints, got an element of type {}", what,
                                std::string(py::str(py::type::of(x).attr("__name__")))));
      out.push_back(to_int(x));
    }
    return out;
  }
  throw Error(fmt::format("{}: expected an int or a sequence of ints, got {}", what,
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

DType dtype_arg(py::handle h, DType fallback) {
  if (h.is_none()) return fallback;
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (py::isinstance<py::str>(h)) return dtype_from_name(h.cast<std::string>());
  throw Error(fmt::format("expected a tandem.dtype, got {}",
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

py::object tensor_or_none(const Tensor& t) {
  if (!t.defined()) return py::none();
  return py::cast(t);
}

Tensor opt_tensor(py::handle h, const char* what) {
  if (h.is_none()) return Tensor();
  if (!py::isinstance<Tensor>(h))
    throw Error(fmt::format("{}: expected a Tensor or None, got {}", what,
                            std::string(py::str(py::type::of(h).attr("__name__")))));
  return h.cast<Tensor>();
}

void alias_method(py::module_& m, py::handle cls, const char* name, const char* method_name) {
  py::object fn = m.attr(name);
  py::object meth = py::reinterpret_steal<py::object>(PyInstanceMethod_New(fn.ptr()));
  py::setattr(cls, method_name ? method_name : name, meth);
}

namespace {

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

// a (op) other, other a Tensor or a number; the GIL is released around the kernel.
template <BinaryFn F>
Tensor binary(const Tensor& a, py::handle other, const char* op) {
  Tensor b = operand(other, op);
  py::gil_scoped_release release;
  return F(a, b);
}
template <BinaryFn F>
Tensor rbinary(const Tensor& a, py::handle other, const char* op) {
  Tensor b = operand(other, op);
  py::gil_scoped_release release;
  return F(b, a);
}
Tensor add_fn(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor sub_fn(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor pow_fn(const Tensor& a, const Tensor& b) { return pow(a, b); }
// Python's floor division, PyTorch's result type (floating for floats, integral for ints):
// trunc(q) - 1 where q < trunc(q), with the quotient in float64.
Tensor floordiv_fn(const Tensor& a, const Tensor& b) {
  DType t = result_type({TensorMeta::of(a), TensorMeta::of(b)});
  Tensor q = div(a.to(DType::Float64), b.to(DType::Float64));
  Tensor f = sub(q, where(lt(q, q.to(DType::Int64).to(DType::Float64)), wrap_scalar(1.0),
                          wrap_scalar(0.0)));
  return f.to(DType::Int64).to(DType::Float64).to(t);
}
// Python's modulo (the sign of the divisor), as torch.remainder.
Tensor remainder_fn(const Tensor& a, const Tensor& b) {
  DType t = result_type({TensorMeta::of(a), TensorMeta::of(b)});
  Tensor fa = a.to(DType::Float64), fb = b.to(DType::Float64);
  return sub(fa, mul(fb, floordiv_fn(fa, fb))).to(t);
}

std::vector<int64_t> shape_of(py::handle h) { return int_list(h, "shape"); }

TensorOptions options(py::handle dtype, bool requires_grad, DType fallback = DType::Float32) {
  return TensorOptions{.dtype = dtype_arg(dtype, fallback), .requires_grad = requires_grad};
}

// Replaces what `t` refers to with `src`'s data (storage, shape, dtype), keeping the
// TensorImpl: every handle to `t` (module members, optimizers) sees the new data, as
// PyTorch's `param.data = x`.
void set_data(const Tensor& t, const Tensor& src) {
  TensorImpl* d = t.impl();
  TensorImpl* s = src.impl();
  d->storage = s->storage;
  d->sizes = s->sizes;
  d->strides = s->strides;
  d->offset = s->offset;
  d->numel = s->numel;
  d->dtype = s->dtype;
}

}  // namespace

Tensor floor_divide(const Tensor& a, const Tensor& b) { return floordiv_fn(a, b); }

void bind_tensor(py::module_& m) {
  py::enum_<DType> dtype(m, "dtype");
  for (int i = 0; i < kNumDTypes; ++i) {
    DType d = static_cast<DType>(i);
    dtype.value(std::string(dtype_name(d)).c_str(), d);
  }
  dtype.def("__repr__", [](DType d) { return "tandem." + std::string(dtype_name(d)); })
      .def("__str__", [](DType d) { return "tandem." + std::string(dtype_name(d)); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });
  m.def("promote_types", &promote_types, "type1"_a, "type2"_a);

  py::class_<Tensor> cls(m, "Tensor", py::buffer_protocol());
  cls.def(py::init([](const Tensor& t) { return t; }), "data"_a,
          "A new Python handle to the same tensor (no copy)")
      .def_property_readonly("_impl_id", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def("__hash__", [](const Tensor& t) { return std::hash<const void*>()(t.impl()); })
      .def("_is_same", [](const Tensor& a, const Tensor& b) { return a.impl() == b.impl(); })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("_shape", [](const Tensor& t) { return t.shape(); })
      .def("stride", [](const Tensor& t, py::object dim) -> py::object {
             if (dim.is_none()) return py::tuple(py::cast(t.strides()));
             return py::int_(t.stride(dim.cast<int64_t>()));
           }, "dim"_a = py::none())
      .def("dim", &Tensor::dim)
      .def_property_readonly("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", &Tensor::itemsize)
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def("storage_offset", &Tensor::offset)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def("_version", &Tensor::version)
      .def("_shares_storage", &Tensor::shares_storage)
      .def("__str__", &Tensor::str)
      .def("_str", &Tensor::str)
      // ---- autograd
      .def_property("requires_grad", &Tensor::requires_grad,
                    [](Tensor& t, bool on) { t.requires_grad_(on); })
      .def("requires_grad_", [](Tensor& t, bool on) { t.requires_grad_(on); return t; },
           "requires_grad"_a = true)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property("grad", [](const Tensor& t) { return tensor_or_none(t.grad()); },
                    [](const Tensor& t, py::handle g) { t.set_grad(opt_tensor(g, "Tensor.grad")); })
      .def_property_readonly("_grad_fn_name", [](const Tensor& t) -> py::object {
        auto fn = t.grad_fn();
        if (!fn) return py::none();
        return py::str(fn->name());
      })
      .def("_backward", [](const Tensor& t, py::handle gradient, bool retain_graph, bool create_graph) {
             Tensor g = opt_tensor(gradient, "backward(gradient=...)");
             py::gil_scoped_release release;
             t.backward(g, retain_graph, create_graph);
           }, "gradient"_a = py::none(), "retain_graph"_a = false, "create_graph"_a = false)
      .def("detach", &Tensor::detach)
      .def("detach_", [](Tensor& t) {
        t.impl()->autograd.reset();  // no history, no requires_grad, as PyTorch's detach_()
        return t;
      })
      .def("retain_grad", &Tensor::retain_grad)
      .def_property_readonly("retains_grad", &Tensor::retains_grad)
      .def("_register_hook", [](const Tensor& t, py::function fn) {
        // The hook runs inside backward (GIL released there): take the GIL to call Python.
        auto holder = std::make_shared<py::function>(std::move(fn));
        t.register_hook([holder](const Tensor& g) -> Tensor {
          py::gil_scoped_acquire acquire;
          py::object r = (*holder)(g);
          if (r.is_none()) return Tensor();
          return r.cast<Tensor>();
        });
      })
      .def("_set_data", &set_data)
      // ---- copies and conversions
      .def("_to_dtype", [](const Tensor& t, DType d, bool copy) {
             py::gil_scoped_release release;
             if (!copy && t.dtype() == d) return t;
             return t.to(d);
           }, "dtype"_a, "copy"_a = false)
      .def("clone", [](const Tensor& t) { py::gil_scoped_release r; return t.clone(); })
      .def("contiguous", [](const Tensor& t) { py::gil_scoped_release r; return t.contiguous(); })
      .def("copy_", [](Tensor& t, const Tensor& src) { { py::gil_scoped_release r; t.copy_(src); } return t; },
           "src"_a)
      .def("fill_", [](Tensor& t, py::handle v) {
             double value = to_float(v);
             { py::gil_scoped_release r; t.fill_(value); }
             return t;
           }, "value"_a)
      .def("zero_", [](Tensor& t) { { py::gil_scoped_release r; t.zero_(); } return t; })
      .def("item", [](const Tensor& t) -> py::object {
        TANDEM_CHECK(t.numel() == 1, "item(): a Tensor with {} elements cannot be converted to a "
                     "Python number", t.numel());
        if (t.dtype() == DType::Bool) return py::bool_(t.item<bool>());
        if (is_floating(t.dtype())) return py::float_(t.item<double>());
        return py::int_(t.item<int64_t>());
      })
      // ---- views
      .def("_view", [](const Tensor& t, const Shape& s) { return t.view(s); })
      .def("_reshape", [](const Tensor& t, const Shape& s) { return t.reshape(s); })
      .def("_permute", [](const Tensor& t, const IntArray& d) { return t.permute(d); })
      .def("_expand", [](const Tensor& t, const Shape& s) { return t.expand(s); })
      .def("t", &Tensor::t)
      .def("narrow", &Tensor::narrow, "dim"_a, "start"_a, "length"_a)
      .def("select", &Tensor::select, "dim"_a, "index"_a)
      .def("_slice", &Tensor::slice, "dim"_a, "start"_a, "end"_a, "step"_a)
      .def("expand_as", &Tensor::expand_as, "other"_a)
      // ---- operators (Tensor or number on either side)
      .def("__add__", [](const Tensor& a, py::handle b) { return binary<add_fn>(a, b, "add"); }, py::is_operator())
      .def("__radd__", [](const Tensor& a, py::handle b) { return rbinary<add_fn>(a, b, "add"); }, py::is_operator())
      .def("__sub__", [](const Tensor& a, py::handle b) { return binary<sub_fn>(a, b, "sub"); }, py::is_operator())
      .def("__rsub__", [](const Tensor& a, py::handle b) { return rbinary<sub_fn>(a, b, "sub"); }, py::is_operator())
      .def("__mul__", [](const Tensor& a, py::handle b) { return binary<mul>(a, b, "mul"); }, py::is_operator())
      .def("__rmul__", [](const Tensor& a, py::handle b) { return rbinary<mul>(a, b, "mul"); }, py::is_operator())
      .def("__truediv__", [](const Tensor& a, py::handle b) { return binary<div>(a, b, "div"); }, py::is_operator())
      .def("__rtruediv__", [](const Tensor& a, py::handle b) { return rbinary<div>(a, b, "div"); }, py::is_operator())
      .def("__floordiv__", [](const Tensor& a, py::handle b) { return binary<floordiv_fn>(a, b, "floor_divide"); }, py::is_operator())
      .def("__rfloordiv__", [](const Tensor& a, py::handle b) { return rbinary<floordiv_fn>(a, b, "floor_divide"); }, py::is_operator())
      .def("__mod__", [](const Tensor& a, py::handle b) { return binary<remainder_fn>(a, b, "remainder"); }, py::is_operator())
      .def("__rmod__", [](const Tensor& a, py::handle b) { return rbinary<remainder_fn>(a, b, "remainder"); }, py::is_operator())
      .def("__pow__", [](const Tensor& a, py::handle b) { return binary<pow_fn>(a, b, "pow"); }, py::is_operator())
      .def("__rpow__", [](const Tensor& a, py::handle b) { return rbinary<pow_fn>(a, b, "pow"); }, py::is_operator())
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { py::gil_scoped_release r; return matmul(a, b); }, py::is_operator())
      .def("__eq__", [](const Tensor& a, py::handle b) { return binary<eq>(a, b, "eq"); }, py::is_operator())
      .def("__ne__", [](const Tensor& a, py::handle b) { return binary<ne>(a, b, "ne"); }, py::is_operator())
      .def("__lt__", [](const Tensor& a, py::handle b) { return binary<lt>(a, b, "lt"); }, py::is_operator())
      .def("__le__", [](const Tensor& a, py::handle b) { return binary<le>(a, b, "le"); }, py::is_operator())
      .def("__gt__", [](const Tensor& a, py::handle b) { return binary<gt>(a, b, "gt"); }, py::is_operator())
      .def("__ge__", [](const Tensor& a, py::handle b) { return binary<ge>(a, b, "ge"); }, py::is_operator())
      .def("__and__", [](const Tensor& a, py::handle b) { return binary<logical_and>(a, b, "and"); }, py::is_operator())
      .def("__or__", [](const Tensor& a, py::handle b) { return binary<logical_or>(a, b, "or"); }, py::is_operator())
      .def("__xor__", [](const Tensor& a, py::handle b) { return binary<logical_xor>(a, b, "xor"); }, py::is_operator())
      .def("__invert__", [](const Tensor& a) {
        TANDEM_CHECK(a.dtype() == DType::Bool, "~: only bool tensors are supported, got {}", a.dtype());
        return logical_not(a);
      })
      .def("__neg__", [](const Tensor& a) { py::gil_scoped_release r; return neg(a); })
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { py::gil_scoped_release r; return abs(a); })
      // In place: the result is the same Python object (`x += y` keeps x's identity).
      .def("__iadd__", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "add_");
             { py::gil_scoped_release r; a.add_(o); }
             return self;
           }, py::is_operator())
      .def("__isub__", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "sub_");
             { py::gil_scoped_release r; a.sub_(o); }
             return self;
           }, py::is_operator())
      .def("__imul__", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "mul_");
             { py::gil_scoped_release r; a.mul_(o); }
             return self;
           }, py::is_operator())
      .def("__itruediv__", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "div_");
             { py::gil_scoped_release r; a.div_(o); }
             return self;
           }, py::is_operator())
      .def("add_", [](py::object self, py::handle b, double alpha) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "add_");
             { py::gil_scoped_release r; a.add_(o, alpha); }
             return self;
           }, "other"_a, py::kw_only(), "alpha"_a = 1.0)
      .def("sub_", [](py::object self, py::handle b, double alpha) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "sub_");
             { py::gil_scoped_release r; a.sub_(o, alpha); }
             return self;
           }, "other"_a, py::kw_only(), "alpha"_a = 1.0)
      .def("mul_", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "mul_");
             { py::gil_scoped_release r; a.mul_(o); }
             return self;
           }, "other"_a)
      .def("div_", [](py::object self, py::handle b) {
             Tensor& a = self.cast<Tensor&>();
             Tensor o = operand(b, "div_");
             { py::gil_scoped_release r; a.div_(o); }
             return self;
           }, "other"_a)
      .def("clamp_", [](py::object self, std::optional<double> lo, std::optional<double> hi) {
             Tensor& a = self.cast<Tensor&>();
             { py::gil_scoped_release r; a.clamp_(lo, hi); }
             return self;
           }, "min"_a = py::none(), "max"_a = py::none())
      .def("masked_fill_", [](py::object self, const Tensor& mask, double v) {
             Tensor& a = self.cast<Tensor&>();
             { py::gil_scoped_release r; a.masked_fill_(mask, v); }
             return self;
           }, "mask"_a, "value"_a);

  // ---- creation (Python wrappers in tandem/__init__.py take PyTorch's *size spelling)
  m.def("_empty", [](py::handle s, py::handle d, bool rg) { return empty(shape_of(s), options(d, rg)); });
  m.def("_zeros", [](py::handle s, py::handle d, bool rg) { return zeros(shape_of(s), options(d, rg)); });
  m.def("_ones", [](py::handle s, py::handle d, bool rg) { return ones(shape_of(s), options(d, rg)); });
  m.def("_full", [](py::handle s, py::handle v, py::handle d, bool rg) {
    // PyTorch infers the dtype from the fill value: bool, int64 or float32.
    DType fallback = PyBool_Check(v.ptr()) ? DType::Bool
                     : (PyLong_Check(v.ptr()) ? DType::Int64 : DType::Float32);
    return full(shape_of(s), to_float(v), options(d, rg, fallback));
  });
  m.def("_rand", [](py::handle s, py::handle d, bool rg) {
    Shape sh = shape_of(s);
    py::gil_scoped_release r;
    return rand(sh, options(d, rg));
  });
  m.def("_randn", [](py::handle s, py::handle d, bool rg) {
    Shape sh = shape_of(s);
    py::gil_scoped_release r;
    return randn(sh, options(d, rg));
  });
  m.def("_randint", [](int64_t low, int64_t high, py::handle s, py::handle d, bool rg) {
    return randint(low, high, shape_of(s), options(d, rg, DType::Int64));
  });
  m.def("_arange", [](double start, double end, double step, py::handle d, bool rg) {
    return arange(start, end, step, options(d, rg, DType::Int64));
  });
  m.def("_linspace", [](double start, double end, int64_t steps, py::handle d, bool rg) {
    return linspace(start, end, steps, options(d, rg));
  });
  m.def("_eye", [](int64_t n, std::optional<int64_t> mm, py::handle d, bool rg) {
    return eye(n, mm, options(d, rg));
  });
  m.def("zeros_like", [](const Tensor& t, py::handle d, bool rg) {
    Tensor z = zeros(t.shape(), options(d, rg, t.dtype()));
    return z;
  }, "input"_a, py::kw_only(), "dtype"_a = py::none(), "requires_grad"_a = false);
  m.def("ones_like", [](const Tensor& t, py::handle d, bool rg) {
    return ones(t.shape(), options(d, rg, t.dtype()));
  }, "input"_a, py::kw_only(), "dtype"_a = py::none(), "requires_grad"_a = false);
  m.def("empty_like", [](const Tensor& t, py::handle d, bool rg) {
    return empty(t.shape(), options(d, rg, t.dtype()));
  }, "input"_a, py::kw_only(), "dtype"_a = py::none(), "requires_grad"_a = false);
  m.def("full_like", [](const Tensor& t, double v, py::handle d, bool rg) {
    return full(t.shape(), v, options(d, rg, t.dtype()));
  }, "input"_a, "fill_value"_a, py::kw_only(), "dtype"_a = py::none(), "requires_grad"_a = false);
  m.def("rand_like", [](const Tensor& t) { return rand_like(t); }, "input"_a);
  m.def("randn_like", [](const Tensor& t) { return randn_like(t); }, "input"_a);
  m.def("manual_seed", [](uint64_t seed) { manual_seed(seed); }, "seed"_a);
  m.def("set_num_threads", &set_num_threads, "n"_a);
  m.def("get_num_threads", &get_num_threads);

  // ---- grad mode and autograd functions
  m.def("is_grad_enabled", &is_grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled, "mode"_a);
  m.def("_grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                    const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                    bool allow_unused) {
    std::vector<Tensor> gs;
    {
      py::gil_scoped_release r;
      gs = grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused);
    }
    py::list out;
    for (auto& g : gs) out.append(tensor_or_none(g));
    return py::tuple(out);
  });
  m.def("_backward", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                        bool retain_graph, bool create_graph) {
    py::gil_scoped_release r;
    backward(outputs, grad_outputs, retain_graph, create_graph);
  });
}

}  // namespace tandem::py
