// Resampling: interpolate (F.interpolate / nn::Upsample, ONNX Resize) and its adjoint.
//
// interpolate(x) with attrs sizes (the output shape, every dim) and scales (per dim, 0 = not
// given) resamples each dim whose size or scale changes, one dim at a time, last dim first
// (src/backend/cpu/resample.h). The op is linear in x, so
//   interpolate(x)              -> grad: interpolate_backward(g)   (the transposed taps)
//   interpolate_backward(g)     -> grad: interpolate(gg)
// and gradients of any order work.
#include <algorithm>
#include <cmath>

#include "../../backend/cpu/resample.h"
#include "defs.h"
#include "nn_util.h"

namespace tandem {
namespace {

using namespace nn_detail;

cpu::ResampleSpec spec_of(const Attrs& a) {
  cpu::ResampleSpec s;
  s.mode = a.get_or<std::string>("mode", "nearest");
  s.coord = a.get_or<std::string>("coord", "asymmetric");
  s.nearest_mode = a.get_or<std::string>("nearest_mode", "floor");
  s.cubic_a = a.get_or<double>("cubic_a", -0.75);
  s.exclude_outside = a.get_or<bool>("exclude_outside", false);
  s.clamp_linear_low = a.get_or<bool>("clamp_linear_low", true);
  s.pytorch_ratio = a.get_or<bool>("pytorch_ratio", false);
  s.coords_f32 = a.get_or<bool>("coords_f32", false);
  s.antialias = a.get_or<bool>("antialias", false);
  return s;
}

std::vector<double> scales_of(const Attrs& a, size_t rank) {
  std::vector<double> sc = a.get_or<std::vector<double>>("scales", {});
  if (sc.empty()) sc.assign(rank, 0.0);
  return sc;
}

// Checks the attrs against the input shape and returns the output shape.
Shape check_resample(const char* op, const Shape& in, const Attrs& a) {
  const Shape& sizes = a.get<IntArray>("sizes");
  TANDEM_CHECK(sizes.size() == in.size(),
               "{}: sizes has {} entries for an input of shape {}; give one per dim", op,
               sizes.size(), shape_str(in));
  std::vector<double> sc = scales_of(a, in.size());
  TANDEM_CHECK(sc.size() == in.size(), "{}: scales has {} entries for an input of shape {}", op,
               sc.size(), shape_str(in));
  const std::string mode = a.get_or<std::string>("mode", "nearest");
  TANDEM_CHECK(mode == "nearest" || mode == "linear" || mode == "cubic" || mode == "area",
               "{}: unknown mode '{}' (nearest, linear, cubic, area)", op, mode);
  for (size_t d = 0; d < in.size(); ++d) {
    TANDEM_CHECK(sizes[d] >= 0, "{}: output size {} of dim {} is negative", op, sizes[d], d);
    TANDEM_CHECK(std::isfinite(sc[d]) && sc[d] >= 0, "{}: scale {} of dim {} is not a finite, "
                 "non-negative number", op, sc[d], d);
    TANDEM_CHECK(in[d] > 0 || sizes[d] == 0 || sizes[d] == in[d],
                 "{}: cannot resample dim {} of size 0 to {} (input shape {})", op, d, sizes[d],
                 shape_str(in));
  }
  return sizes;
}

bool resampled(const Shape& in, const Shape& out, const std::vector<double>& sc, size_t d) {
  return in[d] > 0 && (in[d] != out[d] || (sc[d] > 0 && sc[d] != 1.0));
}

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// Resamples x (shape `in`, contiguous) into y (shape `out`): the last dim first, or, for the
// transpose, g (shape `out`) into gx (shape `in`) the first dim first.
template <typename T>
void run_resample(const cpu::ResampleSpec& spec, const std::vector<double>& sc, const Shape& in,
                  const Shape& out, const T* src, T* dst, bool transposed) {
  const size_t rank = in.size();
  std::vector<size_t> dims;
  for (size_t d = 0; d < rank; ++d)
    if (resampled(in, out, sc, d)) dims.push_back(d);
  if (!transposed) std::reverse(dims.begin(), dims.end());
  Shape cur = transposed ? out : in;
  const int64_t total = prod(transposed ? in : out, 0, rank);
  if (dims.empty()) {
    std::copy(src, src + total, dst);
    return;
  }
  std::vector<T> a, b;
  const T* from = src;
  for (size_t i = 0; i < dims.size(); ++i) {
    const size_t d = dims[i];
    cpu::Taps taps = cpu::make_taps(spec, in[d], out[d], sc[d]);
    Shape next = cur;
    next[d] = transposed ? in[d] : out[d];
    const int64_t outer = prod(cur, 0, d), inner = prod(cur, d + 1, rank);
    T* to;
    if (i + 1 == dims.size()) {
      to = dst;
    } else {
      std::vector<T>& buf = (from == a.data()) ? b : a;
      buf.resize(static_cast<size_t>(prod(next, 0, rank)));
      to = buf.data();
    }
    if (transposed) cpu::resample_dim_transposed<T>(taps, outer, inner, from, to);
    else cpu::resample_dim<T>(taps, outer, inner, from, to);
    from = to;
    cur = next;
  }
}

Tensor interpolate_backward_op(const Tensor& g, const Attrs& a) {
  static const OpDef& d = op("interpolate_backward");
  return dispatch1(d, {g}, a);
}

}  // namespace

namespace defs {
void register_interpolate() {
  {
    OpDef d;
    d.name = "interpolate";
    d.doc = "Resampling to attrs sizes (every dim): nearest, linear, cubic or area along each "
            "dim that changes (F.interpolate, ONNX Resize).";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "interpolate");
      return Metas{{check_resample("interpolate", in[0].shape, a), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      Tensor x = dense(k.inputs[0], y.dtype());
      const std::vector<double> sc = scales_of(k.attrs, x.dim());
      for_float(y, "interpolate", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (y.numel() == 0) return;
        run_resample<T>(spec_of(k.attrs), sc, x.shape(), y.shape(), cptr<T>(x), optr<T>(y), false);
      });
    };
    d.backward = [](const BackwardContext& c) {
      Attrs a = c.attrs();
      a.set("input_size", c.input_meta(0).shape);
      return Tensors{interpolate_backward_op(c.grad(0), a)};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "interpolate_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "The adjoint of interpolate (attrs as interpolate's, plus input_size).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& is = a.get<IntArray>("input_size");
      check_floating(in[0], "interpolate_backward", "gradient");
      Shape os = check_resample("interpolate_backward", is, a);
      TANDEM_CHECK(in[0].shape == os, "interpolate_backward: gradient of shape {} does not match "
                   "the resampled shape {}", shape_str(in[0].shape), shape_str(os));
      return Metas{{is, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      Tensor g = dense(k.inputs[0], gx.dtype());
      const std::vector<double> sc = scales_of(k.attrs, gx.dim());
      for_float(gx, "interpolate_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (gx.numel() == 0) return;
        if (g.numel() == 0) {
          std::fill(optr<T>(gx), optr<T>(gx) + gx.numel(), T(0));
          return;
        }
        run_resample<T>(spec_of(k.attrs), sc, gx.shape(), g.shape(), cptr<T>(g), optr<T>(gx), true);
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& fwd = op("interpolate");
      return Tensors{dispatch1(fwd, {c.grad(0)}, c.attrs())};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
}
}  // namespace defs

Tensor interpolate(const Tensor& x, const InterpolateOptions& o) {
  static const OpDef& d = op("interpolate");
  const int64_t spatial = x.dim() - 2;
  TANDEM_CHECK(spatial >= 1 && spatial <= 3,
               "interpolate: expected a 3-D, 4-D or 5-D input [N, C, ...spatial], got shape {}",
               shape_str(x.shape()));
  std::string mode = o.mode;
  const bool linear_family = mode == "linear" || mode == "bilinear" || mode == "trilinear" ||
                             mode == "bicubic";
  if (mode == "linear" || mode == "bilinear" || mode == "trilinear") {
    const int64_t want = mode == "linear" ? 1 : mode == "bilinear" ? 2 : 3;
    TANDEM_CHECK(spatial == want, "interpolate: mode '{}' expects a {}-D input, got shape {}", mode,
                 want + 2, shape_str(x.shape()));
  }
  if (mode == "bicubic")
    TANDEM_CHECK(spatial == 2, "interpolate: mode 'bicubic' expects a 4-D input, got shape {}",
                 shape_str(x.shape()));
  TANDEM_CHECK(linear_family || !o.align_corners,
               "interpolate: align_corners can only be set with the linear, bilinear, bicubic or "
               "trilinear modes, not '{}'", mode);
  TANDEM_CHECK(!o.antialias || mode == "bilinear" || mode == "bicubic",
               "interpolate: antialias is supported with the bilinear and bicubic modes, not '{}'",
               mode);
  TANDEM_CHECK(o.size.empty() != o.scale_factor.empty(),
               "interpolate: give exactly one of size and scale_factor");

  Shape sizes = x.shape();
  std::vector<double> scales(static_cast<size_t>(x.dim()), 0.0);
  auto pick = [&](const auto& v, int64_t i) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(i)]; };
  if (!o.size.empty()) {
    TANDEM_CHECK(o.size.size() == 1 || static_cast<int64_t>(o.size.size()) == spatial,
                 "interpolate: size has {} entries for {} spatial dims", o.size.size(), spatial);
    for (int64_t i = 0; i < spatial; ++i) sizes[static_cast<size_t>(i + 2)] = pick(o.size, i);
  } else {
    TANDEM_CHECK(o.scale_factor.size() == 1 ||
                     static_cast<int64_t>(o.scale_factor.size()) == spatial,
                 "interpolate: scale_factor has {} entries for {} spatial dims",
                 o.scale_factor.size(), spatial);
    for (int64_t i = 0; i < spatial; ++i) {
      const double s = pick(o.scale_factor, i);
      TANDEM_CHECK(std::isfinite(s) && s > 0, "interpolate: scale_factor must be positive, got {}", s);
      const size_t d = static_cast<size_t>(i + 2);
      sizes[d] = static_cast<int64_t>(std::floor(static_cast<double>(x.shape()[d]) * s));
      // As PyTorch: the given scale drives the coordinates unless asked to recompute it
      // from the sizes (align_corners ignores it either way).
      if (!o.recompute_scale_factor && mode != "area") scales[d] = s;
    }
  }
  Attrs a;
  a.set("sizes", sizes);
  a.set("scales", scales);
  if (mode == "nearest") {
    a.set("mode", std::string("nearest"));
  } else if (mode == "nearest-exact") {
    a.set("mode", std::string("nearest"));
    a.set("coord", std::string("half_pixel"));
    a.set("nearest_mode", std::string("round_prefer_ceil"));
  } else if (mode == "area") {
    a.set("mode", std::string("area"));
  } else if (linear_family) {
    a.set("mode", std::string(mode == "bicubic" ? "cubic" : "linear"));
    a.set("coord", std::string(o.align_corners ? "align_corners" : "half_pixel"));
  } else {
    throw Error(fmt::format("interpolate: unknown mode '{}' (nearest, nearest-exact, linear, "
                            "bilinear, bicubic, trilinear, area)", mode));
  }
  a.set("pytorch_ratio", true);
  a.set("coords_f32", x.dtype() != DType::Float64);
  if (o.antialias) a.set("antialias", true);
  return dispatch1(d, {x}, a);
}

}  // namespace tandem
