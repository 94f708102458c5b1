// "rnn_layer": one layer of ONNX's LSTM, GRU or RNN operator, so that a recurrent layer can be
// one graph node (and one ONNX node) instead of a few ops per time step. nn::LSTM/GRU/RNN
// record it while onnx::export_model traces them (nn/export_scope.h); the ONNX exporter
// writes it as the ONNX operator of the same name, which any runtime runs on any length.
//
// Inputs, in ONNX's layouts and gate orders (LSTM i,o,f,c; GRU z,r,h):
//   x [T, B, F] (time-major), W [D, G*H, F], R [D, G*H, H], B [D, 2*G*H] (optional),
//   h0 [D, B, H] (optional), c0 [D, B, H] (optional, LSTM)
// Attributes: mode "LSTM" | "GRU" | "RNN", direction "forward" | "reverse" | "bidirectional",
//   activation "Tanh" | "Relu" (RNN), linear_before_reset 0 | 1 (GRU; PyTorch's GRU is 1).
// Outputs: Y [T, B, D*H] (directions concatenated, forward first: what the next layer reads),
//   Y_h [D, B, H], and Y_c [D, B, H] for the LSTM.
// The kernel is the decomposition into tandem ops (the reference); there is no gradient: the
// op exists for inference graphs.
#include <string>

#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::defs {
namespace {

using Metas = std::vector<TensorMeta>;

int64_t gates(const std::string& mode) {
  if (mode == "LSTM") return 4;
  if (mode == "GRU") return 3;
  TANDEM_CHECK(mode == "RNN", "rnn_layer: mode must be LSTM, GRU or RNN, got '{}'", mode);
  return 1;
}

Metas rnn_layer_infer(const Metas& in, const Attrs& a) {
  const std::string& mode = a.get<std::string>("mode");
  const int64_t G = gates(mode);
  const std::string dir = a.get_or<std::string>("direction", "forward");
  TANDEM_CHECK(dir == "forward" || dir == "reverse" || dir == "bidirectional",
               "rnn_layer: direction must be forward, reverse or bidirectional, got '{}'", dir);
  const int64_t D = dir == "bidirectional" ? 2 : 1;
  const Shape &x = in[0].shape, &w = in[1].shape, &r = in[2].shape;
  TANDEM_CHECK(x.size() == 3 && w.size() == 3 && r.size() == 3,
               "rnn_layer: expected x [T, B, F], W [D, G*H, F], R [D, G*H, H], got {}, {}, {}",
               shape_str(x), shape_str(w), shape_str(r));
  const int64_t H = r[2];
  TANDEM_CHECK(w[0] == D && r[0] == D && w[1] == G * H && r[1] == G * H && w[2] == x[2],
               "rnn_layer ({}, {}): W {} and R {} do not fit x {} with {} direction(s) and "
               "hidden size {}",
               mode, dir, shape_str(w), shape_str(r), shape_str(x), D, H);
  if (in[3].defined)
    TANDEM_CHECK(in[3].shape == (Shape{D, 2 * G * H}), "rnn_layer: B must be [{}, {}], got {}", D,
                 2 * G * H, shape_str(in[3].shape));
  for (int i : {4, 5})
    if (in[i].defined)
      TANDEM_CHECK(in[i].shape == (Shape{D, x[1], H}), "rnn_layer: initial state {} must be {}, got {}",
                   i == 4 ? "h0" : "c0", shape_str(Shape{D, x[1], H}), shape_str(in[i].shape));
  Metas out(mode == "LSTM" ? 3 : 2);
  out[0].shape = {x[0], x[1], D * H};
  for (size_t k = 1; k < out.size(); ++k) out[k].shape = {D, x[1], H};
  for (auto& m : out) m.dtype = in[0].dtype;
  return out;
}

// One direction; xw [T, B, G*H] is x·Wᵀ + Wb. Returns Y [T, B, H]; h (and c) carry the state.
Tensor run_direction(const std::string& mode, const Tensor& xw, const Tensor& r, const Tensor& rb,
                     bool reverse, bool relu_act, bool lbr, Tensor& h, Tensor& c) {
  const int64_t T = xw.size(0), H = r.size(1);
  std::vector<Tensor> xs = unbind(xw, 0), out(static_cast<size_t>(T));
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const Tensor& xt = xs[static_cast<size_t>(t)];
    if (mode == "LSTM") {
      Tensor g = add(xt, linear(h, r, rb));  // i, o, f, c
      Tensor i = sigmoid(g.slice(1, 0, H)), o = sigmoid(g.slice(1, H, 2 * H));
      Tensor f = sigmoid(g.slice(1, 2 * H, 3 * H)), cc = tanh(g.slice(1, 3 * H, 4 * H));
      c = add(mul(f, c), mul(i, cc));
      h = mul(o, tanh(c));
    } else if (mode == "GRU") {
      // z, r, h; with linear_before_reset the recurrent bias of h sits inside r ⊙ (...).
      Tensor hr = linear(h, r.slice(0, 0, 2 * H), rb.slice(0, 0, 2 * H));
      Tensor z = sigmoid(add(xt.slice(1, 0, H), hr.slice(1, 0, H)));
      Tensor rr = sigmoid(add(xt.slice(1, H, 2 * H), hr.slice(1, H, 2 * H)));
      Tensor rh = r.slice(0, 2 * H, 3 * H), rbh = rb.slice(0, 2 * H, 3 * H);
      Tensor n = lbr ? tanh(add(xt.slice(1, 2 * H, 3 * H), mul(rr, linear(h, rh, rbh))))
                     : tanh(add(xt.slice(1, 2 * H, 3 * H), linear(mul(rr, h), rh, rbh)));
      h = add(n, mul(z, sub(h, n)));
    } else {
      Tensor pre = add(xt, linear(h, r, rb));
      h = relu_act ? relu(pre) : tanh(pre);
    }
    out[static_cast<size_t>(t)] = h;
  }
  return stack(out, 0);
}

void rnn_layer_kernel(const KernelArgs& k) {
  NoGradGuard no_grad;
  const std::string& mode = k.attrs.get<std::string>("mode");
  const std::string dir = k.attrs.get_or<std::string>("direction", "forward");
  const std::string act = k.attrs.get_or<std::string>("activation", "Tanh");
  TANDEM_CHECK(act == "Tanh" || act == "Relu", "rnn_layer: activation must be Tanh or Relu, got '{}'", act);
  const bool lbr = k.attrs.get_or<int64_t>("linear_before_reset", 0) != 0;
  const Tensor &x = k.inputs[0], &W = k.inputs[1], &R = k.inputs[2];
  const int64_t D = W.size(0), G = gates(mode), H = R.size(2), B = x.size(1);
  std::vector<Tensor> ys;
  for (int64_t d = 0; d < D; ++d) {
    Tensor wb = k.inputs[3].defined() ? k.inputs[3][d].slice(0, 0, G * H) : zeros({G * H}, {.dtype = x.dtype()});
    Tensor rb = k.inputs[3].defined() ? k.inputs[3][d].slice(0, G * H, 2 * G * H)
                                      : zeros({G * H}, {.dtype = x.dtype()});
    Tensor h = k.inputs[4].defined() ? k.inputs[4][d].contiguous() : zeros({B, H}, {.dtype = x.dtype()});
    Tensor c = k.inputs[5].defined() ? k.inputs[5][d].contiguous() : zeros({B, H}, {.dtype = x.dtype()});
    bool reverse = dir == "reverse" || (dir == "bidirectional" && d == 1);
    ys.push_back(run_direction(mode, linear(x, W[d], wb), R[d], rb, reverse, act == "Relu", lbr, h, c));
    k.outputs[1].select(0, d).copy_(h);
    if (mode == "LSTM") k.outputs[2].select(0, d).copy_(c);
  }
  k.outputs[0].copy_(D == 1 ? ys[0] : cat(ys, 2));
}

}  // namespace

void register_rnn_layer() {
  OpDef d;
  d.name = "rnn_layer";
  d.num_inputs = 6;
  d.optional_inputs = {3, 4, 5};
  d.infer = rnn_layer_infer;
  d.cpu = rnn_layer_kernel;
  d.non_differentiable = true;
  d.doc = "One layer of ONNX's LSTM/GRU/RNN (attrs mode, direction, activation, "
          "linear_before_reset): x [T, B, F], W, R, B, h0, c0 -> Y [T, B, D*H], Y_h (, Y_c).";
  register_op(std::move(d));
}

}  // namespace tandem::defs
