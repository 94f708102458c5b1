// int8 convolution on oneDNN (VNNI / AVX-512 / AVX2 int8 kernels, picked by oneDNN at run
// time): int32 sums of (x - x_zp) * w for uint8/int8 x [N, C, H, W] and int8 w
// [O, C/groups, kh, kw] whose zero point is 0 (symmetric weights, what per-channel
// quantizers write). The portable path is quant::conv_integer (src/quant/kernels.h); this
// one must equal it exactly (tests/quant).
#pragma once
#include "quant/kernels.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

// acc [N, O, Ho, Wo] int32 (contiguous) = conv; x and w contiguous. Returns false, leaving
// acc untouched, when oneDNN has no int8 kernel for it (uint8 weights, an unsupported
// geometry): the caller then runs the portable kernel. w is reordered once into oneDNN's
// layout and kept while its storage lives and is unchanged (packed_weights.h).
bool conv_int8_onednn(const quant::ConvShape& s, const Tensor& x, int32_t x_zp, const Tensor& w, const Tensor& acc);

}  // namespace tandem::cpu
