// The operators, as free functions (PyTorch's names and argument order).
//
//   Tensor y = gelu(linear(x, w, b));          // x·wᵀ + b, then GELU
//   Tensor p = softmax(y, /*dim=*/-1);
//   Tensor loss = cross_entropy(y, labels);
//
// Every function here dispatches one OpDef (src/ops/defs/) or is a composition of
// others; each section names its definition file.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tandem/tensor.h"

namespace tandem {

// ---- elementwise (src/ops/defs/elementwise.cpp) -------------------------------
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha*b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor pow(const Tensor& base, double exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor gelu(const Tensor& x, const std::string& approximate = "none");  // "none" | "tanh"
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// A C++ number as a 0-dim "wrapped number" tensor (lowest promotion priority).
Tensor wrap_scalar(double v);
Tensor wrap_scalar(int64_t v);
Tensor wrap_scalar(bool v);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator&&(const Tensor& a, const Tensor& b);
Tensor operator||(const Tensor& a, const Tensor& b);
Tensor operator!(const Tensor& x);

// ---- reductions (src/ops/defs/reduce.cpp); empty dims = all dims ------------
Tensor sum(const Tensor& x, const IntArray& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const IntArray& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, const IntArray& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const IntArray& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const IntArray& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor min(const Tensor& x);
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);  // values, indices
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor var(const Tensor& x, const IntArray& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const IntArray& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const IntArray& dims, bool keepdim = false);
Tensor norm(const Tensor& x, double p = 2.0, const IntArray& dims = {}, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor cumsum(const Tensor& x, int64_t dim);

// ---- linear algebra (src/ops/defs/linalg.cpp) -----------------------------
Tensor matmul(const Tensor& a, const Tensor& b);  // numpy semantics, batch broadcasting
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());  // x·wᵀ + b
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor outer(const Tensor& a, const Tensor& b);

// ---- neural network ops (src/ops/defs/conv.cpp, nn.cpp, nn_pool.cpp, nn_norm.cpp) --
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              IntArray stride = {1, 1}, IntArray padding = {0, 0}, IntArray dilation = {1, 1},
              int64_t groups = 1);
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        IntArray stride = {1, 1}, IntArray padding = {0, 0},
                        IntArray output_padding = {0, 0}, int64_t groups = 1,
                        IntArray dilation = {1, 1});
Tensor max_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride = {},
                  IntArray padding = {0, 0}, IntArray dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride = {},
                  IntArray padding = {0, 0}, bool ceil_mode = false,
                  bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, IntArray output_size);
// torch.nn.functional.interpolate over [N, C, L], [N, C, H, W] or [N, C, D, H, W]: give size or
// scale_factor (one value for every spatial dim, or one per dim). Modes: nearest,
// nearest-exact, linear (3-D), bilinear (4-D), bicubic (4-D), trilinear (5-D), area.
// antialias (bilinear, bicubic): when downsampling, the filter widens by the input/output
// ratio so that every input pixel contributes (PIL's and PyTorch's antialias=True).
//   Tensor up = interpolate(x, {.scale_factor = {2.0}, .mode = "bilinear"});
struct InterpolateOptions {
  IntArray size = {};
  std::vector<double> scale_factor = {};
  std::string mode = "nearest";
  bool align_corners = false;
  bool recompute_scale_factor = false;
  bool antialias = false;
};
Tensor interpolate(const Tensor& x, const InterpolateOptions& options);
// Updates running_mean/running_var in place when training and they are defined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<int64_t> padding_idx = std::nullopt);

// ---- shape and indexing (src/ops/defs/shape.cpp, index.cpp) ------------------
// (views are also methods on Tensor: view, reshape, permute, transpose, slice, ...)
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const IntArray& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// The scatter family and advanced indexing (src/ops/defs/scatter.cpp), PyTorch 1.13's
// semantics; every index is bounds-checked (tandem::Error). Out of place.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, double value);
// reduce: "sum", "prod", "mean", "amax" or "amin".
Tensor scatter_reduce(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                      const std::string& reduce, bool include_self = true);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                 double alpha = 1.0);
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
Tensor index_fill(const Tensor& x, int64_t dim, const Tensor& index, double value);
Tensor take_along_dim(const Tensor& x, const Tensor& indices,
                      std::optional<int64_t> dim = std::nullopt);
// x[indices]: one entry per leading dim, an undefined Tensor for a full slice (x[i0, :, i2]
// is {i0, Tensor(), i2}); int64/int32 indices broadcast together, bool masks stand for
// their nonzero positions. index_put returns x with x[indices] = values (+= when accumulate).
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
// 1-D: x's elements where the (broadcast) mask is true; its length depends on the mask.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// x with the positions where mask is true filled, in order, from source's elements.
Tensor masked_scatter(const Tensor& x, const Tensor& mask, const Tensor& source);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const IntArray& split_sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// x.select(dim, i) for every i as contiguous copies (PyTorch returns views); one autograd node
// whose backward is one stack(), where per-slice views would each zero-fill a full-size grad.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);
// pads = (last_dim_left, last_dim_right, prev_dim_left, ...), as torch.nn.functional.pad.
Tensor pad(const Tensor& x, const IntArray& pads, const std::string& mode = "constant",
           double value = 0.0);
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                               bool sorted = true);  // values, indices
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);

// ---- losses (src/ops/defs/loss.cpp) -----------------------------------------
enum class Reduction { None, Mean, Sum };
// target: class indices (int64, shape [N] or [N, d1...]) or class probabilities (float, like input).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, Reduction reduction = Reduction::Mean,
                     double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, double beta = 1.0);
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(),
                                        Reduction reduction = Reduction::Mean);

}  // namespace tandem
