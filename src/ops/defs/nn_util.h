// Shared by the nn op family files (nn.cpp, nn_pool.cpp, nn_norm.cpp).
#pragma once
#include "tandem/autograd.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {
void register_nn_pool();  // nn_pool.cpp
void register_nn_norm();  // nn_norm.cpp
}  // namespace defs

namespace nn_detail {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

// `t` as a contiguous tensor of dtype `dt` (a copy only when needed); undefined stays
// undefined. Kernels call it: no history is recorded.
inline Tensor dense(const Tensor& t, DType dt) {
  if (!t.defined()) return t;
  NoGradGuard no_grad;
  return t.to(dt).contiguous();
}

template <typename T> const T* cptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}
// Output pointer, or null for an output the caller did not ask for (numel 0).
template <typename T> T* optr(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? static_cast<T*>(t.data_ptr()) : nullptr;
}

inline void check_floating(const TensorMeta& m, const char* op, const char* what = "input") {
  TANDEM_CHECK(is_floating(m.dtype), "{}: expected a floating-point {}, got dtype {} (shape {})",
               op, what, m.dtype, shape_str(m.shape));
}

}  // namespace nn_detail
}  // namespace tandem
