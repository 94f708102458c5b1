// Mixed precision: an autocast scope, as torch.autocast(device_type="cpu", dtype=torch.bfloat16).
//
//   optim::Adam opt(model->parameters(), {.lr = 1e-3});   // float32 parameters
//   {
//     AutocastGuard autocast;                             // bfloat16, this thread
//     Tensor out = (*model)(x);                           // linear / conv2d in bfloat16
//     Tensor loss = cross_entropy(out, y);                // losses, norms, softmax in float32
//     loss.backward();                                    // grads of float32 parameters: float32
//   }
//   opt.step();                                           // float32 master weights
//
// Inside the scope each op follows the autocast lists (src/ops/autocast_ops.cpp, as PyTorch's):
// `Lower` ops (matmul,
// linear, conv) cast float32 inputs to bfloat16 and return bfloat16, computed with float32
// accumulation (oneDNN's bf16 primitives where the CPU has AVX512-BF16 and the ISA level is
// avx512; otherwise in float32 and rounded once, the same numbers up to summation order);
// `Float32` ops (reductions, norms, softmax, losses) cast bfloat16 inputs to float32; all
// other ops run on what they get (an elementwise op of a bfloat16 tensor stays bfloat16, of
// bfloat16 and float32 promotes to float32). The casts are ordinary `to` ops, so gradients
// flow back to float32 parameters as float32 and `tandem::compile` captures them: a function
// traced inside a scope is a bf16 graph, and the scope is part of compile's cache key.
// Backward runs without autocast (as PyTorch's), on the dtypes the forward saved.
// Conversions to bfloat16 round to nearest even (NaN stays NaN), as PyTorch's.
#pragma once
#include "tandem/dtype.h"

namespace tandem {

// How an op behaves inside an autocast scope (OpDef::autocast).
enum class AutocastPolicy : uint8_t { None, Lower, Float32 };

// Thread-local, off by default. dtype: BFloat16 (the only lower type the CPU kernels run).
bool is_autocast_enabled();
DType get_autocast_dtype();
void set_autocast_enabled(bool on, DType dtype = DType::BFloat16);

class AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled = true, DType dtype = DType::BFloat16)
      : prev_on_(is_autocast_enabled()), prev_dtype_(get_autocast_dtype()) {
    set_autocast_enabled(enabled, dtype);
  }
  ~AutocastGuard() { set_autocast_enabled(prev_on_, prev_dtype_); }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_on_;
  DType prev_dtype_;
};

// Whether bfloat16 matmul and convolution run as oneDNN bf16 primitives (CPU with AVX512-BF16
// and the kernel ISA level avx512, see TANDEM_ISA) rather than in float32 and rounded.
bool bf16_native();

}  // namespace tandem
