// Separable resampling along one dimension: the kernels behind interpolate (F.interpolate,
// nn::Upsample) and ONNX Resize.
//
// A 1-D resampling from `in` to `out` points is a sparse matrix given as taps: output o reads
// inputs idx[k] with weights w[k] for k in [off[o], off[o+1]). Nearest has one tap per
// output, linear two, cubic four, area (adaptive average) a window. An N-d interpolation is
// these 1-D resamplings applied one dimension after the other (the last dimension first, as
// PyTorch's bilinear/trilinear kernels combine their weights), and its gradient is the
// transposed taps applied in the reverse order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tandem::cpu {

struct Taps {
  int64_t in = 0, out = 0;
  std::vector<int64_t> off;  // out + 1 offsets into idx / w
  std::vector<int64_t> idx;  // input index of each tap, in [0, in)
  std::vector<double> w;     // weight of each tap
};

// How an output coordinate maps to an input coordinate, and how the value there is formed.
struct ResampleSpec {
  std::string mode = "nearest";        // nearest | linear | cubic | area
  std::string coord = "asymmetric";    // asymmetric | half_pixel | pytorch_half_pixel |
                                       // align_corners | half_pixel_symmetric
  std::string nearest_mode = "floor";  // floor | ceil | round_prefer_floor | round_prefer_ceil
  double cubic_a = -0.75;
  bool exclude_outside = false;  // cubic: taps outside the input get weight 0, the rest renormalized
  bool clamp_linear_low = true;  // linear: a source coordinate below 0 reads index 0 (PyTorch)
  bool pytorch_ratio = false;    // multiply by PyTorch's input/output ratio instead of dividing
                                 // by the scale (they round differently)
  bool coords_f32 = false;       // compute coordinates in float32, as PyTorch does for float32 data
  bool antialias = false;        // linear/cubic: a filter widened by in/out when downsampling, normalized
};

// The taps of one dimension. `scale` is the output/input scale factor used for the coordinate
// mapping (ONNX's scales, PyTorch's scale_factor); <= 0 means out / in.
Taps make_taps(const ResampleSpec& spec, int64_t in, int64_t out, double scale);

// y[a, o, b] = sum_k w[k] * x[a, idx[k], b] over a contiguous [outer, t.in, inner] x into a
// contiguous [outer, t.out, inner] y.
template <typename T>
void resample_dim(const Taps& t, int64_t outer, int64_t inner, const T* x, T* y);
// The transpose: gx[a, idx[k], b] = sum over taps reading it of w[k] * g[a, o, b];
// gx is [outer, t.in, inner] and is overwritten.
template <typename T>
void resample_dim_transposed(const Taps& t, int64_t outer, int64_t inner, const T* g, T* gx);

}  // namespace tandem::cpu
