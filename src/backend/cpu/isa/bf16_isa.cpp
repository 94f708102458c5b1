// bfloat16 conversions, relu and 2x2 max pooling on bfloat16 bits, compiled once per ISA
// level (CMakeLists.txt) into tandem::cpu::<isa>. See bf16_table.h.
//
// Plain integer loops left to the auto-vectorizer (-O3 per level): comparisons of bfloat16
// values are done on the float32 they widen to, so the results are exact and the same at
// every level.
// NOTE: builtins only, everything in an anonymous namespace inside the ISA namespace (see
// reduce_isa.cpp for why).
#ifndef TANDEM_ISA
#error "bf16_isa.cpp is compiled once per ISA level (TANDEM_ISA=baseline|avx2|avx512)"
#endif
#include <cstdint>

// Vectors are passed between inlined internal functions only (see reduce_isa.cpp).
#pragma GCC diagnostic ignored "-Wpsabi"

#include "backend/cpu/bf16_table.h"

namespace tandem::cpu::TANDEM_ISA {
namespace {

inline float bf16i_widen(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

inline uint16_t bf16i_round(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7fffffffu) > 0x7f800000u ? uint16_t{0x7fc0} : static_cast<uint16_t>(r);
}

void bf16i_from_f32(const float* __restrict x, uint16_t* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16i_round(x[i]);
}

void bf16i_to_f32(const uint16_t* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = static_cast<uint32_t>(x[i]) << 16;
    __builtin_memcpy(y + i, &u, 4);
  }
}

// On the bits: negative numbers (sign set, magnitude at most infinity's) become +0; NaN and
// non-negative values stay.
void bf16i_relu(const uint16_t* __restrict x, uint16_t* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b = x[i];
    bool neg = (b & 0x8000u) && (b & 0x7fffu) <= 0x7f80u;
    y[i] = neg ? uint16_t{0} : b;
  }
}

// As threshold_backward: zero where y <= 0 (signed zeros and negative numbers), g elsewhere
// (NaN in y passes g).
void bf16i_relu_backward(const uint16_t* __restrict g, const uint16_t* __restrict y,
                         uint16_t* __restrict gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b = y[i];
    bool not_pos = (b & 0x7fffu) == 0 || ((b & 0x8000u) && (b & 0x7fffu) <= 0x7f80u);
    gx[i] = not_pos ? uint16_t{0} : g[i];
  }
}

// A pair of neighbouring bfloat16 values read as one 32-bit word: the even one widens to
// word << 16, the odd one to word & 0xffff0000 (little-endian). Rows of 2x2 windows then are
// contiguous 32-bit loads, which the vectorizer handles without shuffles.
inline uint32_t bf16i_load_pair(const uint16_t* p) {
  uint32_t w;
  __builtin_memcpy(&w, p, 4);
  return w;
}
inline float bf16i_bits_f(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// The window's winner as (float value, position 0..3 in row-major order): NaN wins, then the
// larger value; ties keep the first.
struct Bf16iWin {
  float m;
  int k;
};
inline Bf16iWin bf16i_window(uint32_t top, uint32_t bottom) {
  float m = bf16i_bits_f(top << 16);
  int k = 0;
  const float c[3] = {bf16i_bits_f(top & 0xffff0000u), bf16i_bits_f(bottom << 16),
                      bf16i_bits_f(bottom & 0xffff0000u)};
  for (int j = 0; j < 3; ++j) {
    bool t = (c[j] > m) | (c[j] != c[j]);
    m = t ? c[j] : m;
    k = t ? j + 1 : k;
  }
  return {m, k};
}

// Rows of windows are short (14 and 7 windows in the CNN's pools), too short for the
// vectorizer's loop over one row: explicit N-lane steps, the last one moved back to end at OW
// (overlapping the one before; recomputing a few windows beats a scalar tail), needs OW >= N.
template <int N>
struct Bf16iVec {
  typedef uint32_t U __attribute__((vector_size(4 * N)));
  typedef int32_t I __attribute__((vector_size(4 * N)));
  typedef float F __attribute__((vector_size(4 * N)));
  typedef uint16_t H __attribute__((vector_size(2 * N)));
};

template <int N>
inline typename Bf16iVec<N>::U bf16i_loadv(const uint16_t* p) {
  typename Bf16iVec<N>::U v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

// The winners of N windows: their value (as float bits) and position 0..3.
template <int N>
inline void bf16i_window_v(const typename Bf16iVec<N>::U& top, const typename Bf16iVec<N>::U& bottom,
                           typename Bf16iVec<N>::F& m, typename Bf16iVec<N>::I& k) {
  using V = Bf16iVec<N>;
  typedef typename V::F F;
  typedef typename V::I I;
  const typename V::U hi = top - top + 0xffff0000u;
  m = (F)(top << 16);
  k = I{} ;
  const F c[3] = {(F)(top & hi), (F)(bottom << 16), (F)(bottom & hi)};
  for (int j = 0; j < 3; ++j) {
    I t = (c[j] > m) | (c[j] != c[j]);
    m = t ? c[j] : m;
    k = t ? k - k + (j + 1) : k;
  }
}

template <int N>
void bf16i_pool_row_v(const uint16_t* r0, const uint16_t* r1, uint16_t* y, int64_t OW) {
  using V = Bf16iVec<N>;
  for (int64_t ow = 0;; ow += N) {
    if (ow + N > OW) ow = OW - N;
    typename V::F m;
    typename V::I k;
    const typename V::U top_w = bf16i_loadv<N>(r0 + 2 * ow), bottom_w = bf16i_loadv<N>(r1 + 2 * ow);
    bf16i_window_v<N>(top_w, bottom_w, m, k);
    typename V::H out = __builtin_convertvector(((typename V::U)m) >> 16, typename V::H);
    __builtin_memcpy(y + ow, &out, sizeof(out));
    if (ow + N >= OW) break;
  }
}

template <int N>
void bf16i_pool_grad_row_v(const uint16_t* r0, const uint16_t* r1, const uint16_t* g, uint16_t* d0,
                           uint16_t* d1, int64_t OW) {
  using V = Bf16iVec<N>;
  typedef typename V::U U;
  for (int64_t ow = 0;; ow += N) {
    if (ow + N > OW) ow = OW - N;
    typename V::F m;
    typename V::I k;
    const typename V::U top_w = bf16i_loadv<N>(r0 + 2 * ow), bottom_w = bf16i_loadv<N>(r1 + 2 * ow);
    bf16i_window_v<N>(top_w, bottom_w, m, k);
    typename V::H gh;
    __builtin_memcpy(&gh, g + ow, sizeof(gh));
    U gv = __builtin_convertvector(gh, U), z = gv - gv;
    U top = (k == 0 ? gv : z) | (k == 1 ? gv << 16 : z);
    U bottom = (k == 2 ? gv : z) | (k == 3 ? gv << 16 : z);
    __builtin_memcpy(d0 + 2 * ow, &top, sizeof(top));
    __builtin_memcpy(d1 + 2 * ow, &bottom, sizeof(bottom));
    if (ow + N >= OW) break;
  }
}

void bf16i_pool_row(const uint16_t* r0, const uint16_t* r1, uint16_t* y, int64_t OW) {
  if (OW >= 16) return bf16i_pool_row_v<16>(r0, r1, y, OW);
  if (OW >= 8) return bf16i_pool_row_v<8>(r0, r1, y, OW);
  if (OW >= 4) return bf16i_pool_row_v<4>(r0, r1, y, OW);
  for (int64_t ow = 0; ow < OW; ++ow) {
    Bf16iWin w = bf16i_window(bf16i_load_pair(r0 + 2 * ow), bf16i_load_pair(r1 + 2 * ow));
    uint32_t u;
    __builtin_memcpy(&u, &w.m, 4);
    y[ow] = static_cast<uint16_t>(u >> 16);
  }
}

void bf16i_pool_grad_row(const uint16_t* r0, const uint16_t* r1, const uint16_t* g, uint16_t* d0,
                         uint16_t* d1, int64_t OW) {
  if (OW >= 16) return bf16i_pool_grad_row_v<16>(r0, r1, g, d0, d1, OW);
  if (OW >= 8) return bf16i_pool_grad_row_v<8>(r0, r1, g, d0, d1, OW);
  if (OW >= 4) return bf16i_pool_grad_row_v<4>(r0, r1, g, d0, d1, OW);
  for (int64_t ow = 0; ow < OW; ++ow) {
    Bf16iWin w = bf16i_window(bf16i_load_pair(r0 + 2 * ow), bf16i_load_pair(r1 + 2 * ow));
    uint32_t gv = g[ow];
    uint32_t top = (w.k == 0 ? gv : 0u) | (w.k == 1 ? gv << 16 : 0u);
    uint32_t bottom = (w.k == 2 ? gv : 0u) | (w.k == 3 ? gv << 16 : 0u);
    __builtin_memcpy(d0 + 2 * ow, &top, 4);
    __builtin_memcpy(d1 + 2 * ow, &bottom, 4);
  }
}

void bf16i_max_pool2x2(const uint16_t* __restrict x, uint16_t* __restrict y, int64_t planes,
                       int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for (int64_t p = 0; p < planes; ++p) {
    const uint16_t* xp = x + p * H * W;
    uint16_t* yp = y + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const uint16_t* r0 = xp + 2 * oh * W;
      bf16i_pool_row(r0, r0 + W, yp + oh * OW, OW);
    }
  }
}

void bf16i_max_pool2x2_backward(const uint16_t* __restrict g, const uint16_t* __restrict x,
                                uint16_t* __restrict gx, int64_t planes, int64_t H, int64_t W,
                                int64_t OH, int64_t OW) {
  for (int64_t p = 0; p < planes; ++p) {
    const uint16_t* xp = x + p * H * W;
    const uint16_t* gp = g + p * OH * OW;
    uint16_t* dp = gx + p * H * W;
    // Rows and columns no window covers (odd H or W) get no gradient.
    for (int64_t h = 2 * OH; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) dp[h * W + w] = 0;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const uint16_t* r0 = xp + 2 * oh * W;
      uint16_t* d0 = dp + 2 * oh * W;
      for (int64_t w = 2 * OW; w < W; ++w) d0[w] = d0[W + w] = 0;
      bf16i_pool_grad_row(r0, r0 + W, gp + oh * OW, d0, d0 + W, OW);
    }
  }
}

}  // namespace

#define TANDEM_BF16_STR2(x) #x
#define TANDEM_BF16_STR(x) TANDEM_BF16_STR2(x)

const Bf16Kernels& bf16_kernels() {
  static const Bf16Kernels table{TANDEM_BF16_STR(TANDEM_ISA), bf16i_from_f32, bf16i_to_f32, bf16i_relu,
                                 bf16i_relu_backward, bf16i_max_pool2x2, bf16i_max_pool2x2_backward};
  return table;
}

}  // namespace tandem::cpu::TANDEM_ISA
