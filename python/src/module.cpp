// The `tandem._C` extension module: tandem's C++ API for the Python package in python/tandem.
#include "bindings.h"

PYBIND11_MODULE(_C, m) {
  namespace py = pybind11;
  m.doc() = "tandem's C++ core; use the `tandem` package, not this module directly";
  // tandem::Error (and subclasses such as onnx::Unsupported) -> tandem.Error(RuntimeError).
  py::register_exception<tandem::Error>(m, "Error", PyExc_RuntimeError);
  tandem::py::bind_tensor(m);
  tandem::py::bind_numpy(m, m.attr("Tensor"));
  tandem::py::bind_ops(m);
  tandem::py::bind_nn(m);
  tandem::py::bind_optim(m);
  tandem::py::bind_data_io(m);
  tandem::py::bind_compile(m);
}
