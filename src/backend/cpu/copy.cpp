#include <cstring>

#include "bf16.h"
#include "loops.h"

namespace tandem::cpu {

namespace {
// Conversions go through the widest type that is exact for both ends.
template <typename D, typename S>
D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return static_cast<double>(v) != 0.0;
  } else if constexpr (std::is_integral_v<D> && !std::is_integral_v<S>) {
    // NOTE: an out-of-range float -> int cast is undefined in C++: NaN gives 0 and the rest
    // saturates through int64, as in the elementwise kernels' conversion.
    double d;
    if constexpr (std::is_same_v<S, double>) d = v;
    else d = static_cast<float>(v);
    if (d != d) return D(0);
    int64_t i = d >= 0x1p63 ? INT64_MAX : d < -0x1p63 ? INT64_MIN : static_cast<int64_t>(d);
    return static_cast<D>(i);
  } else if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>) {
    return static_cast<D>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) {
    return D(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}
template <typename D, typename S>
void copy_typed(const StridedLoop<2>& loop, D* d, const S* s) {
  loop.run([&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    D* dp = d + off[0];
    const S* sp = s + off[1];
    if constexpr (std::is_same_v<D, S>) {
      if (st[0] == 1 && st[1] == 1) {
        std::memcpy(dp, sp, n * sizeof(D));
        return;
      }
      for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = sp[i * st[1]];
    } else {
      for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = convert<D, S>(sp[i * st[1]]);
    }
  });
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (bf16_convert(dst, src)) return;  // float32 <-> bfloat16, vectorized
  StridedLoop<2> loop(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())});
  TANDEM_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = scalar_t;
    D* d = static_cast<D*>(dst.data_ptr());
    TANDEM_DISPATCH_ALL(src.dtype(), "copy", [&] {
      copy_typed<D, scalar_t>(loop, d, static_cast<const scalar_t*>(src.data_ptr()));
    });
  });
}

Tensor dense(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor c = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  copy_into(c, x);
  return c;
}

Tensor permuted_view(const Tensor& x, const std::vector<int64_t>& perm) {
  Shape shape, strides;
  for (int64_t d : perm) {
    shape.push_back(x.size(d));
    strides.push_back(x.stride(d));
  }
  return from_blob(x.data_ptr(), shape, x.dtype(), [keep = x](void*) {}, strides);
}

}  // namespace tandem::cpu
