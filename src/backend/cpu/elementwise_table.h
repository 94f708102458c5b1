// The per-ISA elementwise kernel table: the only thing the ISA translation units
// (src/backend/cpu/isa/*.cpp, compiled once per ISA level into namespaces
// tandem::cpu::baseline / avx2 / avx512) share with the rest of the library.
// NOTE: plain declarations and PODs only. Any inline function or template
// instantiated in an ISA unit is compiled with that ISA's flags, and the linker
// may keep that copy for every caller: a baseline CPU would then run AVX-512 code.
#pragma once
#include <cstdint>

namespace tandem::cpu {

// One-input float ops. The order is the kernel table's index.
enum class Unary : uint8_t {
  Neg, Exp, Log, Log1p, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Tanh, Sigmoid, Relu,
  LeakyRelu,  // p0 = negative slope
  Gelu, GeluTanh, Silu,
  Softplus,  // p0 = beta, p1 = threshold
  Clamp,     // p0 = min, p1 = max (±inf when absent)
  HardSwish,  // x * clamp(x / 6 + 1/2, 0, 1)
  Count
};

// Two-input float ops (a, b) -> out. The *Backward ops take (grad, saved tensor).
enum class Binary : uint8_t {
  Add,  // a + alpha * b
  Sub,  // a - alpha * b
  Mul, Div, Pow, Minimum, Maximum,
  TanhBackward,       // (g, y = tanh(x)):    g * (1 - y^2)
  SigmoidBackward,    // (g, y = sigmoid(x)): g * y * (1 - y)
  ReluBackward,       // (g, y = relu(x)):    y > 0 ? g : 0
  GeluBackward,       // (g, x)
  GeluTanhBackward,   // (g, x)
  SiluBackward,       // (g, x)
  Count
};

struct EwParams {
  double alpha = 1.0;
  double p0 = 0.0;
  double p1 = 0.0;
};

// Contiguous-output kernels over n elements. Input strides are in elements:
// 1 = contiguous, 0 = one broadcast value, anything else = strided. The output
// may be the same memory as an input with stride 1 (in-place ops).
using UnaryKernel = void (*)(const void* x, int64_t sx, void* y, int64_t n, const EwParams& p);
using BinaryKernel = void (*)(const void* a, int64_t sa, const void* b, int64_t sb, void* y,
                              int64_t n, const EwParams& p);

struct IsaKernels {
  const char* name;
  UnaryKernel unary[static_cast<int>(Unary::Count)][2];     // [op][float32, float64]
  BinaryKernel binary[static_cast<int>(Binary::Count)][2];  // [op][float32, float64]
};

// Each ISA translation unit defines its table.
namespace baseline { const IsaKernels& kernel_table(); }
namespace avx2 { const IsaKernels& kernel_table(); }
namespace avx512 { const IsaKernels& kernel_table(); }

}  // namespace tandem::cpu
