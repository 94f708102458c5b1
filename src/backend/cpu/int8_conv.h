// int8 convolution on oneDNN (VNNI / AVX-512 / AVX2 int8 kernels, picked by oneDNN at run
// time): int32 sums of (x - x_zp) * w for uint8/int8 x [N, C, H, W] and int8 w
// [O, C/groups, kh, kw] whose zero point is 0 (symmetric weights, what per-channel
// quantizers write). The portable path is quant::conv_integer (src/quant/kernels.h); this
// one must equal it exactly (tests/quant).
#pragma once
#include <vector>

#include "quant/kernels.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

// acc [N, O, Ho, Wo] int32 (contiguous) = conv; x and w contiguous. Returns false, leaving
// acc untouched, when oneDNN has no int8 kernel for it (uint8 weights, an unsupported
// geometry): the caller then runs the portable kernel. w is reordered once into oneDNN's
// layout and kept while its storage lives and is unchanged (packed_weights.h).
bool conv_int8_onednn(const quant::ConvShape& s, const Tensor& x, int32_t x_zp, const Tensor& w, const Tensor& acc);

// The whole int8 layer in one primitive: y (uint8/int8 [N, O, Ho, Wo], contiguous) =
// saturate(round(act(multiplier[o] * (conv + bias[o]))) + y_zp), act relu or none, with
// bias in accumulator units (bias_float[o] / (x_scale * w_scale[o])). Same conditions and
// fallback as conv_int8_onednn.
bool conv_int8_onednn_requant(const quant::ConvShape& s, const Tensor& x, int32_t x_zp, const Tensor& w,
                              const std::vector<float>& multiplier, const std::vector<float>& bias, int32_t y_zp,
                              bool relu, const Tensor& y);

}  // namespace tandem::cpu
