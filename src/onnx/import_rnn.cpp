// ONNX recurrent ops: LSTM, GRU and RNN (forward, reverse, bidirectional; layout 0 and 1), unrolled
// over time with matmuls. Default activations only (Sigmoid/Tanh; Relu for RNN); clip unsupported.
#include "importer.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

// The activations attribute, when given, must list each direction's defaults (`per_dir`);
// RNN's may be Relu instead of Tanh. Returns whether the RNN uses Relu.
bool check_defaults(const Ctx& c, const std::vector<std::string>& per_dir) {
  if (c.has_attr("clip")) c.unsupported("clip");
  const ::onnx::AttributeProto* a = c.attr("activations");
  if (!a) return false;
  bool relu = per_dir.size() == 1 && a->strings_size() > 0 && a->strings(0) == "Relu";
  for (int i = 0; i < a->strings_size(); ++i) {
    const std::string& want = per_dir[static_cast<size_t>(i) % per_dir.size()];
    const std::string& got = a->strings(i);
    if (got != want && !(relu && got == "Relu")) c.unsupported("activation " + got);
  }
  return relu;
}

// x: [seq, batch, input] (layout 0). Returns Y [seq, dirs, batch, hidden], Y_h, (Y_c).
template <bool IsLstm>
Ts rnn_(Ctx& c) {
  check_defaults(c, IsLstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                           : std::vector<std::string>{"Sigmoid", "Tanh"});
  bool batch_first = c.i("layout", 0) != 0;
  Tensor x = batch_first ? c.in(0).transpose(0, 1) : c.in(0);
  const Tensor &W = c.in(1), &R = c.in(2);
  int64_t dirs = W.size(0), H = c.i("hidden_size", R.size(2)), T = x.size(0), B = x.size(1);
  int64_t G = IsLstm ? 4 : 3;
  std::string direction = c.s("direction", "forward");
  if (c.has_input(4)) c.unsupported("sequence_lens");
  if (IsLstm && c.has_input(7)) c.unsupported("peepholes (input P)");
  if (IsLstm && c.i("input_forget", 0) != 0) c.unsupported("input_forget");
  bool lbr = !IsLstm && c.i("linear_before_reset", 0) != 0;
  std::vector<Tensor> ys, hs, cs;
  for (int64_t d = 0; d < dirs; ++d) {
    bool rev = direction == "reverse" || (direction == "bidirectional" && d == 1);
    Tensor w = W[d], r = R[d];
    Tensor wb, rb;
    if (c.has_input(3)) {
      Tensor b = c.in(3)[d];
      wb = b.slice(0, 0, G * H);
      rb = b.slice(0, G * H, 2 * G * H);
    } else {
      wb = zeros({G * H}, {.dtype = x.dtype()});
      rb = zeros({G * H}, {.dtype = x.dtype()});
    }
    Tensor h = c.has_input(5) ? c.in(5)[d] : zeros({B, H}, {.dtype = x.dtype()});
    Tensor cell = IsLstm && c.has_input(6) ? c.in(6)[d] : zeros({B, H}, {.dtype = x.dtype()});
    Tensor xw = add(matmul(x, w.t()), wb);  // [T, B, G*H]
    std::vector<Tensor> out(T);
    for (int64_t s = 0; s < T; ++s) {
      int64_t t = rev ? T - 1 - s : s;
      Tensor xt = xw[t];
      if (IsLstm) {
        Tensor g = add(xt, add(matmul(h, r.t()), rb));
        // ONNX gate order: i, o, f, c
        Tensor i = sigmoid(g.slice(1, 0, H)), o = sigmoid(g.slice(1, H, 2 * H));
        Tensor f = sigmoid(g.slice(1, 2 * H, 3 * H)), cc = tanh(g.slice(1, 3 * H, 4 * H));
        cell = f * cell + i * cc;
        h = o * tanh(cell);
      } else {
        // ONNX gate order: z, r, h
        Tensor hr = matmul(h, r.t());
        Tensor z = sigmoid(xt.slice(1, 0, H) + hr.slice(1, 0, H) + rb.slice(0, 0, H));
        Tensor rr = sigmoid(xt.slice(1, H, 2 * H) + hr.slice(1, H, 2 * H) + rb.slice(0, H, 2 * H));
        Tensor n;
        if (lbr) {
          n = tanh(xt.slice(1, 2 * H, 3 * H) + rr * (hr.slice(1, 2 * H, 3 * H) + rb.slice(0, 2 * H, 3 * H)));
        } else {
          Tensor rh = matmul(rr * h, r.slice(0, 2 * H, 3 * H).t());
          n = tanh(xt.slice(1, 2 * H, 3 * H) + rh + rb.slice(0, 2 * H, 3 * H));
        }
        h = (1.0 - z) * n + z * h;
      }
      out[t] = h;
    }
    ys.push_back(stack(out, 0));  // [T, B, H]
    hs.push_back(h);
    cs.push_back(cell);
  }
  Tensor Y = stack(ys, 1);  // [T, dirs, B, H]
  Tensor Yh = stack(hs, 0), Yc = stack(cs, 0);
  if (batch_first) {
    Y = permute(Y, {2, 0, 1, 3});
    Yh = Yh.transpose(0, 1);
    Yc = Yc.transpose(0, 1);
  }
  Ts result{Y.contiguous(), Yh.contiguous()};
  if (IsLstm) result.push_back(Yc.contiguous());
  return result;
}


// Simple RNN: h = tanh(x W^T + h R^T + Wb + Rb), or relu with activations ["Relu", ...].
Ts simple_rnn_(Ctx& c) {
  const bool relu_act = check_defaults(c, {"Tanh"});
  bool batch_first = c.i("layout", 0) != 0;
  Tensor x = batch_first ? c.in(0).transpose(0, 1) : c.in(0);
  const Tensor &W = c.in(1), &R = c.in(2);
  int64_t dirs = W.size(0), H = R.size(2), T = x.size(0), B = x.size(1);
  std::string direction = c.s("direction", "forward");
  if (c.has_input(4)) c.unsupported("sequence_lens");
  std::vector<Tensor> ys, hs;
  for (int64_t d = 0; d < dirs; ++d) {
    bool rev = direction == "reverse" || (direction == "bidirectional" && d == 1);
    Tensor bias = zeros({H}, {.dtype = x.dtype()});
    if (c.has_input(3)) bias = c.in(3)[d].slice(0, 0, H) + c.in(3)[d].slice(0, H, 2 * H);
    Tensor h = c.has_input(5) ? c.in(5)[d] : zeros({B, H}, {.dtype = x.dtype()});
    Tensor xw = add(matmul(x, W[d].t()), bias);
    std::vector<Tensor> out(T);
    for (int64_t s = 0; s < T; ++s) {
      int64_t t = rev ? T - 1 - s : s;
      Tensor pre = xw[t] + matmul(h, R[d].t());
      h = relu_act ? relu(pre) : tanh(pre);
      out[t] = h;
    }
    ys.push_back(stack(out, 0));
    hs.push_back(h);
  }
  Tensor Y = stack(ys, 1), Yh = stack(hs, 0);
  if (batch_first) {
    Y = permute(Y, {2, 0, 1, 3});
    Yh = Yh.transpose(0, 1);
  }
  return {Y.contiguous(), Yh.contiguous()};
}

}  // namespace

void register_rnn(std::map<std::string, Converter>& t) {
  t["LSTM"] = rnn_<true>;
  t["GRU"] = rnn_<false>;
  t["RNN"] = simple_rnn_;
}

}  // namespace tandem::onnx::detail
