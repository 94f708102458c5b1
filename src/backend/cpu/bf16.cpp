// bfloat16 drivers: split the bf16_table.h kernels over threads.
#include "bf16.h"

#include <algorithm>

#include "bf16_table.h"
#include "isa.h"
#include "loops.h"

namespace tandem::cpu {

const Bf16Kernels& bf16_kernels() {
  return isa_table(baseline::bf16_kernels, avx2::bf16_kernels, avx512::bf16_kernels);
}

namespace {

// Memory-bound passes: one chunk per thread once there is enough to share.
constexpr int64_t kBf16Grain = 1 << 16;

const uint16_t* bf16_bits(const Tensor& t) { return static_cast<const uint16_t*>(t.data_ptr()); }
uint16_t* bf16_bits_out(const Tensor& t) { return static_cast<uint16_t*>(t.data_ptr()); }
bool bf16_is(const Tensor& t) { return t.dtype() == DType::BFloat16; }

bool bf16_pool_fast(const Pool2d& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 && p.dh == 1 &&
         p.dw == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

}  // namespace

bool bf16_convert(const Tensor& dst, const Tensor& src) {
  if (!dst.is_contiguous() || !src.is_contiguous() || dst.shape() != src.shape()) return false;
  const Bf16Kernels& k = bf16_kernels();
  const int64_t n = dst.numel();
  if (bf16_is(dst) && src.dtype() == DType::Float32) {
    const float* s = static_cast<const float*>(src.data_ptr());
    uint16_t* d = bf16_bits_out(dst);
    parallel_for(n, kBf16Grain, [&](int64_t b, int64_t e) { k.from_f32(s + b, d + b, e - b); });
    return true;
  }
  if (dst.dtype() == DType::Float32 && bf16_is(src)) {
    const uint16_t* s = bf16_bits(src);
    float* d = static_cast<float*>(dst.data_ptr());
    parallel_for(n, kBf16Grain, [&](int64_t b, int64_t e) { k.to_f32(s + b, d + b, e - b); });
    return true;
  }
  return false;
}

bool bf16_relu(const Tensor& x, const Tensor& y) {
  if (!bf16_is(x) || !bf16_is(y) || !x.is_contiguous() || !y.is_contiguous() || x.numel() != y.numel())
    return false;
  const Bf16Kernels& k = bf16_kernels();
  const uint16_t* s = bf16_bits(x);
  uint16_t* d = bf16_bits_out(y);
  parallel_for(y.numel(), kBf16Grain, [&](int64_t b, int64_t e) { k.relu(s + b, d + b, e - b); });
  return true;
}

bool bf16_relu_backward(const Tensor& g, const Tensor& y, const Tensor& gx) {
  if (!bf16_is(g) || !bf16_is(y) || !bf16_is(gx) || !g.is_contiguous() || !y.is_contiguous() ||
      !gx.is_contiguous() || g.shape() != gx.shape() || y.shape() != gx.shape())
    return false;
  const Bf16Kernels& k = bf16_kernels();
  const uint16_t *gp = bf16_bits(g), *yp = bf16_bits(y);
  uint16_t* d = bf16_bits_out(gx);
  parallel_for(gx.numel(), kBf16Grain,
               [&](int64_t b, int64_t e) { k.relu_backward(gp + b, yp + b, d + b, e - b); });
  return true;
}

bool bf16_max_pool2d(const Pool2d& p, const Tensor& x, const Tensor& y) {
  if (!bf16_is(x) || !bf16_is(y) || !x.is_contiguous() || !y.is_contiguous() || !bf16_pool_fast(p))
    return false;
  const Bf16Kernels& k = bf16_kernels();
  const uint16_t* s = bf16_bits(x);
  uint16_t* d = bf16_bits_out(y);
  const int64_t grain = std::max<int64_t>(1, kBf16Grain / std::max<int64_t>(1, p.H * p.W));
  parallel_for(p.planes, grain, [&](int64_t b, int64_t e) {
    k.max_pool2x2(s + b * p.H * p.W, d + b * p.OH * p.OW, e - b, p.H, p.W, p.OH, p.OW);
  });
  return true;
}

bool bf16_max_pool2d_backward(const Pool2d& p, const Tensor& g, const Tensor& x, const Tensor& gx) {
  if (!bf16_is(g) || !bf16_is(x) || !bf16_is(gx) || !g.is_contiguous() || !x.is_contiguous() ||
      !gx.is_contiguous() || !bf16_pool_fast(p))
    return false;
  const Bf16Kernels& k = bf16_kernels();
  const uint16_t *gp = bf16_bits(g), *xp = bf16_bits(x);
  uint16_t* d = bf16_bits_out(gx);
  const int64_t grain = std::max<int64_t>(1, kBf16Grain / std::max<int64_t>(1, p.H * p.W));
  parallel_for(p.planes, grain, [&](int64_t b, int64_t e) {
    k.max_pool2x2_backward(gp + b * p.OH * p.OW, xp + b * p.H * p.W, d + b * p.H * p.W, e - b, p.H,
                           p.W, p.OH, p.OW);
  });
  return true;
}

}  // namespace tandem::cpu
