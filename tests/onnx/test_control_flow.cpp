// ONNX control flow, sequences and optionals: every model tests/reference/gen_control_flow.py
// built (If on a data-dependent condition, Loops with data-dependent trip counts and exit
// conditions, subgraphs reading outer values, loop-carried sequences, Scan both ways, nested
// If in a Loop, a TorchScript while/if loop exported by PyTorch) is imported, run twice (the
// first run tries the traced path and falls back to eager execution where a branch or trip
// count depends on data) and compared with the generator's numpy references. `inspect` describes a model tandem cannot run.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "tandem/onnx.h"
#include "test_util.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(TANDEM_TEST_DATA_DIR) / "onnx_flow";

std::vector<std::string> flow_cases() {
  std::vector<std::string> names;
  if (!fs::is_directory(kRoot)) return names;
  for (const auto& e : fs::directory_iterator(kRoot))
    if (fs::exists(e.path() / "output_0.npy") || fs::exists(e.path() / "output_0_0.npy"))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Tensor npy(const fs::path& p) { return ::tandem::testing::load_npy(fs::relative(p, TANDEM_TEST_DATA_DIR).string()); }

// output_<i>.npy is a tensor; output_<i>_<k>.npy are the elements of a sequence.
std::vector<onnx::Value> expected(const fs::path& dir) {
  std::vector<onnx::Value> out;
  for (int i = 0;; ++i) {
    fs::path t = dir / ("output_" + std::to_string(i) + ".npy");
    if (fs::exists(t)) {
      out.emplace_back(npy(t));
      continue;
    }
    std::vector<Tensor> seq;
    for (int k = 0; fs::exists(dir / ("output_" + std::to_string(i) + "_" + std::to_string(k) + ".npy")); ++k)
      seq.push_back(npy(dir / ("output_" + std::to_string(i) + "_" + std::to_string(k) + ".npy")));
    if (seq.empty()) return out;
    out.push_back(onnx::Value::of_sequence(std::move(seq)));
  }
}

::testing::AssertionResult same_tensor(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << ", numpy gives "
                                         << dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << ", numpy gives "
                                         << shape_str(want.shape());
  if (is_floating(want.dtype())) return ::tandem::testing::all_close(got, want, 1e-5, 1e-5);
  auto g = got.contiguous().to_vector<int64_t>(), w = want.contiguous().to_vector<int64_t>();
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] != w[i]) return ::testing::AssertionFailure() << "element " << i << " is " << g[i] << ", numpy gives " << w[i];
  return ::testing::AssertionSuccess();
}

class OnnxFlow : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxFlow, MatchesNumpyReference) {
  fs::path dir = kRoot / GetParam();
  auto model = onnx::Model::load((dir / "model.onnx").string());
  std::map<std::string, onnx::Value> feed;
  const auto& infos = model.info().inputs;
  for (size_t i = 0; i < infos.size(); ++i) feed[infos[i].name] = npy(dir / ("input_" + std::to_string(i) + ".npy"));
  auto want = expected(dir);
  ASSERT_FALSE(want.empty());
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "first run" : "second run");
    auto got = model.run_values(feed);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].kind, want[i].kind) << "output " << i;
      if (want[i].is_tensor()) {
        EXPECT_TRUE(same_tensor(got[i].tensor, want[i].tensor)) << "output " << i;
        continue;
      }
      ASSERT_EQ(got[i].sequence.size(), want[i].sequence.size()) << "output " << i;
      for (size_t k = 0; k < want[i].sequence.size(); ++k)
        EXPECT_TRUE(same_tensor(got[i].sequence[k], want[i].sequence[k])) << "output " << i << " element " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxFlow, ::testing::ValuesIn(flow_cases()),
                         [](const auto& info) { return info.param; });

// The data set is committed: a missing folder must fail, not shrink the suite.
TEST(OnnxFlowData, AllCasesArePresent) { EXPECT_GE(flow_cases().size(), 17u) << kRoot; }

// A branch chosen by the input's shape alone is fixed per traced shape: the model runs as a
// compiled plan, and a new batch size re-traces and takes the other branch.
TEST(OnnxFlow, ShapeOnlyConditionRunsCompiledAndRetraces) {
  auto model = onnx::Model::load((kRoot / "if_batch_3" / "model.onnx").string());
  for (const char* c : {"if_batch_3", "if_batch_1", "if_batch_3"}) {
    SCOPED_TRACE(c);
    auto got = model.run({{"x", npy(kRoot / c / "input_0.npy")}});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(same_tensor(got[0], npy(kRoot / c / "output_0.npy")));
    EXPECT_TRUE(model.runs_compiled());
  }
}

// A branch chosen by the data cannot be traced: the model runs eagerly, with the right result.
TEST(OnnxFlow, DataDependentConditionRunsEagerly) {
  auto model = onnx::Model::load((kRoot / "if_then" / "model.onnx").string());
  for (const char* c : {"if_then", "if_else"}) {
    SCOPED_TRACE(c);
    auto got = model.run({{"x", npy(kRoot / c / "input_0.npy")}});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(same_tensor(got[0], npy(kRoot / c / "output_0.npy")));
    EXPECT_FALSE(model.runs_compiled());
  }
}

// NonZero in the middle of an exported network: its count is read on the host, so it runs
// eagerly while the conv prefix and the suffix on the selected values run as two traced plans
// (the suffix re-traced per count), with PyTorch's outputs at either count.
TEST(OnnxFlow, NonZeroInTheMiddleRunsBetweenTwoPlans) {
  auto model = onnx::Model::load((kRoot / "torch_nonzero_many" / "model.onnx").string());
  EXPECT_FALSE(model.plan_summary().has_run);
  for (const char* c : {"torch_nonzero_many", "torch_nonzero_few", "torch_nonzero_many"}) {
    SCOPED_TRACE(c);
    auto got = model.run({{"x", npy(kRoot / c / "input_0.npy")}});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(same_tensor(got[0], npy(kRoot / c / "output_0.npy")));
    EXPECT_TRUE(same_tensor(got[1], npy(kRoot / c / "output_1.npy")));
    auto plan = model.plan_summary();
    EXPECT_TRUE(plan.has_run);
    EXPECT_EQ(plan.planned_segments, 2) << plan.str();
    EXPECT_EQ(plan.eager_nodes, 1) << plan.str();
    EXPECT_EQ(plan.planned_nodes + plan.eager_nodes, plan.nodes);
    ASSERT_EQ(plan.eager.size(), 1u);
    EXPECT_NE(plan.eager[0].find("(NonZero)"), std::string::npos) << plan.eager[0];
    EXPECT_FALSE(model.runs_compiled());  // not one plan for the whole model
  }
}

// Each new count re-traces the plan after NonZero; past the limit of cached plans that part
// runs eagerly for good, with the same (PyTorch's) results.
TEST(OnnxFlow, SegmentTracedForTooManyCountsRunsEagerly) {
  auto model = onnx::Model::load((kRoot / "torch_nonzero_many" / "model.onnx").string());
  Tensor x = npy(kRoot / "torch_nonzero_many" / "input_0.npy");
  std::set<int64_t> counts;
  for (int k = 1; k <= 20; ++k) counts.insert(model.run({{"x", mul(x, scalar_tensor(0.1 * k))}})[0].numel());
  ASSERT_GT(counts.size(), 9u);  // more counts than cached plans
  auto plan = model.plan_summary();
  EXPECT_EQ(plan.planned_segments, 1) << plan.str();  // the conv prefix
  EXPECT_GT(plan.eager_nodes, 1) << plan.str();
  for (const char* c : {"torch_nonzero_many", "torch_nonzero_few"}) {
    auto got = model.run({{"x", npy(kRoot / c / "input_0.npy")}});
    EXPECT_TRUE(same_tensor(got[0], npy(kRoot / c / "output_0.npy"))) << c;
    EXPECT_TRUE(same_tensor(got[1], npy(kRoot / c / "output_1.npy"))) << c;
  }
}

// A node that fails on the data (a Reshape into pairs of an odd count) reports its own error,
// as in an eager run; the next call with good data runs planned around NonZero alone.
TEST(OnnxFlow, ErrorOfANodeAfterASplitNamesThatNode) {
  auto model = onnx::Model::load((kRoot / "nonzero_pairs" / "model.onnx").string());
  Tensor odd = tensor(std::vector<float>{1, 2, 3, -1, -2, -3, -4, 0});  // 3 positive values
  try {
    model.run({{"x", odd}});
    ADD_FAILURE() << "an odd count reshaped into pairs must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'pairs' (Reshape)"), std::string::npos) << e.what();
  }
  for (int pass = 0; pass < 2; ++pass) {
    auto got = model.run({{"x", npy(kRoot / "nonzero_pairs" / "input_0.npy")}});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(same_tensor(got[0], npy(kRoot / "nonzero_pairs" / "output_0.npy")));
    auto plan = model.plan_summary();
    EXPECT_EQ(plan.planned_segments, 2) << plan.str();
    ASSERT_EQ(plan.eager.size(), 1u) << plan.str();
    EXPECT_NE(plan.eager[0].find("(NonZero)"), std::string::npos) << plan.str();
  }
  EXPECT_THROW(model.run({{"x", odd}}), Error);  // and again once the plans exist
}

// A model that traces whole keeps one plan.
TEST(OnnxFlow, TraceableModelIsOnePlan) {
  auto model = onnx::Model::load((kRoot / "if_batch_3" / "model.onnx").string());
  model.run({{"x", npy(kRoot / "if_batch_3" / "input_0.npy")}});
  auto plan = model.plan_summary();
  EXPECT_EQ(plan.planned_segments, 1) << plan.str();
  EXPECT_EQ(plan.eager_nodes, 0) << plan.str();
  EXPECT_EQ(plan.planned_nodes, plan.nodes);
}

TEST(OnnxFlow, TensorOnlyModelsRunThroughRunToo) {
  auto model = onnx::Model::load((kRoot / "if_else" / "model.onnx").string());
  auto got = model.run({{"x", npy(kRoot / "if_else" / "input_0.npy")}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same_tensor(got[0], npy(kRoot / "if_else" / "output_0.npy")));
}

TEST(OnnxFlow, SequenceOutputThroughRunIsAnError) {
  auto model = onnx::Model::load((kRoot / "sequences" / "model.onnx").string());
  try {
    model.run({{"x", npy(kRoot / "sequences" / "input_0.npy")}});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run_values"), std::string::npos) << e.what();
  }
}

TEST(OnnxFlow, SequenceWhereATensorIsExpectedIsAnError) {
  auto model = onnx::Model::load((kRoot / "loop_sequence" / "model.onnx").string());
  std::map<std::string, onnx::Value> feed{{"x", onnx::Value::of_sequence({ones({2, 3})})},
                                          {"n", full({}, 2.0, {.dtype = DType::Int64})}};
  EXPECT_THROW(model.run_values(feed), Error);
}

TEST(OnnxFlow, SequencePositionOutOfRangeIsAnError) {
  auto model = onnx::Model::load((kRoot / "sequence_at" / "model.onnx").string());
  Tensor x = npy(kRoot / "sequence_at" / "input_0.npy");
  for (double pos : {3.0, -4.0}) {
    try {
      model.run({{"x", x}, {"pos", full({}, pos, {.dtype = DType::Int64})}});
      ADD_FAILURE() << "position " << pos << ": expected an Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("out of range for a sequence of 3 tensors"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("SequenceAt"), std::string::npos) << e.what();
    }
  }
}

TEST(OnnxInspect, ListsUnsupportedOpsWithCounts) {
  const std::string path = (kRoot / "unsupported" / "model.onnx").string();
  EXPECT_THROW(onnx::Model::load(path), onnx::Unsupported);
  onnx::ModelInfo info = onnx::inspect(path);
  EXPECT_EQ(info.opset, 16);
  ASSERT_EQ(info.inputs.size(), 2u);
  EXPECT_EQ(info.inputs[1].name, "label");
  EXPECT_EQ(info.inputs[1].type, "tensor(string)");
  std::map<std::string, int64_t> want{{"MadeUpOp", 1}, {"com.example::FancyOp", 2}};
  EXPECT_EQ(info.unsupported_ops, want);
  EXPECT_EQ(info.op_histogram.at("Identity"), 1);  // inside the If's else branch
  std::string s = info.str();
  EXPECT_NE(s.find("unsupported ops"), std::string::npos) << s;
  EXPECT_NE(s.find("com.example::FancyOp"), std::string::npos) << s;
}

TEST(OnnxInspect, SupportedModelHasNoUnsupportedOps) {
  onnx::ModelInfo info = onnx::inspect((kRoot / "loop_sequence" / "model.onnx").string());
  EXPECT_TRUE(info.unsupported_ops.empty());
  EXPECT_EQ(info.op_histogram.at("Loop"), 1);
  EXPECT_EQ(info.op_histogram.at("SequenceInsert"), 1);  // counted inside the body
  EXPECT_EQ(info.str().find("unsupported ops"), std::string::npos);
}

}  // namespace
