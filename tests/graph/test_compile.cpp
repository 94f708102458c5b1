// tandem::compile on forward functions: compiled == eager on the zoo models, the cache key,
// re-trace reasons and limit, dynamic batch, data-dependent reads, the graph text.
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "tandem/compile.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "test_util.h"

namespace tandem {
namespace {

using testing::throws_error;

Tensor images(int64_t n, uint64_t seed) {
  Generator g(seed);
  return randn({n, 1, 28, 28}, {}, &g);
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         a.to_vector<double>() == b.to_vector<double>();
}

// Compiled forward (cache hit, so the graph runs) equals eager, bit for bit: same kernels.
// With passes, within float tolerance: fused kernels (a conv with its activation as a oneDNN
// post-op, matmuls on prepacked weights) may sum in another order.
void expect_forward_matches(const std::string& name, bool use_plan = true,
                            std::vector<std::string> passes = {}) {
  manual_seed(7);
  auto model = models::create(name);
  model->eval();
  auto fwd = compile([&](const Tensor& x) { return model->forward(x); },
                     {.passes = passes, .modules = {model}, .use_plan = use_plan});
  Tensor x1 = images(4, 1), x2 = images(4, 2);
  Tensor eager1 = model->forward(x1), eager2 = model->forward(x2);
  Tensor traced = fwd(x1);
  EXPECT_EQ(fwd.stats().traces, 1);
  EXPECT_TRUE(bit_equal(traced, eager1)) << name;
  Tensor run = fwd(x2);
  EXPECT_EQ(fwd.stats().cache_hits, 1);
  EXPECT_EQ(fwd.stats().traces, 1);
  if (passes.empty()) EXPECT_TRUE(bit_equal(run, eager2)) << name;
  else EXPECT_ALL_CLOSE(run, eager2, 1e-5, 1e-5) << name;
  EXPECT_TRUE(fwd.stats().notes.empty()) << fwd.stats().notes[0];
  EXPECT_GT(fwd.graph().num_nodes(), 3u);
  fwd.graph().verify();
}

TEST(Compile, ForwardMatchesEagerMlp) { expect_forward_matches("mlp"); }
TEST(Compile, ForwardMatchesEagerMlpInterpreter) { expect_forward_matches("mlp", false); }
TEST(Compile, ForwardMatchesEagerCnn) { expect_forward_matches("cnn"); }
TEST(Compile, ForwardMatchesEagerResnetEval) { expect_forward_matches("resnet"); }
TEST(Compile, ForwardWithAllPassesMatchesEagerCnn) { expect_forward_matches("cnn", true, {"all"}); }
TEST(Compile, UnknownPassNameIsAnError) {
  EXPECT_TRUE(testing::throws_error(
      [] { compile([](const Tensor& x) { return x; }, {.passes = {"no_such_pass"}}); },
      {"no_such_pass"}));
}

TEST(Compile, FunctionOfSeveralTensorsWithTupleAndVectorResults) {
  auto f = compile([](const Tensor& a, const Tensor& b) {
    return std::make_tuple(a * b + 1.0, relu(a - b));
  });
  Tensor a = randn({3, 4}), b = randn({3, 4});
  auto [p, q] = f(a, b);
  auto [p2, q2] = f(b, a);
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_ALL_CLOSE(p2, b * a + 1.0, 0, 0);
  EXPECT_ALL_CLOSE(q2, relu(b - a), 0, 0);

  auto g = compile([](const Tensor& a, int64_t k) { return std::vector<Tensor>{a * double(k), a.sum()}; });
  std::vector<Tensor> r = g(a, 3);
  r = g(b, 3);
  EXPECT_ALL_CLOSE(r[0], b * 3.0, 0, 0);
  EXPECT_ALL_CLOSE(r[1], b.sum(), 0, 0);
  r = g(b, 4);  // a static argument is part of the key
  EXPECT_ALL_CLOSE(r[0], b * 4.0, 0, 0);
  EXPECT_EQ(g.stats().traces, 2);
  EXPECT_EQ(g.stats().reasons[1], "static arguments changed from (3) to (4)");

  auto h = compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(
      [](const std::vector<Tensor>& xs) { return std::vector<Tensor>{xs[0] + xs[1]}; }));
  h({a, b});
  EXPECT_ALL_CLOSE(h({b, a})[0], b + a, 0, 0);
  EXPECT_EQ(h.stats().cache_hits, 1);
  h({b, b});  // the same tensor twice is another key
  EXPECT_EQ(h.stats().reasons.back(), "input 1 is now the same tensor as input 0");
}

TEST(Compile, RetraceReasonsNameWhatChanged) {
  auto f = compile([](const Tensor& x) { return tanh(x) * 2.0; });
  f(zeros({128, 784}));
  f(zeros({128, 784}));
  f(zeros({64, 784}));
  f(zeros({64, 784}, {.dtype = DType::Float64}));
  f(zeros({128, 784}));  // the first graph is still cached
  const CompileStats& s = f.stats();
  EXPECT_EQ(s.calls, 5);
  EXPECT_EQ(s.traces, 3);
  EXPECT_EQ(s.cache_hits, 2);
  ASSERT_EQ(s.reasons.size(), 3u);
  EXPECT_EQ(s.reasons[0], "first call");
  EXPECT_EQ(s.reasons[1], "input 0 shape changed from [128, 784] to [64, 784]");
  EXPECT_EQ(s.reasons[2], "input 0 dtype changed from float32 to float64");
}

TEST(Compile, RecompileLogLinesWithTheEnvVariable) {
  setenv("TANDEM_LOG_RECOMPILES", "1", 1);
  auto f = compile([](const Tensor& x) { return x * 2.0; });
  unsetenv("TANDEM_LOG_RECOMPILES");
  ::testing::internal::CaptureStderr();
  f(zeros({2}));
  f(zeros({3}));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("tandem.compile: trace #1: first call"), std::string::npos) << log;
  EXPECT_NE(log.find("tandem.compile: trace #2: input 0 shape changed from [2] to [3]"),
            std::string::npos)
      << log;
}

TEST(Compile, RetraceLimitIsAnErrorNamingTheCause) {
  auto f = compile([](const Tensor& x) { return x + 1.0; }, {.retrace_limit = 2});
  f(zeros({1}));
  f(zeros({2}));
  f(zeros({3}));
  EXPECT_TRUE(throws_error([&] { f(zeros({4})); },
                           {"traced 3 times", "retrace_limit 2", "input 0 shape changed from [3] to [4]"}));
  EXPECT_EQ(f.stats().traces, 3);
  // Cached shapes keep working.
  EXPECT_ALL_CLOSE(f(ones({2})), full({2}, 2.0), 0, 0);
}

TEST(Compile, DynamicBatchReusesTheGraphForNewBatchSizes) {
  manual_seed(3);
  auto model = models::create("mlp");
  model->eval();
  // As traced, the same kernels as eager (bit-equal); the default passes pick other kernels
  // (prepacked weights) whose sums round differently.
  auto traced = compile([&](const Tensor& x) { return model->forward(x); },
                        {.dynamic_batch = true, .passes = {}, .modules = {model}});
  auto fwd = compile([&](const Tensor& x) { return model->forward(x); },
                     {.dynamic_batch = true, .modules = {model}});
  for (int64_t n : {8, 5, 3, 17, 5}) {
    Tensor x = images(n, static_cast<uint64_t>(n));
    Tensor want = model->forward(x);
    EXPECT_TRUE(bit_equal(traced(x), want)) << n;
    EXPECT_ALL_CLOSE(fwd(x), want, 1e-5, 1e-5);
  }
  EXPECT_EQ(traced.stats().traces, 2);
  EXPECT_EQ(fwd.stats().traces, 2);  // the second size confirms the graph is batch-independent
  EXPECT_EQ(fwd.stats().cache_hits, 3);
  EXPECT_NE(fwd.stats().reasons[1].find("dim 0 is now symbolic"), std::string::npos);
  EXPECT_NE(fwd.graph().str().find("float32[batch,784]"), std::string::npos) << fwd.graph().str();
}

TEST(Compile, DynamicBatchFallsBackPerBatchWhenTheGraphDependsOnIt) {
  // A reshape to a size computed from the batch bakes it into an attribute.
  auto f = compile([](const Tensor& x) { return x.reshape({x.size(0) * 2, -1}).sum({1}); },
                   {.dynamic_batch = true});
  f(ones({4, 6}));
  Tensor y = f(ones({3, 6}));
  EXPECT_EQ(y.shape(), (Shape{6}));
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_NE(f.stats().reasons[1].find("depends on the batch size"), std::string::npos)
      << f.stats().reasons[1];
  f(ones({3, 6}));
  f(ones({4, 6}));
  EXPECT_EQ(f.stats().traces, 2);
}

TEST(Compile, ItemOnATracedValueIsAnError) {
  auto f = compile([](const Tensor& x) {
    Tensor s = x.sum();
    return s.item<double>() > 0 ? x * 2.0 : x * 3.0;
  });
  EXPECT_TRUE(throws_error([&] { f(ones({3})); },
                           {"compile: fn reads the value of a traced tensor", "item()", "'sum'",
                            "data-dependent control flow"}));
  auto g = compile([](const Tensor& x) {
    std::vector<float> v = x.to_vector<float>();
    return x * static_cast<double>(v[0]);
  });
  EXPECT_TRUE(throws_error([&] { g(ones({3})); }, {"to_vector()", "input 0"}));
  // Reading a captured constant is fine: it is not traced.
  Tensor c = full({1}, 2.0);
  auto h = compile([&](const Tensor& x) { return x * c.item<double>(); });
  EXPECT_ALL_CLOSE(h(ones({2})), full({2}, 2.0), 0, 0);
}

TEST(Compile, GraphTextOfAnMlpIsReadable) {
  manual_seed(1);
  auto model = models::create("mlp");
  auto fwd = compile([&](const Tensor& x) { return model->forward(x); }, {.passes = {}, .modules = {model}});
  fwd(images(2, 3));
  std::string s = fwd.graph().str();
  EXPECT_NE(s.find("graph(%x: float32[2,1,28,28])"), std::string::npos) << s;
  EXPECT_NE(s.find("var %fc1.weight: float32[512,784]"), std::string::npos) << s;
  EXPECT_NE(s.find("linear("), std::string::npos) << s;
  EXPECT_NE(s.find("%fc3.bias"), std::string::npos) << s;
  EXPECT_NE(s.find("relu("), std::string::npos) << s;
}

// freeze: batch-norm folding runs (the statistics become constants); without it the
// batch_norm nodes stay, reading the live buffers.
TEST(Compile, FreezeFoldsBatchNormIntoTheConvolutions) {
  manual_seed(5);
  auto model = models::create("resnet");
  model->eval();
  NoGradGuard ng;
  auto frozen = compile([&](const Tensor& x) { return model->forward(x); }, {.freeze = true, .modules = {model}});
  auto live = compile([&](const Tensor& x) { return model->forward(x); }, {.modules = {model}});
  Tensor x = images(3, 4);
  EXPECT_ALL_CLOSE(frozen(x), model->forward(x), 1e-4, 1e-4);
  EXPECT_ALL_CLOSE(live(x), model->forward(x), 1e-4, 1e-4);
  EXPECT_EQ(frozen.graph().str().find("batch_norm("), std::string::npos) << frozen.graph().str();
  EXPECT_NE(live.graph().str().find("batch_norm("), std::string::npos) << live.graph().str();
}

TEST(Compile, TrainEvalSwitchRetraces) {
  manual_seed(2);
  auto model = models::create("resnet");
  auto fwd = compile([&](const Tensor& x) { return model->forward(x); }, {.modules = {model}});
  NoGradGuard ng;
  model->eval();
  fwd(images(2, 1));
  model->train();
  fwd(images(2, 1));
  EXPECT_EQ(fwd.stats().traces, 2);
  EXPECT_NE(fwd.stats().reasons[1].find("changed from eval to training mode"), std::string::npos)
      << fwd.stats().reasons[1];
}

TEST(Compile, InPlaceOnAVariableBecomesAnUpdate) {
  Tensor counter = zeros({2});
  auto f = compile([&](const Tensor& x) {
    counter.add_(x);
    return counter * 2.0;
  }, {.named_tensors = {{"counter", counter}}});
  f(ones({2}));
  f(ones({2}));
  Tensor y = f(ones({2}));
  EXPECT_ALL_CLOSE(counter, full({2}, 3.0), 0, 0);
  EXPECT_ALL_CLOSE(y, full({2}, 6.0), 0, 0);
  EXPECT_NE(f.graph().str().find("%counter <- "), std::string::npos) << f.graph().str();
  EXPECT_EQ(f.graph().updates().size(), 1u);
}

TEST(Compile, InPlaceIntoAnArgumentIsAnError) {
  auto f = compile([](const Tensor& x) {
    Tensor y = x;
    y.add_(1.0);
    return y;
  });
  EXPECT_TRUE(throws_error([&] { f(ones({2})); }, {"writes in place into input 0"}));
}

TEST(Compile, DumpDirGetsTheGraphText) {
  std::string dir = ::testing::TempDir() + "/tandem_compile_dump";
  auto f = compile([](const Tensor& x) { return exp(x); }, {.dump_dir = dir});
  f(ones({2}));
  std::ifstream in(dir + "/graph_1.txt");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("exp(%x)"), std::string::npos) << text;
}

}  // namespace
}  // namespace tandem
