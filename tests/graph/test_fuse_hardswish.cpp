// graph::run_fuse_hardswish: linear/conv2d -> hard-swish as importers write it ->
// linear_act/conv2d_act with act "hardswish", matching eager's separate ops.
#include "test_fuse_util.h"

namespace tandem::graph {
namespace {

using testing::count_ops;
using testing::expect_graph_matches;
using testing::PlanRecorder;

// Hard-swish as importers write it (ONNX HardSwish: y * clamp(y * (1/6) + 0.5, 0, 1); also
// y / 6 and either operand order) after a linear or conv2d becomes act "hardswish", matching
// the decomposition (eager runs the separate ops); hard-sigmoid's other slope, or y read a
// third time, stays.
TEST(FuseHardSwish, JoinsLinearAndConv) {
  manual_seed(5);
  NoGradGuard ng;
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dt == DType::Float32 ? "float32" : "float64");
    Tensor x = randn({5, 7}, {.dtype = dt}) * 4.0, w = randn({4, 7}, {.dtype = dt}), b = randn({4}, {.dtype = dt});
    Tensor xi = randn({2, 3, 6, 6}, {.dtype = dt}) * 4.0, wc = randn({4, 3, 3, 3}, {.dtype = dt});
    PlanRecorder rec;
    rec.input("x", x);
    rec.input("xi", xi);
    for (auto [name, t] : {std::pair{"w", w}, {"b", b}, {"wc", wc}}) rec.variable(name, t);
    auto eager = rec.record([&] {
      Tensor y1 = linear(x, w, b), y2 = conv2d(xi, wc, b, {1, 1}, {1, 1}), y3 = conv2d(xi, wc);
      Tensor y4 = linear(x, w), y5 = linear(x, w, b);
      return std::vector<Tensor>{y1 * clamp(y1 * (1.0 / 6) + 0.5, 0.0, 1.0), clamp(y2 / 6.0 + 0.5, 0.0, 1.0) * y2,
                                 y3 * clamp(0.5 + y3 * (1.0 / 6), 0.0, 1.0),
                                 y4 * clamp(y4 * 0.2 + 0.5, 0.0, 1.0),                   // hard-sigmoid's slope
                                 y5 * clamp(y5 * (1.0 / 6) + 0.5, 0.0, 1.0) + y5};       // y5 read again
    });
    PassResult r = run_fuse_hardswish(rec.graph);
    EXPECT_EQ(r.counts["fused_linear_hardswish"], 1) << rec.graph.str();
    EXPECT_EQ(r.counts["fused_conv2d_hardswish"], 2) << rec.graph.str();
    EXPECT_EQ(count_ops(rec.graph, "clamp"), 2) << rec.graph.str();
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    expect_graph_matches(rec.graph, {x, xi}, eager, tol, tol);
  }
}

}  // namespace
}  // namespace tandem::graph
