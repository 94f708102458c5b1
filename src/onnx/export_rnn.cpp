// ONNX export of "rnn_layer" (one recurrent layer, src/ops/defs/rnn_layer.cpp) as ONNX's
// LSTM, GRU or RNN operator: one node per layer whatever the sequence length, plus the
// Transpose + Reshape that turn ONNX's Y [T, D, B, H] into tandem's [T, B, D*H]. The Reshape
// target is [0, 0, -1] (copy T and B), so the exported layer runs on any length and batch.
#include "export_ctx.h"

namespace tandem::onnx::detail {

void emit_rnn_layer(ExportCtx& c, const graph::Node& n) {
  const std::string& mode = n.attrs.get<std::string>("mode");
  const std::string dir = n.attrs.get_or<std::string>("direction", "forward");
  const graph::Value* r = n.inputs.at(2);
  TANDEM_CHECK(r->shape.size() == 3 && r->shape[2].is_static(),
               "onnx export: rnn_layer needs a static hidden size");
  const int64_t H = r->shape[2].value, D = dir == "bidirectional" ? 2 : 1;
  auto opt = [&](size_t i) { return n.inputs.at(i) ? c.input(n, i) : std::string(); };
  std::vector<std::string> ins = {c.input(n, 0), c.input(n, 1), c.input(n, 2), opt(3), "", opt(4)};
  if (mode == "LSTM") ins.push_back(opt(5));
  while (!ins.empty() && ins.back().empty()) ins.pop_back();  // trailing omitted inputs

  std::string y = c.tmp(n, "Y");
  std::vector<std::string> outs = {y, c.output(n, 1)};
  if (mode == "LSTM") outs.push_back(c.output(n, 2));
  auto* p = c.add(mode, ins, outs);
  set_attr(p, "hidden_size", H);
  set_attr(p, "direction", dir);
  if (mode == "GRU") set_attr(p, "linear_before_reset", n.attrs.get_or<int64_t>("linear_before_reset", 0));
  if (mode == "RNN") {
    auto* a = p->add_attribute();
    a->set_name("activations");
    a->set_type(::onnx::AttributeProto::STRINGS);
    for (int64_t d = 0; d < D; ++d) a->add_strings(n.attrs.get_or<std::string>("activation", "Tanh"));
  }
  std::string yt = c.tmp(n, "Y_time_batch");
  set_attr(c.add("Transpose", {y}, {yt}), "perm", std::vector<int64_t>{0, 2, 1, 3});
  c.add("Reshape", {yt, c.ints({0, 0, -1}, c.base(n, "shape"))}, {c.output(n, 0)});
}

}  // namespace tandem::onnx::detail
