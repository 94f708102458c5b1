// nn::TransformerEncoderLayer and nn::TransformerEncoder against PyTorch 1.13
// (tests/reference/gen_nn_seq.py): pre/post norm, relu/gelu, masks, batch_first, a stack
// with a final norm; state_dict names, layer copies, and argument errors.
#include <gtest/gtest.h>

#include "seq_reference.h"
#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr int64_t kModel = 8, kHeads = 2, kFF = 16;  // the sizes gen_nn_seq.py uses

struct EncCase {
  const char* name;
  bool norm_first;
  const char* activation;
  bool batch_first;
  int64_t num_layers;  // 0: a single TransformerEncoderLayer
  bool final_norm;
};

// gtest prints the case name instead of the struct's bytes.
void PrintTo(const EncCase& c, std::ostream* os) { *os << c.name; }

// Same cases as encoder_cases() in gen_nn_seq.py.
const EncCase kEncCases[] = {
    {"enc_post_relu", false, "relu", false, 0, false},
    {"enc_pre_gelu_bf_masks", true, "gelu", true, 0, false},
    {"enc_post_gelu_masks", false, "gelu", false, 0, false},
    {"enc_pre_relu_bf", true, "relu", true, 0, false},
    {"encoder2_post_norm_masks", false, "relu", false, 2, true},
    {"encoder2_pre_bf", true, "gelu", true, 2, false},
};

std::shared_ptr<nn::TransformerEncoderLayer> make_layer(const EncCase& ec) {
  return std::make_shared<nn::TransformerEncoderLayer>(
      kModel, kHeads,
      nn::TransformerEncoderLayerOptions{.dim_feedforward = kFF,
                                         .activation = ec.activation,
                                         .batch_first = ec.batch_first,
                                         .norm_first = ec.norm_first});
}

class EncoderReference : public ::testing::TestWithParam<EncCase> {};

}  // namespace

TEST_P(EncoderReference, OutputAndGradientsMatchPyTorch) {
  const EncCase& ec = GetParam();
  for (DType dt : seqref::kDtypes) {
    seqref::Case c(ec.name, dt);
    std::shared_ptr<nn::Module> m;
    auto layer = make_layer(ec);
    std::shared_ptr<nn::TransformerEncoder> encoder;
    if (ec.num_layers > 0) {
      encoder = std::make_shared<nn::TransformerEncoder>(
          layer, ec.num_layers, ec.final_norm ? std::make_shared<nn::LayerNorm>(Shape{kModel}) : nullptr);
      m = encoder;
    } else {
      m = layer;
    }
    m->to(dt);
    m->eval();
    c.load_weights(*m);
    Tensor src = c.input("src"), mask = c.input("src_mask"), kpm = c.input("src_key_padding_mask");
    Tensor out = encoder ? encoder->forward(src, mask, kpm) : layer->forward(src, mask, kpm);
    Tensor loss = c.loss_term("output", out);
    loss.backward();
    c.expect_grads(*m, {{"src", src}});
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, EncoderReference, ::testing::ValuesIn(kEncCases),
                         [](const ::testing::TestParamInfo<EncCase>& info) { return std::string(info.param.name); });

TEST(TransformerEncoderLayer, StateDictKeysAreTorchs) {
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2);
  std::vector<std::string> names;
  for (auto& [n, p] : layer->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                             "self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear1.weight",
                                             "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight",
                                             "norm1.bias", "norm2.weight", "norm2.bias"}));
  EXPECT_EQ(layer->linear1->weight.shape(), (Shape{2048, 8}));  // PyTorch's default dim_feedforward
}

TEST(TransformerEncoder, LayersAreIndependentCopiesOfTheTemplate) {
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16});
  auto encoder = std::make_shared<nn::TransformerEncoder>(layer, 3);
  auto sd = encoder->state_dict();
  EXPECT_EQ(sd.size(), 3 * layer->state_dict().size());
  EXPECT_ALL_CLOSE(sd.at("layers.2.linear1.weight"), layer->linear1->weight, 0.0, 0.0);
  // Copies, not shared: changing one layer leaves the others and the template alone.
  {
    NoGradGuard ng;
    encoder->layers->at<nn::TransformerEncoderLayer>(0)->linear1->weight.add_(1.0);
  }
  EXPECT_ALL_CLOSE(encoder->state_dict().at("layers.1.linear1.weight"), layer->linear1->weight, 0.0, 0.0);
  EXPECT_GT(abs(encoder->state_dict().at("layers.0.linear1.weight") - layer->linear1->weight).max().item(), 0.5);
}

TEST(TransformerEncoderLayer, DropoutActsOnlyInTraining) {
  manual_seed(9);
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16});
  Tensor x = randn({4, 3, 8});
  Tensor train = layer->forward(x);
  layer->eval();
  Tensor a = layer->forward(x), b = layer->forward(x);
  EXPECT_ALL_CLOSE(a, b, 0.0, 0.0);
  EXPECT_GT(abs(train - a).max().item(), 1e-4);
}

TEST(TransformerEncoderLayer, UnbatchedInputEqualsABatchOfOne) {
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16});
  layer->eval();
  Tensor x = randn({5, 8});
  Tensor mask = randn({5, 5});
  Tensor kpm = tensor(std::vector<uint8_t>{0, 0, 0, 1, 1}).to(DType::Bool);
  EXPECT_ALL_CLOSE(layer->forward(x, mask, kpm), layer->forward(x.unsqueeze(1), mask, kpm.unsqueeze(0)).squeeze(1),
                   1e-6, 1e-5);
}

TEST(TransformerEncoderLayer, SummaryShowsEverySublayer) {
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(
      12, 3, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16, .batch_first = true});
  std::string s = layer->summary({2, 5, 12});
  EXPECT_NE(s.find("self_attn: MultiheadAttention"), std::string::npos) << s;
  EXPECT_NE(s.find("[2, 5, 16]"), std::string::npos) << s;  // linear1's output, seen by its hook
  // in_proj 3*12*12 + 36, out_proj 144 + 12, linear1 16*12 + 16, linear2 12*16 + 12, norms 2*24
  EXPECT_EQ(layer->num_parameters(), 468 + 156 + 208 + 204 + 48);
}

TEST(TransformerEncoderLayer, ArgumentErrorsSayWhatWasExpected) {
  EXPECT_TRUE(throws_error(
      [] { nn::TransformerEncoderLayer(8, 2, nn::TransformerEncoderLayerOptions{.activation = "tanh"}); },
      {"activation", "\"relu\" or \"gelu\"", "tanh"}));
  EXPECT_TRUE(throws_error([] { nn::TransformerEncoderLayer(10, 4); }, {"embed_dim (10)", "num_heads (4)"}));
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16});
  EXPECT_TRUE(throws_error([&] { layer->forward(randn({4, 3, 6})); }, {"d_model 8", "[4, 3, 6]"}));
  EXPECT_TRUE(throws_error([&] { layer->forward(randn({4})); }, {"TransformerEncoderLayer", "[4]"}));
}
