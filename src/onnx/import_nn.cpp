// ONNX neural-network ops: MatMul Gemm Conv ConvTranspose MaxPool AveragePool Global*Pool
// BatchNormalization LayerNormalization InstanceNormalization Softmax LogSoftmax. 1-D convolutions/pools run as 2-D over [N, C, 1, L]; asymmetric or SAME_* padding
// is applied with an explicit pad first.
#include <algorithm>
#include <limits>

#include "importer.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

Ts matmul_(Ctx& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (!is_floating(a.dtype())) {  // integer matmul: exact in float64 for small values
    return {matmul(a.to(DType::Float64), b.to(DType::Float64)).to(a.dtype())};
  }
  return {matmul(a, b)};
}

Ts gemm_(Ctx& c) {
  Tensor a = c.in(0), b = c.in(1);
  double alpha0 = c.f("alpha", 1.0), beta0 = c.f("beta", 1.0);
  // The fully-connected layer as exporters write it (x @ wᵀ + bias, bias [N] or [1, N]) is
  // tandem's linear: the graph passes fuse and prepack it, and few rows take its fast path.
  if (!c.i("transA", 0) && c.i("transB", 0) && alpha0 == 1.0 && a.dim() == 2 && b.dim() == 2) {
    Tensor bias;
    bool plain_bias = !c.has_input(2) || beta0 == 0.0;
    if (!plain_bias && beta0 == 1.0) {
      Tensor cc = c.in(2);
      if (cc.numel() == b.size(0) && (cc.dim() == 1 || (cc.dim() == 2 && cc.size(0) == 1))) {
        bias = cc.reshape({b.size(0)});
        plain_bias = true;
      }
    }
    if (plain_bias && (!bias.defined() || bias.dtype() == a.dtype()) && b.dtype() == a.dtype())
      return {linear(a, b, bias)};
  }
  if (c.i("transA", 0)) a = a.t();
  if (c.i("transB", 0)) b = b.t();
  double alpha = c.f("alpha", 1.0), beta = c.f("beta", 1.0);
  Tensor y = matmul(a, b);
  if (alpha != 1.0) y = y * alpha;
  if (c.has_input(2) && beta != 0.0) y = add(y, beta == 1.0 ? c.in(2) : c.in(2) * beta);
  return {y};
}

struct Spatial {
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};

// Resolves auto_pad / pads for `nd` spatial dims of x (dims 2..).
Spatial spatial(const Ctx& c, const Tensor& x, const std::vector<int64_t>& kernel, bool transposed = false) {
  size_t nd = kernel.size();
  Spatial s;
  s.kernel = kernel;
  s.strides = c.ints("strides", std::vector<int64_t>(nd, 1));
  s.dilations = c.ints("dilations", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = c.ints("pads", std::vector<int64_t>(2 * nd, 0));
  if (s.strides.size() != nd || s.dilations.size() != nd || pads.size() != 2 * nd)
    c.fail("strides/dilations/pads do not match the kernel's rank");
  s.pad_begin.assign(pads.begin(), pads.begin() + nd);
  s.pad_end.assign(pads.begin() + nd, pads.end());
  std::string ap = c.s("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    if (transposed) c.unsupported("auto_pad SAME_* on ConvTranspose");
    for (size_t i = 0; i < nd; ++i) {
      int64_t in = x.size(2 + i), out = (in + s.strides[i] - 1) / s.strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * s.strides[i] + (kernel[i] - 1) * s.dilations[i] + 1 - in);
      int64_t small = total / 2, big = total - small;
      s.pad_begin[i] = ap == "SAME_UPPER" ? small : big;
      s.pad_end[i] = ap == "SAME_UPPER" ? big : small;
    }
  } else if (ap == "VALID") {
    std::fill(s.pad_begin.begin(), s.pad_begin.end(), 0);
    std::fill(s.pad_end.begin(), s.pad_end.end(), 0);
  } else if (ap != "NOTSET") {
    c.unsupported(fmt::format("auto_pad '{}'", ap));
  }
  return s;
}

// Explicit constant padding of the spatial dims (tandem order: last dim first).
Tensor pad_spatial(const Tensor& x, const std::vector<int64_t>& b, const std::vector<int64_t>& e, double value) {
  std::vector<int64_t> p;
  for (size_t i = b.size(); i-- > 0;) {
    p.push_back(b[i]);
    p.push_back(e[i]);
  }
  return pad(x, p, "constant", value);
}

bool symmetric(const Spatial& s) { return s.pad_begin == s.pad_end; }

// ---- 3-D convolution and pooling as sums/maxima of 2-D ones over the depth taps.
// x: [N, C, D, H, W] with the depth padding already applied explicitly.
Tensor depth_slice(const Tensor& x, int64_t d) { return x.select(2, d); }

Tensor conv3d_via_2d(const Ctx& c, Tensor x, const Tensor& w, const Tensor& bias, const Spatial& s, int64_t groups) {
  std::vector<int64_t> pb = {s.pad_begin[1], s.pad_begin[2]}, pe = {s.pad_end[1], s.pad_end[2]};
  x = pad_spatial(x, {s.pad_begin[0], s.pad_begin[1], s.pad_begin[2]}, {s.pad_end[0], s.pad_end[1], s.pad_end[2]}, 0.0);
  int64_t kD = w.size(2), Dp = x.size(2), sd = s.strides[0], dd = s.dilations[0];
  int64_t Do = (Dp - dd * (kD - 1) - 1) / sd + 1;
  if (Do <= 0) c.fail("the output depth would be empty");
  std::vector<Tensor> outs;
  for (int64_t od = 0; od < Do; ++od) {
    Tensor acc;
    for (int64_t kd = 0; kd < kD; ++kd) {
      Tensor y = conv2d(depth_slice(x, od * sd + kd * dd), w.select(2, kd), Tensor(), {s.strides[1], s.strides[2]},
                        {0, 0}, {s.dilations[1], s.dilations[2]}, groups);
      acc = acc.defined() ? acc + y : y;
    }
    outs.push_back(acc);
  }
  Tensor y = stack(outs, 2);
  if (bias.defined()) y = y + bias.reshape({1, -1, 1, 1, 1});
  return y;
}

// Sum (is_max false) or max of each 3-D window; H/W/D padding applied explicitly with `fill`.
Tensor pool3d(const Ctx& c, Tensor x, const Spatial& s, bool is_max, double fill) {
  if (c.i("ceil_mode", 0) != 0) c.unsupported("3-D pooling with ceil_mode");
  x = pad_spatial(x, s.pad_begin, s.pad_end, fill);
  int64_t kD = s.kernel[0], Dp = x.size(2), sd = s.strides[0], dd = s.dilations[0];
  int64_t Do = (Dp - dd * (kD - 1) - 1) / sd + 1;
  std::vector<int64_t> k2 = {s.kernel[1], s.kernel[2]}, st2 = {s.strides[1], s.strides[2]}, dl2 = {s.dilations[1], s.dilations[2]};
  std::vector<Tensor> outs;
  for (int64_t od = 0; od < Do; ++od) {
    Tensor acc;
    for (int64_t kd = 0; kd < kD; ++kd) {
      Tensor sl = depth_slice(x, od * sd + kd * dd);
      Tensor y = is_max ? max_pool2d(sl, k2, st2, {0, 0}, dl2, false)
                        : avg_pool2d(sl, k2, st2, {0, 0}, false, true) * static_cast<double>(k2[0] * k2[1]);
      acc = !acc.defined() ? y : is_max ? maximum(acc, y) : acc + y;
    }
    outs.push_back(acc);
  }
  return stack(outs, 2);
}

Ts conv_(Ctx& c) {
  Tensor x = c.in(0), w = c.in(1);
  Tensor bias = c.has_input(2) ? c.in(2) : Tensor();
  int64_t nd = x.dim() - 2;
  if (nd < 1 || nd > 3) c.unsupported(fmt::format("Conv with {} spatial dims", nd));
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  Spatial s = spatial(c, x, kernel);
  int64_t groups = c.i("group", 1);
  if (nd == 3) return {conv3d_via_2d(c, x, w, bias, s, groups)};
  if (nd == 1) {  // as 2-D over [N, C, 1, L]
    x = x.unsqueeze(2);
    w = w.unsqueeze(2);
    s.strides.insert(s.strides.begin(), 1);
    s.dilations.insert(s.dilations.begin(), 1);
    s.pad_begin.insert(s.pad_begin.begin(), 0);
    s.pad_end.insert(s.pad_end.begin(), 0);
  }
  std::vector<int64_t> padding = s.pad_begin;
  if (!symmetric(s)) {
    x = pad_spatial(x, s.pad_begin, s.pad_end, 0.0);
    padding.assign(2, 0);
  }
  Tensor y = conv2d(x, w, bias, s.strides, padding, s.dilations, groups);
  return {nd == 1 ? y.squeeze(2) : y};
}

Ts conv_transpose_(Ctx& c) {
  Tensor x = c.in(0), w = c.in(1);
  Tensor bias = c.has_input(2) ? c.in(2) : Tensor();
  int64_t nd = x.dim() - 2;
  if (nd != 1 && nd != 2) c.unsupported(fmt::format("ConvTranspose with {} spatial dims", nd));
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  Spatial s = spatial(c, x, kernel, true);
  std::vector<int64_t> outpad = c.ints("output_padding", std::vector<int64_t>(nd, 0));
  int64_t groups = c.i("group", 1);
  if (c.has_attr("output_shape")) {
    std::vector<int64_t> os = c.ints("output_shape");
    if (static_cast<int64_t>(os.size()) == nd + 2) os.erase(os.begin(), os.begin() + 2);
    for (int64_t i = 0; i < nd; ++i) {
      int64_t in = x.size(2 + i);
      int64_t full = s.strides[i] * (in - 1) + outpad[i] + (kernel[i] - 1) * s.dilations[i] + 1;
      int64_t total = full - os[i];
      std::string ap = c.s("auto_pad", "NOTSET");
      s.pad_begin[i] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      s.pad_end[i] = total - s.pad_begin[i];
      if (total < 0) {
        outpad[i] += -total;
        s.pad_begin[i] = s.pad_end[i] = 0;
      }
    }
  }
  if (nd == 1) {
    x = x.unsqueeze(2);
    w = w.unsqueeze(2);
    s.strides.insert(s.strides.begin(), 1);
    s.dilations.insert(s.dilations.begin(), 1);
    s.pad_begin.insert(s.pad_begin.begin(), 0);
    s.pad_end.insert(s.pad_end.begin(), 0);
    outpad.insert(outpad.begin(), 0);
  }
  // Asymmetric pads: run with pad_begin on both sides, then drop the extra at the end.
  std::vector<int64_t> extra(2, 0);
  for (int i = 0; i < 2; ++i) {
    if (s.pad_end[i] < s.pad_begin[i]) {  // crop less at the end: grow output padding
      outpad[i] += s.pad_begin[i] - s.pad_end[i];
    } else {
      extra[i] = s.pad_end[i] - s.pad_begin[i];
    }
  }
  Tensor y = conv_transpose2d(x, w, bias, s.strides, s.pad_begin, outpad, groups, s.dilations);
  for (int i = 0; i < 2; ++i)
    if (extra[i] > 0) y = y.slice(2 + i, 0, y.size(2 + i) - extra[i]);
  y = y.contiguous();
  return {nd == 1 ? y.squeeze(2) : y};
}

Ts pool(Ctx& c, bool is_max) {
  Tensor x = c.in(0);
  if (!is_floating(x.dtype())) {  // integer pools: exact in float64, back to the input's dtype
    Ctx fc{c.node, c.inputs, c.opset, c.num_outputs, c.base_dir};
    fc.inputs[0] = x.to(DType::Float64);
    Ts out = pool(fc, is_max);
    out[0] = out[0].to(x.dtype());
    return out;
  }
  int64_t nd = x.dim() - 2;
  if (nd < 1 || nd > 3) c.unsupported(fmt::format("{} with {} spatial dims", c.node.op_type(), nd));
  if (is_max && c.num_outputs > 1) c.unsupported("MaxPool's Indices output");
  if (is_max && c.i("storage_order", 0) != 0) c.unsupported("MaxPool storage_order=1");
  Spatial s = spatial(c, x, c.ints("kernel_shape"));
  if (static_cast<int64_t>(s.kernel.size()) != nd) c.fail("kernel_shape must have one entry per spatial dim");
  bool ceil = c.i("ceil_mode", 0) != 0;
  bool count_pad = c.i("count_include_pad", 0) != 0;
  if (nd == 3) {
    if (is_max) return {pool3d(c, x, s, true, -std::numeric_limits<double>::infinity())};
    Tensor total = pool3d(c, x, s, false, 0.0);
    if (count_pad) return {total / static_cast<double>(s.kernel[0] * s.kernel[1] * s.kernel[2])};
    Tensor mask = ones({1, 1, x.size(2), x.size(3), x.size(4)}, {.dtype = x.dtype()});
    return {total / pool3d(c, mask, s, false, 0.0)};
  }
  if (nd == 1) {
    x = x.unsqueeze(2);
    s.kernel.insert(s.kernel.begin(), 1);
    s.strides.insert(s.strides.begin(), 1);
    s.dilations.insert(s.dilations.begin(), 1);
    s.pad_begin.insert(s.pad_begin.begin(), 0);
    s.pad_end.insert(s.pad_end.begin(), 0);
  }
  std::vector<int64_t> padding = s.pad_begin;
  bool explicit_pad = !symmetric(s);
  for (int i = 0; i < 2; ++i) explicit_pad = explicit_pad || s.pad_begin[i] > s.kernel[i] / 2;
  Tensor y;
  if (is_max) {
    if (explicit_pad) {
      x = pad_spatial(x, s.pad_begin, s.pad_end, -std::numeric_limits<double>::infinity());
      padding.assign(2, 0);
    }
    y = max_pool2d(x, s.kernel, s.strides, padding, s.dilations, ceil);
  } else {
    if (s.dilations != std::vector<int64_t>{1, 1}) c.unsupported("AveragePool with dilations");
    if (explicit_pad) {
      if (!count_pad) {
        // average over the valid elements only: pool the data and a mask of ones alike
        Tensor ones_m = ones({1, 1, x.size(2), x.size(3)}, {.dtype = x.dtype()});
        Tensor xs = pad_spatial(x, s.pad_begin, s.pad_end, 0.0);
        Tensor ms = pad_spatial(ones_m, s.pad_begin, s.pad_end, 0.0);
        Tensor num = avg_pool2d(xs, s.kernel, s.strides, {0, 0}, ceil, true);
        Tensor den = avg_pool2d(ms, s.kernel, s.strides, {0, 0}, ceil, true);
        y = num / den;
        return {nd == 1 ? y.squeeze(2) : y};
      }
      x = pad_spatial(x, s.pad_begin, s.pad_end, 0.0);
      padding.assign(2, 0);
    }
    y = avg_pool2d(x, s.kernel, s.strides, padding, ceil, count_pad);
  }
  return {nd == 1 ? y.squeeze(2) : y};
}
Ts max_pool_(Ctx& c) { return pool(c, true); }
Ts avg_pool_(Ctx& c) { return pool(c, false); }

std::vector<int64_t> spatial_dims(const Tensor& x) {
  std::vector<int64_t> d;
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}
Ts global_avg_(Ctx& c) { return {mean(c.in(0), spatial_dims(c.in(0)), true)}; }
Ts global_max_(Ctx& c) { return {amax(c.in(0), spatial_dims(c.in(0)), true)}; }

Ts batch_norm_(Ctx& c) {
  const Tensor& x = c.in(0);
  double eps = c.f("epsilon", 1e-5);
  if (c.i("training_mode", 0) != 0) {
    // Batch statistics (biased variance) normalise; running stats are updated with momentum.
    double momentum = c.f("momentum", 0.9);
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    Shape bs(x.dim(), 1);
    bs[1] = x.size(1);
    Tensor mu = mean(x, dims, false), var_ = mean((x - mu.reshape(bs)) * (x - mu.reshape(bs)), dims, false);
    Tensor y = (x - mu.reshape(bs)) * rsqrt(var_.reshape(bs) + eps) * c.in(1).reshape(bs) + c.in(2).reshape(bs);
    Ts out{y};
    if (c.num_outputs > 1) out.push_back(c.in(3) * momentum + mu * (1 - momentum));
    if (c.num_outputs > 2) out.push_back(c.in(4) * momentum + var_ * (1 - momentum));
    return out;
  }
  if (c.num_outputs > 1) c.unsupported("BatchNormalization's extra outputs outside training mode");
  // Images (NCHW) with [C] parameters of x's dtype: tandem's batch_norm op, which the graph
  // passes fold into the preceding convolution (the statistics are constants here).
  bool params_ok = x.dim() == 4 && (x.dtype() == DType::Float32 || x.dtype() == DType::Float64);
  for (int i = 1; i <= 4 && params_ok; ++i)
    params_ok = c.in(i).dim() == 1 && c.in(i).size(0) == x.size(1) && c.in(i).dtype() == x.dtype();
  if (params_ok) return {batch_norm(x, c.in(3), c.in(4), c.in(1), c.in(2), false, 0.1, eps)};
  // Written out (not batch_norm) so any rank >= 2 works: y = (x - mean) / sqrt(var + eps) * s + b
  Shape bshape(x.dim(), 1);
  bshape[1] = x.size(1);
  Tensor scale = c.in(1).reshape(bshape), b = c.in(2).reshape(bshape);
  Tensor m = c.in(3).reshape(bshape), v = c.in(4).reshape(bshape);
  Tensor k = scale * rsqrt(v + eps);
  return {add(mul(x, k), b - m * k)};
}

Ts instance_norm_(Ctx& c) {
  const Tensor& x = c.in(0);
  return {group_norm(x, x.size(1), c.in(1), c.in(2), c.f("epsilon", 1e-5))};
}

Ts layer_norm_(Ctx& c) {
  const Tensor& x = c.in(0);
  int64_t axis = norm_axis(c.i("axis", -1), x.dim(), c);
  double eps = c.f("epsilon", 1e-5);
  std::vector<int64_t> dims;
  for (int64_t d = axis; d < x.dim(); ++d) dims.push_back(d);
  Tensor mu = mean(x, dims, true);
  Tensor xc = x - mu;
  Tensor var_ = mean(xc * xc, dims, true);
  Tensor inv = rsqrt(var_ + eps);
  Tensor y = xc * inv * c.in(1);
  if (c.has_input(2)) y = y + c.in(2);
  Ts out{y};
  if (c.num_outputs > 1) out.push_back(mu);
  if (c.num_outputs > 2) out.push_back(inv);
  return out;
}

// Softmax family: opset < 13 coerces to 2-D at `axis` (default 1); 13+ is along `axis` (default -1).
template <int Kind>  // 0 softmax, 1 log_softmax
Ts softmax_family(Ctx& c) {
  const Tensor& x = c.in(0);
  if (c.opset >= 13) {
    int64_t axis = norm_axis(c.i("axis", -1), x.dim(), c);
    if (Kind == 0) return {softmax(x, axis)};
    return {log_softmax(x, axis)};
  }
  int64_t axis = norm_axis(c.i("axis", 1), x.dim(), c);
  int64_t a = 1, b = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < axis ? a : b) *= x.size(d);
  Tensor x2 = reshape(x, {a, b});
  Tensor y = Kind == 0 ? softmax(x2, 1) : log_softmax(x2, 1);
  return {reshape(y, x.shape())};
}

}  // namespace

void register_nn(std::map<std::string, Converter>& t) {
  t["MatMul"] = matmul_;
  t["Gemm"] = gemm_;
  t["Conv"] = conv_;
  t["ConvTranspose"] = conv_transpose_;
  t["MaxPool"] = max_pool_;
  t["AveragePool"] = avg_pool_;
  t["GlobalAveragePool"] = global_avg_;
  t["GlobalMaxPool"] = global_max_;
  t["BatchNormalization"] = batch_norm_;
  t["InstanceNormalization"] = instance_norm_;
  t["LayerNormalization"] = layer_norm_;
  t["Softmax"] = softmax_family<0>;
  t["LogSoftmax"] = softmax_family<1>;
}

}  // namespace tandem::onnx::detail
