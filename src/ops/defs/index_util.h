// Shared by the indexing family files (index.cpp, index_pad_sort.cpp).
#pragma once
#include <cmath>
#include <cstring>

#include "tandem/autograd.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"
#include "defs.h"

namespace tandem::index_detail {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;

using defs::dense;

// `dim` wrapped for a tensor of `shape`; 0-dim tensors take dim 0 and -1 (PyTorch's
// ensure_nonempty rule).
inline int64_t wrap(int64_t dim, const Shape& shape, const char* op) {
  const int64_t n = std::max<int64_t>(static_cast<int64_t>(shape.size()), 1);
  TANDEM_CHECK(dim >= -n && dim < n,
               "{}: dimension {} is out of range for a tensor of shape {} (expected a dim in "
               "[{}, {}])", op, dim, shape_str(shape), -n, n - 1);
  return dim < 0 ? dim + n : dim;
}

// One element of dtype `dt` holding `v`. As PyTorch converting a double: integers refuse
// NaN, inf and values out of range; floats refuse finite values beyond their range.
struct FillBytes {
  alignas(8) unsigned char bytes[8] = {};
};
inline FillBytes fill_bytes(DType dt, double v, const char* op) {
  bool ok = true;
  switch (dt) {
    case DType::Bool: case DType::Float64: break;
    case DType::UInt8: ok = v >= 0 && v < 256; break;
    case DType::Int8: ok = v >= -128 && v < 128; break;
    case DType::Int16: ok = v >= -32768 && v < 32768; break;
    case DType::UInt16: ok = v >= 0 && v < 65536; break;
    case DType::Int32: ok = v >= -2147483648.0 && v < 2147483648.0; break;
    case DType::Int64: ok = v >= -9223372036854775808.0 && v < 9223372036854775808.0; break;
    case DType::Float16: ok = !std::isfinite(v) || std::abs(v) <= 65504.0; break;
    case DType::BFloat16: ok = !std::isfinite(v) || std::abs(v) <= 3.3895313892515355e38; break;
    case DType::Float32: ok = !std::isfinite(v) || std::abs(v) <= 3.4028234663852886e38; break;
  }
  TANDEM_CHECK(ok, "{}: value {} cannot be converted to type {} without overflow", op, v, dt);
  Tensor one = scalar_tensor(v, {.dtype = dt});
  FillBytes f;
  std::memcpy(f.bytes, one.data_ptr(), one.itemsize());
  return f;
}

}  // namespace tandem::index_detail
