// Kernels on oneDNN's channel-blocked activation layout, for graph mode (made by
// graph::run_blocked_layout; see also conv2d_forward_blocked in conv.h).
//
// A blocked activation of logical shape [N, C, H, W] is a contiguous float32 tensor
// [N, ceil(C/16), H, W, 16]: channel c of pixel (h, w) is at [n, c/16, h, w, c%16]
// (oneDNN's nChw16c; when C is not a multiple of 16 the last block is padded, as oneDNN pads
// such dimensions: its primitives write zeros there and read it only against zero weights). Convolutions with oneDNN's direct kernels read and write this layout
// natively, so a chain conv -> pool -> conv kept in it skips the NCHW reorders eager mode
// does around every convolution.
//
//   // x5 [N, C/16, H, W, 16] from conv2d_forward_blocked
//   cpu::max_pool2d_blocked(p, N, C, x5, y5);     // y5 [N, C/16, OH, OW, 16]
//   cpu::from_blocked(y5, y);                     // y [N, C, OH, OW], contiguous NCHW
#pragma once
#include <cstdint>
#include <vector>

#include "nn_kernels.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

// max_pool2d (forward, no indices) of blocked x [N, C/16, p.H, p.W, 16] into blocked
// y [N, C/16, p.OH, p.OW, 16], by oneDNN's pooling primitive. p is max_pool2d's geometry
// of the logical NCHW input (p.planes unused). Padded positions never win. NOTE: NaN
// inputs follow oneDNN's max, not PyTorch's NaN propagation.
void max_pool2d_blocked(const Pool2d& p, int64_t N, int64_t C, const Tensor& x, const Tensor& y);

// blocked y [N, ceil(C/16), H, W, 16] = x [N, C, H, W] (contiguous NCHW; a oneDNN reorder,
// the padding zeroed).
void to_blocked(const Tensor& x, const Tensor& y);

// y [N, C, H, W] (contiguous NCHW) = blocked x [N, ceil(C/16), H, W, 16] (a oneDNN reorder).
void from_blocked(const Tensor& x, const Tensor& y);

// Channel gather on blocked activations: y's channel o is channel index[o] of the inputs' channel
// concatenation (xs[i] blocked [N, ceil(channels[i]/16), H, W, 16] holding channels[i]); y is
// blocked [N, ceil(index.size()/16), H, W, 16], its padding zeroed. One pass for a channel
// concatenation, a slice of channels, a channel shuffle or any mix of them (no NCHW round trip).
// A run of 16 output channels that is a whole input block is one block copy.
void gather_channels_blocked(const std::vector<Tensor>& xs, const std::vector<int64_t>& channels,
                             const std::vector<int64_t>& index, const Tensor& y);

}  // namespace tandem::cpu
