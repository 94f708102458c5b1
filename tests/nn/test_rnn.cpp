// nn::LSTM, nn::GRU and nn::RNN: outputs, final states and gradients against PyTorch 1.13
// (tests/reference/gen_nn_seq.py), float64 gradchecks, parameter names and default
// initialization, dropout between layers, and the shape errors.
#include <gtest/gtest.h>

#include <cmath>

#include "seq_reference.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr int64_t kInput = 4, kHidden = 6;  // the sizes gen_nn_seq.py uses

struct RnnCase {
  const char* tag;  // case name without the lstm_ / gru_ prefix
  int64_t layers;
  bool bias, batch_first, bidirectional;
};

// gtest prints the case name instead of the struct's bytes.
void PrintTo(const RnnCase& c, std::ostream* os) { *os << c.tag; }

// Same table as rnn_cases() in gen_nn_seq.py.
const RnnCase kRnnCases[] = {
    {"1l", 1, true, false, false},
    {"2l_bf_h0", 2, true, true, false},
    {"2l_bi_h0", 2, true, false, true},
    {"1l_nobias_bi_bf", 1, false, true, true},
    {"2l_unbatched_h0", 2, true, false, false},
};

nn::RNNOptions options_of(const RnnCase& c) {
  return {.num_layers = c.layers, .bias = c.bias, .batch_first = c.batch_first, .bidirectional = c.bidirectional};
}

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (auto& [n, t] : v) out.push_back(n);
  return out;
}

class LstmReference : public ::testing::TestWithParam<RnnCase> {};
class GruReference : public ::testing::TestWithParam<RnnCase> {};

std::string case_name(const ::testing::TestParamInfo<RnnCase>& info) { return info.param.tag; }

}  // namespace

TEST_P(LstmReference, OutputStatesAndGradientsMatchPyTorch) {
  const RnnCase& rc = GetParam();
  for (DType dt : seqref::kDtypes) {
    seqref::Case c(std::string("lstm_") + rc.tag, dt);
    auto lstm = std::make_shared<nn::LSTM>(kInput, kHidden, options_of(rc));
    lstm->to(dt);
    lstm->eval();
    c.load_weights(*lstm);
    Tensor x = c.input("x"), h0 = c.input("h0"), c0 = c.input("c0");
    auto [out, h_n, c_n] = lstm->forward(x, h0, c0);
    Tensor loss = c.loss_term("output", out) + c.loss_term("h_n", h_n) + c.loss_term("c_n", c_n);
    loss.backward();
    c.expect_grads(*lstm, {{"x", x}, {"h0", h0}, {"c0", c0}});
  }
}

TEST_P(GruReference, OutputStateAndGradientsMatchPyTorch) {
  const RnnCase& rc = GetParam();
  for (DType dt : seqref::kDtypes) {
    seqref::Case c(std::string("gru_") + rc.tag, dt);
    auto gru = std::make_shared<nn::GRU>(kInput, kHidden, options_of(rc));
    gru->to(dt);
    gru->eval();
    c.load_weights(*gru);
    Tensor x = c.input("x"), h0 = c.input("h0");
    auto [out, h_n] = gru->forward(x, h0);
    Tensor loss = c.loss_term("output", out) + c.loss_term("h_n", h_n);
    loss.backward();
    c.expect_grads(*gru, {{"x", x}, {"h0", h0}});
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, LstmReference, ::testing::ValuesIn(kRnnCases), case_name);
INSTANTIATE_TEST_SUITE_P(Cases, GruReference, ::testing::ValuesIn(kRnnCases), case_name);

TEST(RNN, TanhAndReluMatchPyTorch) {
  struct {
    const char* name;
    const char* nonlinearity;
    nn::RNNOptions opts;
  } cases[] = {{"rnn_tanh_2l_bi_h0", "tanh", {.num_layers = 2, .bidirectional = true}},
               {"rnn_relu_1l_nobias_bf", "relu", {.bias = false, .batch_first = true}}};
  for (const auto& rc : cases) {
    for (DType dt : seqref::kDtypes) {
      seqref::Case c(rc.name, dt);
      auto rnn = std::make_shared<nn::RNN>(kInput, kHidden, rc.opts, rc.nonlinearity);
      rnn->to(dt);
      c.load_weights(*rnn);
      Tensor x = c.input("x"), h0 = c.input("h0");
      auto [out, h_n] = rnn->forward(x, h0);
      Tensor loss = c.loss_term("output", out) + c.loss_term("h_n", h_n);
      loss.backward();
      c.expect_grads(*rnn, {{"x", x}, {"h0", h0}});
    }
  }
  EXPECT_TRUE(throws_error([] { nn::RNN(4, 6, {}, "sigmoid"); }, {"RNN", "\"tanh\" or \"relu\"", "sigmoid"}));
  EXPECT_EQ(nn::RNN(4, 6, {}, "relu").repr(), "RNN(4, 6, nonlinearity=relu)");
}

TEST(LSTM, OutputOnlyForwardStartsFromZeroStates) {
  auto lstm = std::make_shared<nn::LSTM>(3, 5);
  Tensor x = randn({4, 2, 3});
  Tensor y = lstm->forward(x);
  auto r = lstm->forward(x, zeros({1, 2, 5}), zeros({1, 2, 5}));
  EXPECT_EQ(y.shape(), (Shape{4, 2, 5}));
  EXPECT_ALL_CLOSE(y, r.output);
  // The last output step of a unidirectional single layer is its final hidden state.
  EXPECT_ALL_CLOSE(y.select(0, 3), r.h_n.select(0, 0));
}

TEST(LSTM, GradcheckTinyBidirectionalTwoLayers) {
  auto lstm = std::make_shared<nn::LSTM>(2, 3, nn::RNNOptions{.num_layers = 2, .bidirectional = true});
  lstm->to(DType::Float64);
  Generator g(3);
  Tensors inputs = {randn({3, 2, 2}, kF64, &g).requires_grad_(), randn({4, 2, 3}, kF64, &g).requires_grad_(),
                    randn({4, 2, 3}, kF64, &g).requires_grad_()};
  // The parameters ride along as gradcheck inputs: it perturbs them in place.
  for (const Tensor& p : lstm->parameters()) inputs.push_back(p);
  EXPECT_TRUE(gradcheck(
      [&](const Tensors& in) {
        auto r = lstm->forward(in[0], in[1], in[2]);
        return cat({r.output.flatten(), r.h_n.flatten(), r.c_n.flatten()});
      },
      inputs));
}

TEST(GRU, GradcheckTinyBidirectionalTwoLayersBatchFirst) {
  auto gru = std::make_shared<nn::GRU>(2, 3,
                                       nn::RNNOptions{.num_layers = 2, .batch_first = true, .bidirectional = true});
  gru->to(DType::Float64);
  Generator g(4);
  Tensors inputs = {randn({2, 3, 2}, kF64, &g).requires_grad_(), randn({4, 2, 3}, kF64, &g).requires_grad_()};
  for (const Tensor& p : gru->parameters()) inputs.push_back(p);
  EXPECT_TRUE(gradcheck(
      [&](const Tensors& in) {
        auto r = gru->forward(in[0], in[1]);
        return cat({r.output.flatten(), r.h_n.flatten()});
      },
      inputs));
}

TEST(LSTM, ParameterNamesShapesAndOrderAreTorchs) {
  auto lstm = std::make_shared<nn::LSTM>(4, 6, nn::RNNOptions{.num_layers = 2, .bidirectional = true});
  auto named = lstm->named_parameters();
  EXPECT_EQ(names_of(named),
            (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                      "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1",
                                      "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                                      "bias_ih_l1_reverse", "bias_hh_l1_reverse"}));
  EXPECT_EQ(named[0].second.shape(), (Shape{24, 4}));
  EXPECT_EQ(named[1].second.shape(), (Shape{24, 6}));
  EXPECT_EQ(named[2].second.shape(), (Shape{24}));
  EXPECT_EQ(named[8].second.shape(), (Shape{24, 12}));  // layer 1 reads both directions
  // Per direction: layer 0 24*4 + 24*6 + 2*24, layer 1 24*12 + 24*6 + 2*24.
  EXPECT_EQ(lstm->num_parameters(), 2 * 288 + 2 * 480);
  auto gru = std::make_shared<nn::GRU>(4, 6, nn::RNNOptions{.bias = false});
  EXPECT_EQ(names_of(gru->named_parameters()), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"}));
  EXPECT_EQ(gru->named_parameters()[0].second.shape(), (Shape{18, 4}));
}

TEST(LSTM, DefaultInitIsUniformWithinOneOverSqrtHidden) {
  Generator g(11);
  auto lstm = std::make_shared<nn::LSTM>(30, 25, nn::RNNOptions{}, &g);
  const double k = 1.0 / 5.0;
  for (const auto& [n, p] : lstm->named_parameters()) {
    const double lo = amin(p).item(), hi = amax(p).item();
    EXPECT_GE(lo, -k) << n;
    EXPECT_LE(hi, k) << n;
    EXPECT_LT(lo, -0.9 * k) << n;  // spread over the whole range (>= 100 draws each)
    EXPECT_GT(hi, 0.9 * k) << n;
  }
  // Same generator seed, same weights.
  Generator g2(11);
  auto again = std::make_shared<nn::LSTM>(30, 25, nn::RNNOptions{}, &g2);
  EXPECT_ALL_CLOSE(again->parameters()[1], lstm->parameters()[1], 0.0, 0.0);
}

TEST(LSTM, DropoutActsBetweenLayersOnlyInTraining) {
  manual_seed(5);
  auto lstm = std::make_shared<nn::LSTM>(3, 8, nn::RNNOptions{.num_layers = 2, .dropout = 0.5});
  Tensor x = randn({5, 2, 3});
  lstm->eval();
  Tensor a = lstm->forward(x), b = lstm->forward(x);
  EXPECT_ALL_CLOSE(a, b, 0.0, 0.0);
  lstm->train();
  Tensor t = lstm->forward(x);
  EXPECT_GT(abs(t - a).max().item(), 1e-4);
  // One layer: nothing to drop between.
  auto single = std::make_shared<nn::GRU>(3, 8, nn::RNNOptions{.dropout = 0.5});
  Tensor s1 = single->forward(x);
  single->eval();
  EXPECT_ALL_CLOSE(single->forward(x), s1, 0.0, 0.0);
}

TEST(LSTM, ShapeErrorsSayWhatWasExpected) {
  auto lstm = std::make_shared<nn::LSTM>(4, 6, nn::RNNOptions{.num_layers = 2});
  EXPECT_TRUE(throws_error([&] { lstm->forward(randn({5, 3, 4, 1})); }, {"LSTM", "3-D input", "[5, 3, 4, 1]"}));
  EXPECT_TRUE(throws_error([&] { lstm->forward(randn({5, 3, 7})); }, {"LSTM", "input_size 4", "[5, 3, 7]"}));
  EXPECT_TRUE(throws_error([&] { lstm->forward(randn({5, 3, 4}), zeros({1, 3, 6}), zeros({2, 3, 6})); },
                           {"LSTM", "h0", "[2, 3, 6]", "[1, 3, 6]"}));
  EXPECT_TRUE(throws_error([&] { lstm->forward(randn({5, 3, 4}), zeros({2, 3, 6}), Tensor()); },
                           {"LSTM", "h0 and c0"}));
  EXPECT_TRUE(throws_error([&] { lstm->forward(randn({5, 3, 4}, kF64)); }, {"LSTM", "float64", "float32"}));
  auto gru = std::make_shared<nn::GRU>(4, 6);
  EXPECT_TRUE(throws_error([&] { gru->forward(randn({5, 4}), zeros({1, 2, 6})); }, {"GRU", "h0", "[1, 6]"}));
  EXPECT_TRUE(throws_error([] { nn::GRU(4, 6, nn::RNNOptions{.num_layers = 0}); }, {"GRU", "num_layers"}));
}

// End to end: the sign of the *first* step must be carried through the whole sequence to
// the last output, which only a working recurrence (and its gradient through time) learns.
template <class RnnT>
double remember_first_sign_accuracy() {
  // NOTE: one thread: these tensors are far too small to split, and on a busy machine two
  // OpenMP threads spend the run waiting on each other at barriers.
  const int threads = get_num_threads();
  set_num_threads(1);
  manual_seed(17);
  auto rnn = std::make_shared<RnnT>(1, 16);
  auto head = std::make_shared<nn::Linear>(16, 1);
  std::vector<Tensor> params = rnn->parameters();
  for (const Tensor& p : head->parameters()) params.push_back(p);
  optim::Adam opt(params, {.lr = 0.02});
  Generator g(5);
  auto batch = [&](int64_t n) {
    Tensor x = randn({8, n, 1}, {}, &g);
    return std::make_pair(x, (x.select(0, 0) > wrap_scalar(0.0)).to(DType::Float32));
  };
  for (int step = 0; step < 150; ++step) {
    auto [x, y] = batch(32);
    Tensor logits = head->forward(rnn->forward(x).select(0, 7));
    Tensor loss = binary_cross_entropy_with_logits(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  NoGradGuard ng;
  auto [x, y] = batch(512);
  Tensor pred = (head->forward(rnn->forward(x).select(0, 7)) > wrap_scalar(0.0)).to(DType::Float32);
  const double accuracy = (pred == y).to(DType::Float32).mean().item();
  set_num_threads(threads);
  return accuracy;
}

TEST(LSTM, LearnsToCarryTheFirstStepToTheEnd) { EXPECT_GT(remember_first_sign_accuracy<nn::LSTM>(), 0.95); }

TEST(GRU, LearnsToCarryTheFirstStepToTheEnd) { EXPECT_GT(remember_first_sign_accuracy<nn::GRU>(), 0.95); }
