// tandem-lite's int8 path on a torchvision architecture: MobileNetV2 (seeded random weights,
// exported by PyTorch at 64x64 by export_torchvision.py), quantized by onnx::quantize_model
// (what `tandem quantize` runs) and converted with every int8 activation as an extra output:
// lite's dequantized activations equal the full runtime's int8 path bit for bit (depthwise and
// pointwise convolutions, ReLU6 tables, residual adds), and the logits stay close to the float
// model's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"
#include "tandem/io.h"
#include "tandem/onnx.h"
#include "tandem/onnx/convert_lite.h"
#include "tandem/onnx/quantize.h"
#include "tandem/ops.h"
#include "tandem_lite.hpp"
#include "test_util.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;

TEST(LiteInt8, TorchvisionMobileNetV2IsBitExactWithTheFullRuntime) {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch and torchvision is not available";
  set_num_threads(1);
  const fs::path dir = fs::temp_directory_path() / ("tandem_lite_int8_tv_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = "/usr/bin/python3 " TANDEM_LITE_EXPORT_SCRIPT " " + dir.string() +
                          " 64 mobilenet_v2 > " + (dir / "export.log").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string fp = (dir / "mobilenet_v2.onnx").string(), q = (dir / "mobilenet_v2.int8.onnx").string();
  Tensor x = io::load_npy((dir / "mobilenet_v2.input.npy").string());  // [2, 3, 64, 64]
  Generator g(5);
  std::vector<std::map<std::string, Tensor>> calib;
  for (int b = 0; b < 2; ++b) calib.push_back({{"input", randn({4, 3, 64, 64}, {}, &g)}});
  onnx::quantize_model(fp, q, calib);
  onnx::Model qm = onnx::Model::load(q);

  // The QDQ graph with every activation's dequantize_linear as an extra output.
  graph::Graph base = qm.to_graph({{qm.info().inputs[0].name, x.shape()}}, {});
  std::vector<graph::Value*> outs(base.outputs().begin(), base.outputs().end());
  for (graph::Node* n : base.nodes())
    if (n->op->name == "dequantize_linear" && !n->inputs[0]->data.defined()) outs.push_back(n->outputs[0]);
  base.set_outputs(outs);
  ASSERT_GT(outs.size(), 20u);

  graph::Graph full = graph::copy_graph(base);
  graph::PipelineOptions po;
  po.inference = true;
  graph::run_pipeline(full, po);
  std::vector<Tensor> want = graph::lower(full, {}).run({x});

  graph::Graph lg = graph::copy_graph(base);
  onnx::LiteConvertReport r;
  std::string bytes = onnx::convert_graph_to_lite(lg, {false}, {}, &r);
  EXPECT_GE(r.lite_ops["qconv2d"], 40) << r.str();
  tl::Model lite = tl::Model::from_buffer(bytes.data(), bytes.size());
  tl::Context ctx(lite);
  Tensor xc = x.contiguous();
  ctx.set_input(0, std::vector<int64_t>(xc.shape().begin(), xc.shape().end()), xc.data<float>());
  ctx.run();
  ASSERT_EQ(size_t(lite.num_outputs()), want.size());
  int64_t values = 0;
  for (size_t i = 1; i < want.size(); ++i) {
    Tensor ref = want[i].to(DType::Float32).contiguous();
    tl::Output y = ctx.output(int(i));
    ASSERT_EQ(y.numel(), ref.numel()) << "activation " << i;
    int64_t differ = 0;
    for (int64_t k = 0; k < ref.numel(); ++k) differ += std::memcmp(&y.data[k], ref.data<float>() + k, 4) != 0;
    values += ref.numel();
    EXPECT_EQ(differ, 0) << "int8 activation " << i << ": " << differ << " of " << ref.numel() << " differ";
  }
  EXPECT_GT(values, 100000);

  // The logits (the last layer is left float) against the float model: cosine similarity.
  Tensor f = onnx::Model::load(fp).run({{"input", x}})[0].contiguous();
  const float* y0 = ctx.output(0).data;
  double xy = 0, xx = 0, yy = 0;
  for (int64_t k = 0; k < f.numel(); ++k) {
    const double a = y0[k], b = f.data<float>()[k];
    xy += a * b, xx += a * a, yy += b * b;
  }
  EXPECT_GT(xy / std::sqrt(xx * yy), 0.99);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tandem
