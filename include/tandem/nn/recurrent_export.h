// Recurrent layers as one op per layer, for export.
//
//   {
//     nn::RecurrentAsOneOp one_op;   // what onnx::export_model does while it traces
//     Tensor y = (*lstm)(x);         // records one "rnn_layer" op per layer
//   }
//
// While a RecurrentAsOneOp lives on this thread, nn::LSTM, GRU and RNN run each layer as the
// op "rnn_layer" (ONNX's LSTM/GRU/RNN semantics: weights reordered into ONNX's gate order and
// layouts by traced slice/cat ops) instead of a few ops per time step, so a traced graph has
// one node per layer and does not depend on the sequence length. Inference only: the op has
// no gradient (and a training-mode dropout between layers keeps the per-step path).
#pragma once

namespace tandem::nn {

class RecurrentAsOneOp {
 public:
  RecurrentAsOneOp();
  ~RecurrentAsOneOp();
  RecurrentAsOneOp(const RecurrentAsOneOp&) = delete;
  RecurrentAsOneOp& operator=(const RecurrentAsOneOp&) = delete;
  // Whether one is active on this thread.
  static bool active();

 private:
  bool previous_;
};

}  // namespace tandem::nn
