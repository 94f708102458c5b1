// 2-D convolution kernels: forward, input gradient ("backward data", which is also
// conv_transpose2d's forward) and weight gradient.
//
// float32 runs through oneDNN's convolution primitives (cached per geometry); other
// float dtypes (float64 for gradcheck) through plain reference loops.
//
// All tensors are contiguous NCHW of one dtype; weights are [O, C/groups, kh, kw]
// (PyTorch's conv2d layout, which is also conv_transpose2d's [Cin, Cout/groups, ...]
// with the roles of input and output swapped).
#pragma once
#include <cstdint>

#include "fused.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

struct ConvGeom {
  int64_t N, C, H, W;     // input
  int64_t O, kh, kw;      // output channels, kernel
  // Output spatial size: normally (H + 2ph - dilated kh) / sh + 1, but may be smaller
  // (a cropped output, as conv_transpose2d with output_padding >= stride needs).
  int64_t Ho, Wo;
  int64_t sh, sw, ph, pw, dh, dw;  // stride, padding, dilation (1 = none)
  int64_t groups;
  DType dt = DType::Float32;  // of the oneDNN primitive; the entry points set it from their output
};

// What a forward convolution may add to the plain one.
struct ConvForwardOptions {
  // An activation applied to the output by the convolution primitive itself (a oneDNN
  // eltwise post-op), when oneDNN runs it and has the activation.
  const Activation* act = nullptr;
  // w is constant for the graph (graph::run_prepack_weights): oneDNN reads it reordered
  // once into its preferred layout (packed_weights.h) instead of on every call.
  bool prepacked = false;
  // y already holds a residual r (same layout as y): y = act(conv(x) + b + r), the sum by
  // oneDNN's sum post-op ahead of the activation. conv2d_forward_blocked only.
  bool accumulate = false;
};

// y[N, O, Ho, Wo] = conv(x[N, C, H, W], w) (+ b[O] when defined), then act(y) when
// options.act is set and the activation could be fused: returns whether it was applied
// (when false the caller applies it).
bool conv2d_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b,
                    const Tensor& y, const ConvForwardOptions& options = {});
// The forward convolution in oneDNN's channel-blocked layout (graph mode: made by
// graph::run_blocked_layout so that consecutive convolutions and poolings skip the
// reorders to and from NCHW). y is [N, ceil(O/16), Ho, Wo, 16] (nChw16c: channel o at
// [n, o/16, h, w, o%16], the last block padded with zeros); x is the same layout
// [N, ceil(C/16), H, W, 16] when x_blocked, else NCHW. float32 only; the geometry must pass conv2d_blocked_supported (Error otherwise).
// Returns whether options.act was applied, as conv2d_forward.
// Grouped convolutions run blocked when depthwise (groups = C = O) or when every group has
// a multiple of 16 input and output channels, and only from a blocked input.
bool conv2d_blocked_supported(const ConvGeom& g);
bool conv2d_blocked_groups_ok(const ConvGeom& g);
bool conv2d_forward_blocked(const ConvGeom& g, const Tensor& x, bool x_blocked, const Tensor& w, const Tensor& b,
                            const Tensor& y, const ConvForwardOptions& options = {});
// gx[N, C, H, W] = the input gradient of the convolution for output gradient gy[N, O, Ho, Wo].
void conv2d_backward_data(const ConvGeom& g, const Tensor& gy, const Tensor& w, const Tensor& gx);
// gw[O, C/groups, kh, kw] (and gb[O] = Σ gy over N, Ho, Wo when gb is defined).
void conv2d_backward_weights(const ConvGeom& g, const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const Tensor& gb);

}  // namespace tandem::cpu
