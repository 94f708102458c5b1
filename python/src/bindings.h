// Shared helpers of the Python bindings (one translation unit per area: tensor, ops, nn,
// optim, data_io, compile). Bindings stay thin: they convert arguments, release the GIL and
// call the public C++ API; Python conveniences live in python/tandem/.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include <tandem/tandem.h>

namespace tandem::py {
namespace pyb = pybind11;

void bind_tensor(pyb::module_& m);
void bind_numpy(pyb::module_& m, pyb::handle tensor_cls);
void bind_ops(pyb::module_& m);
void bind_nn(pyb::module_& m);
void bind_optim(pyb::module_& m);
void bind_data_io(pyb::module_& m);
void bind_compile(pyb::module_& m);

// A Tensor, or a Python/NumPy number as a wrapped scalar (PyTorch's promotion: a Python int
// keeps an int64 tensor integral, a float makes it floating). Error for anything else.
Tensor operand(pyb::handle h, const char* op);
// Python ints (anything with __index__) and floats (anything with __float__).
int64_t to_int(pyb::handle h);
double to_float(pyb::handle h);
// None -> {}; int -> {d}; a sequence of ints -> the list.
IntArray int_list(pyb::handle h, const char* what);
// A tandem.dtype (or None -> fallback).
DType dtype_arg(pyb::handle h, DType fallback);
// An undefined Tensor as None.
pyb::object tensor_or_none(const Tensor& t);
// Tensor or None -> Tensor (undefined for None).
Tensor opt_tensor(pyb::handle h, const char* what);
// Python's floor division (a // b) with PyTorch's result type.
Tensor floor_divide(const Tensor& a, const Tensor& b);
// Makes `name` of `m` a method of class `cls` (the same function object, bound to self).
void alias_method(pyb::module_& m, pyb::handle cls, const char* name,
                  const char* method_name = nullptr);

}  // namespace tandem::py
