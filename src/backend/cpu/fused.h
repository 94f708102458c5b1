// CPU kernels of the fused OpDefs made by the graph fusion passes (src/ops/defs/fused.cpp).
//
// fused_elementwise runs a small register program (see FusedProgram) over blocks of
// kBlock elements held in per-thread temporaries, so every input is read once and the
// output written once; each instruction is one call of the per-ISA vectorized kernel
// (cpu::kernels()) over the block.
#pragma once
#include <cstdint>
#include <vector>

#include "elementwise_table.h"
#include "tandem/opdef.h"

namespace tandem::cpu {

// Operand encoding in the program: [0, kInputBase) register, kInputBase + k input k,
// kImmBase + k immediate k. A destination of -1 is the output.
inline constexpr int64_t kInputBase = 1000, kImmBase = 2000;
inline constexpr int64_t kFusedBlock = 512;
// Instructions are kInstr ints: kind (0 unary, 1 binary), op (Unary / Binary code), dst, a, b;
// params holds alpha, p0, p1 per instruction.
inline constexpr int64_t kInstr = 5;

// The program held in a node's attributes: "code", "params", "imms", "nregs",
// "reduce" (0 none, 1 sum over the last dim, 2 mean over the last dim), "keepdim".
void fused_elementwise_kernel(const KernelArgs& k);

// An activation applied to a kernel's output (a Unary code and its params p0, p1).
struct Activation {
  Unary op;
  double p0 = 0, p1 = 0;
};

// out = act(x · wᵀ + bias) by one oneDNN matmul (act: an eltwise post-op, or none when
// null), for float32 contiguous x [..., K] (leading dims folded into rows), w [N, K]
// contiguous, bias [N] (or undefined), out [..., N] contiguous. With `prepacked` (w is
// constant for the graph) the matmul reads w reordered once into its preferred layout
// (packed_weights.h). False (nothing written) when the case or the activation is not
// covered; the caller then falls back.
bool linear_onednn(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out, const Activation* act,
                   bool prepacked);
// out = act(out) in place (float32 / float64), act a Unary code with p0/p1.
void activation_inplace(const Tensor& out, Unary act, double p0, double p1);

}  // namespace tandem::cpu
