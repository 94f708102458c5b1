// NumPy, the buffer protocol and DLPack: zero-copy in both directions.
//
// Lifetime rules (as PyTorch's): tensor.numpy() returns an array whose base object holds a
// handle to the tensor, so the memory lives while either does; from_numpy(a) makes a tensor
// whose storage holds a reference to `a` (dropped, with the GIL, when the last view dies).
// Writes through either side are seen by the other; neither copies.
#include <pybind11/numpy.h>

#include "bindings.h"

namespace tandem::py {
namespace py = pybind11;
using namespace pybind11::literals;

namespace {

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Bool: return py::dtype("bool");
    case DType::UInt8: return py::dtype("uint8");
    case DType::Int8: return py::dtype("int8");
    case DType::Int16: return py::dtype("int16");
    case DType::UInt16: return py::dtype("uint16");
    case DType::Int32: return py::dtype("int32");
    case DType::Int64: return py::dtype("int64");
    case DType::Float16: return py::dtype("float16");
    case DType::Float32: return py::dtype("float32");
    case DType::Float64: return py::dtype("float64");
    case DType::BFloat16: break;
  }
  throw Error(fmt::format("numpy(): NumPy has no {} type; convert first, e.g. t.float().numpy()",
                          dtype_name(d)));
}

DType from_numpy_dtype(const py::dtype& dt) {
  char kind = dt.kind();
  size_t size = static_cast<size_t>(dt.itemsize());
  char order = dt.attr("byteorder").cast<std::string>().at(0);
  TANDEM_CHECK(order != '>', "from_numpy: big-endian arrays are not supported; use "
               "a.astype(a.dtype.newbyteorder('='))");
  if (kind == 'b' && size == 1) return DType::Bool;
  if (kind == 'u' && size == 1) return DType::UInt8;
  if (kind == 'i' && size == 1) return DType::Int8;
  if (kind == 'i' && size == 2) return DType::Int16;
  if (kind == 'u' && size == 2) return DType::UInt16;
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'f' && size == 2) return DType::Float16;
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  throw Error(fmt::format("from_numpy: can't convert a NumPy array of type {}; supported: "
                          "float64, float32, float16, int64, int32, int16, int8, uint16, uint8 and bool",
                          std::string(py::str(py::handle(dt)))));
}

void check_cpu_no_grad(const Tensor& t, const char* what) {
  TANDEM_CHECK(t.defined(), "{}: the tensor is undefined", what);
  TANDEM_CHECK(t.device() == Device::CPU, "{}: only CPU tensors can be shared", what);
  TANDEM_CHECK(!t.requires_grad(),
               "{}: can't call numpy() on a Tensor that requires grad; use "
               "tensor.detach().numpy() instead", what);
}

py::array to_numpy(const Tensor& t) {
  check_cpu_no_grad(t, "numpy()");
  py::dtype dt = numpy_dtype(t.dtype());
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<py::ssize_t> strides;
  for (int64_t s : t.strides()) strides.push_back(static_cast<py::ssize_t>(s * t.itemsize()));
  // The array's base holds a tensor handle: the storage lives as long as the array does.
  auto* keep = new Tensor(t);
  py::capsule base(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.numel() ? t.data_ptr() : nullptr, base);
}

Tensor from_numpy(py::array a) {
  DType d = from_numpy_dtype(a.dtype());
  Shape shape(a.shape(), a.shape() + a.ndim());
  Shape strides;
  int64_t item = static_cast<int64_t>(a.itemsize());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    int64_t s = a.strides()[i];
    TANDEM_CHECK(s >= 0, "from_numpy: the array has a negative stride in dim {} (a flipped "
                 "view); tensors need non-negative strides: pass a.copy()", i);
    TANDEM_CHECK(s % item == 0, "from_numpy: stride {} of dim {} is not a multiple of the item "
                 "size {}; pass a.copy()", s, i, item);
    strides.push_back(s / item);
  }
  if (shape_numel(shape) == 0) strides = contiguous_strides(shape);
  // NOTE: the deleter may run on any thread (a DataLoader worker, a kernel's caller with the
  // GIL released) and at interpreter exit: take the GIL, and leak rather than touch a
  // finalized interpreter.
  PyObject* owner = a.ptr();
  Py_INCREF(owner);
  auto release = [owner](void*) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire acquire;
    Py_DECREF(owner);
  };
  void* data = const_cast<void*>(a.data());
  return from_blob(data, shape, d, release, strides);
}

// ---- DLPack (the public ABI, v0.8): just the structs this module reads and writes.
struct DLDevice {
  int32_t device_type;  // 1 = kDLCPU
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 0 int, 1 uint, 2 float, 4 bfloat, 6 bool
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::Bool: return {6, 8, 1};
    case DType::UInt8: return {1, 8, 1};
    case DType::Int8: return {0, 8, 1};
    case DType::Int16: return {0, 16, 1};
    case DType::UInt16: return {1, 16, 1};
    case DType::Int32: return {0, 32, 1};
    case DType::Int64: return {0, 64, 1};
    case DType::Float16: return {2, 16, 1};
    case DType::BFloat16: return {4, 16, 1};
    case DType::Float32: return {2, 32, 1};
    case DType::Float64: return {2, 64, 1};
  }
  throw Error("__dlpack__: unknown dtype");
}

DType from_dl_dtype(DLDataType t) {
  TANDEM_CHECK(t.lanes == 1, "from_dlpack: vector types (lanes={}) are not supported", t.lanes);
  for (int i = 0; i < kNumDTypes; ++i) {
    DLDataType c = dl_dtype(static_cast<DType>(i));
    if (c.code == t.code && c.bits == t.bits) return static_cast<DType>(i);
  }
  // NumPy exports bool as uint8-sized code 6 or as uint8 (code 1): both handled above.
  throw Error(fmt::format("from_dlpack: unsupported DLPack type code={} bits={}", t.code, t.bits));
}

struct DLContext {
  Tensor tensor;
  Shape shape, strides;
  DLManagedTensor managed;
};

py::capsule to_dlpack(const Tensor& t) {
  check_cpu_no_grad(t, "__dlpack__");
  auto* ctx = new DLContext{t, t.shape(), t.strides(), {}};
  DLManagedTensor& m = ctx->managed;
  m.dl_tensor.data = t.numel() ? t.data_ptr() : nullptr;
  m.dl_tensor.device = {1, 0};
  m.dl_tensor.ndim = static_cast<int32_t>(t.dim());
  m.dl_tensor.dtype = dl_dtype(t.dtype());
  m.dl_tensor.shape = ctx->shape.data();
  m.dl_tensor.strides = ctx->strides.data();
  m.dl_tensor.byte_offset = 0;
  m.manager_ctx = ctx;
  m.deleter = [](DLManagedTensor* self) { delete static_cast<DLContext*>(self->manager_ctx); };
  // A capsule nobody consumed still owns the tensor; a consumer renames it "used_dltensor".
  PyObject* cap = PyCapsule_New(&m, "dltensor", [](PyObject* c) {
    if (PyCapsule_IsValid(c, "used_dltensor")) return;
    auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    if (mt && mt->deleter) mt->deleter(mt);
  });
  if (!cap) throw py::error_already_set();
  return py::reinterpret_steal<py::capsule>(cap);
}

Tensor from_dlpack(py::object obj) {
  py::object cap = py::hasattr(obj, "__dlpack__") ? obj.attr("__dlpack__")() : obj;
  TANDEM_CHECK(PyCapsule_IsValid(cap.ptr(), "dltensor"),
               "from_dlpack: expected an object with __dlpack__ or an unused DLPack capsule");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& dl = m->dl_tensor;
  TANDEM_CHECK(dl.device.device_type == 1, "from_dlpack: only CPU memory is supported (device "
               "type {})", dl.device.device_type);
  DType d = from_dl_dtype(dl.dtype);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  for (int64_t s : strides)
    TANDEM_CHECK(s >= 0, "from_dlpack: negative strides are not supported");
  if (shape_numel(shape) == 0) strides = contiguous_strides(shape);
  void* data = static_cast<char*>(dl.data) + dl.byte_offset;
  Tensor t = from_blob(data, shape, d, [m](void*) { if (m->deleter) m->deleter(m); }, strides);
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  return t;
}

}  // namespace

void bind_numpy(py::module_& m, py::handle tensor_cls) {
  m.def("from_numpy", &from_numpy, "ndarray"_a,
        "A tensor sharing memory with the NumPy array (no copy)");
  m.def("_to_numpy", &to_numpy, "tensor"_a);
  m.def("from_dlpack", &from_dlpack, "ext_tensor"_a);
  alias_method(m, tensor_cls, "_to_numpy", "numpy");
  m.def("_to_dlpack", &to_dlpack, "tensor"_a);
  auto cls = py::reinterpret_borrow<py::class_<Tensor>>(tensor_cls);
  cls.def("__dlpack__", [](const Tensor& t, py::object stream) { return to_dlpack(t); },
          "stream"_a = py::none())
      .def("__dlpack_device__", [](const Tensor&) { return py::make_tuple(1, 0); })
      .def_buffer([](Tensor& t) -> py::buffer_info {
        check_cpu_no_grad(t, "memoryview(tensor)");
        TANDEM_CHECK(t.dtype() != DType::BFloat16, "buffer protocol: bfloat16 has no format code");
        std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
        for (int64_t s : t.strides()) strides.push_back(static_cast<py::ssize_t>(s * t.itemsize()));
        std::string fmt = py::str(numpy_dtype(t.dtype()).attr("char"));
        return py::buffer_info(t.numel() ? t.data_ptr() : nullptr,
                               static_cast<py::ssize_t>(t.itemsize()), fmt, t.dim(), shape, strides);
      });
}

}  // namespace tandem::py
