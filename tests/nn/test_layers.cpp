// Layer behaviour beyond the PyTorch reference: train/eval effects, error messages,
// gradcheck of composite layers, the functional forms, summary().
#include <gtest/gtest.h>

#include <cmath>

#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;
namespace F = tandem::nn::functional;

TEST(Dropout, TrainingZeroesAboutPAndScalesTheRest) {
  manual_seed(5);
  nn::Dropout drop(0.3);
  Tensor x = ones({200, 500});
  Tensor y = drop(x);
  std::vector<float> v = y.to_vector<float>();
  int64_t zeros_n = 0;
  for (float e : v) {
    if (e == 0.0f) {
      ++zeros_n;
    } else {
      EXPECT_NEAR(e, 1.0 / 0.7, 1e-6);
    }
  }
  // 100k Bernoulli(0.3) draws: std of the fraction ≈ 0.0014.
  EXPECT_NEAR(static_cast<double>(zeros_n) / static_cast<double>(v.size()), 0.3, 0.01);
}

TEST(Dropout, EvalIsIdentityAndEdgeProbabilities) {
  nn::Dropout drop(0.5);
  Tensor x = randn({4, 5});
  drop.eval();
  EXPECT_ALL_CLOSE(drop(x), x, 0.0, 0.0);
  drop.train();
  nn::Dropout none(0.0), all(1.0);
  EXPECT_ALL_CLOSE(none(x), x, 0.0, 0.0);
  EXPECT_EQ(all(x).abs().sum().item(), 0.0);
  EXPECT_TRUE(throws_error([] { nn::Dropout(1.5); }, {"between 0 and 1"}));
}

TEST(Dropout, GradientFollowsTheMask) {
  nn::Dropout drop(0.5);
  Tensor x = randn({50}).requires_grad_();
  Tensor y = drop(x);
  y.sum().backward();
  // d y / d x is 2 where kept, 0 where dropped: y == x * grad.
  EXPECT_ALL_CLOSE(y.detach(), x.detach() * x.grad(), 1e-6, 1e-6);
}

TEST(BatchNorm, TrainUpdatesRunningStatsAndEvalUsesThem) {
  manual_seed(2);
  nn::BatchNorm1d bn(3);
  Tensor x = randn({64, 3}) * 2.0 + 5.0;
  Tensor y = bn(x);
  // Training output is normalized with the batch statistics.
  EXPECT_ALL_CLOSE(y.mean({0}), zeros({3}), 1e-5, 0.0);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  Tensor expected_mean = x.mean({0}) * 0.1;
  EXPECT_ALL_CLOSE(bn.running_mean, expected_mean, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(bn.running_var, ones({3}) * 0.9 + tandem::var(x, {0}) * 0.1, 1e-5, 1e-5);

  bn.eval();
  Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
  Tensor z = bn(x);
  Tensor manual = (x - rm) / sqrt(rv + 1e-5) * bn.weight + bn.bias;
  EXPECT_ALL_CLOSE(z, manual, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(bn.running_mean, rm, 0.0, 0.0);  // eval leaves them alone
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST(BatchNorm, RejectsWrongRanksAndChannels) {
  nn::BatchNorm2d bn(4);
  EXPECT_TRUE(throws_error([&] { bn(ones({2, 4, 3})); }, {"BatchNorm2d", "4D", "[2, 4, 3]"}));
  EXPECT_TRUE(throws_error([&] { bn(ones({2, 3, 2, 2})); }, {"4 channels", "[2, 3, 2, 2]"}));
  nn::BatchNorm1d b1(2);
  EXPECT_TRUE(throws_error([&] { b1(ones({1, 2})); }, {"more than 1 value per channel"}));
  b1.eval();
  EXPECT_NO_THROW(b1(ones({1, 2})));
}

TEST(Layers, ErrorsNameTheLayerAndShapes) {
  nn::Linear fc(4, 3);
  EXPECT_TRUE(throws_error([&] { fc(ones({2, 5})); }, {"Linear", "in_features", "[2, 5]"}));
  EXPECT_TRUE(throws_error([] { nn::Conv2d(3, 4, 3, nn::Conv2dOptions{.groups = 2}); },
                           {"Conv2d", "divisible by groups"}));
  EXPECT_TRUE(throws_error([] { nn::Conv2d(3, 4, 3, nn::Conv2dOptions{.padding_mode = "mirror"}); },
                           {"padding_mode", "mirror"}));
  EXPECT_TRUE(throws_error([] { nn::Conv2d(3, 4, 3, nn::Conv2dOptions{.stride = 2, .padding = "same"}); },
                           {"same", "stride 1"}));
  EXPECT_TRUE(throws_error([] { nn::Conv1dOptions{.padding = "full"}; }, {"Conv1d", "full"}));
  EXPECT_TRUE(throws_error([] { nn::GELU("fast"); }, {"GELU", "fast"}));
  EXPECT_TRUE(throws_error([] { nn::Embedding(5, 2, nn::EmbeddingOptions{.padding_idx = 5}); },
                           {"padding_idx 5"}));
  EXPECT_TRUE(throws_error([] { nn::GroupNorm(4, 6); }, {"divisible by num_groups"}));
}

TEST(Layers, EmbeddingPaddingRowGetsNoGradient) {
  nn::Embedding emb(5, 3, nn::EmbeddingOptions{.padding_idx = 1});
  Tensor idx = tensor(std::vector<int64_t>{1, 2, 1, 4});
  emb(idx).sum().backward();
  EXPECT_EQ(emb.weight.grad()[1].abs().sum().item(), 0.0);
  EXPECT_ALL_CLOSE(emb.weight.grad()[2], ones({3}), 0.0, 0.0);
}

TEST(Layers, UnbatchedConvolutionInput) {
  manual_seed(4);
  nn::Conv2d conv(2, 3, 3, nn::Conv2dOptions{.padding = 1});
  Tensor x = randn({2, 5, 5});
  Tensor batched = conv(x.unsqueeze(0));
  EXPECT_ALL_CLOSE(conv(x), batched.squeeze(0), 1e-6, 1e-6);
}

// ---- gradcheck of composite layers (float64, input and parameter gradients via the inputs)

TEST(Gradcheck, ConvBatchNormTanhLinearChain) {
  manual_seed(7);
  auto net = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(2, 3, 3, nn::Conv2dOptions{.stride = 2, .padding = 1}),
      std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::AvgPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(3 * 2 * 2, 4));
  net->to(DType::Float64);
  Tensor x = randn({3, 2, 7, 8}, kF64).requires_grad_();
  // BatchNorm in training mode updates its running stats on each call; that does not change
  // the output, so finite differences see one function.
  EXPECT_TRUE(gradcheck([&](const Tensors& in) { return (*net)(in[0]); }, {x}));
}

TEST(Gradcheck, EmbeddingLayerNormGeluLinearWithParametersAsInputs) {
  manual_seed(8);
  nn::LayerNorm ln({4});
  nn::Linear fc(4, 3);
  ln.to(DType::Float64);
  fc.to(DType::Float64);
  Tensor idx = tensor(std::vector<int64_t>{0, 3, 2, 3, 1}, Shape{5});
  Tensor table = randn({4, 4}, kF64).requires_grad_();
  Tensor w = fc.weight.detach().clone().requires_grad_();
  Tensor g = ln.weight.detach().clone().requires_grad_();
  EXPECT_TRUE(gradcheck(
      [&](const Tensors& in) {
        Tensor h = F::embedding(in[0], idx);
        h = F::layer_norm(h, {4}, in[2], ln.bias);
        return F::linear(F::gelu(h), in[1], fc.bias);
      },
      {table, w, g}));
}

// ---- functional forms

TEST(Functional, MatchesTheModules) {
  manual_seed(9);
  Tensor x = randn({2, 3, 6, 6});
  nn::MaxPool2d mp(3, nn::MaxPool2dOptions{.stride = 2, .padding = 1});
  EXPECT_ALL_CLOSE(mp(x), F::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), 0.0, 0.0);
  nn::LeakyReLU lr(0.3);
  EXPECT_ALL_CLOSE(lr(x), F::leaky_relu(x, 0.3), 0.0, 0.0);
  nn::Softmax sm(1);
  EXPECT_ALL_CLOSE(sm(x), F::softmax(x, 1), 0.0, 0.0);
  EXPECT_ALL_CLOSE(F::relu6(x * 10.0), clamp(x * 10.0, 0.0, 6.0), 0.0, 0.0);
}

TEST(Functional, NormalizeDividesByTheNorm) {
  Tensor x = tensor({3.0, 4.0, 0.0, 0.0}, {.dtype = DType::Float64}).reshape({2, 2});
  Tensor y = F::normalize(x, 2.0, 1);
  EXPECT_ALL_CLOSE(y, tensor({0.6, 0.8, 0.0, 0.0}, {.dtype = DType::Float64}).reshape({2, 2}), 1e-12,
                   0.0);
}

// ---- summary

TEST(Summary, ListsLayersOutputShapesAndTotals) {
  auto net = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = 1}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(4 * 14 * 14, 10));
  net->at<nn::Linear>(5)->bias.requires_grad_(false);
  std::string s = net->summary({2, 1, 28, 28});
  for (const char* needle :
       {"Sequential", "├─0: Conv2d", "[2, 4, 28, 28]", "├─3: MaxPool2d", "[2, 4, 14, 14]",
        "├─4: Flatten", "[2, 784]", "├─5: Linear", "[2, 10]", "7,850", "Total params: 7,898",
        "Trainable params: 7,888", "Non-trainable params: 10", "Params size (MB): 0.03"})
    EXPECT_NE(s.find(needle), std::string::npos) << needle << "\n" << s;
  // The forward pass ran in eval mode and left the module as it was.
  EXPECT_TRUE(net->is_training());
  EXPECT_EQ(net->at<nn::BatchNorm2d>(1)->num_batches_tracked.item<int64_t>(), 0);
}

TEST(Summary, NestedModulesAreIndented) {
  struct Block : nn::Module {
    std::shared_ptr<nn::Sequential> body;
    Block() : Module("Block") {
      body = register_module("body", std::make_shared<nn::Sequential>(
                                         std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::GELU>()));
    }
    Tensor forward(const Tensor& x) override { return (*body)(x); }
  };
  auto b = std::make_shared<Block>();
  std::string s = b->summary({4, 3});
  EXPECT_NE(s.find("├─body: Sequential"), std::string::npos) << s;
  EXPECT_NE(s.find("│    ├─0: Linear"), std::string::npos) << s;
  EXPECT_NE(s.find("[4, 5]"), std::string::npos) << s;
  EXPECT_TRUE(throws_error([&] { b->summary({4, 7}); }, {"Linear", "[4, 7]"}));
  // A failed summary leaves no hook behind.
  EXPECT_NO_THROW((*b)(ones({1, 3})));
}
