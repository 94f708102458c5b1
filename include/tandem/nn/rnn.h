// Recurrent layers: nn::LSTM, nn::GRU and nn::RNN (Elman, tanh or relu), as torch.nn's (same
// parameter names, shapes, gate order and default initialization, so PyTorch state_dicts load).
//
//   auto lstm = std::make_shared<nn::LSTM>(/*input_size=*/16, /*hidden_size=*/32,
//                                          nn::RNNOptions{.num_layers = 2, .batch_first = true});
//   Tensor x = randn({8, 20, 16});                      // [batch, seq, feature]
//   auto [out, h_n, c_n] = lstm->forward(x, {}, {});    // zero initial states
//   // out [8, 20, 32]; h_n, c_n [2, 8, 32] (layer-major, then direction)
//   Tensor y = lstm->forward(x);                        // the output only (fits in Sequential)
//
// Shapes (D = 2 when bidirectional, else 1):
//   input   [L, N, input_size] ([N, L, input_size] with batch_first), or [L, input_size]
//           for one unbatched sequence
//   h0, c0  [D*num_layers, N, hidden_size] ([D*num_layers, hidden_size] unbatched);
//           undefined means zeros
//   output  [L, N, D*hidden_size] (batch_first: [N, L, D*hidden_size]); the last layer's
//           hidden state at every step, both directions concatenated (forward first)
//   h_n/c_n like h0/c0: the final states of every layer and direction; for the reverse
//           direction "final" is the state after reading the first time step
//
// Parameters, per layer k and direction (suffix "" or "_reverse"), registered in PyTorch's
// order: weight_ih_l{k} [G*hidden, in_k], weight_hh_l{k} [G*hidden, hidden],
// bias_ih_l{k} [G*hidden], bias_hh_l{k} [G*hidden] (biases only with bias=true), where
// G = 4 (LSTM gates i, f, g, o), 3 (GRU gates r, z, n) or 1 (RNN) and in_k = input_size for k = 0,
// D*hidden_size above. All start as U(±1/√hidden_size). PyTorch's proj_size (LSTM with
// projections) is not supported.
//
// Speed: each layer and direction projects the whole input sequence with one matmul; only
// the hidden-state product runs per time step. Autograd records the steps as ordinary ops.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tandem/generator.h"
#include "tandem/nn/module.h"

namespace tandem::nn {

struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;  // on the outputs of every layer but the last, in training mode
  bool bidirectional = false;
};

struct LSTMOutput {
  Tensor output, h_n, c_n;
};

struct RNNOutput {  // GRU and RNN
  Tensor output, h_n;
};
using GRUOutput = RNNOutput;

// What LSTM and GRU share: the parameters, the shape checks and the layer/direction loop.
class RNNBase : public Module {
 public:
  enum class Mode { LSTM, GRU, RNN_TANH, RNN_RELU };
  RNNBase(Mode mode, int64_t input_size, int64_t hidden_size, RNNOptions opts, Generator* gen);
  std::string extra_repr() const override;
  // Every weight and bias back to U(±1/√hidden_size), in registration order.
  void reset_parameters(Generator* gen = nullptr);

  int64_t input_size, hidden_size;
  RNNOptions options;

 protected:
  // c0 / c_n are used by the LSTM only.
  LSTMOutput run(const Tensor& input, const Tensor& h0, const Tensor& c0) const;

 private:
  struct Weights {
    Tensor w_ih, w_hh, b_ih, b_hh;  // handles to the registered parameters
  };
  Tensor check_state(const Tensor& s, const char* what, int64_t batch, bool unbatched,
                     DType dtype) const;
  Mode mode_;
  std::vector<Weights> weights_;  // index layer*D + direction
};

class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, RNNOptions opts = {}, Generator* gen = nullptr);
  // The output and the final states; h0 / c0 undefined = zeros (give both or neither).
  LSTMOutput forward(const Tensor& input, const Tensor& h0, const Tensor& c0);
  // The output only, from zero initial states.
  Tensor forward(const Tensor& input) override;
};

class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, RNNOptions opts = {}, Generator* gen = nullptr);
  // The output and the final hidden state; h0 undefined = zeros.
  GRUOutput forward(const Tensor& input, const Tensor& h0);
  // The output only, from a zero initial state.
  Tensor forward(const Tensor& input) override;
};

// h' = nonlinearity(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh), nonlinearity "tanh" or "relu".
class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions opts = {}, const std::string& nonlinearity = "tanh",
      Generator* gen = nullptr);
  // The output and the final hidden state; h0 undefined = zeros.
  RNNOutput forward(const Tensor& input, const Tensor& h0);
  // The output only, from a zero initial state.
  Tensor forward(const Tensor& input) override;
};

}  // namespace tandem::nn
