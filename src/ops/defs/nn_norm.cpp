// Normalization ops: batch_norm, layer_norm, group_norm.
//
// Each forward OpDef also outputs the mean and rstd = 1/sqrt(var + eps) it used (and
// batch_norm the unbiased batch variance for the running-variance update); the
// public functions return only y. Backward:
//  * when the gradient is not itself recorded (grad mode off inside the engine: the
//    usual first-order backward) it runs a fused kernel, <op>_backward, marked
//    non-differentiable because it is only dispatched with grad mode off;
//  * when it is recorded (create_graph), it runs norm_backward_composite below, built
//    from tandem ops. That composite reads the saved mean and rstd, whose history
//    leads back to this op's node, so the forward backward also accepts gradients
//    for its mean and rstd outputs: with those, gradients of any order are exact.
// The fused kernels implement the same formula (nn_kernels.h); tests check they agree.
#include <cmath>

#include "../../backend/cpu/nn_kernels.h"
#include "defs.h"
#include "nn_util.h"

namespace tandem {
namespace {

using namespace nn_detail;

// Gradients of y = (x - mean) * rstd * w + b, everything broadcast to one view of x:
// mean/rstd/gmean/grstd keep size 1 on the non-`stat_dims`, w on the `affine_dims`
// (summed for gw and gb); M = elements per statistic. See nn_kernels.h.
struct NormGrads {
  Tensor gx, gw, gb;
};
NormGrads norm_backward_composite(const Tensor& gy, const Tensor& x, const Tensor& w,
                                  const Tensor& mean, const Tensor& rstd, const Tensor& gmean,
                                  const Tensor& grstd, const IntArray& stat_dims,
                                  const IntArray& affine_dims, double M,
                                  const std::vector<bool>& needs) {
  NormGrads r;
  Tensor xc = x - mean;
  if (needs[0]) {
    Tensor a = w.defined() ? gy * w : gy;
    Tensor sa = sum(a, stat_dims, true), sax = sum(a * xc, stat_dims, true);
    Tensor c1 = (gmean - rstd * sa) / M;
    Tensor c2 = -(rstd * rstd * rstd * (sax + grstd)) / M;
    r.gx = rstd * a + c1 + c2 * xc;
  }
  if (needs[1]) r.gw = sum(gy * (xc * rstd), affine_dims);
  if (needs[2]) r.gb = sum(gy, affine_dims);
  return r;
}

std::vector<bool> needs3(const BackwardContext& c, int i0, int i1, int i2) {
  return {c.needs_input_grad(i0), c.needs_input_grad(i1), c.needs_input_grad(i2)};
}

IntArray mask_attr(const std::vector<bool>& n) { return {n[0], n[1], n[2]}; }

// Runs a fused <op>_backward on (gy, x, w, mean, rstd, gmean, grstd).
NormGrads fused_backward(const OpDef& d, const BackwardContext& c, const Tensor& w, Attrs a,
                         const std::vector<bool>& needs) {
  a.set("output_mask", mask_attr(needs));
  Tensors o = dispatch(d, {c.grad(0), c.input(0), w, c.output(1), c.output(2), c.grad(1), c.grad(2)}, a);
  return {needs[0] ? o[0] : Tensor(), needs[1] ? o[1] : Tensor(), needs[2] ? o[2] : Tensor()};
}

// Shape rule of the fused backward ops: gx like x, gw and gb `param` shaped; outputs
// not in output_mask are empty.
Metas norm_bwd_infer(const Metas& in, const Attrs& a, const Shape& param, int64_t stats,
                     const char* op) {
  IntArray mask = a.get<IntArray>("output_mask");
  TANDEM_CHECK(mask.size() == 3, "{}: output_mask must have 3 elements", op);
  TANDEM_CHECK(in[0].shape == in[1].shape, "{}: gradient of shape {} does not match input shape {}",
               op, shape_str(in[0].shape), shape_str(in[1].shape));
  for (int i : {3, 4, 5, 6})
    TANDEM_CHECK(!in[i].defined || shape_numel(in[i].shape) == stats,
                 "{}: statistics input {} has shape {}, expected {} elements", op, i,
                 shape_str(in[i].shape), stats);
  TANDEM_CHECK(!in[2].defined || shape_numel(in[2].shape) == shape_numel(param),
               "{}: weight of shape {} does not match {}", op, shape_str(in[2].shape), shape_str(param));
  DType dt = in[1].dtype;
  return Metas{{mask[0] ? in[1].shape : Shape{0}, dt},
               {mask[1] ? param : Shape{0}, dt},
               {mask[2] ? param : Shape{0}, dt}};
}

// Calls f(T*) for the dtype of output 0 with the 7 fused-backward inputs made dense.
template <typename F> void norm_bwd_kernel(const KernelArgs& k, const char* op, F f) {
  DType dt = k.outputs[0].dtype();
  Tensors in;
  for (const Tensor& t : k.inputs) in.push_back(dense(t, dt));
  TANDEM_DISPATCH_FLOAT(dt, op, [&] {
    using T = scalar_t;
    f(cptr<T>(in[0]), cptr<T>(in[1]), cptr<T>(in[2]), cptr<T>(in[3]), cptr<T>(in[4]),
      cptr<T>(in[5]), cptr<T>(in[6]), optr<T>(k.outputs[0]), optr<T>(k.outputs[1]),
      optr<T>(k.outputs[2]));
  });
}

int64_t prod_from(const Shape& s, size_t from) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i) n *= s[i];
  return n;
}

// ---- layer_norm ---------------------------------------------------------------

// Rows and row length of a layer_norm over the trailing `ns` dims of `x`.
std::pair<int64_t, int64_t> ln_dims(const Shape& x, const IntArray& ns, const char* op) {
  TANDEM_CHECK(!ns.empty(), "{}: normalized_shape must have at least one element, got []", op);
  bool ok = ns.size() <= x.size();
  for (size_t i = 0; ok && i < ns.size(); ++i) ok = x[x.size() - ns.size() + i] == ns[i];
  TANDEM_CHECK(ok, "{}: normalized_shape {} does not match the trailing dims of the input of "
               "shape {}: expected an input of shape [*, {}]", op, shape_str(ns), shape_str(x),
               fmt::join(ns, ", "));
  int64_t D = shape_numel(ns);
  return {D == 0 ? 0 : shape_numel(x) / D, D};
}

void register_layer_norm() {
  {
    OpDef d;
    d.name = "layer_norm";
    d.num_inputs = 3;
    d.optional_inputs = {1, 2};
    d.doc = "layer_norm(x, weight?, bias?); attrs normalized_shape, eps. Outputs y, mean, rstd "
            "(statistics shaped like x without the normalized dims).";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "layer_norm");
      const IntArray& ns = a.get<IntArray>("normalized_shape");
      ln_dims(in[0].shape, ns, "layer_norm");
      for (int i : {1, 2})
        TANDEM_CHECK(!in[i].defined || in[i].shape == ns,
                     "layer_norm: {} of shape {} must have normalized_shape {}",
                     i == 1 ? "weight" : "bias", shape_str(in[i].shape), shape_str(ns));
      Shape lead(in[0].shape.begin(), in[0].shape.end() - static_cast<int64_t>(ns.size()));
      DType dt = in[0].dtype;
      return Metas{{in[0].shape, dt}, {lead, dt}, {lead, dt}};
    };
    d.cpu = [](const KernelArgs& k) {
      DType dt = k.outputs[0].dtype();
      // NOTE: plain variables, not a structured binding: the lambda below captures them
      // (clang before 16 cannot capture bindings; the sanitizer build uses clang 14).
      const auto dims = ln_dims(k.inputs[0].shape(), k.attrs.get<IntArray>("normalized_shape"), "layer_norm");
      const int64_t rows = dims.first, D = dims.second;
      Tensor x = dense(k.inputs[0], dt), w = dense(k.inputs[1], dt), b = dense(k.inputs[2], dt);
      double eps = k.attrs.get<double>("eps");
      TANDEM_DISPATCH_FLOAT(dt, "layer_norm", [&] {
        cpu::layer_norm_fwd<scalar_t>(cptr<scalar_t>(x), cptr<scalar_t>(w), cptr<scalar_t>(b),
                                      optr<scalar_t>(k.outputs[0]), optr<scalar_t>(k.outputs[1]),
                                      optr<scalar_t>(k.outputs[2]), rows, D, eps);
      });
    };
    d.backward = [](const BackwardContext& c) {
      const IntArray& ns = c.attrs().get<IntArray>("normalized_shape");
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(1);
      std::vector<bool> needs = needs3(c, 0, 1, 2);
      NormGrads g;
      if (!is_grad_enabled()) {
        static const OpDef& fused = op("layer_norm_backward");
        g = fused_backward(fused, c, w, {{"normalized_shape", ns}}, needs);
      } else {
        auto [R, D] = ln_dims(x.shape(), ns, "layer_norm");
        g = norm_backward_composite(
            c.grad(0).reshape({R, D}), x.reshape({R, D}), w.defined() ? w.reshape({1, D}) : w,
            c.output(1).reshape({R, 1}), c.output(2).reshape({R, 1}), c.grad(1).reshape({R, 1}),
            c.grad(2).reshape({R, 1}), {1}, {0}, static_cast<double>(D), needs);
        if (g.gx.defined()) g.gx = g.gx.reshape(x.shape());
      }
      if (g.gw.defined()) g.gw = g.gw.reshape(ns);
      if (g.gb.defined()) g.gb = g.gb.reshape(ns);
      return Tensors{g.gx, g.gw, g.gb};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "layer_norm_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 7;
    d.optional_inputs = {2};
    d.doc = "Fused first-order gradient of layer_norm: (gy, x, w?, mean, rstd, gmean, grstd) -> "
            "(gx, gw, gb); attrs normalized_shape, output_mask.";
    d.infer = [](const Metas& in, const Attrs& a) {
      const IntArray& ns = a.get<IntArray>("normalized_shape");
      auto [rows, D] = ln_dims(in[1].shape, ns, "layer_norm_backward");
      return norm_bwd_infer(in, a, ns, rows, "layer_norm_backward");
    };
    d.cpu = [](const KernelArgs& k) {
      const auto dims = ln_dims(k.inputs[1].shape(), k.attrs.get<IntArray>("normalized_shape"),
                                "layer_norm_backward");
      const int64_t rows = dims.first, D = dims.second;  // captured below: no structured binding
      norm_bwd_kernel(k, "layer_norm_backward", [&](auto gy, auto x, auto w, auto m,
                                                    auto r, auto gm, auto gr, auto gx, auto gw, auto gb) {
        cpu::layer_norm_bwd(gy, x, w, m, r, gm, gr, gx, gw, gb, rows, D);
      });
    };
    d.non_differentiable = true;
    register_op(std::move(d));
  }
}

// ---- group_norm ---------------------------------------------------------------

struct GnDims {
  int64_t N, C, S, G;
};
GnDims gn_dims(const Shape& x, int64_t G, const char* op) {
  TANDEM_CHECK(x.size() >= 2, "{}: expected an input with at least 2 dims [N, C, *], got shape {}",
               op, shape_str(x));
  TANDEM_CHECK(G > 0, "{}: num_groups must be positive, got {}", op, G);
  TANDEM_CHECK(x[1] % G == 0,
               "{}: expected the number of channels to be divisible by num_groups, got input of "
               "shape {} and num_groups={}", op, shape_str(x), G);
  return {x[0], x[1], prod_from(x, 2), G};
}

void register_group_norm() {
  {
    OpDef d;
    d.name = "group_norm";
    d.num_inputs = 3;
    d.optional_inputs = {1, 2};
    d.doc = "group_norm(x, weight?, bias?); attrs num_groups, eps. Outputs y, mean [N, G], rstd [N, G].";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "group_norm");
      GnDims g = gn_dims(in[0].shape, a.get<int64_t>("num_groups"), "group_norm");
      for (int i : {1, 2})
        TANDEM_CHECK(!in[i].defined || in[i].shape == Shape{g.C},
                     "group_norm: {} should be a vector of the {} channels, got shape {} (input "
                     "shape {})", i == 1 ? "weight" : "bias", g.C, shape_str(in[i].shape),
                     shape_str(in[0].shape));
      DType dt = in[0].dtype;
      return Metas{{in[0].shape, dt}, {{g.N, g.G}, dt}, {{g.N, g.G}, dt}};
    };
    d.cpu = [](const KernelArgs& k) {
      DType dt = k.outputs[0].dtype();
      GnDims g = gn_dims(k.inputs[0].shape(), k.attrs.get<int64_t>("num_groups"), "group_norm");
      Tensor x = dense(k.inputs[0], dt), w = dense(k.inputs[1], dt), b = dense(k.inputs[2], dt);
      double eps = k.attrs.get<double>("eps");
      TANDEM_DISPATCH_FLOAT(dt, "group_norm", [&] {
        cpu::group_norm_fwd<scalar_t>(cptr<scalar_t>(x), cptr<scalar_t>(w), cptr<scalar_t>(b),
                                      optr<scalar_t>(k.outputs[0]), optr<scalar_t>(k.outputs[1]),
                                      optr<scalar_t>(k.outputs[2]), g.N, g.C, g.S, g.G, eps);
      });
    };
    d.backward = [](const BackwardContext& c) {
      int64_t G = c.attrs().get<int64_t>("num_groups");
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(1);
      std::vector<bool> needs = needs3(c, 0, 1, 2);
      if (!is_grad_enabled()) {
        static const OpDef& fused = op("group_norm_backward");
        NormGrads g = fused_backward(fused, c, w, {{"num_groups", G}}, needs);
        return Tensors{g.gx, g.gw, g.gb};
      }
      GnDims s = gn_dims(x.shape(), G, "group_norm");
      const Shape v{s.N, s.G, s.C / s.G, s.S}, st{s.N, s.G, 1, 1};
      NormGrads g = norm_backward_composite(
          c.grad(0).reshape(v), x.reshape(v), w.defined() ? w.reshape({1, s.G, s.C / s.G, 1}) : w,
          c.output(1).reshape(st), c.output(2).reshape(st), c.grad(1).reshape(st),
          c.grad(2).reshape(st), {2, 3}, {0, 3}, static_cast<double>(s.C / s.G * s.S), needs);
      if (g.gx.defined()) g.gx = g.gx.reshape(x.shape());
      if (g.gw.defined()) g.gw = g.gw.reshape({s.C});
      if (g.gb.defined()) g.gb = g.gb.reshape({s.C});
      return Tensors{g.gx, g.gw, g.gb};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "group_norm_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 7;
    d.optional_inputs = {2};
    d.doc = "Fused first-order gradient of group_norm (see layer_norm_backward); attrs num_groups, "
            "output_mask.";
    d.infer = [](const Metas& in, const Attrs& a) {
      GnDims g = gn_dims(in[1].shape, a.get<int64_t>("num_groups"), "group_norm_backward");
      return norm_bwd_infer(in, a, {g.C}, g.N * g.G, "group_norm_backward");
    };
    d.cpu = [](const KernelArgs& k) {
      GnDims g = gn_dims(k.inputs[1].shape(), k.attrs.get<int64_t>("num_groups"), "group_norm_backward");
      norm_bwd_kernel(k, "group_norm_backward", [&](auto gy, auto x, auto w, auto m,
                                                    auto r, auto gm, auto gr, auto gx, auto gw, auto gb) {
        cpu::group_norm_bwd(gy, x, w, m, r, gm, gr, gx, gw, gb, g.N, g.C, g.S, g.G);
      });
    };
    d.non_differentiable = true;
    register_op(std::move(d));
  }
}

// ---- batch_norm ---------------------------------------------------------------

void check_channel_vector(const TensorMeta& m, const char* what, const Shape& x) {
  TANDEM_CHECK(!m.defined || shape_numel(m.shape) == x[1],
               "batch_norm: {} should contain {} elements (the channels of the input of shape {}), "
               "got shape {}", what, x[1], shape_str(x), shape_str(m.shape));
}

void check_bn_input(const Shape& x) {
  TANDEM_CHECK(x.size() >= 2,
               "batch_norm: expected an input with at least 2 dims [N, C, *], got shape {}",
               shape_str(x));
}

void register_batch_norm() {
  {
    OpDef d;
    d.name = "batch_norm";
    d.num_inputs = 5;
    d.optional_inputs = {1, 2, 3, 4};
    d.nondiff_inputs = {1, 2};
    d.doc = "batch_norm(x, running_mean?, running_var?, weight?, bias?); attrs training, eps. "
            "Outputs y, mean [C], rstd [C], unbiased variance [C]: of the batch when training, "
            "else from the running statistics. Does not update the running statistics "
            "(tandem::batch_norm does).";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "batch_norm");
      const Shape& x = in[0].shape;
      check_bn_input(x);
      check_channel_vector(in[1], "running_mean", x);
      check_channel_vector(in[2], "running_var", x);
      check_channel_vector(in[3], "weight", x);
      check_channel_vector(in[4], "bias", x);
      if (a.get<bool>("training")) {
        TANDEM_CHECK(x[0] * prod_from(x, 2) > 1 || shape_numel(x) == 0,
                     "batch_norm: expected more than 1 value per channel when training, got input "
                     "of shape {}", shape_str(x));
      } else {
        TANDEM_CHECK(in[1].defined && in[2].defined,
                     "batch_norm: running_mean and running_var must be defined in evaluation mode "
                     "(training=false)");
      }
      DType dt = in[0].dtype;
      return Metas{{x, dt}, {{x[1]}, dt}, {{x[1]}, dt}, {{x[1]}, dt}};
    };
    d.cpu = [](const KernelArgs& k) {
      DType dt = k.outputs[0].dtype();
      const Shape& xs = k.inputs[0].shape();
      const int64_t N = xs[0], C = xs[1], S = prod_from(xs, 2);
      Tensor x = dense(k.inputs[0], dt), w = dense(k.inputs[3], dt), b = dense(k.inputs[4], dt);
      double eps = k.attrs.get<double>("eps");
      TANDEM_DISPATCH_FLOAT(dt, "batch_norm", [&] {
        using T = scalar_t;
        T* mean = optr<T>(k.outputs[1]);
        T* rstd = optr<T>(k.outputs[2]);
        T* var = optr<T>(k.outputs[3]);
        if (k.attrs.get<bool>("training")) {
          cpu::batch_norm_train_fwd<T>(cptr<T>(x), cptr<T>(w), cptr<T>(b), optr<T>(k.outputs[0]),
                                       mean, rstd, var, N, C, S, eps);
          return;
        }
        Tensor rm = dense(k.inputs[1], dt), rv = dense(k.inputs[2], dt);
        std::vector<T> scale(C), shift(C);
        for (int64_t c = 0; c < C; ++c) {
          double r = 1.0 / std::sqrt(static_cast<double>(cptr<T>(rv)[c]) + eps);
          double a = r * (w.defined() ? static_cast<double>(cptr<T>(w)[c]) : 1.0);
          mean[c] = cptr<T>(rm)[c];
          rstd[c] = static_cast<T>(r);
          var[c] = cptr<T>(rv)[c];
          scale[c] = static_cast<T>(a);
          shift[c] = static_cast<T>((b.defined() ? static_cast<double>(cptr<T>(b)[c]) : 0.0) -
                                    static_cast<double>(mean[c]) * a);
        }
        cpu::channel_affine<T>(cptr<T>(x), scale.data(), shift.data(), optr<T>(k.outputs[0]), N, C, S);
      });
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      const Tensor& w = c.input(3);
      const int64_t N = x.size(0), C = x.size(1), S = prod_from(x.shape(), 2);
      std::vector<bool> needs = needs3(c, 0, 3, 4);
      const Shape v{N, C, S}, st{1, C, 1};
      Tensor gy = c.grad(0).reshape(v), w3 = w.defined() ? w.reshape(st) : w;
      Tensor mean = c.output(1).reshape(st), rstd = c.output(2).reshape(st);
      NormGrads g;
      if (!c.attrs().get<bool>("training")) {
        // The statistics are constants here: y is affine in x.
        if (needs[0]) g.gx = (gy * (w3.defined() ? w3 * rstd : rstd)).reshape(x.shape());
        if (needs[1]) g.gw = sum(gy * ((x.reshape(v) - mean) * rstd), {0, 2});
        if (needs[2]) g.gb = sum(gy, {0, 2});
      } else if (!is_grad_enabled()) {
        static const OpDef& fused = op("batch_norm_backward");
        g = fused_backward(fused, c, w, {}, needs);
      } else {
        g = norm_backward_composite(gy, x.reshape(v), w3, mean, rstd, c.grad(1).reshape(st),
                                    c.grad(2).reshape(st), {0, 2}, {0, 2},
                                    static_cast<double>(N * S), needs);
        if (g.gx.defined()) g.gx = g.gx.reshape(x.shape());
      }
      if (g.gw.defined()) g.gw = g.gw.reshape(w.shape());
      if (g.gb.defined()) g.gb = g.gb.reshape(c.input_meta(4).shape);
      return Tensors{g.gx, Tensor(), Tensor(), g.gw, g.gb};
    };
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "batch_norm_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 7;
    d.optional_inputs = {2};
    d.doc = "Fused first-order gradient of training-mode batch_norm (see layer_norm_backward); "
            "attr output_mask.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_bn_input(in[1].shape);
      int64_t C = in[1].shape[1];
      return norm_bwd_infer(in, a, {C}, C, "batch_norm_backward");
    };
    d.cpu = [](const KernelArgs& k) {
      const Shape& xs = k.inputs[1].shape();
      const int64_t N = xs[0], C = xs[1], S = prod_from(xs, 2);
      norm_bwd_kernel(k, "batch_norm_backward", [&](auto gy, auto x, auto w, auto m,
                                                    auto r, auto gm, auto gr, auto gx, auto gw, auto gb) {
        cpu::batch_norm_train_bwd(gy, x, w, m, r, gm, gr, gx, gw, gb, N, C, S);
      });
    };
    d.non_differentiable = true;
    register_op(std::move(d));
  }
}

}  // namespace

namespace defs {
void register_nn_norm() {
  register_layer_norm();
  register_group_norm();
  register_batch_norm();
}
}  // namespace defs

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  static const OpDef& d = op("batch_norm");
  if (!training) return dispatch(d, {x, running_mean, running_var, weight, bias},
                                 {{"training", false}, {"eps", eps}})[0];
  // NOTE: the running statistics are not inputs of the training-mode op: it does not
  // read them, and the in-place update below must not invalidate a saved input.
  if (x.defined()) {
    check_bn_input(x.shape());
    check_channel_vector(TensorMeta::of(running_mean), "running_mean", x.shape());
    check_channel_vector(TensorMeta::of(running_var), "running_var", x.shape());
  }
  Tensors o = dispatch(d, {x, Tensor(), Tensor(), weight, bias}, {{"training", true}, {"eps", eps}});
  NoGradGuard no_grad;
  if (running_mean.defined()) {
    Tensor rm = running_mean;
    rm.mul_(1.0 - momentum).add_(o[1].reshape(rm.shape()), momentum);
  }
  if (running_var.defined()) {
    Tensor rv = running_var;
    rv.mul_(1.0 - momentum).add_(o[3].reshape(rv.shape()), momentum);
  }
  return o[0];
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  static const OpDef& d = op("layer_norm");
  return dispatch(d, {x, weight, bias}, {{"normalized_shape", normalized_shape}, {"eps", eps}})[0];
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  static const OpDef& d = op("group_norm");
  return dispatch(d, {x, weight, bias}, {{"num_groups", num_groups}, {"eps", eps}})[0];
}

}  // namespace tandem
