// Shared by the nn op family files (nn.cpp, nn_pool.cpp, nn_norm.cpp).
#pragma once
#include "tandem/autograd.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"
#include "defs.h"

namespace tandem {
namespace defs {
void register_nn_pool();  // nn_pool.cpp
void register_nn_norm();  // nn_norm.cpp
}  // namespace defs

namespace nn_detail {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

using defs::dense;

template <typename T> const T* cptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}
// Output pointer, or null for an output the caller did not ask for (numel 0).
template <typename T> T* optr(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? static_cast<T*>(t.data_ptr()) : nullptr;
}

// Runs `f(static_cast<T*>(nullptr))` for the output's floating dtype T.
template <typename F> void for_float(const Tensor& out, const char* op, F f) {
  TANDEM_DISPATCH_FLOAT(out.dtype(), op, [&] { f(static_cast<scalar_t*>(nullptr)); });
}

inline void check_floating(const TensorMeta& m, const char* op, const char* what = "input") {
  TANDEM_CHECK(is_floating(m.dtype), "{}: expected a floating-point {}, got dtype {} (shape {})",
               op, what, m.dtype, shape_str(m.shape));
}

}  // namespace nn_detail
}  // namespace tandem
