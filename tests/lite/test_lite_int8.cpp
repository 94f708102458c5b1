// tandem-lite's int8 path against the full runtime's: the zoo MLP and CNN quantized by
// onnx::quantize_model (what `tandem quantize` runs) and converted with their int8 activations
// as extra graph outputs give bit-identical dequantized values in both runtimes, through lite's
// dot-product GEMM and its portable loops alike; the model output stays close to the float
// model's (cosine > 0.99, within 4 steps of the output's calibrated quantization). Weights are stored as int8 (the .tlite file ~4x smaller than the float one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "kernels.h"
#include "runtime.h"
#include "tandem/compile.h"
#include "tandem/generator.h"
#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"
#include "tandem/models.h"
#include "tandem/onnx.h"
#include "tandem/onnx/convert_lite.h"
#include "tandem/onnx/export.h"
#include "tandem/onnx/quantize.h"
#include "tandem/ops.h"
#include "tandem/quant.h"
#include "tandem_lite.hpp"
#include "test_util.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;

std::vector<int64_t> int8_shape_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }

double int8_cosine(const float* a, const Tensor& b) {
  auto y = b.to(DType::Float32).contiguous().to_vector<float>();
  double xy = 0, xx = 0, yy = 0;
  for (size_t i = 0; i < y.size(); ++i) xy += double(a[i]) * y[i], xx += double(a[i]) * a[i], yy += double(y[i]) * y[i];
  return xy / std::sqrt(xx * yy);
}

// The untouched graph of a QDQ model, with every dequantize_linear of an activation (an int8
// value seen as float) added to the outputs after the model's own.
graph::Graph int8_graph_with_activations(const onnx::Model& m, const Shape& x_shape, size_t& extra) {
  graph::Graph g = m.to_graph({{m.info().inputs[0].name, x_shape}}, {});
  std::vector<graph::Value*> outs(g.outputs().begin(), g.outputs().end());
  extra = 0;
  for (graph::Node* n : g.nodes())
    if (n->op->name == "dequantize_linear" && !n->inputs[0]->data.defined()) {
      outs.push_back(n->outputs[0]);
      ++extra;
    }
  g.set_outputs(outs);
  return g;
}

TEST(LiteInt8, QuantizedZooModelsAreBitExactWithTheFullRuntime) {
  set_num_threads(1);
  const fs::path dir = fs::temp_directory_path() / ("tandem_lite_int8_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (std::string name : {"mlp", "cnn"}) {
    SCOPED_TRACE(name);
    manual_seed(21);
    auto model = models::create(name);
    model->eval();
    const std::string fp = (dir / (name + ".onnx")).string(), q = (dir / (name + ".int8.onnx")).string();
    onnx::export_model(model, randn({1, 1, 28, 28}), fp, {.dynamic_batch = true});
    std::vector<std::map<std::string, Tensor>> calib;
    for (int b = 0; b < 3; ++b) calib.push_back({{"input", randn({8, 1, 28, 28})}});
    onnx::QuantizeReport qr = onnx::quantize_model(fp, q, calib);
    onnx::Model qm = onnx::Model::load(q);
    Tensor x = randn({4, 1, 28, 28});
    size_t extra = 0;
    graph::Graph g = int8_graph_with_activations(qm, x.shape(), extra);
    ASSERT_GE(extra, 2u);

    // The full runtime: every inference pass (fuse_qdq's int8 layers, oneDNN's int8 conv), a plan.
    graph::Graph gf = graph::copy_graph(g);
    graph::PipelineOptions po;
    po.inference = true;
    graph::run_pipeline(gf, po);
    int qnodes = 0;
    for (const graph::Node* n : gf.nodes()) qnodes += n->op->name.rfind("qlinear_", 0) == 0;
    EXPECT_GE(qnodes, 2);
    graph::Plan plan = graph::lower(gf, {});
    std::vector<Tensor> want = plan.run({x});

    graph::Graph gl = graph::copy_graph(g);
    onnx::LiteConvertReport r;
    std::string bytes = onnx::convert_graph_to_lite(gl, {false}, {}, &r);
    EXPECT_EQ(r.lite_ops.count(name == "cnn" ? "qconv2d" : "qlinear"), 1u) << r.str();
    // int8 weights: a quarter of the float weights' bytes (plus the last layer, left float).
    EXPECT_LT(double(r.constants_bytes), 0.3 * double(qr.float_weight_bytes)) << r.str();

    for (bool portable : {false, true}) {
      SCOPED_TRACE(portable ? "portable loops" : tlite::kernels::int8_path());
      tlite::kernels::int8_portable_only(portable);
      tl::Model lite = tl::Model::from_buffer(bytes.data(), bytes.size());
      tl::Context ctx(lite);
      Tensor xc = x.contiguous();
      ctx.set_input(0, int8_shape_of(xc), xc.data<float>());
      ctx.run();
      ASSERT_EQ(size_t(lite.num_outputs()), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        tl::Output y = ctx.output(int(i));
        Tensor ref = want[i].to(DType::Float32).contiguous();
        ASSERT_EQ(y.shape, int8_shape_of(ref)) << "output " << i;
        const float* p = ref.data<float>();
        int64_t differ = 0;
        for (int64_t k = 0; k < ref.numel(); ++k) differ += std::memcmp(&y.data[k], &p[k], 4) != 0;
        if (i == 0) {
          // The model's output comes from its last layer, which tandem quantize leaves float
          // (lite's float GEMM and oneDNN's sum in different orders).
          double scale = 1e-12, err = 0;
          for (int64_t k = 0; k < ref.numel(); ++k) {
            scale = std::max(scale, double(std::fabs(p[k])));
            err = std::max(err, double(std::fabs(y.data[k] - p[k])));
          }
          EXPECT_LE(err / scale, 1e-4);
        } else {
          EXPECT_EQ(differ, 0) << "int8 activation " << i << ": " << differ << " of " << ref.numel() << " differ";
        }
      }
      {  // 3 threads inside the run: the same bits as one
        tl::Context ctx3(lite);
        ctx3.set_num_threads(3);
        ctx3.set_input(0, int8_shape_of(xc), xc.data<float>());
        ctx3.run();
        for (size_t i = 0; i < want.size(); ++i) {
          tl::Output a = ctx.output(int(i)), b = ctx3.output(int(i));
          ASSERT_EQ(a.shape, b.shape);
          EXPECT_EQ(std::memcmp(a.data, b.data, size_t(a.numel()) * sizeof(float)), 0) << "output " << i << " at 3 threads";
        }
      }
      if (!portable) {
        // Close to the float model: cosine similarity of the logits, and the largest difference
        // in quantization steps of the output's calibrated range.
        Tensor f = onnx::Model::load(fp).run({{"input", x}})[0].contiguous();
        EXPECT_GT(int8_cosine(ctx.output(0).data, f), 0.99);
        auto [lo, hi] = qr.ranges.at("output");
        const double step = (std::max(hi, 0.0f) - std::min(lo, 0.0f)) / 255.0;
        double worst = 0;
        for (int64_t k = 0; k < f.numel(); ++k) worst = std::max(worst, std::fabs(double(ctx.output(0).data[k]) - f.data<float>()[k]));
        EXPECT_LE(worst / step, 4.0);  // measured: MLP 1.55, CNN 2.23
      }
    }
    tlite::kernels::int8_portable_only(false);
  }
  fs::remove_all(dir);
}

// A float layer reading an int8 weight too large for const_fold (1.2 MB as float): the .tlite
// keeps the weight int8 (transposed, per-channel parameters) behind a lite dequantize, and the
// output matches the float computation of the same QDQ graph.
TEST(LiteInt8, FloatLayerKeepsItsInt8WeightInt8) {
  manual_seed(9);
  const int64_t O = 300, K = 1024;
  Tensor w = randn({O, K}) * 0.05;
  Tensor ws = (amax(abs(w), {1}) / 127.0).contiguous(), wzp = zeros({O}, {.dtype = kInt8});
  Tensor wq = quantize_linear(w, ws, wzp, 0), bias = randn({O}) * 0.1;
  Tensor xs = full({}, 0.03), xzp = full({}, 128, {.dtype = kUInt8});
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor xd = dequantize_linear(quantize_linear(in[0], xs, xzp), xs, xzp);
    return std::vector<Tensor>{linear(xd, dequantize_linear(wq, ws, wzp, 0), bias)};
  };
  Tensor x = randn({3, K});
  CompileOptions o;
  o.passes = {};
  auto traced = tandem::compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(fn), o);
  traced({x});
  graph::Graph g = graph::copy_graph(traced.graph());
  onnx::LiteConvertReport r;
  std::string bytes = onnx::convert_graph_to_lite(g, {false}, {}, &r);
  EXPECT_EQ(r.lite_ops["dequantize"], 2) << r.str();  // the input's and the weight's
  EXPECT_LT(r.constants_bytes, O * K + 8 * O + 4096) << r.str();  // int8 weight, float bias
  tl::Model lite = tl::Model::from_buffer(bytes.data(), bytes.size());
  tl::Context ctx(lite);
  ctx.set_input(0, {3, K}, x.contiguous().data<float>());
  ctx.run();
  Tensor want = fn({x})[0].contiguous();
  tl::Output y = ctx.output(0);
  ASSERT_EQ(y.shape, int8_shape_of(want));
  const float* p = want.data<float>();
  double scale = 1e-12, err = 0;
  for (int64_t k = 0; k < want.numel(); ++k) {
    scale = std::max(scale, double(std::fabs(p[k])));
    err = std::max(err, double(std::fabs(y.data[k] - p[k])));
  }
  EXPECT_LE(err / scale, 1e-5);
}

}  // namespace
}  // namespace tandem
