// Ops on oneDNN's channel-blocked activation layout, made by graph::run_blocked_layout
// (src/graph/passes/blocked_layout.cpp) for compiled inference; never called from eager
// code. A blocked activation of logical shape [N, C, H, W] is a contiguous float32
// [N, ceil(C/16), H, W, 16] (channel c at [n, c/16, h, w, c%16]; channels C and up, the
// padding, hold finite values, zero where oneDNN writes them; src/backend/cpu/blocked_layout.h):
//   conv2d_blocked(x, w, b, r)  conv2d / conv2d_act with a blocked output; x is NCHW, or
//                             blocked with attr blocked_input = 1; optional residual r of
//                             the output's logical shape: y = act(conv(x) + b + r), r blocked
//                             with attr residual_blocked = 1, else NCHW
//   max_pool2d_blocked(x)     max_pool2d (values only) from blocked to blocked
//   from_blocked(x)           blocked [N, ceil(C/16), H, W, 16] -> NCHW [N, C, H, W] (attr
//                             channels: C, default all 16 of every block)
//   gather_channels_blocked(x...)  channel o of the output is channel index[o] of the inputs'
//                             channel concatenation (attrs channels: each input's C, index):
//                             a channel cat, slice or shuffle from blocked to blocked
// Shapes, attributes and their errors are those of the NCHW ops (their `infer` runs on the
// logical shape). Forward only (non_differentiable): the pass rewrites inference graphs.
#include "../../backend/cpu/blocked_layout.h"
#include "../../backend/cpu/conv.h"
#include "../../backend/cpu/fused.h"
#include "../../backend/cpu/loops.h"
#include "../../backend/cpu/packed_weights.h"
#include "defs.h"
#include "tandem/autograd.h"

namespace tandem::defs {
namespace {

using Metas = std::vector<TensorMeta>;

constexpr int64_t kBlock = 16;

// The logical NCHW shape of blocked shape [N, ceil(C/16), H, W, 16] holding C channels
// (channels < 0: every block full).
Shape logical_shape(const Shape& blocked, const char* op, int64_t channels = -1) {
  TANDEM_CHECK(blocked.size() == 5 && blocked[4] == kBlock,
               "{}: expected a blocked input [N, ceil(C/16), H, W, 16], got shape {}", op, shape_str(blocked));
  if (channels < 0) channels = blocked[1] * kBlock;
  TANDEM_CHECK(channels > (blocked[1] - 1) * kBlock && channels <= blocked[1] * kBlock,
               "{}: {} channels do not fill the {} blocks of 16 of the blocked input {}", op, channels, blocked[1],
               shape_str(blocked));
  return {blocked[0], channels, blocked[2], blocked[3]};
}

// The blocked shape of logical NCHW shape [N, C, H, W] (the last block padded).
Shape blocked_shape(const Shape& s, const char* op) {
  TANDEM_CHECK(s.size() == 4 && s[1] > 0,
               "{}: the blocked layout needs a 4-D [N, C, H, W] result with C > 0, got {}", op, shape_str(s));
  return {s[0], (s[1] + kBlock - 1) / kBlock, s[2], s[3], kBlock};
}

void check_float32(const TensorMeta& m, const char* op, const char* what) {
  TANDEM_CHECK(m.dtype == DType::Float32, "{}: {} must be float32, got {}", op, what, m.dtype);
}

bool blocked_input(const Attrs& a) { return a.get_or<int64_t>("blocked_input", 0) != 0; }
bool residual_blocked(const Attrs& a) { return a.get_or<int64_t>("residual_blocked", 0) != 0; }

// The input channels of a convolution with weight shape w ([O, C/groups, kh, kw]): a blocked
// input's padding makes its own shape say only how many blocks it has.
int64_t blocked_channels(const Shape& w, const Attrs& a) {
  return w.size() == 4 ? w[1] * a.get_or<int64_t>("groups", 1) : -1;
}

void register_conv2d_blocked() {
  OpDef d;
  d.name = "conv2d_blocked";
  d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
  d.num_inputs = 4;
  d.optional_inputs = {2, 3};
  d.non_differentiable = true;
  d.doc = "conv2d (attrs stride, padding, dilation, groups: 1, or >1 with a blocked input) writing a blocked output "
          "[N, ceil(O/16), Ho, Wo, 16]; input NCHW, or blocked [N, ceil(C/16), H, W, 16] with attr "
          "blocked_input = 1; optional residual (input 3) of the output's logical shape, added "
          "before the activation (blocked with attr residual_blocked = 1, else NCHW); optional act, "
          "act_p0, act_p1 (as conv2d_act) and prepacked. Made by graph::run_blocked_layout.";
  d.infer = [](const Metas& in, const Attrs& a) {
    const char* name = "conv2d_blocked";
    for (const TensorMeta& m : in)
      if (m.defined) check_float32(m, name, "every input");
    Metas nchw(in.begin(), in.begin() + 3);
    if (blocked_input(a)) nchw[0].shape = logical_shape(in[0].shape, name, blocked_channels(in[1].shape, a));
    if (a.has("act")) fused_activation(a);
    Metas out = op("conv2d").infer(nchw, a);
    TANDEM_CHECK(a.get_or<int64_t>("groups", 1) == 1 || blocked_input(a),
                 "{}: groups {} needs a blocked input (attr blocked_input = 1)", name, a.get_or<int64_t>("groups", 1));
    const Shape y_nchw = out[0].shape;
    out[0].shape = blocked_shape(y_nchw, name);
    if (in.size() > 3 && in[3].defined) {
      const Shape& want = residual_blocked(a) ? out[0].shape : y_nchw;
      TANDEM_CHECK(in[3].shape == want,
                   "{}: the residual must have the output's {} shape {} (attr residual_blocked = {}), got {}",
                   name, residual_blocked(a) ? "blocked" : "NCHW", shape_str(want), int64_t{residual_blocked(a)},
                   shape_str(in[3].shape));
    }
    return out;
  };
  d.cpu = [](const KernelArgs& k) {
    NoGradGuard ng;
    const bool blocked = blocked_input(k.attrs);
    const Tensor x = k.inputs[0].contiguous();
    const Tensor& w = k.inputs[1];
    const Tensor& y = k.outputs[0];
    const Shape xs = blocked ? logical_shape(x.shape(), "conv2d_blocked", blocked_channels(w.shape(), k.attrs))
                             : x.shape();
    cpu::ConvGeom g = conv2d_geometry(xs, w.shape(), k.attrs);
    cpu::Activation act{};
    cpu::ConvForwardOptions o;
    if (k.attrs.has("act")) {
      act = fused_activation(k.attrs);
      o.act = &act;
    }
    // As conv2d_kernel: only the weight's own storage is packed.
    o.prepacked = k.attrs.get_or<int64_t>("prepacked", 0) != 0 && w.is_contiguous();
    if (!o.prepacked) cpu::packed_weights::ensure_plain(w);  // read plain: restore a released copy
    const Tensor b = k.inputs[2].defined() ? k.inputs[2].contiguous() : Tensor();
    if (k.inputs.size() > 3 && k.inputs[3].defined()) {
      // The sum post-op adds y's previous contents: start y as the residual.
      const Tensor r = k.inputs[3].contiguous();
      if (residual_blocked(k.attrs)) cpu::copy_into(y, r);
      else cpu::to_blocked(r, y);
      o.accumulate = true;
    }
    const bool fused = cpu::conv2d_forward_blocked(g, x, blocked, w.contiguous(), b, y, o);
    if (o.act && !fused) cpu::activation_inplace(y, act.op, act.p0, act.p1);
  };
  register_op(std::move(d));
}

void register_max_pool2d_blocked() {
  OpDef d;
  d.name = "max_pool2d_blocked";
  d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
  d.num_inputs = 1;
  d.non_differentiable = true;
  d.doc = "max_pool2d (attrs kernel_size, stride, padding, dilation, ceil_mode; values only) from "
          "blocked [N, ceil(C/16), H, W, 16] to blocked [N, ceil(C/16), OH, OW, 16] (the padding pooled "
          "along). Made by graph::run_blocked_layout.";
  d.infer = [](const Metas& in, const Attrs& a) {
    const char* name = "max_pool2d_blocked";
    check_float32(in[0], name, "the input");
    Metas nchw = in;
    nchw[0].shape = logical_shape(in[0].shape, name);
    Metas out = op("max_pool2d").infer(nchw, a);
    out[0].shape = blocked_shape(out[0].shape, name);
    return out;
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor x = k.inputs[0].contiguous();
    const Shape xs = logical_shape(x.shape(), "max_pool2d_blocked");
    cpu::max_pool2d_blocked(max_pool2d_geometry(xs, k.attrs), xs[0], xs[1], x, k.outputs[0]);
  };
  register_op(std::move(d));
}

void register_gather_channels_blocked() {
  OpDef d;
  d.name = "gather_channels_blocked";
  d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
  d.num_inputs = -1;
  d.non_differentiable = true;
  d.doc = "Blocked inputs [N, ceil(C_i/16), H, W, 16] holding channels[i] channels (attr channels) to blocked "
          "[N, ceil(K/16), H, W, 16]: output channel o is channel index[o] (attr index, K entries) of the "
          "inputs' channel concatenation. A channel cat, slice or shuffle in one pass. Made by "
          "graph::run_blocked_layout.";
  d.infer = [](const Metas& in, const Attrs& a) {
    const char* name = "gather_channels_blocked";
    const IntArray channels = a.get<IntArray>("channels"), index = a.get<IntArray>("index");
    TANDEM_CHECK(!in.empty() && in.size() == channels.size(), "{}: {} inputs but {} channel counts (attr channels)",
                 name, in.size(), channels.size());
    int64_t total = 0;
    Shape first;
    for (size_t i = 0; i < in.size(); ++i) {
      check_float32(in[i], name, "every input");
      const Shape s = logical_shape(in[i].shape, name, channels[i]);
      TANDEM_CHECK(i == 0 || (s[0] == first[0] && s[2] == first[2] && s[3] == first[3]),
                   "{}: inputs must agree in N, H and W, got {} and {}", name, shape_str(in[0].shape),
                   shape_str(in[i].shape));
      if (i == 0) first = s;
      total += channels[i];
    }
    for (int64_t c : index)
      TANDEM_CHECK(c >= 0 && c < total, "{}: channel index {} out of range for {} input channels", name, c, total);
    return Metas{{blocked_shape({first[0], static_cast<int64_t>(index.size()), first[2], first[3]}, name),
                  DType::Float32}};
  };
  d.cpu = [](const KernelArgs& k) {
    std::vector<Tensor> xs;
    for (const Tensor& t : k.inputs) xs.push_back(t.contiguous());
    cpu::gather_channels_blocked(xs, k.attrs.get<IntArray>("channels"), k.attrs.get<IntArray>("index"),
                                 k.outputs[0]);
  };
  register_op(std::move(d));
}

void register_from_blocked() {
  OpDef d;
  d.name = "from_blocked";
  d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
  d.num_inputs = 1;
  d.non_differentiable = true;
  d.doc = "Blocked [N, ceil(C/16), H, W, 16] (oneDNN nChw16c) to NCHW [N, C, H, W]: y[n, c, h, w] = "
          "x[n, c/16, h, w, c%16]; attr channels: C (default 16 per block). Made by graph::run_blocked_layout.";
  d.infer = [](const Metas& in, const Attrs& a) {
    check_float32(in[0], "from_blocked", "the input");
    return Metas{{logical_shape(in[0].shape, "from_blocked", a.get_or<int64_t>("channels", -1)), DType::Float32}};
  };
  d.cpu = [](const KernelArgs& k) { cpu::from_blocked(k.inputs[0].contiguous(), k.outputs[0]); };
  register_op(std::move(d));
}

}  // namespace

void register_blocked_layout() {
  register_conv2d_blocked();
  register_max_pool2d_blocked();
  register_from_blocked();
  register_gather_channels_blocked();
}

}  // namespace tandem::defs
