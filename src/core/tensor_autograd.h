// What core asks of the autograd layer without including it: these are defined in
// src/autograd/tensor_autograd.cpp, beside the Tensor members that use autograd's types.
#pragma once
#include <string>

namespace tandem {
class Tensor;
namespace detail {
// The name of t's grad_fn, or "" for a leaf (Tensor's printing shows it).
std::string grad_fn_name(const Tensor& t);
}  // namespace detail
}  // namespace tandem
