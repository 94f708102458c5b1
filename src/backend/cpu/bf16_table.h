// The per-ISA bfloat16 kernel table: conversions between float32 and bfloat16, and the ops
// that autocast keeps in bfloat16 between GEMMs and convolutions (relu, its gradient, 2x2
// max pooling and its gradient). The ISA translation unit src/backend/cpu/isa/bf16_isa.cpp
// is compiled once per ISA level into tandem::cpu::baseline / avx2 / avx512.
// NOTE: plain declarations and PODs only (see reduce_table.h for why).
//
// bfloat16 values travel as their bits (uint16_t): a bfloat16 is the upper half of the
// float32 with the same value, so widening is a shift and every kernel here is exact except
// the rounding float32 -> bfloat16 (to nearest even, NaN stays a quiet NaN, as BFloat16(float)).
#pragma once
#include <cstdint>

namespace tandem::cpu {

struct Bf16Kernels {
  const char* name;
  void (*from_f32)(const float* x, uint16_t* y, int64_t n);
  void (*to_f32)(const uint16_t* x, float* y, int64_t n);
  // y = max(x, 0), NaN stays NaN (-0 gives +0).
  void (*relu)(const uint16_t* x, uint16_t* y, int64_t n);
  // gx = y <= 0 ? 0 : g (threshold_backward: NaN in y passes g).
  void (*relu_backward)(const uint16_t* g, const uint16_t* y, uint16_t* gx, int64_t n);
  // 2x2 windows, stride 2, no padding, over `planes` planes of H x W -> OH x OW
  // (2*OH <= H, 2*OW <= W). NaN wins, then the larger value; ties keep the first in
  // row-major window order (the argmax rule of max_pool2d_fwd / max_pool2d_bwd).
  void (*max_pool2x2)(const uint16_t* x, uint16_t* y, int64_t planes, int64_t H, int64_t W,
                      int64_t OH, int64_t OW);
  // gx (planes x H x W) = g scattered to each window's argmax, zero elsewhere.
  void (*max_pool2x2_backward)(const uint16_t* g, const uint16_t* x, uint16_t* gx, int64_t planes,
                               int64_t H, int64_t W, int64_t OH, int64_t OW);
};

namespace baseline { const Bf16Kernels& bf16_kernels(); }
namespace avx2 { const Bf16Kernels& bf16_kernels(); }
namespace avx512 { const Bf16Kernels& bf16_kernels(); }

// The table for the ISA level in use (current_isa()).
const Bf16Kernels& bf16_kernels();

}  // namespace tandem::cpu
