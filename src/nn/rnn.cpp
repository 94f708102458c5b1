// LSTM, GRU and RNN as compositions of tandem ops (autograd comes with them).
//
// Per layer and direction: one linear() projects every time step of the input at once
// ([L, N, in] -> [L, N, G*H]), unbind() cuts it into steps; the loop then adds the
// hidden-state product h·W_hhᵀ and applies the gate nonlinearities, one step at a time
// (about ten small ops a step).
//
// NOTE: every per-step piece comes from unbind(), never from select()/narrow() of a tensor
// that requires grad: a view's backward zero-fills a gradient of the whole base tensor, so
// L steps would cost O(L²) memory traffic in backward (4x slower at L = 50).
#include "tandem/nn/rnn.h"

#include <cmath>

#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/nn/init.h"
#include "tandem/nn/recurrent_export.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"

namespace tandem::nn {
namespace {

const char* mode_name(RNNBase::Mode m) {
  switch (m) {
    case RNNBase::Mode::LSTM: return "LSTM";
    case RNNBase::Mode::GRU: return "GRU";
    default: return "RNN";
  }
}

int64_t gate_count(RNNBase::Mode m) {
  switch (m) {
    case RNNBase::Mode::LSTM: return 4;
    case RNNBase::Mode::GRU: return 3;
    default: return 1;
  }
}

RNNBase::Mode rnn_mode(const std::string& nonlinearity) {
  TANDEM_CHECK(nonlinearity == "tanh" || nonlinearity == "relu",
               "RNN: nonlinearity must be \"tanh\" or \"relu\", got \"{}\"", nonlinearity);
  return nonlinearity == "tanh" ? RNNBase::Mode::RNN_TANH : RNNBase::Mode::RNN_RELU;
}

// One LSTM direction over the projected input steps xs[t] [N, 4H] (both biases already in).
// Writes the hidden state of every step into outs[t]; h and c carry the state in and out.
void lstm_direction(const std::vector<Tensor>& xs, const Tensor& w_hh, bool reverse, Tensor& h, Tensor& c,
                    std::vector<Tensor>& outs) {
  const int64_t L = static_cast<int64_t>(xs.size()), N = h.size(0), H = w_hh.size(1);
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    Tensor gates = add(xs[t], linear(h, w_hh));  // [N, 4H]: i, f, g, o
    // NOTE: unbind, not narrow: a narrow view's backward zero-fills a full [N, 4H] gradient
    // per gate; unbind's is one stack.
    std::vector<Tensor> p = unbind(gates.view({N, 4, H}), 1);
    Tensor i = sigmoid(p[0]), f = sigmoid(p[1]), g = tanh(p[2]), o = sigmoid(p[3]);
    c = add(mul(f, c), mul(i, g));
    h = mul(o, tanh(c));
    outs[t] = h;
  }
}

// One GRU direction over the projected input steps xs[t] [N, 3H] (input bias in). PyTorch's
// formulation:
//   r = σ(x_r + h·W_hrᵀ + b_hr), z = σ(x_z + h·W_hzᵀ + b_hz),
//   n = tanh(x_n + r ⊙ (h·W_hnᵀ + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h = n + z ⊙ (h - n).
void gru_direction(const std::vector<Tensor>& xs, const Tensor& w_hh, const Tensor& b_hh, bool reverse, Tensor& h,
                   std::vector<Tensor>& outs) {
  const int64_t L = static_cast<int64_t>(xs.size()), N = h.size(0), H = w_hh.size(1);
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    std::vector<Tensor> x = unbind(xs[t].view({N, 3, H}), 1);
    std::vector<Tensor> hh = unbind(linear(h, w_hh, b_hh).view({N, 3, H}), 1);
    Tensor r = sigmoid(add(x[0], hh[0])), z = sigmoid(add(x[1], hh[1]));
    Tensor n = tanh(add(x[2], mul(r, hh[2])));
    h = add(n, mul(z, sub(h, n)));
    outs[t] = h;
  }
}

// One Elman RNN direction over xs[t] [N, H] (both biases already in).
void rnn_direction(const std::vector<Tensor>& xs, const Tensor& w_hh, bool relu_act, bool reverse, Tensor& h,
                   std::vector<Tensor>& outs) {
  const int64_t L = static_cast<int64_t>(xs.size());
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    Tensor pre = add(xs[t], linear(h, w_hh));
    h = relu_act ? relu(pre) : tanh(pre);
    outs[t] = h;
  }
}

thread_local bool t_one_op = false;

// Rows of a [G*H, ...] weight (or [G*H] bias) reordered by gate: block `order[k]` goes k-th.
Tensor reorder_gates(const Tensor& t, const std::vector<int64_t>& order, int64_t H) {
  if (order.size() == 1) return t;
  std::vector<Tensor> parts;
  for (int64_t g : order) parts.push_back(t.slice(0, g * H, (g + 1) * H));
  return cat(parts, 0);
}

}  // namespace

RecurrentAsOneOp::RecurrentAsOneOp() : previous_(t_one_op) { t_one_op = true; }
RecurrentAsOneOp::~RecurrentAsOneOp() { t_one_op = previous_; }
bool RecurrentAsOneOp::active() { return t_one_op; }

RNNBase::RNNBase(Mode mode, int64_t input_size_, int64_t hidden_size_, RNNOptions opts, Generator* gen)
    : Module(mode_name(mode)), input_size(input_size_), hidden_size(hidden_size_), options(opts), mode_(mode) {
  const char* name = mode_name(mode);
  TANDEM_CHECK(input_size > 0 && hidden_size > 0,
               "{}: input_size and hidden_size must be positive, got {} and {}", name, input_size,
               hidden_size);
  TANDEM_CHECK(options.num_layers >= 1, "{}: num_layers must be at least 1, got {}", name,
               options.num_layers);
  TANDEM_CHECK(options.dropout >= 0.0 && options.dropout <= 1.0,
               "{}: dropout must be a probability in [0, 1], got {}", name, options.dropout);
  const int64_t G = gate_count(mode) * hidden_size;
  const int64_t D = options.bidirectional ? 2 : 1;
  for (int64_t layer = 0; layer < options.num_layers; ++layer) {
    const int64_t in = layer == 0 ? input_size : D * hidden_size;
    for (int64_t dir = 0; dir < D; ++dir) {
      const std::string sfx = fmt::format("_l{}{}", layer, dir == 1 ? "_reverse" : "");
      Weights w;
      w.w_ih = register_parameter("weight_ih" + sfx, empty({G, in}));
      w.w_hh = register_parameter("weight_hh" + sfx, empty({G, hidden_size}));
      if (options.bias) {
        w.b_ih = register_parameter("bias_ih" + sfx, empty({G}));
        w.b_hh = register_parameter("bias_hh" + sfx, empty({G}));
      }
      weights_.push_back(w);
    }
  }
  reset_parameters(gen);
}

void RNNBase::reset_parameters(Generator* gen) {
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor p : parameters(/*recurse=*/false)) init::uniform_(p, -k, k, gen);
}

std::string RNNBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_size, hidden_size);
  if (mode_ == Mode::RNN_RELU) s += ", nonlinearity=relu";
  if (options.num_layers != 1) s += fmt::format(", num_layers={}", options.num_layers);
  if (!options.bias) s += ", bias=False";
  if (options.batch_first) s += ", batch_first=True";
  if (options.dropout != 0.0) s += fmt::format(", dropout={}", options.dropout);
  if (options.bidirectional) s += ", bidirectional=True";
  return s;
}

Tensor RNNBase::check_state(const Tensor& s, const char* what, int64_t batch, bool unbatched,
                            DType dtype) const {
  const int64_t D = options.bidirectional ? 2 : 1;
  const Shape expected = unbatched ? Shape{D * options.num_layers, hidden_size}
                                   : Shape{D * options.num_layers, batch, hidden_size};
  TANDEM_CHECK(s.shape() == expected,
               "{}: {} must have shape {} ([num_directions*num_layers, {}hidden_size]), got {}",
               mode_name(mode_), what, shape_str(expected), unbatched ? "" : "batch, ",
               shape_str(s.shape()));
  TANDEM_CHECK(s.dtype() == dtype, "{}: {} has dtype {} but the input has dtype {}", mode_name(mode_), what,
               s.dtype(), dtype);
  return unbatched ? s.unsqueeze(1) : s;
}

LSTMOutput RNNBase::run(const Tensor& input, const Tensor& h0, const Tensor& c0) const {
  const char* name = mode_name(mode_);
  const bool lstm = mode_ == Mode::LSTM;
  TANDEM_CHECK(input.defined(), "{}: the input is an undefined tensor", name);
  TANDEM_CHECK(input.dim() == 3 || input.dim() == 2,
               "{}: expected a 3-D input [{}] or a 2-D unbatched one [seq, input_size], got shape {}",
               name, options.batch_first ? "batch, seq, input_size" : "seq, batch, input_size",
               shape_str(input.shape()));
  const bool unbatched = input.dim() == 2;
  // Time-major [L, N, in] from here on.
  Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first ? input.transpose(0, 1) : input;
  TANDEM_CHECK(x.size(2) == input_size, "{}: expected input_size {} in the last dim, got shape {}", name,
               input_size, shape_str(input.shape()));
  TANDEM_CHECK(x.size(0) > 0, "{}: the input sequence is empty (shape {})", name, shape_str(input.shape()));
  const DType dt = weights_[0].w_ih.dtype();
  TANDEM_CHECK(input.dtype() == dt,
               "{}: the input has dtype {} but the parameters have {}; convert one of them "
               "(module->to(dtype) or x.to(dtype))",
               name, input.dtype(), dt);
  if (lstm)
    TANDEM_CHECK(h0.defined() == c0.defined(),
                 "LSTM: give both initial states h0 and c0, or neither (zeros), got only {}",
                 h0.defined() ? "h0" : "c0");
  const int64_t L = x.size(0), N = x.size(1), H = hidden_size;
  const int64_t D = options.bidirectional ? 2 : 1;
  Tensor h_init = h0.defined() ? check_state(h0, "h0", N, unbatched, dt) : Tensor();
  Tensor c_init = lstm && c0.defined() ? check_state(c0, "c0", N, unbatched, dt) : Tensor();

  std::vector<Tensor> h_n, c_n;
  Tensor layer_in = x;
  const bool one_op = RecurrentAsOneOp::active() &&
                      !(options.dropout > 0.0 && is_training() && options.num_layers > 1);
  if (one_op) {
    // PyTorch's gate order (LSTM i,f,g,o; GRU r,z,n) to ONNX's (LSTM i,o,f,c; GRU z,r,h).
    const std::vector<int64_t> order = lstm                ? std::vector<int64_t>{0, 3, 1, 2}
                                       : mode_ == Mode::GRU ? std::vector<int64_t>{1, 0, 2}
                                                            : std::vector<int64_t>{0};
    static const OpDef& rnn_layer = op("rnn_layer");
    Attrs attrs{{"mode", std::string(name)},
                {"direction", std::string(D == 2 ? "bidirectional" : "forward")},
                {"activation", std::string(mode_ == Mode::RNN_RELU ? "Relu" : "Tanh")},
                {"linear_before_reset", int64_t{mode_ == Mode::GRU ? 1 : 0}}};
    for (int64_t layer = 0; layer < options.num_layers; ++layer) {
      // NOTE: the weights in ONNX's layout are computed outside any trace, so an exported
      // file holds them as initializers (named after the parameters) rather than a dozen
      // Slice/Concat nodes per layer. Only export uses this path: the copies are snapshots.
      Tensor W, R, B;
      {
        struct Untraced {
          DispatchInterceptor* saved = set_dispatch_interceptor(nullptr);
          ~Untraced() { set_dispatch_interceptor(saved); }
        } untraced;
        NoGradGuard no_grad;
        std::vector<Tensor> ws, rs, bs;
        for (int64_t dir = 0; dir < D; ++dir) {
          const Weights& w = weights_[layer * D + dir];
          ws.push_back(reorder_gates(w.w_ih, order, H));
          rs.push_back(reorder_gates(w.w_hh, order, H));
          if (w.b_ih.defined())
            bs.push_back(cat({reorder_gates(w.b_ih, order, H), reorder_gates(w.b_hh, order, H)}, 0));
        }
        W = stack(ws, 0), R = stack(rs, 0);
        if (!bs.empty()) B = stack(bs, 0);
      }
      const Weights& w0 = weights_[layer * D];
      graph::trace_name(W, w0.w_ih, "onnx_W");
      graph::trace_name(R, w0.w_hh, "onnx_R");
      if (B.defined()) graph::trace_name(B, w0.b_ih, "onnx_B");
      auto states = [&](const Tensor& s) {
        return s.defined() ? s.slice(0, layer * D, (layer + 1) * D) : Tensor();
      };
      std::vector<Tensor> outs = dispatch(
          rnn_layer, {layer_in, W, R, B, states(h_init), lstm ? states(c_init) : Tensor()}, attrs);
      layer_in = outs[0];
      h_n.push_back(outs[1]);
      if (lstm) c_n.push_back(outs[2]);
    }
  }
  for (int64_t layer = 0; !one_op && layer < options.num_layers; ++layer) {
    std::vector<Tensor> dir_out;
    for (int64_t dir = 0; dir < D; ++dir) {
      const int64_t idx = layer * D + dir;
      const Weights& w = weights_[idx];
      Tensor h = h_init.defined() ? h_init.select(0, idx) : zeros({N, H}, {.dtype = dt});
      std::vector<Tensor> outs(L);
      if (mode_ == Mode::RNN_TANH || mode_ == Mode::RNN_RELU) {
        Tensor xproj = linear(layer_in, w.w_ih, w.b_ih.defined() ? add(w.b_ih, w.b_hh) : Tensor());
        rnn_direction(unbind(xproj, 0), w.w_hh, mode_ == Mode::RNN_RELU, dir == 1, h, outs);
      } else if (lstm) {
        // Both LSTM biases act on the input side: fold them into the one big projection.
        Tensor xproj = linear(layer_in, w.w_ih, w.b_ih.defined() ? add(w.b_ih, w.b_hh) : Tensor());
        Tensor c = c_init.defined() ? c_init.select(0, idx) : zeros({N, H}, {.dtype = dt});
        lstm_direction(unbind(xproj, 0), w.w_hh, dir == 1, h, c, outs);
        c_n.push_back(c);
      } else {
        Tensor xproj = linear(layer_in, w.w_ih, w.b_ih);
        gru_direction(unbind(xproj, 0), w.w_hh, w.b_hh, dir == 1, h, outs);
      }
      h_n.push_back(h);
      dir_out.push_back(stack(outs, 0));  // [L, N, H]
    }
    Tensor layer_out = D == 1 ? dir_out[0] : cat(dir_out, 2);
    if (options.dropout > 0.0 && is_training() && layer + 1 < options.num_layers)
      layer_out = dropout(layer_out, options.dropout, /*training=*/true);
    layer_in = layer_out;
  }

  LSTMOutput r;
  r.output = unbatched ? layer_in.squeeze(1)
                       : options.batch_first ? layer_in.transpose(0, 1).contiguous() : layer_in;
  // One-op layers give [D, N, H] per layer, the per-step path [N, H] per layer and direction.
  r.h_n = one_op ? cat(h_n, 0) : stack(h_n, 0);
  if (unbatched) r.h_n = r.h_n.squeeze(1);
  if (lstm) {
    r.c_n = one_op ? cat(c_n, 0) : stack(c_n, 0);
    if (unbatched) r.c_n = r.c_n.squeeze(1);
  }
  return r;
}

LSTM::LSTM(int64_t input_size_, int64_t hidden_size_, RNNOptions opts, Generator* gen)
    : RNNBase(Mode::LSTM, input_size_, hidden_size_, opts, gen) {}

LSTMOutput LSTM::forward(const Tensor& input, const Tensor& h0, const Tensor& c0) { return run(input, h0, c0); }

Tensor LSTM::forward(const Tensor& input) { return run(input, Tensor(), Tensor()).output; }

GRU::GRU(int64_t input_size_, int64_t hidden_size_, RNNOptions opts, Generator* gen)
    : RNNBase(Mode::GRU, input_size_, hidden_size_, opts, gen) {}

GRUOutput GRU::forward(const Tensor& input, const Tensor& h0) {
  LSTMOutput r = run(input, h0, Tensor());
  return {r.output, r.h_n};
}

Tensor GRU::forward(const Tensor& input) { return run(input, Tensor(), Tensor()).output; }

RNN::RNN(int64_t input_size_, int64_t hidden_size_, RNNOptions opts, const std::string& nonlinearity, Generator* gen)
    : RNNBase(rnn_mode(nonlinearity), input_size_, hidden_size_, opts, gen) {}

RNNOutput RNN::forward(const Tensor& input, const Tensor& h0) {
  LSTMOutput r = run(input, h0, Tensor());
  return {r.output, r.h_n};
}

Tensor RNN::forward(const Tensor& input) { return run(input, Tensor(), Tensor()).output; }

}  // namespace tandem::nn
