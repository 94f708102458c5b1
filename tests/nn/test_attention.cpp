// nn::MultiheadAttention: outputs, attention weights and gradients against PyTorch 1.13
// (tests/reference/gen_nn_seq.py) with and without masks, a float64 gradcheck, parameter
// names and default initialization, and the argument errors.
#include <gtest/gtest.h>

#include <cmath>

#include "seq_reference.h"
#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr int64_t kEmbed = 8, kHeads = 2;  // the sizes gen_nn_seq.py uses

struct MhaCase {
  const char* name;
  bool bias, batch_first, need_weights, average;
};

// gtest prints the case name instead of the struct's bytes.
void PrintTo(const MhaCase& c, std::ostream* os) { *os << c.name; }

// Same cases as mha_cases() in gen_nn_seq.py (the masks come from the case's files).
const MhaCase kMhaCases[] = {
    {"mha_self", true, false, true, true},
    {"mha_cross_bf_kpm_heads", true, true, true, false},
    {"mha_causal_kpm_nobias", false, false, true, true},
    {"mha_float_kpm_noweights", true, false, false, true},
    {"mha_float3d_bool_kpm", true, false, true, true},
    {"mha_float2d_bool_kpm_bf", true, true, true, true},
    {"mha_unbatched", true, false, true, true},
};

class MhaReference : public ::testing::TestWithParam<MhaCase> {};

}  // namespace

TEST_P(MhaReference, OutputWeightsAndGradientsMatchPyTorch) {
  const MhaCase& mc = GetParam();
  for (DType dt : seqref::kDtypes) {
    seqref::Case c(mc.name, dt);
    auto mha = std::make_shared<nn::MultiheadAttention>(
        kEmbed, kHeads, nn::MultiheadAttentionOptions{.bias = mc.bias, .batch_first = mc.batch_first});
    mha->to(dt);
    mha->eval();
    c.load_weights(*mha);
    Tensor q = c.input("query");
    // Self-attention cases pass the query three times (the fused projection path).
    Tensor k = c.has("in.key") ? c.input("key") : q;
    Tensor v = c.has("in.value") ? c.input("value") : q;
    auto [out, weights] =
        mha->forward(q, k, v, c.input("key_padding_mask"), mc.need_weights, c.input("attn_mask"), mc.average);
    Tensor loss = c.loss_term("output", out);
    if (mc.need_weights) loss = loss + c.loss_term("weights", weights);
    else EXPECT_FALSE(weights.defined());
    loss.backward();
    c.expect_grads(*mha, {{"query", q}, {"key", k}, {"value", v}});
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, MhaReference, ::testing::ValuesIn(kMhaCases),
                         [](const ::testing::TestParamInfo<MhaCase>& info) { return std::string(info.param.name); });

TEST(MultiheadAttention, SelfAttentionShortcutEqualsSeparateProjections) {
  auto mha = std::make_shared<nn::MultiheadAttention>(8, 4);
  Tensor x = randn({5, 2, 8});
  Tensor fused = mha->forward(x);                                          // one in_proj matmul
  Tensor separate = mha->forward(x, x.clone(), x.clone(), {}, false).output;  // three slices
  EXPECT_ALL_CLOSE(fused, separate, 1e-5, 1e-4);
}

TEST(MultiheadAttention, GradcheckWithMasks) {
  auto mha = std::make_shared<nn::MultiheadAttention>(4, 2, nn::MultiheadAttentionOptions{.batch_first = true});
  mha->to(DType::Float64);
  Generator g(8);
  Tensor kpm = tensor(std::vector<uint8_t>{0, 0, 0, 0, 0, 1}, Shape{2, 3}).to(DType::Bool);
  Tensor mask = randn({2, 3}, kF64, &g);
  Tensors inputs = {randn({2, 2, 4}, kF64, &g).requires_grad_(), randn({2, 3, 4}, kF64, &g).requires_grad_(),
                    randn({2, 3, 4}, kF64, &g).requires_grad_()};
  for (const Tensor& p : mha->parameters()) inputs.push_back(p);
  EXPECT_TRUE(gradcheck(
      [&](const Tensors& in) {
        auto r = mha->forward(in[0], in[1], in[2], kpm, true, mask, /*average_attn_weights=*/false);
        return cat({r.output.flatten(), r.weights.flatten()});
      },
      inputs));
}

TEST(MultiheadAttention, ParameterNamesAndDefaultInit) {
  Generator g(2);
  auto mha = std::make_shared<nn::MultiheadAttention>(32, 4, nn::MultiheadAttentionOptions{}, &g);
  std::vector<std::string> names;
  for (auto& [n, p] : mha->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(mha->in_proj_weight.shape(), (Shape{96, 32}));
  // xavier_uniform: bound √(6 / (fan_in + fan_out)) = √(6 / (32 + 96)).
  const double bound = std::sqrt(6.0 / 128.0);
  EXPECT_LE(amax(abs(mha->in_proj_weight)).item(), bound);
  EXPECT_GT(amax(abs(mha->in_proj_weight)).item(), 0.95 * bound);
  EXPECT_EQ(amax(abs(mha->in_proj_bias)).item(), 0.0);
  EXPECT_EQ(amax(abs(mha->out_proj->bias)).item(), 0.0);
  // out_proj.weight keeps Linear's default, U(±1/√in).
  EXPECT_LE(amax(abs(mha->out_proj->weight)).item(), 1.0 / std::sqrt(32.0));
  auto nobias = std::make_shared<nn::MultiheadAttention>(8, 2, nn::MultiheadAttentionOptions{.bias = false});
  EXPECT_EQ(nobias->state_dict().size(), 2u);  // in_proj_weight, out_proj.weight
}

TEST(MultiheadAttention, DropoutOnWeightsOnlyInTraining) {
  manual_seed(3);
  auto mha = std::make_shared<nn::MultiheadAttention>(8, 2, nn::MultiheadAttentionOptions{.dropout = 0.5});
  Tensor x = randn({6, 2, 8});
  auto train = mha->forward(x, x, x);
  mha->eval();
  auto eval = mha->forward(x, x, x);
  EXPECT_GT(abs(train.output - eval.output).max().item(), 1e-4);
  EXPECT_ALL_CLOSE(sum(eval.weights, {-1}), ones({2, 6}), 1e-6, 1e-6);  // rows of a softmax
}

TEST(MultiheadAttention, ArgumentErrorsSayWhatWasExpected) {
  EXPECT_TRUE(throws_error([] { nn::MultiheadAttention(10, 3); }, {"embed_dim (10)", "divisible", "num_heads (3)"}));
  auto mha = std::make_shared<nn::MultiheadAttention>(8, 2);
  Tensor x = randn({5, 2, 8});
  EXPECT_TRUE(throws_error([&] { mha->forward(randn({5, 2, 8, 1})); }, {"MultiheadAttention", "3-D query"}));
  EXPECT_TRUE(throws_error([&] { mha->forward(randn({5, 2, 6})); }, {"embed_dim 8", "[5, 2, 6]"}));
  EXPECT_TRUE(throws_error([&] { mha->forward(x, x, x, zeros({2, 4}, {.dtype = DType::Bool})); },
                           {"key_padding_mask", "[2, 5]", "[2, 4]"}));
  EXPECT_TRUE(throws_error([&] { mha->forward(x, x, x, {}, true, zeros({5, 4})); },
                           {"attn_mask", "[5, 5]", "[4, 5, 5]", "[5, 4]"}));
  EXPECT_TRUE(throws_error([&] { mha->forward(x, randn({5, 3, 8}), randn({5, 3, 8})); }, {"batch sizes"}));
  EXPECT_TRUE(throws_error([&] { mha->forward(x, x, x, {}, true, zeros({5, 5}, {.dtype = DType::Int64})); },
                           {"attn_mask", "bool", "int64"}));
}
