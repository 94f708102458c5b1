// The model zoo: shapes, parameter counts (derived by hand from the layer sizes, the same
// numbers PyTorch's sum(p.numel()) gives for the twins in bench/train_torch.py), names.
#include <gtest/gtest.h>

#include <tandem/models.h>
#include <tandem/tandem.h>

#include "test_util.h"

using namespace tandem;
using tandem::testing::throws_error;

TEST(Models, MlpShapesAndParameterCount) {
  auto m = models::create("mlp");
  // 784·512+512 + 512·256+256 + 256·10+10
  EXPECT_EQ(m->num_parameters(), 401920 + 131328 + 2570);
  EXPECT_EQ((*m)(zeros({3, 1, 28, 28})).shape(), (Shape{3, 10}));
}

TEST(Models, CnnShapesAndParameterCount) {
  auto m = models::create("cnn");
  // conv 1→32 (3×3) + conv 32→64 + linear 3136→128 + linear 128→10, with biases
  EXPECT_EQ(m->num_parameters(), (32 * 9 + 32) + (64 * 32 * 9 + 64) + (3136 * 128 + 128) + (128 * 10 + 10));
  EXPECT_EQ((*m)(zeros({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  auto names = m->named_parameters();
  ASSERT_EQ(names.size(), 8u);
  EXPECT_EQ(names[0].first, "conv1.weight");
  EXPECT_EQ(names[0].second.shape(), (Shape{32, 1, 3, 3}));
}

TEST(Models, ResnetHasSkipConnectionsAndBatchNorm) {
  auto m = models::create("resnet");
  EXPECT_EQ((*m)(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  auto sd = m->state_dict();
  EXPECT_TRUE(sd.count("layers.1.downsample.0.weight"));  // 32→64, stride 2: projected skip
  EXPECT_FALSE(sd.count("layers.0.downsample.0.weight"));  // 32→32: identity skip
  EXPECT_TRUE(sd.count("stem_bn.running_mean"));
  // stem 9·32 + BN 64; block 32→32: 2·9216 + 2·64; block 32→64: 18432 + 36864 + 2·128 +
  // projection 2048 + 128; block 64→128: 73728 + 147456 + 2·256 + 8192 + 256; fc 1290
  int64_t expected = (288 + 64) + (2 * 9216 + 2 * 64) + (18432 + 36864 + 2 * 128 + 2048 + 128) +
                     (73728 + 147456 + 2 * 256 + 8192 + 256) + 1290;
  EXPECT_EQ(m->num_parameters(), expected);
}

TEST(Models, ResnetSkipCarriesTheInputGradient) {
  // With the residual branch's last BN scaled to zero, block 0 is ReLU(x + 0) = x for x ≥ 0:
  // the gradient reaches the input only through the skip connection.
  models::BasicBlock block(4, 4);
  block.bn2->weight.detach().zero_();
  block.eval();
  Tensor x = rand({1, 4, 5, 5}).requires_grad_();
  Tensor y = block(x);
  EXPECT_ALL_CLOSE(y, x.detach());
  y.sum().backward();
  EXPECT_ALL_CLOSE(x.grad(), ones_like(x));
}

TEST(Models, SameSeedSameWeights) {
  manual_seed(3);
  auto a = models::create("cnn");
  manual_seed(3);
  auto b = models::create("cnn");
  EXPECT_ALL_CLOSE(a->state_dict().at("fc1.weight"), b->state_dict().at("fc1.weight"));
}

TEST(Models, UnknownNameListsTheChoices) {
  EXPECT_TRUE(throws_error([] { models::create("vgg"); }, {"mlp, cnn, resnet"}));
  EXPECT_EQ(models::names(), (std::vector<std::string>{"mlp", "cnn", "resnet"}));
}
