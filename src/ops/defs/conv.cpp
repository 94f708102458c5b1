// Convolutions: conv2d, conv_transpose2d and conv2d_weight (the weight gradient of
// conv2d, an op of its own so that it has a backward formula), plus conv1d as a
// composite over conv2d. Kernels: backend/cpu/conv (oneDNN for float32).
//
// The three ops are each other's gradients, so every derivative of any order is
// again one of them:
//   conv2d(x, w):            dx = conv_transpose2d(g, w)   dw = conv2d_weight(x, g)
//   conv_transpose2d(x, w):  dx = conv2d(g, w)             dw = conv2d_weight(g, x)
//   conv2d_weight(x, gy):    dx = conv_transpose2d(gy, G)  dgy = conv2d(x, G)
#include "../../backend/cpu/conv.h"
#include "../../backend/cpu/loops.h"
#include "../../backend/cpu/packed_weights.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;
using cpu::ConvGeom;

// The per-dimension attributes, checked.
struct Params {
  IntArray stride, padding, dilation, output_padding;
  int64_t groups;
};

IntArray pair_attr(const Attrs& a, const char* name, const char* op, int64_t min, int64_t fallback) {
  IntArray v = a.get_or<IntArray>(name, {fallback, fallback});
  TANDEM_CHECK(v.size() == 2, "{}: {} must have 2 values, got [{}]", op, name, fmt::join(v, ", "));
  TANDEM_CHECK(v[0] >= min && v[1] >= min, "{}: {} must be >= {}, got [{}]", op, name, min, fmt::join(v, ", "));
  return v;
}

Params params(const Attrs& a, const char* op) {
  Params p;
  p.stride = pair_attr(a, "stride", op, 1, 1);
  p.padding = pair_attr(a, "padding", op, 0, 0);
  p.dilation = pair_attr(a, "dilation", op, 1, 1);
  p.output_padding = pair_attr(a, "output_padding", op, 0, 0);
  p.groups = a.get_or<int64_t>("groups", 1);
  TANDEM_CHECK(p.groups >= 1, "{}: groups must be >= 1, got {}", op, p.groups);
  return p;
}

// Geometry of the convolution taking `x` [N, C, H, W] with weight `w` [O, C/groups, kh, kw]
// to an output of size Ho x Wo, with every shape error named.
ConvGeom conv_geom(const Shape& x, const Shape& w, const Params& p, const char* op) {
  TANDEM_CHECK(x.size() == 4, "{}: expected a 4-D input [N, C, H, W] (or 3-D without the batch dim), got shape {}",
               op, shape_str(x));
  TANDEM_CHECK(w.size() == 4, "{}: expected a 4-D weight [out_channels, in_channels/groups, kh, kw], got shape {}",
               op, shape_str(w));
  const int64_t G = p.groups;
  TANDEM_CHECK(x[1] % G == 0 && w[0] % G == 0,
               "{}: input channels ({}) and output channels ({}) must be divisible by groups ({}); "
               "input {}, weight {}", op, x[1], w[0], G, shape_str(x), shape_str(w));
  TANDEM_CHECK(w[1] * G == x[1],
               "{}: weight {} expects {} input channels (in_channels/groups = {}, groups = {}) but "
               "the input {} has {}", op, shape_str(w), w[1] * G, w[1], G, shape_str(x), x[1]);
  ConvGeom g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, p.stride[0], p.stride[1],
             p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], G};
  const int64_t dkh = (g.kh - 1) * g.dh + 1, dkw = (g.kw - 1) * g.dw + 1;
  TANDEM_CHECK(dkh <= g.H + 2 * g.ph && dkw <= g.W + 2 * g.pw,
               "{}: the kernel ({}x{} after dilation) is larger than the padded input ({}x{}); "
               "input {}, weight {}, padding [{}, {}], dilation [{}, {}]", op, dkh, dkw,
               g.H + 2 * g.ph, g.W + 2 * g.pw, shape_str(x), shape_str(w), g.ph, g.pw, g.dh, g.dw);
  g.Ho = (g.H + 2 * g.ph - dkh) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - dkw) / g.sw + 1;
  return g;
}

// conv_transpose2d of x [N, Cin, H, W] with w [Cin, Cout/groups, kh, kw] is the input
// gradient of a convolution from [N, Cout, Hout, Wout] to x: its geometry.
ConvGeom transposed_geom(const Shape& x, const Shape& w, const Params& p) {
  const char* op = "conv_transpose2d";
  TANDEM_CHECK(x.size() == 4, "{}: expected a 4-D input [N, C, H, W] (or 3-D without the batch dim), got shape {}",
               op, shape_str(x));
  TANDEM_CHECK(w.size() == 4, "{}: expected a 4-D weight [in_channels, out_channels/groups, kh, kw], got shape {}",
               op, shape_str(w));
  const int64_t G = p.groups;
  TANDEM_CHECK(w[0] == x[1], "{}: weight {} expects {} input channels but the input {} has {}", op,
               shape_str(w), w[0], shape_str(x), x[1]);
  TANDEM_CHECK(x[1] % G == 0, "{}: input channels ({}) must be divisible by groups ({}); input {}, weight {}",
               op, x[1], G, shape_str(x), shape_str(w));
  for (int d = 0; d < 2; ++d)
    TANDEM_CHECK(p.output_padding[d] < p.stride[d] || p.output_padding[d] < p.dilation[d],
                 "{}: output_padding [{}] must be smaller than stride [{}] or dilation [{}]", op,
                 fmt::join(p.output_padding, ", "), fmt::join(p.stride, ", "), fmt::join(p.dilation, ", "));
  int64_t out[2];
  for (int d = 0; d < 2; ++d) {
    out[d] = (x[2 + d] - 1) * p.stride[d] - 2 * p.padding[d] + (w[2 + d] - 1) * p.dilation[d] + 1 +
             p.output_padding[d];
    TANDEM_CHECK(out[d] > 0 && x[2 + d] > 0,
                 "{}: the output would be {}x{} (input {}, weight {}, stride [{}], padding [{}]); it "
                 "must be at least 1x1", op, (x[2] - 1) * p.stride[0] - 2 * p.padding[0] + (w[2] - 1) * p.dilation[0] + 1 + p.output_padding[0],
                 (x[3] - 1) * p.stride[1] - 2 * p.padding[1] + (w[3] - 1) * p.dilation[1] + 1 + p.output_padding[1],
                 shape_str(x), shape_str(w), fmt::join(p.stride, ", "), fmt::join(p.padding, ", "));
  }
  return {x[0], w[1] * G, out[0], out[1], w[0], w[2], w[3], x[2], x[3], p.stride[0], p.stride[1],
          p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], G};
}

// conv2d_weight's geometry: gy may be smaller than the convolution's output (positions
// past it count as zero). That happens for conv_transpose2d with output_padding >=
// stride, whose input is such a cropped convolution output.
ConvGeom weight_geom(const Shape& x, const Shape& w, const Shape& gy, const Params& p) {
  const char* op = "conv2d_weight";
  ConvGeom g = conv_geom(x, w, p, op);
  TANDEM_CHECK(gy.size() == 4 && gy[0] == g.N && gy[1] == g.O && gy[2] >= 1 && gy[2] <= g.Ho &&
                   gy[3] >= 1 && gy[3] <= g.Wo,
               "{}: output gradient has shape {}, but conv2d of input {} with weight {} gives {}", op,
               shape_str(gy), shape_str(x), shape_str(w), shape_str(Shape{g.N, g.O, g.Ho, g.Wo}));
  g.Ho = gy[2];
  g.Wo = gy[3];
  return g;
}

// The leading `like`-sized part of a convolution output (see weight_geom).
Tensor crop(const Tensor& t, const Shape& like) {
  if (t.size(2) == like[2] && t.size(3) == like[3]) return t;
  return t.slice(2, 0, like[2]).slice(3, 0, like[3]);
}

void check_bias(const TensorMeta& b, int64_t channels, const char* op) {
  if (!b.defined) return;
  TANDEM_CHECK(b.shape == Shape{channels}, "{}: bias shape {} does not match the {} output channels",
               op, shape_str(b.shape), channels);
}

DType conv_dtype(const Metas& in, const char* op) {
  DType t = result_type(in);
  TANDEM_CHECK(is_floating(t), "{}: expected floating-point tensors, got {}", op, t);
  return t;
}

// Contiguous, of dtype dt (undefined stays undefined).
Tensor prep(const Tensor& t, DType dt) {
  if (!t.defined()) return t;
  return t.to(dt).contiguous();
}

Attrs conv_attrs(const Params& p, bool with_output_padding = false) {
  Attrs a{{"stride", p.stride}, {"padding", p.padding}, {"dilation", p.dilation}, {"groups", p.groups}};
  if (with_output_padding) a.set("output_padding", p.output_padding);
  return a;
}

// The output_padding that makes conv_transpose2d give back the conv's input size.
IntArray inverse_output_padding(const ConvGeom& g) {
  return {g.H + 2 * g.ph - ((g.kh - 1) * g.dh + 1) - (g.Ho - 1) * g.sh,
          g.W + 2 * g.pw - ((g.kw - 1) * g.dw + 1) - (g.Wo - 1) * g.sw};
}

Tensor conv_transpose_raw(const Tensor& x, const Tensor& w, const Params& p) {
  static const OpDef& d = op("conv_transpose2d");
  return dispatch1(d, {x, w, Tensor()}, conv_attrs(p, true));
}
Tensor conv_raw(const Tensor& x, const Tensor& w, const Tensor& b, const Params& p) {
  static const OpDef& d = op("conv2d");
  return dispatch1(d, {x, w, b}, conv_attrs(p));
}
// [gw] or [gw, gb] for conv2d(x, w[weight_size]) with output gradient gy.
Tensors conv_weight_raw(const Tensor& x, const Tensor& gy, const Shape& weight_size, const Params& p,
                        bool with_bias) {
  static const OpDef& d = op("conv2d_weight");
  Attrs a = conv_attrs(p);
  a.set("weight_size", weight_size).set("bias", with_bias);
  return dispatch(d, {x, gy}, a);
}

}  // namespace

namespace defs {

ConvGeom conv2d_geometry(const Shape& x, const Shape& w, const Attrs& a) {
  return conv_geom(x, w, params(a, "conv2d"), "conv2d");
}

bool conv2d_kernel(const KernelArgs& k, const cpu::Activation* act) {
  NoGradGuard ng;
  const Tensor& y = k.outputs[0];
  const Tensor& w = k.inputs[1];
  ConvGeom g = conv_geom(k.inputs[0].shape(), w.shape(), params(k.attrs, "conv2d"), "conv2d");
  cpu::ConvForwardOptions o;
  o.act = act;
  // Packed copies are keyed on the weight's own storage: a converted copy made here would
  // be packed on every call, so such weights just run unpacked.
  o.prepacked = k.attrs.get_or<int64_t>("prepacked", 0) != 0 && w.dtype() == y.dtype() && w.is_contiguous();
  if (!o.prepacked) cpu::packed_weights::ensure_plain(w);  // read plain: restore a released copy
  return cpu::conv2d_forward(g, prep(k.inputs[0], y.dtype()), prep(w, y.dtype()), prep(k.inputs[2], y.dtype()), y,
                             o);
}

void register_conv() {
  {
    OpDef d;
    d.name = "conv2d";
    d.num_inputs = 3;
    d.optional_inputs = {2};
    d.doc = "2-D convolution (cross-correlation) of x [N, C, H, W] with weight [O, C/groups, kh, kw], "
            "bias [O] optional; attributes stride, padding, dilation (pairs), groups.";
    d.infer = [](const Metas& in, const Attrs& a) {
      ConvGeom g = conv_geom(in[0].shape, in[1].shape, params(a, "conv2d"), "conv2d");
      check_bias(in[2], g.O, "conv2d");
      return Metas{{{g.N, g.O, g.Ho, g.Wo}, conv_dtype(in, "conv2d")}};
    };
    d.cpu = [](const KernelArgs& k) { conv2d_kernel(k, nullptr); };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(1);
      const Tensor& g = c.grad(0);
      Params p = params(c.attrs(), "conv2d");
      ConvGeom geom = conv_geom(x.shape(), w.shape(), p, "conv2d");
      bool need_b = c.num_inputs() > 2 && c.needs_input_grad(2);
      Tensor gx, gw, gb;
      if (c.needs_input_grad(0)) {
        Params pt = p;
        pt.output_padding = inverse_output_padding(geom);
        gx = conv_transpose_raw(g, w, pt);
      }
      if (c.needs_input_grad(1)) {
        Tensors r = conv_weight_raw(x, g, w.shape(), p, need_b);
        gw = r[0];
        if (need_b) gb = r[1];
      } else if (need_b) {
        gb = g.sum({0, 2, 3});
      }
      return Tensors{gx, gw, gb};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "conv_transpose2d";
    d.num_inputs = 3;
    d.optional_inputs = {2};
    d.doc = "Transposed 2-D convolution of x [N, Cin, H, W] with weight [Cin, Cout/groups, kh, kw], "
            "bias [Cout] optional; attributes stride, padding, output_padding, dilation, groups.";
    d.infer = [](const Metas& in, const Attrs& a) {
      ConvGeom g = transposed_geom(in[0].shape, in[1].shape, params(a, "conv_transpose2d"));
      check_bias(in[2], g.C, "conv_transpose2d");
      return Metas{{{g.N, g.C, g.H, g.W}, conv_dtype(in, "conv_transpose2d")}};
    };
    d.cpu = [](const KernelArgs& k) {
      NoGradGuard ng;
      const Tensor& y = k.outputs[0];
      ConvGeom g = transposed_geom(k.inputs[0].shape(), k.inputs[1].shape(), params(k.attrs, "conv_transpose2d"));
      cpu::conv2d_backward_data(g, prep(k.inputs[0], y.dtype()), prep(k.inputs[1], y.dtype()), y);
      if (k.inputs[2].defined()) {
        Tensor b = prep(k.inputs[2], y.dtype());
        TANDEM_DISPATCH_FLOAT(y.dtype(), "conv_transpose2d", [&] {
          auto* py = static_cast<scalar_t*>(y.data_ptr());
          const auto* pb = static_cast<const scalar_t*>(b.data_ptr());
          const int64_t hw = g.H * g.W;
          cpu::parallel_for(g.N * g.C, std::max<int64_t>(1, 32768 / std::max<int64_t>(hw, 1)), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t i = 0; i < hw; ++i) py[r * hw + i] += pb[r % g.C];
          });
        });
      }
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(1);
      const Tensor& g = c.grad(0);
      Params p = params(c.attrs(), "conv_transpose2d");
      Tensor gx, gw, gb;
      if (c.needs_input_grad(0)) gx = crop(conv_raw(g, w, Tensor(), p), x.shape());
      if (c.needs_input_grad(1)) gw = conv_weight_raw(g, x, w.shape(), p, false)[0];
      if (c.num_inputs() > 2 && c.needs_input_grad(2)) gb = g.sum({0, 2, 3});
      return Tensors{gx, gw, gb};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "conv2d_weight";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.doc = "Weight gradient of conv2d: from its input x [N, C, H, W] and output gradient gy, the "
            "gradient of attribute weight_size [O, C/groups, kh, kw]; with attribute bias=true also "
            "the bias gradient (sum of gy over N, H, W) as a second output.";
    d.infer = [](const Metas& in, const Attrs& a) {
      const char* op = "conv2d_weight";
      const Shape& ws = a.get<IntArray>("weight_size");
      ConvGeom g = weight_geom(in[0].shape, ws, in[1].shape, params(a, op));
      DType t = conv_dtype(in, op);
      Metas out{{ws, t}};
      if (a.get_or<bool>("bias", false)) out.push_back({{g.O}, t});
      return out;
    };
    d.cpu = [](const KernelArgs& k) {
      NoGradGuard ng;
      const Tensor& gw = k.outputs[0];
      ConvGeom g = weight_geom(k.inputs[0].shape(), k.attrs.get<IntArray>("weight_size"),
                               k.inputs[1].shape(), params(k.attrs, "conv2d_weight"));
      cpu::conv2d_backward_weights(g, prep(k.inputs[0], gw.dtype()), prep(k.inputs[1], gw.dtype()), gw,
                                   k.outputs.size() > 1 ? k.outputs[1] : Tensor());
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& gy = c.input(1);
      const Tensor& GW = c.grad(0);
      Params p = params(c.attrs(), "conv2d_weight");
      ConvGeom geom = weight_geom(x.shape(), c.attrs().get<IntArray>("weight_size"), gy.shape(), p);
      Tensor gx, ggy;
      if (c.needs_input_grad(0)) {
        Params pt = p;
        pt.output_padding = inverse_output_padding(geom);
        gx = conv_transpose_raw(gy, GW, pt);
      }
      if (c.needs_input_grad(1)) {
        ggy = crop(conv_raw(x, GW, Tensor(), p), gy.shape());
        if (c.attrs().get_or<bool>("bias", false)) ggy = ggy + c.grad(1).reshape({1, geom.O, 1, 1});
      }
      return Tensors{gx, ggy};
    };
    register_op(std::move(d));
  }
}

}  // namespace defs

namespace {

// PyTorch accepts one value for both spatial dims.
IntArray pair(const IntArray& v, const char* op, const char* name) {
  if (v.size() == 1) return {v[0], v[0]};
  TANDEM_CHECK(v.size() == 2, "{}: {} must have 1 or 2 values, got [{}]", op, name, fmt::join(v, ", "));
  return v;
}

// Runs f on a batched input: a 3-D input [C, H, W] gets a batch dim of 1 and loses it after.
template <typename F>
Tensor batched(const Tensor& x, F&& f) {
  if (x.defined() && x.dim() == 3) return f(x.unsqueeze(0)).squeeze(0);
  return f(x);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArray stride,
              IntArray padding, IntArray dilation, int64_t groups) {
  Params p{pair(stride, "conv2d", "stride"), pair(padding, "conv2d", "padding"),
           pair(dilation, "conv2d", "dilation"), {0, 0}, groups};
  return batched(x, [&](const Tensor& xb) { return conv_raw(xb, weight, bias, p); });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArray stride,
                        IntArray padding, IntArray output_padding, int64_t groups, IntArray dilation) {
  const char* op = "conv_transpose2d";
  Params p{pair(stride, op, "stride"), pair(padding, op, "padding"), pair(dilation, op, "dilation"),
           pair(output_padding, op, "output_padding"), groups};
  return batched(x, [&](const Tensor& xb) {
    static const OpDef& d = tandem::op("conv_transpose2d");
    return dispatch1(d, {xb, weight, bias}, conv_attrs(p, true));
  });
}

// A composite: conv2d over [N, C, 1, L].
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups) {
  TANDEM_CHECK(x.dim() == 2 || x.dim() == 3,
               "conv1d: expected a 3-D input [N, C, L] (or 2-D without the batch dim), got shape {}",
               shape_str(x.shape()));
  TANDEM_CHECK(weight.dim() == 3, "conv1d: expected a 3-D weight [out_channels, in_channels/groups, k], got shape {}",
               shape_str(weight.shape()));
  Tensor xb = x.dim() == 2 ? x.unsqueeze(0) : x;
  try {
    Tensor y = conv2d(xb.unsqueeze(2), weight.unsqueeze(2), bias, {1, stride}, {0, padding}, {1, dilation}, groups);
    y = y.squeeze(2);
    return x.dim() == 2 ? y.squeeze(0) : y;
  } catch (const Error& e) {
    TANDEM_FAIL("conv1d (input {}, weight {}, computed as conv2d over [N, C, 1, L]): {}",
                shape_str(x.shape()), shape_str(weight.shape()), e.what());
  }
}

}  // namespace tandem
