// graph::run_fuse_qdq: dequantize -> conv2d / linear (-> relu) -> quantize becomes one int8
// qlinear_conv2d / qlinear_linear node whose results equal the float evaluation of the same
// QDQ graph within one quantization step.
#include <gtest/gtest.h>

#include "tandem/graph/compile.h"
#include "tandem/quant.h"
#include "test_util.h"

using namespace tandem;

namespace {

int count_op(const graph::Graph& g, const std::string& name) {
  int n = 0;
  for (const graph::Node* node : g.nodes()) n += node->op->name == name;
  return n;
}

// Largest |a - b| in units of `step`, both dequantized floats.
double steps_apart(const Tensor& a, const Tensor& b, double step) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]) / step);
  return m;
}

struct QdqLayer {
  Tensor wq, ws, wzp, bias;
  double xs = 0.05, ys = 0.1;
  Tensor xzp, yzp;
};

// Per-output-channel symmetric int8 weights from a float weight [O, ...].
QdqLayer make_layer(const Tensor& w, DType act) {
  QdqLayer l;
  int64_t O = w.size(0);
  l.ws = (amax(abs(w.reshape({O, -1})), {1}) / 127.0).contiguous();
  l.wzp = zeros({O}, {.dtype = kInt8});
  l.wq = quantize_linear(w, l.ws, l.wzp, 0);
  l.bias = randn({O}) * 0.1;
  l.xzp = full({}, act == kUInt8 ? 128 : 0, {.dtype = act});
  l.yzp = full({}, act == kUInt8 ? 100 : -5, {.dtype = act});
  return l;
}

// The QDQ form of conv2d(x) + bias (+ relu), dequantized at the end.
Tensor qdq_conv(const Tensor& x, const QdqLayer& l, bool relu) {
  Tensor xs = full({}, l.xs), ys = full({}, l.ys);
  Tensor xd = dequantize_linear(quantize_linear(x, xs, l.xzp), xs, l.xzp);
  Tensor wd = dequantize_linear(l.wq, l.ws, l.wzp, 0);
  Tensor y = conv2d(xd, wd, l.bias, {2, 1}, {1, 1});
  if (relu) y = tandem::relu(y);
  return dequantize_linear(quantize_linear(y, ys, l.yzp), ys, l.yzp);
}

Tensor qdq_linear(const Tensor& x, const QdqLayer& l, bool relu) {
  Tensor xs = full({}, l.xs), ys = full({}, l.ys);
  Tensor xd = dequantize_linear(quantize_linear(x, xs, l.xzp), xs, l.xzp);
  Tensor y = linear(xd, dequantize_linear(l.wq, l.ws, l.wzp, 0), l.bias);
  if (relu) y = tandem::relu(y);
  return dequantize_linear(quantize_linear(y, ys, l.yzp), ys, l.yzp);
}

TEST(FuseQdq, ConvReluBecomesOneInt8NodeWithinOneStep) {
  manual_seed(3);
  for (DType act : {kUInt8, kInt8}) {
    QdqLayer l = make_layer(randn({6, 4, 3, 3}) * 0.3, act);
    Tensor x = randn({2, 4, 9, 8});
    Tensor want = qdq_conv(x, l, true);
    auto f = compile([&](const Tensor& in) { return qdq_conv(in, l, true); }, {.freeze = true});
    f(x);  // traces (eager results)
    Tensor got = f(x);  // runs the fused graph
    EXPECT_EQ(count_op(f.graph(), "qlinear_conv2d"), 1) << f.graph().str();
    EXPECT_EQ(count_op(f.graph(), "conv2d"), 0) << f.graph().str();
    EXPECT_LE(steps_apart(got, want, l.ys), 1.0 + 1e-6);
    EXPECT_GT(tandem::max(want).item<double>(), 0.5);  // the layer's output is not all zero
  }
}

TEST(FuseQdq, LinearWithoutActivationWithinOneStep) {
  manual_seed(4);
  QdqLayer l = make_layer(randn({10, 16}) * 0.3, kUInt8);
  Tensor x = randn({5, 16});
  Tensor want = qdq_linear(x, l, false);
  auto f = compile([&](const Tensor& in) { return qdq_linear(in, l, false); }, {.freeze = true});
  f(x);
  Tensor got = f(x);
  EXPECT_EQ(count_op(f.graph(), "qlinear_linear"), 1) << f.graph().str();
  EXPECT_LE(steps_apart(got, want, l.ys), 1.0 + 1e-6);
  EXPECT_LT(tandem::min(want).item<double>(), -0.5);  // negative outputs kept (no relu)
}

TEST(FuseQdq, WithoutFreezeTheGraphStaysFloat) {
  QdqLayer l = make_layer(randn({3, 8}), kUInt8);
  auto f = compile([&](const Tensor& in) { return qdq_linear(in, l, false); });
  f(randn({2, 8}));
  EXPECT_EQ(count_op(f.graph(), "qlinear_linear"), 0);
}

}  // namespace
