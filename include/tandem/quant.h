// int8 quantization ops with ONNX's semantics (QuantizeLinear, DequantizeLinear,
// MatMulInteger, ConvInteger and the requantization of QLinearConv / QLinearMatMul):
//
//   Tensor x = randn({2, 3});
//   Tensor q = quantize_linear(x, full({}, 0.02), zeros({}, {.dtype = kUInt8}));  // uint8
//   Tensor y = dequantize_linear(q, full({}, 0.02), zeros({}, {.dtype = kUInt8})); // x within 0.01
//
// Rounding is half to even, results saturate to the type's range. A scale (and its zero
// point) is one value, or a 1-D tensor with one value per index of dim `axis` (per axis).
// The zero point's dtype (uint8 or int8) is the quantized dtype; without one, uint8 and 0.
// No gradients: these serve inference. Kernels: src/quant/kernels.h.
#pragma once
#include "tandem/tensor.h"

namespace tandem {

Tensor quantize_linear(const Tensor& x, const Tensor& scale, const Tensor& zero_point = Tensor(), int64_t axis = 1);
// x: uint8, int8 or int32 -> float32.
Tensor dequantize_linear(const Tensor& x, const Tensor& scale, const Tensor& zero_point = Tensor(), int64_t axis = 1);
// int32 (a - a_zp) @ (b - b_zp); a_zp one value or one per row of a, b_zp one or one per column.
Tensor matmul_integer(const Tensor& a, const Tensor& b, const Tensor& a_zero_point = Tensor(),
                      const Tensor& b_zero_point = Tensor());
// 2-D int32 convolution of (x - x_zp) and (w - w_zp[o]); padding {top, left, bottom, right}.
Tensor conv_integer(const Tensor& x, const Tensor& w, const Tensor& x_zero_point = Tensor(),
                    const Tensor& w_zero_point = Tensor(), std::vector<int64_t> stride = {1, 1},
                    std::vector<int64_t> padding = {0, 0, 0, 0}, std::vector<int64_t> dilation = {1, 1},
                    int64_t groups = 1);
// int32 accumulator -> dtype (uint8/int8): saturate(round(acc * multiplier) + zero_point);
// multiplier one value or one per index of dim `axis`; zero_point one value of `dtype` or none.
Tensor requantize(const Tensor& acc, const Tensor& multiplier, const Tensor& zero_point, DType dtype,
                  int64_t axis = 1);

}  // namespace tandem
