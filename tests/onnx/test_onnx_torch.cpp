// Differential ONNX import: every model PyTorch exported in tests/reference/gen_onnx_torch.py
// (slices with INT64_MAX/INT64_MIN bounds and negative steps, gathers, dynamic reshapes,
// reductions, dtype mixes, int64 constants above 2^53) is imported, run twice (the first run
// traces, the second runs the compiled plan when the model has static shapes) and compared
// with PyTorch's outputs: dtype and shape exactly, integers and booleans exactly, floats
// within float32 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tandem/onnx.h"
#include "test_util.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(TANDEM_TEST_DATA_DIR) / "onnx_torch";

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(kRoot)) return names;
  for (const auto& e : fs::directory_iterator(kRoot))
    if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<Tensor> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<Tensor> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".npy");
    if (!fs::exists(p)) return out;
    out.push_back(::tandem::testing::load_npy(fs::relative(p, TANDEM_TEST_DATA_DIR).string()));
  }
}

::testing::AssertionResult same_result(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << ", PyTorch gives "
                                         << dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << ", PyTorch gives "
                                         << shape_str(want.shape());
  if (is_floating(want.dtype())) return ::tandem::testing::all_close(got, want, 1e-5, 1e-5);
  // NOTE: integers compare as int64, never through double: the int64 cases hold values
  // above 2^53 that a double would round together.
  auto g = got.contiguous().to_vector<int64_t>(), w = want.contiguous().to_vector<int64_t>();
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] != w[i])
      return ::testing::AssertionFailure() << "element " << i << " is " << g[i] << ", PyTorch gives " << w[i];
  return ::testing::AssertionSuccess();
}

class OnnxTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxTorch, MatchesPyTorch) {
  fs::path dir = kRoot / GetParam();
  auto model = onnx::Model::load((dir / "model.onnx").string());
  std::vector<Tensor> inputs = numbered(dir, "input_"), want = numbered(dir, "output_");
  ASSERT_FALSE(want.empty()) << dir << " has no output_0.npy";
  std::map<std::string, Tensor> feed;
  for (size_t i = 0; i < inputs.size(); ++i) feed["x" + std::to_string(i)] = inputs[i];
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "first run" : "second run");
    std::vector<Tensor> got = model.run(feed);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same_result(got[i], want[i])) << "output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Exports, OnnxTorch, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

// The data set is committed: a missing or truncated folder must fail, not shrink the suite.
TEST(OnnxTorchData, AllCasesArePresent) { EXPECT_GE(case_names().size(), 60u) << kRoot; }

}  // namespace
