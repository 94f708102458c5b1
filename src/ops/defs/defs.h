// Op families: each file in this folder defines and registers one family of OpDefs.
// To add a family: write register_<family>() in its own file and list it in register_all().
//
// Adding an op, the one path:
//   1. Its OpDef in the family's file: name, infer (shapes and dtypes), cpu kernel (a
//      src/backend/cpu routine), backward (or non_differentiable), and its ONNX export:
//      onnx_op for a one-to-one operator, else an emitter in src/onnx/export_ops.cpp, else
//      no_onnx_export with the reason.
//   2. The public function (include/tandem/ops.h or the family's header) that dispatches it.
//   3. Tests: a TANDEM_GRAD_CASE (finite differences), PyTorch reference cases from a
//      tests/reference/gen_*.py generator (`make refdata` reruns them all), and for an export
//      a case in tests/onnx/test_export_ops.cpp. tests/ops/test_registry.cpp fails while an op
//      lacks a backward or non_differentiable, a gradcheck, or an export or its reason.
//   4. ONNX import, if ONNX has the operator: a converter in src/onnx/import_*.cpp.
#pragma once
#include "tandem/autograd.h"
#include "tandem/opdef.h"

namespace tandem::cpu {
struct Activation;
struct ConvGeom;
struct Pool2d;
}

namespace tandem::defs {

// The dtypes the CPU elementwise kernels compute in (elementwise.cpp, elementwise_unary.cpp).
inline bool is_float_compute(DType t) { return t == DType::Float32 || t == DType::Float64; }

// `t` as a contiguous tensor of dtype `dt` (a copy only when needed); undefined stays
// undefined. Kernels call it: no history is recorded.
inline Tensor dense(const Tensor& t, DType dt) {
  if (!t.defined()) return t;
  NoGradGuard no_grad;
  return t.to(dt).contiguous();
}

void register_core();         // core.cpp: to (cast), clone, copy, fill
void register_shape();        // shape.cpp: views (reshape, permute, slice, expand, ...)
void register_elementwise();  // elementwise.cpp
void register_reduce();       // reduce.cpp
void register_linalg();       // linalg.cpp
void register_conv();         // conv.cpp: conv1d, conv2d, conv_transpose2d
void register_nn();           // nn.cpp: pooling, norms, dropout, embedding
void register_index();        // index.cpp: index_select, gather, scatter_add, masked_fill, cat, stack,
                              // split, chunk, pad, one_hot, topk, sort
void register_loss();         // loss.cpp
void register_optim();        // optim_ops.cpp: sgd_step, adam_step, rmsprop_step, adagrad_step
                              // (kernels in src/optim)
void register_fused();        // fused.cpp: linear_act, conv2d_act, fused_elementwise (graph fusion)
void register_onnx();         // onnx_ops.cpp: elementwise math ONNX needs (erf, floor, ...)
void register_quant();        // quant.cpp: quantize/dequantize, integer matmul and conv (int8)
void register_qlinear();      // qlinear.cpp: qlinear_conv2d, qlinear_linear (QDQ fusion's int8 layers)

// conv2d's kernel (conv.cpp), shared with conv2d_act: honours attr `prepacked`, and fuses
// `act` (may be null) into the convolution where oneDNN can; returns whether it did (if
// not, the caller applies the activation).
bool conv2d_kernel(const KernelArgs& k, const cpu::Activation* act);

void register_blocked_layout();  // blocked_layout.cpp: conv2d_blocked, max_pool2d_blocked, from_blocked
void register_interpolate();     // interpolate.cpp: interpolate (resampling) and its adjoint
void register_detection();       // detection.cpp: nms, roi_align and its adjoint
void register_grid_sample();     // grid_sample.cpp: grid_sample and its gradient, pixel_shuffle/unshuffle
void register_cumprod();         // cumprod.cpp: cumprod and its gradient
void register_scatter();         // scatter.cpp: scatter, scatter_reduce

// Shared with the blocked-layout ops (blocked_layout.cpp), which check and compute as their
// NCHW counterparts do:
// conv2d's geometry for input shape x [N, C, H, W], weight shape w and conv2d's attrs (conv.cpp).
cpu::ConvGeom conv2d_geometry(const Shape& x, const Shape& w, const Attrs& a);
// max_pool2d's geometry for input shape x and max_pool2d's attrs (nn_pool.cpp).
cpu::Pool2d max_pool2d_geometry(const Shape& x, const Attrs& a);
// The fused activation named by attrs act, act_p0, act_p1 (fused.cpp); Error for an unknown act.
cpu::Activation fused_activation(const Attrs& a);

inline void register_all() {
  register_core();
  register_shape();
  register_elementwise();
  register_reduce();
  register_linalg();
  register_conv();
  register_nn();
  register_index();
  register_loss();
  register_optim();
  register_fused();
  register_blocked_layout();
  register_interpolate();
  register_detection();
  register_grid_sample();
  register_cumprod();
  register_scatter();
  register_onnx();
  register_quant();
  register_qlinear();
}

}  // namespace tandem::defs
