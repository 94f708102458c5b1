// bfloat16 tensors on the CPU without a float32 round trip: conversions, relu and its gradient,
// 2x2 max pooling and its gradient (the ops autocast keeps in bfloat16 between convolutions).
// Each returns false when its fast case does not apply (other dtypes, strides, geometry), and
// the caller takes its general path. Kernels from bf16_table.h at the ISA level in use.
//
//   if (!cpu::bf16_relu(x, y)) ...   // y = relu(x), both bfloat16
#pragma once
#include "nn_kernels.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

// dst = src converted (float32 <-> bfloat16), both contiguous with the same shape.
bool bf16_convert(const Tensor& dst, const Tensor& src);
// y = relu(x): x, y bfloat16 with the same number of elements, x contiguous.
bool bf16_relu(const Tensor& x, const Tensor& y);
// gx = y <= 0 ? 0 : g: all bfloat16, the same shape, g and y contiguous.
bool bf16_relu_backward(const Tensor& g, const Tensor& y, const Tensor& gx);
// max_pool2d of a contiguous bfloat16 x into y, when p is 2x2 with stride 2, no padding or dilation.
bool bf16_max_pool2d(const Pool2d& p, const Tensor& x, const Tensor& y);
// Its gradient: g (bfloat16, contiguous) scattered into gx at the argmax of each window of x.
bool bf16_max_pool2d_backward(const Pool2d& p, const Tensor& g, const Tensor& x, const Tensor& gx);

}  // namespace tandem::cpu
