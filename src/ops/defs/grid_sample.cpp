// Sampling at given points: grid_sample (F.grid_sample, ONNX GridSample) and its gradient
// op, affine_grid (a composition: the base grid times thetaᵀ), pixel_shuffle and
// pixel_unshuffle (ONNX DepthToSpace in CRD order / SpaceToDepth).
//
// grid_sample(input [N, C, H, W], grid [N, Ho, Wo, 2]) reads input at the points grid gives in
// [-1, 1] coordinates (x along W first, then y along H), as PyTorch's grid_sampler_2d:
//   coordinate -> pixel: align_corners ? (c + 1) / 2 * (size - 1) : ((c + 1) * size - 1) / 2,
//   then padding: zeros (points outside read 0), border (clamped into [0, size - 1]) or
//   reflection (mirrored at the corner pixels' centres, or at the image edges without
//   align_corners, then clamped); bicubic pads its sixteen integer taps instead of the point.
// The 5-D form (input [N, C, D, H, W], grid [N, Do, Ho, Wo, 3], x y z) supports bilinear
// (trilinear weights) and nearest. grid_sample_backward returns both gradients at once; the
// second derivative is not implemented (as in PyTorch 1.13): asking for it is an Error.
#include <algorithm>
#include <cmath>
#include <limits>

#include "defs.h"
#include "nn_util.h"
#include "tandem/sampling.h"

namespace tandem {
namespace {

using namespace nn_detail;

enum class GsMode { Bilinear, Nearest, Bicubic };
enum class GsPad { Zeros, Border, Reflection };

struct GsOpts {
  GsMode mode = GsMode::Bilinear;
  GsPad pad = GsPad::Zeros;
  bool align = false;
};

GsOpts gs_opts(const Attrs& a) {
  GsOpts o;
  const std::string mode = a.get_or<std::string>("mode", "bilinear");
  const std::string pad = a.get_or<std::string>("padding_mode", "zeros");
  if (mode == "bilinear") o.mode = GsMode::Bilinear;
  else if (mode == "nearest") o.mode = GsMode::Nearest;
  else if (mode == "bicubic") o.mode = GsMode::Bicubic;
  else throw Error(fmt::format("grid_sample: unknown mode '{}' (bilinear, nearest, bicubic)", mode));
  if (pad == "zeros") o.pad = GsPad::Zeros;
  else if (pad == "border") o.pad = GsPad::Border;
  else if (pad == "reflection") o.pad = GsPad::Reflection;
  else throw Error(fmt::format("grid_sample: unknown padding_mode '{}' (zeros, border, reflection)", pad));
  o.align = a.get_or<bool>("align_corners", false);
  return o;
}

// [-1, 1] -> pixel coordinate; *d receives d(pixel)/d(c).
template <typename T>
T gs_unnormalize(T c, int64_t size, bool align, T* d) {
  if (align) {
    *d = static_cast<T>(size - 1) / 2;
    return (c + 1) / 2 * static_cast<T>(size - 1);
  }
  *d = static_cast<T>(size) / 2;
  return ((c + 1) * static_cast<T>(size) - 1) / 2;
}

template <typename T>
T gs_clip(T x, int64_t size, T* d) {
  const T hi = static_cast<T>(size - 1);
  if (x <= 0) { *d = 0; return 0; }
  if (x >= hi) { *d = 0; return hi; }
  *d = 1;  // NOTE: NaN lands here and stays NaN (then read as out of bounds)
  return x;
}

// Mirrors x into [twice_low / 2, twice_high / 2].
template <typename T>
T gs_reflect(T x, int64_t twice_low, int64_t twice_high, T* d) {
  if (twice_low == twice_high) { *d = 0; return 0; }
  const T lo = static_cast<T>(twice_low) / 2, span = static_cast<T>(twice_high - twice_low) / 2;
  x -= lo;
  T sign = 1;
  if (x < 0) { sign = -1; x = -x; }
  const T extra = std::fmod(x, span);
  const int64_t flips = static_cast<int64_t>(std::floor(x / span));
  if (flips % 2 == 0) { *d = sign; return extra + lo; }
  *d = -sign;
  return span - extra + lo;
}

// Applies the padding to a pixel coordinate; *d receives its derivative.
template <typename T>
T gs_pad(T x, int64_t size, const GsOpts& o, T* d) {
  *d = 1;
  if (o.pad == GsPad::Border) return gs_clip(x, size, d);
  if (o.pad == GsPad::Reflection) {
    T dr, dc;
    x = o.align ? gs_reflect(x, 0, 2 * (size - 1), &dr) : gs_reflect(x, -1, 2 * size - 1, &dr);
    x = gs_clip(x, size, &dc);
    *d = dr * dc;
  }
  return x;
}

// Coordinates that cannot index (NaN, inf, huge) read as far outside.
template <typename T>
T gs_safe(T x) {
  if (!std::isfinite(static_cast<double>(x)) || x > static_cast<T>(std::numeric_limits<int32_t>::max() - 1) ||
      x < static_cast<T>(std::numeric_limits<int32_t>::min()))
    return T(-100);
  return x;
}

// Keys's cubic convolution weights (a = -0.75, as PyTorch) of the taps floor-1 .. floor+2
// for the fraction t, and their derivatives by t.
template <typename T>
void gs_cubic(T t, T w[4], T dw[4]) {
  const T a = T(-0.75);
  auto near = [a](T x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };
  auto far = [a](T x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };
  auto dnear = [a](T x) { return (3 * (a + 2) * x - 2 * (a + 3)) * x; };
  auto dfar = [a](T x) { return (3 * a * x - 10 * a) * x + 8 * a; };
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
  dw[0] = dfar(t + 1);
  dw[1] = dnear(t);
  dw[2] = -dnear(1 - t);
  dw[3] = -dfar(2 - t);
}

// One sampling point's taps: up to 16 (bicubic) input offsets within a channel plane, their
// weights, and the weights' derivatives by the point's pixel coordinates (x, y, z).
template <typename T>
struct GsTaps {
  int n = 0;
  int64_t off[16];
  T w[16];
  T dx[16], dy[16], dz[16];
  void add(int64_t o, T wt, T ddx, T ddy, T ddz) {
    off[n] = o;
    w[n] = wt;
    dx[n] = ddx;
    dy[n] = ddy;
    dz[n] = ddz;
    ++n;
  }
};

// The taps of point (gx, gy[, gz]) in an input of spatial sizes (D,) H, W (D = 0 for 2-D);
// mult receives d(pixel)/d(grid) per axis, padding derivative included.
template <typename T>
void gs_taps(const GsOpts& o, int64_t D, int64_t H, int64_t W, T cx, T cy, T cz, GsTaps<T>& tp,
             T mult[3]) {
  tp.n = 0;
  T ux, uy, uz = 0, dux, duy, duz = 0;
  T x = gs_unnormalize(cx, W, o.align, &dux), y = gs_unnormalize(cy, H, o.align, &duy);
  T z = D > 0 ? gs_unnormalize(cz, D, o.align, &duz) : T(0);
  auto inb = [&](int64_t ix, int64_t iy, int64_t iz) {
    return ix >= 0 && ix < W && iy >= 0 && iy < H && (D == 0 || (iz >= 0 && iz < D));
  };
  if (o.mode == GsMode::Bicubic) {
    mult[0] = dux;
    mult[1] = duy;
    mult[2] = 0;
    const T fx = std::floor(x), fy = std::floor(y);
    T wx[4], dwx[4], wy[4], dwy[4];
    gs_cubic(x - fx, wx, dwx);
    gs_cubic(y - fy, wy, dwy);
    for (int j = 0; j < 4; ++j) {
      T dd;
      const T py = gs_safe(gs_pad(fy - 1 + j, H, o, &dd));
      const int64_t iy = static_cast<int64_t>(py);
      for (int i = 0; i < 4; ++i) {
        const T px = gs_safe(gs_pad(fx - 1 + i, W, o, &dd));
        const int64_t ix = static_cast<int64_t>(px);
        if (!inb(ix, iy, 0)) continue;
        tp.add(iy * W + ix, wx[i] * wy[j], dwx[i] * wy[j], wx[i] * dwy[j], 0);
      }
    }
    return;
  }
  T px, py, pz = 0;
  px = gs_safe(gs_pad(x, W, o, &ux));
  py = gs_safe(gs_pad(y, H, o, &uy));
  if (D > 0) pz = gs_safe(gs_pad(z, D, o, &uz));
  mult[0] = dux * ux;
  mult[1] = duy * uy;
  mult[2] = duz * uz;
  if (o.mode == GsMode::Nearest) {
    const int64_t ix = static_cast<int64_t>(std::nearbyint(px)), iy = static_cast<int64_t>(std::nearbyint(py));
    const int64_t iz = static_cast<int64_t>(std::nearbyint(pz));
    if (inb(ix, iy, iz)) tp.add((iz * H + iy) * W + ix, 1, 0, 0, 0);
    return;
  }
  const T fx = std::floor(px), fy = std::floor(py), fz = std::floor(pz);
  const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy), z0 = static_cast<int64_t>(fz);
  const T tx = px - fx, ty = py - fy, tz = pz - fz;
  const int nz = D > 0 ? 2 : 1;
  for (int k = 0; k < nz; ++k) {
    const T wz = D > 0 ? (k ? tz : 1 - tz) : T(1), dwz = D > 0 ? (k ? T(1) : T(-1)) : T(0);
    for (int j = 0; j < 2; ++j) {
      const T wy = j ? ty : 1 - ty, dwy = j ? T(1) : T(-1);
      for (int i = 0; i < 2; ++i) {
        const T wx = i ? tx : 1 - tx, dwx = i ? T(1) : T(-1);
        const int64_t ix = x0 + i, iy = y0 + j, iz = z0 + k;
        if (!inb(ix, iy, iz)) continue;
        tp.add((iz * H + iy) * W + ix, wx * wy * wz, dwx * wy * wz, wx * dwy * wz, wx * wy * dwz);
      }
    }
  }
}

struct GsGeom {
  int64_t N, C, D, H, W;  // D = 0 for 2-D
  int64_t P;              // output points per sample
  int64_t k;              // coordinates per point (2 or 3)
};

GsGeom gs_geom(const Shape& x, const Shape& grid) {
  GsGeom g{};
  g.N = x[0];
  g.C = x[1];
  g.k = static_cast<int64_t>(x.size()) - 2;
  g.D = g.k == 3 ? x[2] : 0;
  g.H = x[x.size() - 2];
  g.W = x[x.size() - 1];
  g.P = 1;
  for (size_t i = 1; i + 1 < grid.size(); ++i) g.P *= grid[i];
  return g;
}

Shape check_grid_sample(const TensorMeta& x, const TensorMeta& grid, const Attrs& a) {
  const char* op = "grid_sample";
  check_floating(x, op);
  check_floating(grid, op, "grid");
  const size_t r = x.shape.size();
  TANDEM_CHECK(r == 4 || r == 5, "grid_sample: expected a 4-D [N, C, H, W] or 5-D [N, C, D, H, W] "
               "input, got shape {}", shape_str(x.shape));
  TANDEM_CHECK(grid.shape.size() == r && grid.shape[0] == x.shape[0] &&
                   grid.shape[r - 1] == static_cast<int64_t>(r - 2),
               "grid_sample: grid of shape {} does not fit input of shape {}: expected [{}, ..., {}] "
               "with {} dims", shape_str(grid.shape), shape_str(x.shape), x.shape[0], r - 2, r);
  TANDEM_CHECK(x.dtype == grid.dtype, "grid_sample: input ({}) and grid ({}) must have the same dtype",
               x.dtype, grid.dtype);
  for (size_t d = 2; d < r; ++d)
    TANDEM_CHECK(x.shape[d] > 0, "grid_sample: input of shape {} has an empty spatial dim",
                 shape_str(x.shape));
  const GsOpts o = gs_opts(a);
  TANDEM_CHECK(r == 4 || o.mode != GsMode::Bicubic,
               "grid_sample: mode 'bicubic' needs a 4-D input, got shape {}", shape_str(x.shape));
  Shape out = {x.shape[0], x.shape[1]};
  for (size_t d = 1; d + 1 < r; ++d) out.push_back(grid.shape[d]);
  return out;
}

template <typename T>
void gs_forward(const GsOpts& o, const GsGeom& g, const T* x, const T* grid, T* y) {
  const int64_t plane = std::max<int64_t>(g.D, 1) * g.H * g.W;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < g.N; ++n) {
    GsTaps<T> tp;
    T mult[3];
    for (int64_t p = 0; p < g.P; ++p) {
      const T* c = grid + (n * g.P + p) * g.k;
      gs_taps<T>(o, g.D, g.H, g.W, c[0], c[1], g.k == 3 ? c[2] : T(0), tp, mult);
      for (int64_t ch = 0; ch < g.C; ++ch) {
        const T* xp = x + (n * g.C + ch) * plane;
        T acc = 0;
        for (int t = 0; t < tp.n; ++t) acc += tp.w[t] * xp[tp.off[t]];
        y[(n * g.C + ch) * g.P + p] = acc;
      }
    }
  }
}

// gx (zeroed) and ggrid from the output gradient gy; either output pointer may be null.
template <typename T>
void gs_backward(const GsOpts& o, const GsGeom& g, const T* gy, const T* x, const T* grid, T* gx,
                 T* ggrid) {
  const int64_t plane = std::max<int64_t>(g.D, 1) * g.H * g.W;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < g.N; ++n) {
    GsTaps<T> tp;
    T mult[3];
    for (int64_t p = 0; p < g.P; ++p) {
      const T* c = grid + (n * g.P + p) * g.k;
      gs_taps<T>(o, g.D, g.H, g.W, c[0], c[1], g.k == 3 ? c[2] : T(0), tp, mult);
      T d[3] = {0, 0, 0};
      for (int64_t ch = 0; ch < g.C; ++ch) {
        const T go = gy[(n * g.C + ch) * g.P + p];
        const T* xp = x + (n * g.C + ch) * plane;
        for (int t = 0; t < tp.n; ++t) {
          if (gx) gx[(n * g.C + ch) * plane + tp.off[t]] += tp.w[t] * go;
          const T v = xp[tp.off[t]] * go;
          d[0] += v * tp.dx[t];
          d[1] += v * tp.dy[t];
          d[2] += v * tp.dz[t];
        }
      }
      if (ggrid)
        for (int64_t i = 0; i < g.k; ++i) ggrid[(n * g.P + p) * g.k + i] = d[i] * mult[i];
    }
  }
}

Tensor gs_apply_shuffle(const Tensor& x, int64_t r, bool shuffle);

}  // namespace

namespace defs {
void register_grid_sample() {
  {
    OpDef d;
    d.name = "grid_sample";
    d.num_inputs = 2;
    d.doc = "Samples input [N, C, (D,) H, W] at grid [N, (Do,) Ho, Wo, 2|3] in [-1, 1] (attrs mode "
            "bilinear|nearest|bicubic, padding_mode zeros|border|reflection, align_corners).";
    d.infer = [](const Metas& in, const Attrs& a) {
      return Metas{{check_grid_sample(in[0], in[1], a), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      Tensor x = dense(k.inputs[0], y.dtype()), grid = dense(k.inputs[1], y.dtype());
      const GsGeom g = gs_geom(x.shape(), grid.shape());
      for_float(y, "grid_sample", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (y.numel() == 0) return;
        gs_forward<T>(gs_opts(k.attrs), g, cptr<T>(x), cptr<T>(grid), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& b = op("grid_sample_backward");
      TANDEM_CHECK(!is_grad_enabled(), "grid_sample: the second derivative is not implemented (nor "
                   "in PyTorch 1.13); take its gradient without create_graph");
      Tensors gs = dispatch(b, {c.grad(0), c.input(0), c.input(1)}, c.attrs());
      return Tensors{c.needs_input_grad(0) ? gs[0] : Tensor(),
                     c.needs_input_grad(1) ? gs[1] : Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "grid_sample_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 3;
    d.doc = "Gradients of grid_sample w.r.t. input and grid from (grad_output, input, grid).";
    d.infer = [](const Metas& in, const Attrs& a) {
      Shape out = check_grid_sample(in[1], in[2], a);
      TANDEM_CHECK(in[0].shape == out, "grid_sample_backward: gradient of shape {} does not match "
                   "the output shape {}", shape_str(in[0].shape), shape_str(out));
      return Metas{{in[1].shape, in[1].dtype}, {in[2].shape, in[2].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      const Tensor& ggrid = k.outputs[1];
      Tensor gy = dense(k.inputs[0], gx.dtype()), x = dense(k.inputs[1], gx.dtype()),
             grid = dense(k.inputs[2], gx.dtype());
      const GsGeom g = gs_geom(x.shape(), grid.shape());
      for_float(gx, "grid_sample_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        T* pgx = optr<T>(gx);
        T* pgg = optr<T>(ggrid);
        if (pgx) std::fill(pgx, pgx + gx.numel(), T(0));
        if (pgg) std::fill(pgg, pgg + ggrid.numel(), T(0));
        if (gy.numel() == 0) return;
        gs_backward<T>(gs_opts(k.attrs), g, cptr<T>(gy), cptr<T>(x), cptr<T>(grid), pgx, pgg);
      });
    };
    // grid_sample's backward refuses to build a graph of its gradient, so this op never
    // needs one.
    d.non_differentiable = true;
    register_op(std::move(d));
  }
  for (const bool shuffle : {true, false}) {
    OpDef d;
    d.name = shuffle ? "pixel_shuffle" : "pixel_unshuffle";
    d.doc = shuffle ? "[*, C*r*r, H, W] -> [*, C, H*r, W*r] (attr upscale_factor r; ONNX DepthToSpace, CRD)"
                    : "[*, C, H*r, W*r] -> [*, C*r*r, H, W] (attr downscale_factor r; ONNX SpaceToDepth)";
    if (shuffle) {
      d.infer = [](const Metas& in, const Attrs& a) {
        const int64_t r = a.get<int64_t>("upscale_factor");
        const Shape& s = in[0].shape;
        TANDEM_CHECK(r > 0, "pixel_shuffle: upscale_factor must be positive, got {}", r);
        TANDEM_CHECK(s.size() >= 3 && s[s.size() - 3] % (r * r) == 0,
                     "pixel_shuffle: expected an input [*, C*{}, H, W] (channels divisible by "
                     "upscale_factor^2 = {}), got shape {}", r * r, r * r, shape_str(s));
        Shape o = s;
        o[s.size() - 3] /= r * r;
        o[s.size() - 2] *= r;
        o[s.size() - 1] *= r;
        return Metas{{o, in[0].dtype}};
      };
      d.cpu = [](const KernelArgs& k) {
        k.outputs[0].copy_(gs_apply_shuffle(k.inputs[0], k.attrs.get<int64_t>("upscale_factor"), true)
                               .reshape(k.outputs[0].shape()));
      };
      d.backward = [](const BackwardContext& c) {
        static const OpDef& u = op("pixel_unshuffle");
        Attrs a;
        a.set("downscale_factor", c.attrs().get<int64_t>("upscale_factor"));
        return Tensors{dispatch1(u, {c.grad(0)}, a)};
      };
    } else {
      d.infer = [](const Metas& in, const Attrs& a) {
        const int64_t r = a.get<int64_t>("downscale_factor");
        const Shape& s = in[0].shape;
        TANDEM_CHECK(r > 0, "pixel_unshuffle: downscale_factor must be positive, got {}", r);
        TANDEM_CHECK(s.size() >= 3 && s[s.size() - 2] % r == 0 && s[s.size() - 1] % r == 0,
                     "pixel_unshuffle: expected an input [*, C, H, W] with H and W divisible by "
                     "downscale_factor {}, got shape {}", r, shape_str(s));
        Shape o = s;
        o[s.size() - 3] *= r * r;
        o[s.size() - 2] /= r;
        o[s.size() - 1] /= r;
        return Metas{{o, in[0].dtype}};
      };
      d.cpu = [](const KernelArgs& k) {
        k.outputs[0].copy_(gs_apply_shuffle(k.inputs[0], k.attrs.get<int64_t>("downscale_factor"), false)
                               .reshape(k.outputs[0].shape()));
      };
      d.backward = [](const BackwardContext& c) {
        static const OpDef& s = op("pixel_shuffle");
        Attrs a;
        a.set("upscale_factor", c.attrs().get<int64_t>("downscale_factor"));
        return Tensors{dispatch1(s, {c.grad(0)}, a)};
      };
    }
    d.save_inputs = false;
    register_op(std::move(d));
  }
}
}  // namespace defs

namespace {
// The rearrangement as a view chain (no history: kernels run without grad), materialized by
// the caller's copy: pixel_shuffle is [B, C, r, r, H, W] -> [B, C, H, r, W, r].
Tensor gs_apply_shuffle(const Tensor& x, int64_t r, bool shuffle) {
  NoGradGuard no_grad;
  const Shape& s = x.shape();
  const size_t n = s.size();
  Shape lead(s.begin(), s.end() - 3);
  int64_t B = 1;
  for (int64_t v : lead) B *= v;
  const int64_t C = s[n - 3], H = s[n - 2], W = s[n - 1];
  if (shuffle) {
    const int64_t c = C / (r * r);
    return x.reshape({B, c, r, r, H, W}).permute({0, 1, 4, 2, 5, 3}).reshape({B, c, H * r, W * r});
  }
  const int64_t h = H / r, w = W / r;
  return x.reshape({B, C, h, r, w, r}).permute({0, 1, 3, 5, 2, 4}).reshape({B, C * r * r, h, w});
}
}  // namespace

Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode,
                   const std::string& padding_mode, bool align_corners) {
  static const OpDef& d = op("grid_sample");
  Attrs a;
  a.set("mode", mode);
  a.set("padding_mode", padding_mode);
  a.set("align_corners", align_corners);
  return dispatch1(d, {input, grid}, a);
}

Tensor affine_grid(const Tensor& theta, const IntArray& size, bool align_corners) {
  const size_t r = size.size();
  TANDEM_CHECK(r == 4 || r == 5, "affine_grid: size must be [N, C, H, W] or [N, C, D, H, W], got {} "
               "entries", r);
  const int64_t k = static_cast<int64_t>(r) - 2;
  TANDEM_CHECK(is_floating(theta.dtype()), "affine_grid: theta must be floating point, got {}",
               theta.dtype());
  TANDEM_CHECK(theta.dim() == 3 && theta.shape()[0] == size[0] && theta.shape()[1] == k &&
                   theta.shape()[2] == k + 1,
               "affine_grid: expected theta of shape [{}, {}, {}] for size {}, got {}", size[0], k,
               k + 1, shape_str(size), shape_str(theta.shape()));
  for (size_t i = 0; i < r; ++i)
    TANDEM_CHECK(size[i] > 0, "affine_grid: size {} has a non-positive entry", shape_str(size));
  // The base grid [points, k + 1]: x along the last dim fastest, then y (then z), then 1.
  auto steps = [&](int64_t n) {
    std::vector<double> v(static_cast<size_t>(n), 0.0);
    if (n <= 1) return v;
    // As torch.linspace(-1, 1, n), scaled by (n - 1) / n without align_corners.
    const double step = 2.0 / static_cast<double>(n - 1);
    for (int64_t i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] = i < n / 2 ? -1.0 + step * static_cast<double>(i)
                                            : 1.0 - step * static_cast<double>(n - 1 - i);
    if (!align_corners)
      for (double& e : v) e = e * static_cast<double>(n - 1) / static_cast<double>(n);
    return v;
  };
  std::vector<std::vector<double>> axes;  // x, y, (z)
  for (int64_t i = 0; i < k; ++i) axes.push_back(steps(size[r - 1 - static_cast<size_t>(i)]));
  int64_t points = 1;
  for (size_t i = 2; i < r; ++i) points *= size[i];
  std::vector<double> base(static_cast<size_t>(points * (k + 1)));
  for (int64_t p = 0; p < points; ++p) {
    int64_t rem = p;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t n = size[r - 1 - static_cast<size_t>(i)];
      base[static_cast<size_t>(p * (k + 1) + i)] = axes[static_cast<size_t>(i)][static_cast<size_t>(rem % n)];
      rem /= n;
    }
    base[static_cast<size_t>(p * (k + 1) + k)] = 1.0;
  }
  Tensor b = tensor<double>(base, Shape{1, points, k + 1}).to(theta.dtype());
  Tensor grid = matmul(b, theta.transpose(1, 2));  // [N, points, k]
  Shape out = {size[0]};
  for (size_t i = 2; i < r; ++i) out.push_back(size[i]);
  out.push_back(k);
  return grid.reshape(out);
}

Tensor pixel_shuffle(const Tensor& x, int64_t upscale_factor) {
  static const OpDef& d = op("pixel_shuffle");
  return dispatch1(d, {x}, {{"upscale_factor", upscale_factor}});
}

Tensor pixel_unshuffle(const Tensor& x, int64_t downscale_factor) {
  static const OpDef& d = op("pixel_unshuffle");
  return dispatch1(d, {x}, {{"downscale_factor", downscale_factor}});
}

}  // namespace tandem
