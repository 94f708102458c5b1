// ONNX import: folding of a shape subgraph, symbolic dims, external data, the graph form, and
// bad input (truncated / corrupt files, unknown op, wrong opset, wrong input dtype or shape).
// Models and expected outputs come from tests/data/onnx/gen_onnx.py (python3-onnx + numpy).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "tandem/graph/compile.h"
#include "tandem/onnx.h"
#include "test_util.h"

using namespace tandem;
using tandem::testing::load_npy;
using tandem::testing::throws_error;

namespace {

std::string model_path(const std::string& name) { return std::string(TANDEM_TEST_DATA_DIR) + "/onnx/" + name; }

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(OnnxImport, ShapeSubgraphIsFoldedAtLoad) {
  auto m = onnx::Model::load(model_path("shape_fold.onnx"));
  // Shape, Gather, Unsqueeze, Concat fold; Reshape, MatMul, Relu remain.
  EXPECT_EQ(m.info().num_folded, 4);
  auto y = m.run({{"x", load_npy("onnx/shape_x.npy")}});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_ALL_CLOSE(y[0], load_npy("onnx/shape_y.npy"), 1e-5, 1e-4);
  EXPECT_TRUE(m.runs_compiled());  // static shapes: traced once, then a Plan
  EXPECT_ALL_CLOSE(m.run({{"x", load_npy("onnx/shape_x.npy")}})[0], load_npy("onnx/shape_y.npy"), 1e-5, 1e-4);
}

TEST(OnnxImport, SymbolicBatchRunsTheShapeSubgraphPerCallCompiled) {
  auto m = onnx::Model::load(model_path("shape_dyn.onnx"));
  EXPECT_EQ(m.info().num_folded, 0);
  ASSERT_EQ(m.info().inputs.size(), 1u);
  EXPECT_FALSE(m.info().inputs[0].shape[0].is_static());
  EXPECT_EQ(m.info().inputs[0].shape[0].symbol, "batch");
  // The shape subgraph runs outside the trace, per input shape: the model still runs as a
  // Plan, re-traced for each batch size and right for each (back to the first one too).
  for (const char* b : {"", "3", ""}) {
    SCOPED_TRACE(std::string("batch file shape_x") + b);
    EXPECT_ALL_CLOSE(m.run({{"x", load_npy(std::string("onnx/shape_x") + b + ".npy")}})[0],
                     load_npy(std::string("onnx/shape_y") + b + ".npy"), 1e-5, 1e-4);
    EXPECT_TRUE(m.runs_compiled());
  }
}

TEST(OnnxImport, ExternalDataRelativeToTheModel) {
  auto m = onnx::Model::load(model_path("external.onnx"));
  EXPECT_EQ(m.info().num_parameters, 4 * 3 + 4);
  EXPECT_ALL_CLOSE(m.run({{"x", load_npy("onnx/external_x.npy")}})[0], load_npy("onnx/external_y.npy"), 1e-5, 1e-4);
}

TEST(OnnxImport, InfoListsInputsOutputsOpsAndParameters) {
  auto m = onnx::Model::load(model_path("shape_fold.onnx"));
  const auto& info = m.info();
  EXPECT_EQ(info.opset, 13);
  EXPECT_EQ(info.outputs.at(0).name, "y");
  EXPECT_EQ(info.op_histogram.at("Reshape"), 1);
  EXPECT_EQ(info.num_parameters, 12 * 5 + 3);
  EXPECT_NE(info.str().find("MatMul"), std::string::npos);
}

TEST(OnnxImport, GraphFormMatchesTheModel) {
  auto m = onnx::Model::load(model_path("shape_fold.onnx"));
  graph::Graph g = m.to_graph();
  EXPECT_GT(g.num_nodes(), 0u);
  g.verify();
  Tensor x = load_npy("onnx/shape_x.npy");
  auto y = graph::run(g, {x});
  EXPECT_ALL_CLOSE(y.at(0), load_npy("onnx/shape_y.npy"), 1e-5, 1e-4);
  graph::Graph g2 = onnx::load(model_path("external.onnx"));
  EXPECT_ALL_CLOSE(graph::run(g2, {load_npy("onnx/external_x.npy")}).at(0), load_npy("onnx/external_y.npy"), 1e-5, 1e-4);
}

TEST(OnnxBadInput, MissingFile) {
  EXPECT_TRUE(throws_error([] { onnx::Model::load(model_path("no_such_model.onnx")); }, {"cannot open", "no_such_model"}));
}

TEST(OnnxBadInput, TruncatedFileAtEveryLength) {
  std::string bytes = read_bytes(model_path("shape_fold.onnx"));
  ASSERT_GT(bytes.size(), 100u);
  for (size_t n = 0; n < bytes.size(); n += 7) {
    try {
      onnx::Model::load_from_bytes(bytes.substr(0, n), model_path(""));
    } catch (const Error&) {
      continue;  // the expected outcome; a prefix that still parses must import or throw Error
    }
  }
  EXPECT_TRUE(throws_error([&] { onnx::Model::load_from_bytes(bytes.substr(0, bytes.size() / 2)); }, {"ONNX"}));
  EXPECT_TRUE(throws_error([] { onnx::Model::load_from_bytes(""); }, {"empty"}));
}

TEST(OnnxBadInput, CorruptBytesGiveErrorsNeverCrashes) {
  std::string bytes = read_bytes(model_path("shape_fold.onnx"));
  std::mt19937 rng(7);
  int errors = 0, loaded = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    try {
      auto m = onnx::Model::load_from_bytes(b, model_path(""));
      ++loaded;
      try {
        m.run({{"x", load_npy("onnx/shape_x.npy")}});
      } catch (const Error&) {
      }
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_EQ(errors + loaded, 300);
  EXPECT_GT(errors, 0);
  EXPECT_TRUE(throws_error([] { onnx::Model::load_from_bytes(std::string(64, '\xff')); }, {"not a valid ONNX model"}));
}

TEST(OnnxBadInput, UnknownOpNamesTheOpAndTheNode) {
  EXPECT_TRUE(throws_error([] { onnx::Model::load(model_path("unknown_op.onnx")); }, {"FancyNewOp", "mystery", "not supported"}));
  EXPECT_THROW(onnx::Model::load(model_path("unknown_op.onnx")), onnx::Unsupported);
}

TEST(OnnxBadInput, UnsupportedOpset) {
  EXPECT_TRUE(throws_error([] { onnx::Model::load(model_path("opset99.onnx")); }, {"opset 99", "not supported"}));
}

TEST(OnnxBadInput, WrongInputsAtRunTime) {
  auto m = onnx::Model::load(model_path("shape_fold.onnx"));
  EXPECT_TRUE(throws_error([&] { m.run({}); }, {"input 'x'", "missing"}));
  EXPECT_TRUE(throws_error([&] { m.run({{"x", zeros({2, 3, 5})}}); }, {"input 'x'", "expected shape [2,3,4]", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_error([&] { m.run({{"x", zeros({2, 12})}}); }, {"input 'x'", "expected shape"}));
  EXPECT_TRUE(throws_error([&] { m.run({{"x", zeros({2, 3, 4}, {.dtype = DType::Int64})}}); }, {"input 'x'", "dtype", "int64"}));
  EXPECT_TRUE(throws_error([&] { m.run({{"x", zeros({2, 3, 4})}, {"z", zeros({1})}}); }, {"'z'", "not an input"}));
  auto d = onnx::Model::load(model_path("shape_dyn.onnx"));
  EXPECT_TRUE(throws_error([&] { d.run({{"x", zeros({5, 3, 3})}}); }, {"input 'x'", "expected shape [batch,3,4]"}));
}

TEST(OnnxBadInput, TensorProtoFiles) {
  EXPECT_TRUE(throws_error([] { onnx::load_tensor_proto(model_path("nothing.pb")); }, {"cannot open"}));
  EXPECT_TRUE(throws_error([] { onnx::load_tensor_proto(model_path("external.onnx")); }, {"holds no tensor"}));
}

// Slice bounds and steps at INT64_MIN / INT64_MAX (from initializers and Constant nodes),
// negative axes and steps, empty results, on int64 data above 2^53: exactly NumPy's slices.
TEST(OnnxImport, SliceAtTheInt64ExtremesMatchesNumpy) {
  auto m = onnx::Model::load(model_path("slice_extremes.onnx"));
  Tensor x = load_npy("onnx/slice_extremes_x.npy");
  for (int pass = 0; pass < 2; ++pass) {  // the first run traces, the second runs the plan
    auto ys = m.run({{"x", x}});
    ASSERT_EQ(ys.size(), 10u);
    for (size_t k = 0; k < ys.size(); ++k) {
      Tensor want = load_npy("onnx/slice_extremes_y" + std::to_string(k) + ".npy");
      ASSERT_EQ(ys[k].dtype(), DType::Int64) << "output " << k;
      ASSERT_EQ(ys[k].shape(), want.shape()) << "output " << k;
      EXPECT_EQ(ys[k].contiguous().to_vector<int64_t>(), want.to_vector<int64_t>()) << "output " << k;
    }
  }
}

// Shape values, axes and counts must be integer tensors: a float "ends" is a malformed model.
TEST(OnnxImport, FloatSliceBoundsAreAnError) {
  EXPECT_TRUE(throws_error([] { onnx::Model::load(model_path("slice_float_bounds.onnx")).run({{"x", zeros({4})}}); },
                           {"node 'cut' (Slice)", "expected an integer tensor", "float32"}));
}

// NonZero's output length depends on the values: the model runs node by node; indices come in
// row-major order, one row per dimension (NumPy's nonzero).
TEST(OnnxImport, NonZeroRunsEagerlyInRowMajorOrder) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/test_nonzero_example";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "libonnx-testdata is not installed (" << dir << ")";
  auto m = onnx::Model::load(dir + "/model.onnx");
  const std::string name = m.info().inputs.at(0).name;
  auto run = [&](std::vector<uint8_t> v) {
    return m.run({{name, tensor(v, Shape{2, 2}).to(DType::Bool)}})[0].contiguous();
  };
  Tensor y = run({0, 1, 1, 1});  // [[0, 1], [1, 1]]
  EXPECT_EQ(y.dtype(), DType::Int64);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 1, 1, 0, 1}));
  EXPECT_FALSE(m.runs_compiled());
  EXPECT_EQ(run({0, 0, 0, 0}).shape(), (Shape{2, 0}));
}

// NonMaxSuppression's output length depends on the values: the model cannot be traced and runs
// node by node, on every call; max_output_boxes_per_class and score_threshold are run-time inputs.
TEST(OnnxImport, NonMaxSuppressionRunsEagerlyWithRunTimeLimits) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/test_nonmaxsuppression_two_batches";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "libonnx-testdata is not installed (" << dir << ")";
  auto m = onnx::Model::load(dir + "/model.onnx");
  std::map<std::string, Tensor> in;
  const char* names[] = {"boxes", "scores", "max_output_boxes_per_class", "iou_threshold", "score_threshold"};
  for (int i = 0; i < 5; ++i)
    in[names[i]] = onnx::load_tensor_proto(dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb");
  Tensor want = onnx::load_tensor_proto(dir + "/test_data_set_0/output_0.pb");
  for (int pass = 0; pass < 2; ++pass) {
    auto y = m.run(in);
    ASSERT_EQ(y.size(), 1u);
    EXPECT_EQ(y[0].dtype(), DType::Int64);
    EXPECT_EQ(y[0].contiguous().to_vector<int64_t>(), want.to_vector<int64_t>());
    EXPECT_FALSE(m.runs_compiled());
  }
  // At most one box per batch and class: the highest-scoring one of each batch (the
  // case's first and third rows); none at all with a limit of 0 (ONNX's default).
  in["max_output_boxes_per_class"] = tensor(std::vector<int64_t>{1});
  std::vector<int64_t> first;
  for (int64_t r : {0, 2})
    for (int64_t k = 0; k < 3; ++k) first.push_back(want.to_vector<int64_t>()[static_cast<size_t>(3 * r + k)]);
  EXPECT_EQ(m.run(in)[0].contiguous().to_vector<int64_t>(), first);
  in["max_output_boxes_per_class"] = tensor(std::vector<int64_t>{0});
  EXPECT_EQ(m.run(in)[0].shape(), (Shape{0, 3}));
  in["iou_threshold"] = tensor(std::vector<float>{std::nanf("")});
  EXPECT_TRUE(throws_error([&] { m.run(in); }, {"NonMaxSuppression", "iou_threshold is NaN"}));
}
