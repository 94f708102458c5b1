// Export of nn::LSTM / GRU / RNN as ONNX's LSTM / GRU / RNN operators (one node per layer) with
// named dynamic axes: each model is traced at sequence length 12 and batch 2, then run at other
// lengths and batches by ONNX's checker + strict shape inference + an independent evaluator of
// the ONNX operators (tests/reference/check_onnx_export.py), by ONNX Runtime, and by tandem's
// own importer, all compared with tandem's eager modules on the same inputs.
#include <gtest/gtest.h>

#include "tandem/nn/layers.h"
#include "tandem/nn/recurrent_export.h"
#include "tandem/nn/rnn.h"
#include "test_export_util.h"

namespace tandem::onnx {
namespace {

using exptest::Fn;
using V = std::vector<Tensor>;

struct RnnCase {
  std::string name;
  std::vector<std::shared_ptr<nn::Module>> modules;
  Fn fn;
  // The example inputs for a sequence length and a batch size.
  std::function<std::vector<Tensor>(int64_t seq, int64_t batch)> inputs;
  ExportOptions opts;
  std::map<std::string, int64_t> expected_ops;  // ONNX op_type -> node count
};

std::vector<RnnCase> rnn_cases() {
  manual_seed(7);
  std::vector<RnnCase> cases;
  {
    // 2 layers, bidirectional, batch_first, given initial states; all three outputs.
    auto lstm = std::make_shared<nn::LSTM>(4, 5, nn::RNNOptions{.num_layers = 2, .batch_first = true,
                                                                .bidirectional = true});
    RnnCase c{"lstm_2layer_bidir_batch_first_states", {lstm},
              [lstm](const std::vector<Tensor>& in) {
                auto r = lstm->forward(in[0], in[1], in[2]);
                return std::vector<Tensor>{r.output, r.h_n, r.c_n};
              },
              [](int64_t t, int64_t b) {
                return std::vector<Tensor>{randn({b, t, 4}), randn({4, b, 5}), randn({4, b, 5})};
              },
              {}, {{"LSTM", 2}}};
    c.opts.input_names = {"x", "h0", "c0"};
    c.opts.output_names = {"y", "h_n", "c_n"};
    c.opts.dynamic_axes = {{"x", {{0, "batch"}, {1, "seq"}}}, {"h0", {{1, "batch"}}},
                           {"c0", {{1, "batch"}}},         {"y", {{0, "batch"}, {1, "seq"}}},
                           {"h_n", {{1, "batch"}}},        {"c_n", {{1, "batch"}}}};
    cases.push_back(c);
  }
  {
    // Time-major, no biases, zero initial state.
    auto gru = std::make_shared<nn::GRU>(3, 6, nn::RNNOptions{.bias = false});
    RnnCase c{"gru_seq_first_no_bias", {gru},
              [gru](const std::vector<Tensor>& in) {
                auto r = gru->forward(in[0], Tensor());
                return std::vector<Tensor>{r.output, r.h_n};
              },
              [](int64_t t, int64_t b) { return std::vector<Tensor>{randn({t, b, 3})}; },
              {}, {{"GRU", 1}}};
    c.opts.dynamic_axes = {{"input", {{0, "seq"}, {1, "batch"}}},
                           {"output_0", {{0, "seq"}, {1, "batch"}}},
                           {"output_1", {{1, "batch"}}}};
    cases.push_back(c);
  }
  {
    // 3-layer bidirectional GRU with an initial state.
    auto gru = std::make_shared<nn::GRU>(3, 4, nn::RNNOptions{.num_layers = 3, .bidirectional = true});
    RnnCase c{"gru_3layer_bidir_state", {gru},
              [gru](const std::vector<Tensor>& in) {
                auto r = gru->forward(in[0], in[1]);
                return std::vector<Tensor>{r.output, r.h_n};
              },
              [](int64_t t, int64_t b) { return std::vector<Tensor>{randn({t, b, 3}), randn({6, b, 4})}; },
              {}, {{"GRU", 3}}};
    c.opts.dynamic_axes = {{"input_0", {{0, "seq"}, {1, "batch"}}}, {"input_1", {{1, "batch"}}},
                           {"output_0", {{0, "seq"}, {1, "batch"}}}, {"output_1", {{1, "batch"}}}};
    cases.push_back(c);
  }
  {
    // Elman RNN with relu, 2 layers, bidirectional, with h0.
    auto rnn = std::make_shared<nn::RNN>(4, 3, nn::RNNOptions{.num_layers = 2, .bidirectional = true}, "relu");
    RnnCase c{"rnn_relu_2layer_bidir", {rnn},
              [rnn](const std::vector<Tensor>& in) {
                auto r = rnn->forward(in[0], in[1]);
                return std::vector<Tensor>{r.output, r.h_n};
              },
              [](int64_t t, int64_t b) { return std::vector<Tensor>{randn({t, b, 4}), randn({4, b, 3})}; },
              {}, {{"RNN", 2}}};
    c.opts.dynamic_axes = {{"input_0", {{0, "seq"}, {1, "batch"}}}, {"input_1", {{1, "batch"}}},
                           {"output_0", {{0, "seq"}, {1, "batch"}}}, {"output_1", {{1, "batch"}}}};
    cases.push_back(c);
  }
  {
    // A classifier on the last layer's final state: tanh RNN, batch_first, then Linear.
    auto rnn = std::make_shared<nn::RNN>(4, 6, nn::RNNOptions{.num_layers = 2, .batch_first = true});
    auto fc = std::make_shared<nn::Linear>(6, 3);
    RnnCase c{"rnn_tanh_classifier", {rnn, fc},
              [rnn, fc](const std::vector<Tensor>& in) {
                auto r = rnn->forward(in[0], Tensor());
                return std::vector<Tensor>{fc->forward(r.h_n.select(0, -1))};
              },
              [](int64_t t, int64_t b) { return std::vector<Tensor>{randn({b, t, 4})}; },
              {}, {{"RNN", 2}}};
    c.opts.dynamic_axes = {{"input", {{0, "batch"}, {1, "seq"}}}, {"output", {{0, "batch"}}}};
    cases.push_back(c);
  }
  return cases;
}

// <dir>/<case>_T<len>: the model traced at length 12 (batch 2), inputs and eager outputs at
// another length and batch.
const std::string& rnn_dir() {
  static const std::string dir = [] {
    std::string d = exptest::fresh_dir("rnn");
    for (const RnnCase& c : rnn_cases()) {
      std::vector<Tensor> trace = c.inputs(12, 2);
      for (auto [t, b] : {std::pair<int64_t, int64_t>{12, 2}, {3, 1}, {7, 3}, {20, 2}}) {
        exptest::write_case(d, fmt::format("{}_T{}_B{}", c.name, t, b), c.fn, trace, c.opts,
                            c.modules, c.inputs(t, b));
      }
    }
    return d;
  }();
  return dir;
}

TEST(OnnxExportRnn, OneOnnxNodePerLayerAndNamedDynamicAxes) {
  for (const RnnCase& c : rnn_cases()) {
    std::string path = rnn_dir() + "/" + c.name + "_T12_B2/model.onnx";
    ModelInfo info = Model::load(path).info();
    for (const auto& [op_type, count] : c.expected_ops)
      EXPECT_EQ(info.op_histogram[op_type], count) << c.name << "\n" << info.str();
    // No unrolled steps: the gate math lives inside the recurrent operators.
    for (const char* step_op : {"Sigmoid", "Tanh", "Relu", "Split", "Squeeze", "Gather"})
      EXPECT_EQ(info.op_histogram.count(step_op), 0u) << c.name << ": " << step_op << "\n" << info.str();
    if (c.name != "rnn_tanh_classifier")
      EXPECT_EQ(info.op_histogram.count("MatMul") + info.op_histogram.count("Gemm"), 0u) << info.str();
    // The named dims are symbolic in the file.
    for (const ValueInfo& v : info.inputs) {
      auto it = c.opts.dynamic_axes.find(v.name);
      ASSERT_NE(it, c.opts.dynamic_axes.end()) << c.name << ": input " << v.name;
      for (const auto& [axis, name] : it->second) {
        ASSERT_LT(static_cast<size_t>(axis), v.shape.size());
        EXPECT_EQ(v.shape[static_cast<size_t>(axis)].symbol, name) << c.name << " " << v.name;
      }
    }
  }
}

TEST(OnnxExportRnn, RunsOnOtherLengthsInTheIndependentEvaluator) {
  if (!exptest::python_unavailable().empty()) GTEST_SKIP() << exptest::python_unavailable();
  std::string log;
  int rc = exptest::run_checker(rnn_dir(), log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("20/20 exported models pass"), std::string::npos) << log;
}

TEST(OnnxExportRnn, RunsOnOtherLengthsInOnnxRuntime) { TANDEM_EXPECT_ORT_PASSES(rnn_dir(), 20); }

TEST(OnnxExportRnn, RunsOnOtherLengthsInTandemsImporter) {
  int n = 0;
  std::string failures = exptest::roundtrip_failures(rnn_dir(), &n);
  EXPECT_EQ(n, 20);
  EXPECT_EQ(failures, "");
}

TEST(OnnxExportRnn, DynamicAxesMustNameInputsOrOutputs) {
  auto lstm = std::make_shared<nn::LSTM>(2, 3);
  std::string d = exptest::fresh_dir("rnn_bad_axes");
  ExportOptions o;
  o.dynamic_axes = {{"nope", {{0, "seq"}}}};
  EXPECT_TRUE(testing::throws_error([&] { export_model(lstm, randn({5, 1, 2}), d + "/m.onnx", o); },
                                    {"'nope'", "input", "output"}));
  o.dynamic_axes = {{"input", {{3, "seq"}}}};
  EXPECT_TRUE(testing::throws_error([&] { export_model(lstm, randn({5, 1, 2}), d + "/m.onnx", o); },
                                    {"axis 3", "out of range"}));
}

TEST(OnnxExportRnn, OneOpLayersMatchThePerStepPathAndTrainingKeepsIt) {
  // Under RecurrentAsOneOp (what export_model traces with) each layer runs as one "rnn_layer"
  // op in ONNX's gate orders and layouts; its outputs equal the per-step path's, which the
  // modules keep outside it (differentiable).
  manual_seed(3);
  auto lstm = std::make_shared<nn::LSTM>(3, 4, nn::RNNOptions{.num_layers = 2, .bidirectional = true});
  auto gru = std::make_shared<nn::GRU>(3, 4, nn::RNNOptions{.num_layers = 2, .batch_first = true,
                                                            .bidirectional = true});
  auto relu = std::make_shared<nn::RNN>(3, 4, nn::RNNOptions{.bidirectional = true}, "relu");
  Tensor x = randn({5, 2, 3}), h0 = randn({4, 2, 4}), c0 = randn({4, 2, 4});
  auto run_all = [&] {
    NoGradGuard ng;
    auto l = lstm->forward(x, h0, c0);
    auto g = gru->forward(x.transpose(0, 1).contiguous(), Tensor());
    auto r = relu->forward(x, h0.slice(0, 0, 2).contiguous());
    return V{l.output, l.h_n, l.c_n, g.output, g.h_n, r.output, r.h_n};
  };
  V per_step = run_all();
  V one_op;
  {
    nn::RecurrentAsOneOp scope;
    one_op = run_all();
  }
  ASSERT_EQ(per_step.size(), one_op.size());
  for (size_t i = 0; i < per_step.size(); ++i) EXPECT_TRUE(testing::all_close(one_op[i], per_step[i], 1e-5, 1e-4)) << i;
  Tensor y = lstm->forward(x);
  y.sum().backward();
  for (const auto& [name, p] : lstm->named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

}  // namespace
}  // namespace tandem::onnx
