// Every layer against PyTorch 1.13 (tests/reference/gen_nn.py): the same module is built
// here, PyTorch's state_dict is loaded with load_state_dict (so the key names must match
// PyTorch's), the same inputs run through it, and the output, the input gradient, every
// parameter gradient and the buffers after the passes (running statistics) are compared.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;
using nn::Size2;

namespace {

using Factory = std::function<std::shared_ptr<nn::Module>()>;

template <class M, class... Args>
Factory make(Args... args) {
  return [=] { return std::static_pointer_cast<nn::Module>(std::make_shared<M>(args...)); };
}

// Case name (a folder of tests/data/nn) -> the tandem module PyTorch's case builds.
const std::map<std::string, Factory>& cases() {
  static const std::map<std::string, Factory> table = {
      {"linear", make<nn::Linear>(5, 4)},
      {"linear_nobias_3d", make<nn::Linear>(5, 4, false)},
      {"conv1d_stride_pad_groups",
       make<nn::Conv1d>(4, 6, 3, nn::Conv1dOptions{.stride = 2, .padding = 1, .groups = 2})},
      {"conv1d_reflect_dilation",
       make<nn::Conv1d>(3, 2, 3, nn::Conv1dOptions{.padding = 2, .dilation = 2, .padding_mode = "reflect"})},
      {"conv2d_stride_pad_groups",
       make<nn::Conv2d>(4, 6, Size2(3), nn::Conv2dOptions{.stride = 2, .padding = 1, .groups = 2})},
      {"conv2d_rect_nobias_dilation",
       make<nn::Conv2d>(3, 5, Size2(3, 2),
                        nn::Conv2dOptions{.padding = {2, 1}, .dilation = {2, 1}, .bias = false})},
      {"conv2d_circular",
       make<nn::Conv2d>(2, 3, Size2(3), nn::Conv2dOptions{.padding = 1, .padding_mode = "circular"})},
      {"conv2d_replicate_stride",
       make<nn::Conv2d>(2, 3, Size2(3),
                        nn::Conv2dOptions{.stride = 2, .padding = {1, 2}, .padding_mode = "replicate"})},
      {"conv1d_same_even_kernel", make<nn::Conv1d>(2, 3, 4, nn::Conv1dOptions{.padding = "same"})},
      {"conv2d_same_dilation_reflect",
       make<nn::Conv2d>(2, 3, Size2(4, 3),
                        nn::Conv2dOptions{.padding = "same", .dilation = {1, 2}, .padding_mode = "reflect"})},
      {"conv2d_valid", make<nn::Conv2d>(2, 3, Size2(3), nn::Conv2dOptions{.padding = "valid"})},
      {"conv_transpose2d",
       make<nn::ConvTranspose2d>(4, 6, Size2(3),
                                 nn::ConvTranspose2dOptions{
                                     .stride = 2, .padding = 1, .output_padding = 1, .groups = 2})},
      {"conv_transpose2d_rect_dilation",
       make<nn::ConvTranspose2d>(3, 2, Size2(2, 3),
                                 nn::ConvTranspose2dOptions{.stride = {1, 2}, .dilation = {2, 1}})},
      {"batch_norm1d_train_2d", make<nn::BatchNorm1d>(4)},
      {"batch_norm1d_train_3d_momentum", make<nn::BatchNorm1d>(3, nn::BatchNormOptions{.momentum = 0.3})},
      {"batch_norm2d_train", make<nn::BatchNorm2d>(4)},
      {"batch_norm2d_cumulative",
       make<nn::BatchNorm2d>(3, nn::BatchNormOptions{.momentum = std::nullopt})},
      {"batch_norm2d_eval", make<nn::BatchNorm2d>(4)},
      {"batch_norm2d_no_affine_no_stats",
       make<nn::BatchNorm2d>(3, nn::BatchNormOptions{.affine = false, .track_running_stats = false})},
      {"layer_norm", make<nn::LayerNorm>(Shape{4, 5})},
      {"layer_norm_no_affine", make<nn::LayerNorm>(Shape{6}, 1e-3, false)},
      {"group_norm", make<nn::GroupNorm>(2, 6)},
      {"group_norm_3d_input", make<nn::GroupNorm>(3, 6, 1e-3)},
      {"embedding", make<nn::Embedding>(10, 4)},
      {"embedding_padding_idx", make<nn::Embedding>(8, 3, nn::EmbeddingOptions{.padding_idx = -2})},
      {"max_pool2d", make<nn::MaxPool2d>(Size2(2))},
      {"max_pool2d_pad_ceil",
       make<nn::MaxPool2d>(Size2(3), nn::MaxPool2dOptions{.stride = 2, .padding = 1, .ceil_mode = true})},
      {"avg_pool2d", make<nn::AvgPool2d>(Size2(2))},
      {"avg_pool2d_pad_exclude_ceil",
       make<nn::AvgPool2d>(Size2(3), nn::AvgPool2dOptions{.stride = 2, .padding = 1, .ceil_mode = true,
                                                          .count_include_pad = false})},
      {"adaptive_avg_pool2d", make<nn::AdaptiveAvgPool2d>(Size2(3, 2))},
      {"flatten", make<nn::Flatten>()},
      {"relu", make<nn::ReLU>()},
      {"leaky_relu", make<nn::LeakyReLU>(0.2)},
      {"gelu", make<nn::GELU>()},
      {"gelu_tanh", make<nn::GELU>("tanh")},
      {"silu", make<nn::SiLU>()},
      {"tanh", make<nn::Tanh>()},
      {"sigmoid", make<nn::Sigmoid>()},
      {"softmax", make<nn::Softmax>(1)},
      {"log_softmax", make<nn::LogSoftmax>(-1)},
      {"dropout_eval", make<nn::Dropout>(0.5)},
      {"sequential_cnn",
       [] {
         return std::static_pointer_cast<nn::Module>(std::make_shared<nn::Sequential>(
             std::make_shared<nn::Conv2d>(2, 4, 3, nn::Conv2dOptions{.padding = 1}),
             std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
             std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
             std::make_shared<nn::Linear>(4 * 3 * 3, 5), std::make_shared<nn::GELU>(),
             std::make_shared<nn::LayerNorm>(Shape{5})));
       }},
  };
  return table;
}

std::string read_text(const std::string& relative) {
  std::ifstream f(std::string(TANDEM_TEST_DATA_DIR) + "/" + relative);
  TANDEM_CHECK(f.good(), "cannot open tests/data/{} (run tests/reference/gen_nn.py)", relative);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

bool exists(const std::string& relative) {
  return std::ifstream(std::string(TANDEM_TEST_DATA_DIR) + "/" + relative).good();
}

class LayerReference : public ::testing::TestWithParam<std::string> {};

// Runs case `name` in `dtype` (the float64 reference data converted), comparing with
// tolerances (atol, rtol).
void check_case(const std::string& name, DType dtype, double atol, double rtol) {
  const std::string dir = "nn/" + name + "/";
  auto m = cases().at(name)();
  m->to(dtype);
  auto load = [&](const std::string& file) {
    Tensor t = load_npy(dir + file);
    return t.is_floating_point() ? t.to(dtype) : t;
  };
  auto expect = [&](const std::string& file) { return load_npy(dir + file).to(dtype); };

  // The state_dict names are PyTorch's, and load_state_dict takes PyTorch's tensors (in
  // float64: it converts).
  std::set<std::string> want;
  for (auto& k : lines(read_text(dir + "keys.txt"))) want.insert(k);
  std::set<std::string> have;
  for (auto& [k, v] : m->state_dict()) have.insert(k);
  ASSERT_EQ(have, want);
  std::map<std::string, Tensor> sd;
  for (auto& k : want) sd[k] = load_npy(dir + "sd_" + k + ".npy");
  m->load_state_dict(sd);
  for (auto& [k, v] : m->state_dict())
    if (v.is_floating_point()) EXPECT_EQ(v.dtype(), dtype) << k;

  const bool train = lines(read_text(dir + "mode.txt")).at(0) == "train";
  m->train(train);
  Tensor out;
  for (int i = 0; exists(dir + "in_" + std::to_string(i) + ".npy"); ++i) {
    Tensor x = load("in_" + std::to_string(i) + ".npy");
    bool last = !exists(dir + "in_" + std::to_string(i + 1) + ".npy");
    if (last && x.is_floating_point()) x.requires_grad_();
    out = (*m)(x);
    if (last) {
      EXPECT_EQ(out.dtype(), dtype);
      EXPECT_ALL_CLOSE(out, expect("out.npy"), atol, rtol);
      (out * load("w.npy")).sum().backward();
      if (x.is_floating_point()) EXPECT_ALL_CLOSE(x.grad(), expect("grad_in.npy"), atol, rtol);
    }
  }
  ASSERT_TRUE(out.defined());
  for (auto& [k, p] : m->named_parameters()) {
    SCOPED_TRACE("parameter " + k);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_ALL_CLOSE(p.grad(), expect("grad_" + k + ".npy"), atol, rtol);
  }
  for (auto& [k, b] : m->named_buffers()) {
    SCOPED_TRACE("buffer " + k);
    Tensor expected = load_npy(dir + "after_" + k + ".npy");
    if (b.is_floating_point()) {
      EXPECT_ALL_CLOSE(b, expected.to(dtype), atol, rtol);
    } else {
      EXPECT_EQ(b.to_vector<int64_t>(), expected.to_vector<int64_t>());
    }
  }
}

TEST_P(LayerReference, MatchesPyTorch) { check_case(GetParam(), DType::Float64, 1e-10, 1e-8); }

// The dtype models train in: the same data rounded to float32, float32 kernels.
TEST_P(LayerReference, MatchesPyTorchInFloat32) { check_case(GetParam(), DType::Float32, 5e-5, 5e-4); }

std::vector<std::string> case_names() {
  std::vector<std::string> out;
  for (auto& [k, v] : cases()) out.push_back(k);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Nn, LayerReference, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

// Every case the generator wrote has a row in the table above (and the other way round,
// through the test itself).
TEST(LayerReferenceTable, CoversEveryGeneratedCase) {
  for (const char* n :
       {"linear", "conv2d_circular", "conv_transpose2d", "batch_norm2d_cumulative", "group_norm",
        "embedding_padding_idx", "avg_pool2d_pad_exclude_ceil", "sequential_cnn"})
    EXPECT_TRUE(exists(std::string("nn/") + n + "/keys.txt")) << n;
}

}  // namespace
