// Sampling and rearranging ops: grid_sample, affine_grid, pixel_shuffle, pixel_unshuffle, and
// cumprod (torch.nn.functional's and torch's names and semantics). A spatial transformer:
//
//   Tensor theta = tensor<float>({1, 0, 0.2f, 0, 1, 0}, Shape{1, 2, 3});  // shift right
//   Tensor grid = affine_grid(theta, img.shape());                        // [1, H, W, 2]
//   Tensor moved = grid_sample(img, grid, "bilinear", "border");          // like img
//
// All are differentiable (grid_sample in input and grid, affine_grid in theta), once.
#pragma once
#include <string>

#include "tandem/tensor.h"

namespace tandem {

// Samples input [N, C, H, W] at grid [N, Ho, Wo, 2] (x along W, then y along H, in [-1, 1])
// -> [N, C, Ho, Wo]; or input [N, C, D, H, W] at grid [N, Do, Ho, Wo, 3] -> [N, C, Do, Ho, Wo]
// (bilinear and nearest). mode: bilinear, nearest, bicubic; padding_mode: zeros, border,
// reflection; align_corners: -1 and 1 are the corner pixels' centres (else the image edges).
Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode = "bilinear",
                   const std::string& padding_mode = "zeros", bool align_corners = false);
// theta [N, 2, 3] and size [N, C, H, W] -> grid [N, H, W, 2]; or theta [N, 3, 4] and size
// [N, C, D, H, W] -> [N, D, H, W, 3]: the base grid of `size` mapped by theta.
Tensor affine_grid(const Tensor& theta, const IntArray& size, bool align_corners = false);
// [*, C*r*r, H, W] -> [*, C, H*r, W*r] (ONNX DepthToSpace in CRD mode) and its inverse
// (ONNX SpaceToDepth).
Tensor pixel_shuffle(const Tensor& x, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& x, int64_t downscale_factor);
// Running product along dim (integers and bool multiply to int64); its gradient is exact
// where x has zeros.
Tensor cumprod(const Tensor& x, int64_t dim);

}  // namespace tandem
