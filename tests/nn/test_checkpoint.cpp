// Activation checkpointing (tandem::checkpoint, nn::Checkpoint): the same values and gradients
// as the plain path (dropout included, through the replayed generator), finite differences,
// and fewer bytes held between forward and backward (the allocator's own counters).
#include "tandem/nn/checkpoint.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

std::shared_ptr<nn::Sequential> block(int64_t width, double dropout_p) {
  auto s = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(width, width),
                                            std::make_shared<nn::Tanh>());
  if (dropout_p > 0) s->push_back(std::make_shared<nn::Dropout>(dropout_p));
  return s;
}

// Three blocks and a head; `wrap` puts each block under nn::Checkpoint (same parameters).
std::shared_ptr<nn::Sequential> model(const std::vector<std::shared_ptr<nn::Sequential>>& blocks,
                                      const std::shared_ptr<nn::Linear>& head, bool wrap) {
  auto m = std::make_shared<nn::Sequential>();
  for (const auto& b : blocks) {
    if (wrap)
      m->push_back(std::make_shared<nn::Checkpoint>(b));
    else
      m->push_back(b);
  }
  m->push_back(head);
  return m;
}

struct Outcome {
  Tensor out, x_grad;
  std::vector<Tensor> grads;
  double next_random = 0;  // the generator after backward
};

Outcome run(nn::Module& m, const Tensor& x_in, uint64_t seed) {
  manual_seed(seed);
  m.zero_grad();
  Tensor x = x_in.detach().clone().requires_grad_(true);
  Outcome r;
  r.out = m(x);
  (r.out * r.out).sum().backward();
  r.x_grad = x.grad();
  for (const Tensor& p : m.parameters()) r.grads.push_back(p.grad());
  r.next_random = rand({1}).item();
  return r;
}

void expect_same(const Outcome& a, const Outcome& b) {
  EXPECT_ALL_CLOSE(b.out, a.out, 0.0, 0.0);
  EXPECT_ALL_CLOSE(b.x_grad, a.x_grad, 1e-12, 1e-12);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    ASSERT_TRUE(b.grads[i].defined()) << "parameter " << i;
    EXPECT_ALL_CLOSE(b.grads[i], a.grads[i], 1e-12, 1e-12) << "parameter " << i;
  }
}

}  // namespace

TEST(Checkpoint, GradientsEqualThePlainPath) {
  manual_seed(3);
  std::vector<std::shared_ptr<nn::Sequential>> blocks{block(16, 0), block(16, 0), block(16, 0)};
  auto head = std::make_shared<nn::Linear>(16, 4);
  auto plain = model(blocks, head, false), ckpt = model(blocks, head, true);
  plain->to(kFloat64);
  Tensor x = randn({5, 16}, kF64);
  expect_same(run(*plain, x, 11), run(*ckpt, x, 11));
}

TEST(Checkpoint, DropoutMasksAreReplayedInBackward) {
  manual_seed(4);
  std::vector<std::shared_ptr<nn::Sequential>> blocks{block(32, 0.5), block(32, 0.5)};
  auto head = std::make_shared<nn::Linear>(32, 3);
  auto plain = model(blocks, head, false), ckpt = model(blocks, head, true);
  plain->to(kFloat64);
  Tensor x = randn({8, 32}, kF64);
  Outcome a = run(*plain, x, 99), b = run(*ckpt, x, 99);
  expect_same(a, b);
  // The recompute drew from a copy: the caller's generator is where the plain path left it.
  EXPECT_EQ(a.next_random, b.next_random);
  // A different seed gives different masks (so the equality above is not vacuous).
  Outcome c = run(*plain, x, 100);
  EXPECT_FALSE(all_close(c.out, a.out, 1e-9, 1e-9));
}

TEST(Checkpoint, GradcheckAgainstFiniteDifferences) {
  Tensor x = randn({3, 4}, {.dtype = kFloat64, .requires_grad = true});
  Tensor w = randn({4, 5}, {.dtype = kFloat64, .requires_grad = true});
  auto fn = [](const Tensors& in) {
    return checkpoint([](const Tensors& xs) {
      Tensor h = tanh(matmul(xs[0], xs[1]));
      return Tensors{h * sin(h), h};
    }, in)[0];
  };
  EXPECT_TRUE(gradcheck(fn, {x, w}));
}

// The PyTorch pitfall avoided: the block's parameters get gradients even when its input
// (a batch of data) does not require grad.
TEST(Checkpoint, ParametersGetGradientsWhenTheInputDoesNot) {
  manual_seed(5);
  auto b = block(6, 0);
  nn::Checkpoint c(b);
  Tensor y = c(randn({2, 6}));
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  for (const Tensor& p : b->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(Checkpoint, InPlaceChangeOfAnInputIsAnError) {
  Tensor x = randn({4}, {.requires_grad = true});
  Tensor h = x * 2;
  Tensor y = checkpoint([](const Tensors& xs) { return Tensors{xs[0].exp()}; }, {h})[0];
  {
    NoGradGuard ng;
    h.add_(tensor({1.0f}));
  }
  EXPECT_TRUE(throws_error([&] { y.sum().backward(); }, {"checkpoint", "modified in place"}));
}

TEST(Checkpoint, UnderNoGradItJustRuns) {
  NoGradGuard ng;
  Tensor x = randn({3});
  Tensor y = checkpoint([](const Tensors& xs) { return Tensors{xs[0] + 1}; }, {x})[0];
  EXPECT_FALSE(y.requires_grad());
  EXPECT_ALL_CLOSE(y, x + 1);
}

// Between forward and backward a checkpointed model holds only each block's input and output;
// the plain one holds every block's activations. The peak of forward+backward drops too.
TEST(Checkpoint, HoldsFewerBytesBetweenForwardAndBackward) {
  manual_seed(6);
  constexpr int64_t kWidth = 256, kBatch = 512;  // 512 KiB per activation
  std::vector<std::shared_ptr<nn::Sequential>> blocks;
  for (int i = 0; i < 4; ++i) {
    auto b = std::make_shared<nn::Sequential>();
    for (int j = 0; j < 3; ++j) {
      b->push_back(std::make_shared<nn::Linear>(kWidth, kWidth));
      b->push_back(std::make_shared<nn::Tanh>());
    }
    blocks.push_back(b);
  }
  auto head = std::make_shared<nn::Linear>(kWidth, 1);
  Tensor x = randn({kBatch, kWidth});
  auto measure = [&](bool wrap, int64_t* held, int64_t* peak) {
    auto m = model(blocks, head, wrap);
    m->zero_grad();
    int64_t base = memory_stats().allocated_bytes;
    reset_peak_memory_stats();
    Tensor loss = (*m)(x).sum();
    *held = memory_stats().allocated_bytes - base;
    loss.backward();
    *peak = memory_stats().peak_allocated_bytes - base;
  };
  int64_t held_plain, peak_plain, held_ckpt, peak_ckpt;
  measure(false, &held_plain, &peak_plain);
  measure(true, &held_ckpt, &peak_ckpt);
  // Plain: 4 blocks x 3 saved activations of 512 KiB (each linear's input; tanh saves its
  // output, the next linear's input); checkpointed: the 4 block outputs.
  constexpr int64_t kActivation = kBatch * kWidth * 4;
  EXPECT_GE(held_plain, 12 * kActivation);
  EXPECT_LE(held_ckpt, 4 * kActivation + kActivation / 8);
  EXPECT_LT(peak_ckpt, peak_plain);
}
