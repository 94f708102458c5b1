// Pooling ops: max_pool2d, avg_pool2d, adaptive_avg_pool2d, and their backward ops.
//
// Each backward is an OpDef whose own backward is the forward-direction op, so
// gradients of any order work:
//   max_pool2d(x)             -> grad: max_pool2d_backward(g, x)   (scatter to the argmax)
//   max_pool2d_backward(g, x) -> grad: max_pool2d_gather(gg, x)    (read at the argmax)
//   max_pool2d_gather(s, x)   -> grad: max_pool2d_backward(g, x)
//   avg_pool2d / adaptive_avg_pool2d are linear: forward and backward are each other's adjoint.
// The argmax is recomputed from x instead of saved: it costs one more read of x in
// backward and nothing in inference, where max_pool2d is used most.
#include <algorithm>

#include "../../backend/cpu/bf16.h"
#include "../../backend/cpu/loops.h"
#include "../../backend/cpu/nn_kernels.h"
#include "defs.h"
#include "nn_util.h"

namespace tandem {
namespace {

using namespace nn_detail;

// A 1- or 2-element attribute as (h, w); `fallback` when absent or empty.
std::pair<int64_t, int64_t> hw(const Attrs& a, const char* name, const char* op, IntArray fallback) {
  IntArray v = a.get_or<IntArray>(name, {});
  if (v.empty()) v = fallback;
  TANDEM_CHECK(v.size() == 1 || v.size() == 2,
               "{}: {} must be a single int or a pair of ints, got {} elements", op, name, v.size());
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's pooling output size (ceil mode: the last window must start inside the
// input or its left padding).
int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  int64_t o = floor_div(in + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

void check_pool_input(const Shape& in, const char* op) {
  TANDEM_CHECK(in.size() == 3 || in.size() == 4,
               "{}: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape {}", op,
               shape_str(in));
  for (size_t i = in.size() - 3; i < in.size(); ++i)
    TANDEM_CHECK(in[i] > 0, "{}: expected non-zero sizes except the batch dim, got input of shape {}",
                 op, shape_str(in));
}

int64_t planes_of(const Shape& in) { return in.size() == 4 ? in[0] * in[1] : in[0]; }

Shape with_hw(const Shape& in, int64_t h, int64_t w) {
  Shape s = in;
  s[s.size() - 2] = h;
  s[s.size() - 1] = w;
  return s;
}

// Validates the attributes of a (max or avg) pooling of `in` and returns its geometry.
cpu::Pool2d pool_geometry(const char* op, const Shape& in, const Attrs& a, bool dilation) {
  check_pool_input(in, op);
  auto [kh, kw] = hw(a, "kernel_size", op, {});
  auto [sh, sw] = hw(a, "stride", op, {kh, kw});
  auto [ph, pw] = hw(a, "padding", op, {0});
  auto [dh, dw] = dilation ? hw(a, "dilation", op, {1}) : std::pair<int64_t, int64_t>{1, 1};
  const bool ceil = a.get_or<bool>("ceil_mode", false);
  TANDEM_CHECK(kh > 0 && kw > 0, "{}: kernel_size must be positive, got [{}, {}]", op, kh, kw);
  TANDEM_CHECK(sh > 0 && sw > 0, "{}: stride must be positive, got [{}, {}]", op, sh, sw);
  TANDEM_CHECK(dh > 0 && dw > 0, "{}: dilation must be positive, got [{}, {}]", op, dh, dw);
  TANDEM_CHECK(ph >= 0 && pw >= 0, "{}: padding must be non-negative, got [{}, {}]", op, ph, pw);
  TANDEM_CHECK(ph <= kh / 2 && pw <= kw / 2,
               "{}: padding should be at most half of kernel_size, got padding [{}, {}] and "
               "kernel_size [{}, {}]", op, ph, pw, kh, kw);
  cpu::Pool2d p;
  p.planes = planes_of(in);
  p.H = in[in.size() - 2];
  p.W = in[in.size() - 1];
  p.kh = kh, p.kw = kw, p.sh = sh, p.sw = sw, p.ph = ph, p.pw = pw, p.dh = dh, p.dw = dw;
  p.OH = pool_out(p.H, kh, sh, ph, dh, ceil);
  p.OW = pool_out(p.W, kw, sw, pw, dw, ceil);
  TANDEM_CHECK(p.OH >= 1 && p.OW >= 1,
               "{}: input of shape {} is too small for kernel_size [{}, {}] with padding [{}, {}] "
               "and dilation [{}, {}]: the output would be {}x{}. The (dilated) kernel must fit "
               "inside the padded input", op, shape_str(in), kh, kw, ph, pw, dh, dw, p.OH, p.OW);
  return p;
}

cpu::Pool2d adaptive_geometry(const char* op, const Shape& in, const Attrs& a) {
  TANDEM_CHECK(in.size() == 3 || in.size() == 4,
               "{}: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape {}", op,
               shape_str(in));
  check_pool_input(in, op);
  IntArray os = a.get<IntArray>("output_size");
  TANDEM_CHECK(os.size() == 1 || os.size() == 2,
               "{}: output_size must be a single int or a pair of ints, got {} elements", op, os.size());
  cpu::Pool2d p;
  p.planes = planes_of(in);
  p.H = in[in.size() - 2];
  p.W = in[in.size() - 1];
  p.OH = os[0];
  p.OW = os.size() == 2 ? os[1] : os[0];
  TANDEM_CHECK(p.OH >= 0 && p.OW >= 0,
               "{}: output_size must be non-negative, got [{}, {}]", op, p.OH, p.OW);
  return p;
}

void check_grad_shape(const char* op, const Shape& g, const Shape& expected) {
  TANDEM_CHECK(g == expected, "{}: gradient of shape {} does not match the pooled shape {}", op,
               shape_str(g), shape_str(expected));
}

Attrs with_input_size(const Attrs& a, const Shape& in) {
  Attrs r = a;
  r.set("input_size", in);
  return r;
}

Tensor max_pool2d_backward_op(const Tensor& g, const Tensor& x, const Attrs& a) {
  static const OpDef& d = op("max_pool2d_backward");
  return dispatch1(d, {g, x}, a);
}
Tensor max_pool2d_gather_op(const Tensor& s, const Tensor& x, const Attrs& a) {
  static const OpDef& d = op("max_pool2d_gather");
  return dispatch1(d, {s, x}, a);
}
Tensor avg_pool2d_backward_op(const Tensor& g, const Attrs& a) {
  static const OpDef& d = op("avg_pool2d_backward");
  return dispatch1(d, {g}, a);
}
Tensor adaptive_avg_pool2d_backward_op(const Tensor& g, const Attrs& a) {
  static const OpDef& d = op("adaptive_avg_pool2d_backward");
  return dispatch1(d, {g}, a);
}

}  // namespace

namespace defs {
cpu::Pool2d max_pool2d_geometry(const Shape& x, const Attrs& a) { return pool_geometry("max_pool2d", x, a, true); }
}  // namespace defs

namespace {

void register_max_pool() {
  {
    OpDef d;
    d.name = "max_pool2d";
    d.doc = "Max over windows of the last two dims; attrs kernel_size, stride, padding, dilation, ceil_mode.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "max_pool2d");
      cpu::Pool2d p = pool_geometry("max_pool2d", in[0].shape, a, true);
      return Metas{{with_hw(in[0].shape, p.OH, p.OW), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      cpu::Pool2d p = pool_geometry("max_pool2d", k.inputs[0].shape(), k.attrs, true);
      Tensor x = dense(k.inputs[0], y.dtype());
      if (y.dtype() == DType::BFloat16) {  // autocast keeps it in bfloat16 (2x2 windows as they are)
        if (cpu::bf16_max_pool2d(p, x, y)) return;
        Tensor xf = dense(x, DType::Float32), yf = empty(y.shape());
        cpu::max_pool2d_fwd<float>(p, cptr<float>(xf), optr<float>(yf));
        cpu::copy_into(y, yf);
        return;
      }
      for_float(y, "max_pool2d", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::max_pool2d_fwd<T>(p, cptr<T>(x), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{max_pool2d_backward_op(c.grad(0), c.input(0), c.attrs())};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "max_pool2d_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.doc = "max_pool2d_backward(g, x): g scattered into the argmax of each window of x.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[1], "max_pool2d_backward");
      cpu::Pool2d p = pool_geometry("max_pool2d_backward", in[1].shape, a, true);
      check_grad_shape("max_pool2d_backward", in[0].shape, with_hw(in[1].shape, p.OH, p.OW));
      return Metas{{in[1].shape, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      cpu::Pool2d p = pool_geometry("max_pool2d_backward", k.inputs[1].shape(), k.attrs, true);
      if (gx.dtype() == DType::BFloat16 || k.inputs[1].dtype() == DType::BFloat16) {
        // The argmax from x as it is (a bfloat16 x widens exactly); g rounds only if gx is bfloat16.
        const DType xt = k.inputs[1].dtype() == DType::BFloat16 ? DType::BFloat16 : DType::Float32;
        Tensor g = dense(k.inputs[0], gx.dtype()), x = dense(k.inputs[1], xt);
        if (cpu::bf16_max_pool2d_backward(p, g, x, gx)) return;
        Tensor gf = dense(g, DType::Float32), xf = dense(x, DType::Float32), gxf = empty(gx.shape());
        cpu::max_pool2d_bwd<float>(p, cptr<float>(gf), cptr<float>(xf), optr<float>(gxf));
        cpu::copy_into(gx, gxf);
        return;
      }
      Tensor g = dense(k.inputs[0], gx.dtype()), x = dense(k.inputs[1], gx.dtype());
      for_float(gx, "max_pool2d_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::max_pool2d_bwd<T>(p, cptr<T>(g), cptr<T>(x), optr<T>(gx));
      });
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{max_pool2d_gather_op(c.grad(0), c.input(1), c.attrs()), Tensor()};
    };
    d.nondiff_inputs = {1};
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "max_pool2d_gather";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.doc = "max_pool2d_gather(s, x): s (shaped like x) read at the argmax of each window of x.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[1], "max_pool2d_gather");
      cpu::Pool2d p = pool_geometry("max_pool2d_gather", in[1].shape, a, true);
      TANDEM_CHECK(in[0].shape == in[1].shape,
                   "max_pool2d_gather: source of shape {} must have the input's shape {}",
                   shape_str(in[0].shape), shape_str(in[1].shape));
      return Metas{{with_hw(in[1].shape, p.OH, p.OW), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      cpu::Pool2d p = pool_geometry("max_pool2d_gather", k.inputs[1].shape(), k.attrs, true);
      Tensor s = dense(k.inputs[0], y.dtype()), x = dense(k.inputs[1], y.dtype());
      for_float(y, "max_pool2d_gather", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::max_pool2d_gather<T>(p, cptr<T>(s), cptr<T>(x), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{max_pool2d_backward_op(c.grad(0), c.input(1), c.attrs()), Tensor()};
    };
    d.nondiff_inputs = {1};
    register_op(std::move(d));
  }
}

void register_avg_pool() {
  {
    OpDef d;
    d.name = "avg_pool2d";
    d.doc = "Mean over windows of the last two dims; attrs kernel_size, stride, padding, ceil_mode, "
            "count_include_pad.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "avg_pool2d");
      cpu::Pool2d p = pool_geometry("avg_pool2d", in[0].shape, a, false);
      return Metas{{with_hw(in[0].shape, p.OH, p.OW), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      cpu::Pool2d p = pool_geometry("avg_pool2d", k.inputs[0].shape(), k.attrs, false);
      bool cip = k.attrs.get_or<bool>("count_include_pad", true);
      Tensor x = dense(k.inputs[0], y.dtype());
      for_float(y, "avg_pool2d", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::avg_pool2d_fwd<T>(p, cip, cptr<T>(x), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{avg_pool2d_backward_op(c.grad(0), with_input_size(c.attrs(), c.input_meta(0).shape))};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "avg_pool2d_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "The adjoint of avg_pool2d (attrs as avg_pool2d plus input_size).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& is = a.get<IntArray>("input_size");
      cpu::Pool2d p = pool_geometry("avg_pool2d_backward", is, a, false);
      check_floating(in[0], "avg_pool2d_backward", "gradient");
      check_grad_shape("avg_pool2d_backward", in[0].shape, with_hw(is, p.OH, p.OW));
      return Metas{{is, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      cpu::Pool2d p = pool_geometry("avg_pool2d_backward", gx.shape(), k.attrs, false);
      bool cip = k.attrs.get_or<bool>("count_include_pad", true);
      Tensor g = dense(k.inputs[0], gx.dtype());
      for_float(gx, "avg_pool2d_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::avg_pool2d_bwd<T>(p, cip, cptr<T>(g), optr<T>(gx));
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& fwd = op("avg_pool2d");
      return Tensors{dispatch1(fwd, {c.grad(0)}, c.attrs())};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "adaptive_avg_pool2d";
    d.doc = "Mean over output_size windows that tile the last two dims.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "adaptive_avg_pool2d");
      cpu::Pool2d p = adaptive_geometry("adaptive_avg_pool2d", in[0].shape, a);
      return Metas{{with_hw(in[0].shape, p.OH, p.OW), in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      cpu::Pool2d p = adaptive_geometry("adaptive_avg_pool2d", k.inputs[0].shape(), k.attrs);
      Tensor x = dense(k.inputs[0], y.dtype());
      for_float(y, "adaptive_avg_pool2d", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::adaptive_avg_pool2d_fwd<T>(p, cptr<T>(x), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{adaptive_avg_pool2d_backward_op(
          c.grad(0), with_input_size(c.attrs(), c.input_meta(0).shape))};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "adaptive_avg_pool2d_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "The adjoint of adaptive_avg_pool2d (attrs output_size, input_size).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& is = a.get<IntArray>("input_size");
      cpu::Pool2d p = adaptive_geometry("adaptive_avg_pool2d_backward", is, a);
      check_floating(in[0], "adaptive_avg_pool2d_backward", "gradient");
      check_grad_shape("adaptive_avg_pool2d_backward", in[0].shape, with_hw(is, p.OH, p.OW));
      return Metas{{is, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      cpu::Pool2d p = adaptive_geometry("adaptive_avg_pool2d_backward", gx.shape(), k.attrs);
      Tensor g = dense(k.inputs[0], gx.dtype());
      for_float(gx, "adaptive_avg_pool2d_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::adaptive_avg_pool2d_bwd<T>(p, cptr<T>(g), optr<T>(gx));
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& fwd = op("adaptive_avg_pool2d");
      return Tensors{dispatch1(fwd, {c.grad(0)}, c.attrs())};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
}

// kernel_size etc. as given (1 or 2 ints); stride defaults to kernel_size.
Attrs pool_attrs(const IntArray& kernel_size, const IntArray& stride, const IntArray& padding,
                 bool ceil_mode) {
  return Attrs{{"kernel_size", kernel_size},
               {"stride", stride.empty() ? kernel_size : stride},
               {"padding", padding},
               {"ceil_mode", ceil_mode}};
}

}  // namespace

namespace defs {
void register_nn_pool() {
  register_max_pool();
  register_avg_pool();
}
}  // namespace defs

Tensor max_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride, IntArray padding,
                  IntArray dilation, bool ceil_mode) {
  static const OpDef& d = op("max_pool2d");
  Attrs a = pool_attrs(kernel_size, stride, padding, ceil_mode);
  a.set("dilation", dilation);
  return dispatch1(d, {x}, a);
}

Tensor avg_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride, IntArray padding,
                  bool ceil_mode, bool count_include_pad) {
  static const OpDef& d = op("avg_pool2d");
  Attrs a = pool_attrs(kernel_size, stride, padding, ceil_mode);
  a.set("count_include_pad", count_include_pad);
  return dispatch1(d, {x}, a);
}

Tensor adaptive_avg_pool2d(const Tensor& x, IntArray output_size) {
  static const OpDef& d = op("adaptive_avg_pool2d");
  return dispatch1(d, {x}, {{"output_size", output_size}});
}

}  // namespace tandem
