// int8 quantization kernels over plain contiguous arrays: no Tensor, no autograd, no oneDNN,
// so that an inference-only runtime can compile kernels.cpp on its own. These are the
// reference (portable) path; the ops in src/ops/defs/quant.cpp call them, and faster paths
// are checked against them.
//
// Semantics are ONNX's (QuantizeLinear, DequantizeLinear, MatMulInteger, ConvInteger,
// QLinearConv, QLinearMatMul):
//   quantize:   q = saturate(round_half_even(x / scale) + zero_point)
//   dequantize: x = (q - zero_point) * scale
//   integer matmul / conv: int32 sums of (a - a_zero_point) * (b - b_zero_point)
//   requantize: q = saturate(round_half_even(acc * multiplier) + zero_point)
//
//   // per-channel int8 weights [O, K]: 
//   quant::quantize_linear<int8_t>(w, 1, O, K, scales, zps, wq);
//
// "Per-axis" tensors are viewed as [outer, channels, inner] with `channels` scales and zero
// points (channels = 1 is per-tensor).
#pragma once
#include <cstdint>

namespace tandem::quant {

// x / scale rounded half to even, plus zp, saturated to Q's range (NaN gives zp).
template <typename Q>
void quantize_linear(const float* x, int64_t outer, int64_t channels, int64_t inner, const float* scale,
                     const int32_t* zero_point, Q* y);

// Q: uint8_t, int8_t or int32_t.
template <typename Q>
void dequantize_linear(const Q* x, int64_t outer, int64_t channels, int64_t inner, const float* scale,
                       const int32_t* zero_point, float* y);

// acc * multiplier[c] (+ offset[c]) rounded half to even, plus zp, saturated to Q (uint8_t or
// int8_t); with relu, never below zp (the quantized max(v, 0)). The product is taken in float,
// as ONNX's reference and ONNX Runtime take it. offset may be null.
template <typename Q>
void requantize(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner, const float* multiplier,
                const float* offset, int32_t zero_point, bool relu, Q* y);

// C[m, n] = sum_k (A[m, k] - za[m]) * (B[k, n] - zb[n]) in int32, A [M, K] and B [K, N]
// row-major; za has M entries, zb has N. TA, TB: uint8_t or int8_t.
template <typename TA, typename TB>
void matmul_integer(int64_t M, int64_t N, int64_t K, const TA* A, const int32_t* za, const TB* B,
                    const int32_t* zb, int32_t* C);

// C[m, n] = sum_k (A[m, k] - za) * (W[n, k] - zw[n]): a fully-connected layer, W [N, K] as
// PyTorch stores it.
template <typename TA, typename TW>
void linear_integer(int64_t M, int64_t N, int64_t K, const TA* A, int32_t za, const TW* W, const int32_t* zw,
                    int32_t* C);

// A 2-D convolution's geometry, NCHW input, OIHW weight (I = C / groups); pads may differ
// on each side.
struct ConvShape {
  int64_t N, C, H, W;
  int64_t O, kh, kw;
  int64_t Ho, Wo;
  int64_t sh, sw;
  int64_t pad_top, pad_left;  // the bottom/right pads only shape Ho, Wo
  int64_t dh, dw;
  int64_t groups;
};

// y[N, O, Ho, Wo] = sum over the window of (x - x_zp) * (w - w_zp[o]) in int32; padding
// contributes nothing (ONNX pads ConvInteger's input with its zero point).
template <typename TX, typename TW>
void conv_integer(const ConvShape& s, const TX* x, int32_t x_zp, const TW* w, const int32_t* w_zp, int32_t* y);

}  // namespace tandem::quant
