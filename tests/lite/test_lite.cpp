// tandem-lite against the full runtime: models converted by onnx::convert_to_lite (the zoo
// models, torchvision's MobileNetV2 and ShuffleNetV2 (channel shuffle) with random weights) give the full runtime's
// outputs within 1e-4 of the output's scale; the committed self-test data still matches a fresh
// full-runtime run; bad inputs and corrupt files give errors; ops tandem-lite lacks are named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "npy.h"
#include "runtime.h"
#include "tandem/compile.h"
#include "tandem/generator.h"
#include "tandem/graph/passes.h"
#include "tandem/io/npy.h"
#include "tandem/models.h"
#include "tandem/onnx.h"
#include "tandem/onnx/convert_lite.h"
#include "tandem/onnx/export.h"
#include "tandem/ops.h"
#include "tandem_lite.hpp"
#include "test_util.h"

namespace tandem {
namespace {

using tandem::testing::throws_error;

std::string lite_dir() {
  static const std::string d = [] {
    auto p = std::filesystem::temp_directory_path() / ("tandem_lite_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return d;
}

std::vector<int64_t> shape_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }

// max |lite - full| / max |full| over one output.
double rel_diff(const tl::Output& y, const Tensor& ref) {
  Tensor r = ref.to(DType::Float32).contiguous();
  EXPECT_EQ(y.shape, shape_of(r));
  const float* p = r.data<float>();
  double scale = 1e-12, err = 0;
  for (int64_t i = 0; i < r.numel(); ++i) scale = std::max(scale, double(std::fabs(p[i])));
  for (int64_t i = 0; i < std::min(r.numel(), y.numel()); ++i) err = std::max(err, double(std::fabs(y.data[i] - p[i])));
  return err / scale;
}

// Converts `onnx_path`, runs lite and the full runtime on `x` (input "input"), compares.
void expect_lite_matches(const std::string& onnx_path, const std::vector<Tensor>& xs) {
  set_num_threads(1);  // as tandem-lite runs; cores oversubscribed by ctest -j cost more than they give
  std::string tlite = onnx_path + ".tlite";
  onnx::LiteConvertReport r = onnx::convert_to_lite(onnx_path, tlite);
  EXPECT_GT(r.file_bytes, 0);
  onnx::Model full = onnx::Model::load(onnx_path);
  tl::Model lite(tlite);
  tl::Context ctx(lite);
  for (const Tensor& x : xs) {  // several batch sizes through one context
    std::vector<Tensor> ref = full.run({{full.info().inputs[0].name, x}});
    Tensor xc = x.contiguous();
    ctx.set_input(0, shape_of(xc), xc.data<float>());
    ctx.run();
    ASSERT_EQ(size_t(lite.num_outputs()), ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_LE(rel_diff(ctx.output(int(i)), ref[i]), 1e-4) << onnx_path << " output " << i << " batch " << x.size(0);
    // Threads inside the run: the same bits as one thread.
    tl::Context ctx3(lite);
    ctx3.set_num_threads(3);
    ctx3.set_input(0, shape_of(xc), xc.data<float>());
    ctx3.run();
    for (size_t i = 0; i < ref.size(); ++i) {
      tl::Output a = ctx.output(int(i)), b = ctx3.output(int(i));
      ASSERT_EQ(a.shape, b.shape);
      EXPECT_EQ(std::memcmp(a.data, b.data, size_t(a.numel()) * sizeof(float)), 0)
          << onnx_path << " output " << i << " differs between 1 and 3 threads";
    }
  }
}

// The kernels split over a pool give the bits of one thread, also where the split falls inside
// a GEMM's column tiles, its tail columns or rows, and the vectorized loops' tails.
TEST(Lite, ThreadedKernelsAreBitIdentical) {
  std::vector<float> buf(400000);
  uint32_t st = 12345;
  for (float& v : buf) {
    st = st * 1664525u + 1013904223u;
    v = float(int32_t(st >> 8) % 2001 - 1000) / 997.f;
  }
  tlite::ThreadPool pool(3);
  auto both = [&](const std::function<void(std::vector<float>&)>& f, size_t n, const std::string& what) {
    std::vector<float> one(n), three(n);
    f(one);
    {
      tlite::LitePoolScope scope(&pool);
      f(three);
    }
    EXPECT_EQ(std::memcmp(one.data(), three.data(), n * sizeof(float)), 0) << what;
  };
  const float* A = buf.data();
  const float* B = buf.data() + 100000;
  for (const std::array<int64_t, 3>& mnk :
       std::vector<std::array<int64_t, 3>>{{1, 1000, 300}, {2, 77, 513}, {67, 203, 300}, {130, 49, 64}}) {
    const int64_t M = mnk[0], N = mnk[1], K = mnk[2];  // not a structured binding: clang 14 can't capture those
    both([&](std::vector<float>& C) { tlite::kernels::gemm(M, N, K, A, K, B, N, C.data(), N, false); }, size_t(M * N),
         "gemm " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K));
  }
  for (tlite::Act act : {tlite::Act::Relu, tlite::Act::Sigmoid})
    both([&](std::vector<float>& y) { tlite::kernels::unary(A, y.data(), 100003, {act, 0, 0}); }, 100003, "unary");
  // Depthwise 3x3 stride 2 and a grouped conv with bias and a clamp.
  for (int64_t groups : {24, 2}) {
    tlite::kernels::ConvGeom g{1, 24, 30, 30, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, groups, 15, 15};
    std::vector<float> scratch(size_t(std::max<int64_t>(1, tlite::kernels::conv2d_scratch(g))));
    both([&](std::vector<float>& y) {
      tlite::kernels::conv2d(g, A, B, B + 5000, y.data(), scratch.data(), {tlite::Act::Clamp, 0.f, 6.f});
    }, size_t(24 * 15 * 15), "conv2d groups " + std::to_string(groups));
  }
  // A broadcast add of a per-channel row, split over the channels.
  const int64_t od[4] = {1, 64, 40, 40}, as[4] = {0, 1600, 40, 1}, bs[4] = {0, 1, 0, 0};
  both([&](std::vector<float>& y) { tlite::kernels::binary(tlite::kernels::Binary::Add, 4, od, A, as, B, bs, y.data()); },
       size_t(64 * 1600), "binary");

  // int8 quantize (per tensor) and dequantize (per tensor, and per channel over [2, 40, 1601]).
  {
    std::vector<uint8_t> q1(100003), q3(100003);
    tlite::kernels::quantize(A, 100003, 0.01f, 3, true, q1.data());
    {
      tlite::LitePoolScope scope(&pool);
      tlite::kernels::quantize(A, 100003, 0.01f, 3, true, q3.data());
    }
    EXPECT_EQ(q1, q3) << "quantize";
    std::vector<float> scales(40);
    std::vector<int32_t> zps(40);
    for (int c = 0; c < 40; ++c) {
      scales[size_t(c)] = 0.001f * float(c + 1);
      zps[size_t(c)] = c % 5 - 2;
    }
    both([&](std::vector<float>& y) { tlite::kernels::dequantize(q1.data(), true, 1, 1, 100003, scales.data(), zps.data(), y.data()); },
         100003, "dequantize per tensor");
    std::vector<uint8_t> qc(2 * 40 * 1601);  // the per-channel input: its own 128,080 values
    tlite::kernels::quantize(A, int64_t(qc.size()), 0.01f, 3, false, qc.data());
    both([&](std::vector<float>& y) { tlite::kernels::dequantize(qc.data(), false, 2, 40, 1601, scales.data(), zps.data(), y.data()); },
         size_t(2 * 40 * 1601), "dequantize per channel");
  }

  // int8: a 3x3 conv (im2col rows, GEMM and requantization split) and a depthwise stride-2 conv.
  std::vector<uint8_t> xq(20 * 24 * 24);
  for (size_t i = 0; i < xq.size(); ++i) xq[i] = uint8_t(int32_t(buf[i] * 120.f) + 128);
  for (int64_t groups : {1, 20}) {
    const bool dw = groups > 1;
    tlite::kernels::ConvGeom g = dw ? tlite::kernels::ConvGeom{1, 20, 24, 24, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 20, 12, 12}
                                    : tlite::kernels::ConvGeom{1, 20, 24, 24, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 24, 24};
    tlite::kernels::QLayer L;
    L.O = g.O;
    L.K = (g.C / groups) * 9;
    const int64_t Kp = (L.K + 3) / 4 * 4;
    L.w.assign(size_t(L.O * Kp), 0);
    for (int64_t o = 0; o < L.O; ++o)
      for (int64_t k = 0; k < L.K; ++k) L.w[size_t(o * Kp + k)] = int8_t(int32_t(buf[size_t(o * 997 + k)] * 127.f));
    L.w_zp.assign(size_t(L.O), 0);
    for (int64_t o = 0; o < L.O; ++o) {
      L.mult.push_back(0.0004f + 0.00001f * float(o));
      L.bias.push_back(float(o % 7) - 3.f);
    }
    L.x_zp = 3;
    L.y_zp = 5;
    tlite::kernels::qlayer_pack(L, !dw);
    const size_t ny = size_t(g.O * g.Ho * g.Wo);
    std::vector<uint8_t> scratch(size_t(tlite::kernels::qconv2d_scratch_bytes(g, L)) + 64), one(ny), three(ny);
    tlite::kernels::qconv2d(g, L, xq.data(), one.data(), scratch.data());
    {
      tlite::LitePoolScope scope(&pool);
      tlite::kernels::qconv2d(g, L, xq.data(), three.data(), scratch.data());
    }
    EXPECT_EQ(one, three) << "qconv2d groups " << groups;
    int64_t distinct = 0;  // not a constant output
    for (size_t i = 1; i < ny; ++i) distinct += one[i] != one[0];
    EXPECT_GT(distinct, int64_t(ny / 4)) << "qconv2d groups " << groups;
  }
}

TEST(Lite, ZooModelsMatchTheFullRuntime) {
  manual_seed(7);
  for (std::string name : {"mlp", "cnn", "resnet"}) {
    auto m = models::create(name);
    m->eval();
    std::string path = lite_dir() + "/" + name + ".onnx";
    onnx::export_model(m, randn({2, 1, 28, 28}), path, {.dynamic_batch = true});
    expect_lite_matches(path, {randn({2, 1, 28, 28}), randn({3, 1, 28, 28}), randn({1, 1, 28, 28})});
  }
}

TEST(Lite, TorchvisionMobileNetV2AndShuffleNetV2MatchTheFullRuntime) {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch and torchvision is not available";
  std::string dir = lite_dir() + "/tv";
  std::string cmd = "/usr/bin/python3 " TANDEM_LITE_EXPORT_SCRIPT " " + dir + " 64 mobilenet_v2 shufflenet_v2_x0_5 > " + dir +
                    ".log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (std::string name : {"mobilenet_v2", "shufflenet_v2_x0_5"}) {
    Tensor x = io::load_npy(dir + "/" + name + ".input.npy");
    expect_lite_matches(dir + "/" + name + ".onnx", {x, x.slice(0, 0, 1).contiguous()});
  }
}

// The committed self-test data (tests/lite/gen_lite_data.py): the expected outputs are still
// what the full runtime computes from the committed ONNX models, and lite reproduces them.
TEST(Lite, CommittedSelftestDataMatchesTheFullRuntime) {
  std::string dir = TANDEM_LITE_DATA_DIR;
  std::ifstream cases(dir + "/cases.txt");
  ASSERT_TRUE(cases.good());
  std::string line;
  int n = 0;
  while (std::getline(cases, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name;
    int nin, nout;
    std::string flag;
    ls >> name >> nin >> nout >> flag;
    onnx::Model full = onnx::Model::load(dir + "/" + name + ".onnx");
    std::map<std::string, Tensor> inputs;
    for (int i = 0; i < nin; ++i)
      inputs[full.info().inputs[size_t(i)].name] = io::load_npy(dir + "/" + name + ".input_" + std::to_string(i) + ".npy");
    std::vector<Tensor> ref = full.run(inputs);
    ASSERT_EQ(int(ref.size()), nout);
    for (int i = 0; i < nout; ++i) {
      Tensor want = io::load_npy(dir + "/" + name + ".output_" + std::to_string(i) + ".npy");
      if (flag == "exact")  // an int8 model: the full runtime's int8 path, bit for bit
        EXPECT_TRUE(tandem::testing::all_close(ref[size_t(i)], want, 0.0, 0.0)) << name << " output " << i;
      else
        EXPECT_TRUE(tandem::testing::all_close(ref[size_t(i)], want, 1e-6, 1e-5)) << name << " output " << i;
    }
    // The committed .tlite is what convert writes today.
    std::string fresh = lite_dir() + "/" + name + ".tlite";
    onnx::convert_to_lite(dir + "/" + name + ".onnx", fresh);
    std::ifstream a(fresh, std::ios::binary), b(dir + "/" + name + ".tlite", std::ios::binary);
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_TRUE(sa.str() == sb.str()) << name << ".tlite differs from a fresh conversion: rerun gen_lite_data.py";
    ++n;
  }
  EXPECT_GE(n, 3);
}

TEST(Lite, BadInputsGiveErrors) {
  std::string dir = TANDEM_LITE_DATA_DIR;
  tl::Model m(dir + "/tiny_cnn.tlite");
  EXPECT_EQ(m.input(0).name, "input");
  EXPECT_EQ(m.input(0).shape, (std::vector<int64_t>{-1, 3, 16, 16}));
  tl::Context c(m);
  std::vector<float> x(2 * 3 * 16 * 16, 0.5f);
  auto expect_error = [](const std::function<void()>& f, tl_status s, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error, wanted " << needle;
    } catch (const tl::Error& e) {
      EXPECT_EQ(e.status, s) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { c.set_input(0, {2, 3, 16, 15}, x.data()); }, TL_INVALID_ARGUMENT, "does not match");
  expect_error([&] { c.set_input(0, {2, 3, 16}, x.data()); }, TL_INVALID_ARGUMENT, "does not match");
  expect_error([&] { c.set_input(1, {2, 3, 16, 16}, x.data()); }, TL_INVALID_ARGUMENT, "out of range");
  expect_error([&] { c.run(); }, TL_NOT_READY, "not set");
  expect_error([&] { c.output(0); }, TL_NOT_READY, "no run");
  EXPECT_EQ(m.input_index("nope"), -1);
  c.set_input(0, {2, 3, 16, 16}, x.data());
  c.run();
  size_t arena = c.arena_bytes();
  EXPECT_GT(arena, 0u);
  c.run();  // same shape: the plan and its arena are reused
  EXPECT_EQ(c.arena_bytes(), arena);
  expect_error([&] { c.output(1); }, TL_INVALID_ARGUMENT, "out of range");
  expect_error([&] { tl::Model("/nonexistent/x.tlite"); }, TL_IO_ERROR, "cannot open");
  // Corrupt files: truncated, a wrong magic, a newer version.
  std::ifstream f(dir + "/tiny_cnn.tlite", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  expect_error([&] { tl::Model::from_buffer(bytes.data(), bytes.size() - 64); }, TL_INVALID_MODEL, "truncated");
  std::string b = bytes;
  b[0] = 'X';
  expect_error([&] { tl::Model::from_buffer(b.data(), b.size()); }, TL_INVALID_MODEL, "bad magic");
  b = bytes;
  b[4] = 9;
  expect_error([&] { tl::Model::from_buffer(b.data(), b.size()); }, TL_INVALID_MODEL, "version 9");
}

// Graph ops that the ONNX importer writes as compositions (layer_norm, batch_norm without a conv
// to fold into, log_softmax, gelu, leaky_relu, pow, maximum/minimum, expand), converted from a
// traced graph and checked against tandem's eager ops.
TEST(Lite, TracedGraphOpsMatchEager) {
  manual_seed(5);
  Tensor w6 = randn({6}), b6 = randn({6}), rm = randn({4}), rv = rand({4}) + 0.5, w4 = randn({4}), b4 = randn({4});
  auto fn = [&](const std::vector<Tensor>& xs) {
    const Tensor& x = xs[0];
    Tensor y = layer_norm(x, {6}, w6, b6, 1e-5);
    Tensor z = leaky_relu(batch_norm(y, rm, rv, w4, b4, false, 0.1, 1e-3), 0.1);
    Tensor g = gelu(z), t = gelu(z, "tanh");
    Tensor m = maximum(g, t) + minimum(g, t) * pow(abs(z) + 1.0, 1.5);
    Tensor e = x.mean({2, 3}, true).expand({2, 4, 6, 6});
    return std::vector<Tensor>{log_softmax(m + e, 3), softmax(z, 1), y};
  };
  Tensor x = randn({2, 4, 6, 6});
  CompileOptions o;
  o.passes = {};
  auto traced = tandem::compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(fn), o);
  traced({x});
  graph::Graph g = graph::copy_graph(traced.graph());
  onnx::LiteConvertReport r;
  std::string bytes = onnx::convert_graph_to_lite(g, {false}, {}, &r);
  EXPECT_EQ(r.lite_ops.count("layer_norm"), 1u) << r.str();
  EXPECT_EQ(r.lite_ops.count("batch_norm"), 1u) << r.str();
  tl::Model lite = tl::Model::from_buffer(bytes.data(), bytes.size());
  tl::Context ctx(lite);
  ctx.set_input(0, {2, 4, 6, 6}, x.contiguous().data<float>());
  ctx.run();
  std::vector<Tensor> want = fn({x});
  ASSERT_EQ(lite.num_outputs(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_LE(rel_diff(ctx.output(i), want[size_t(i)]), 1e-4) << "output " << i;
}

// Hard-swish after a convolution (MobileNetV3, as importers write it): the conversion fuses it
// into the convolution (fuse_hardswish; lite's hardswish activation) and matches eager's ops.
TEST(Lite, ConvHardSwishConvertsAndMatchesEager) {
  manual_seed(6);
  Tensor w = randn({8, 4, 3, 3}) * 0.3, b = randn({8});
  auto fn = [&](const std::vector<Tensor>& xs) {
    Tensor y = conv2d(xs[0], w, b, {1, 1}, {1, 1});
    return std::vector<Tensor>{y * clamp(y * (1.0 / 6) + 0.5, 0.0, 1.0)};
  };
  Tensor x = randn({2, 4, 6, 6}) * 3.0;
  CompileOptions o;
  o.passes = {};
  auto traced = tandem::compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(fn), o);
  traced({x});
  graph::Graph g = graph::copy_graph(traced.graph());
  onnx::LiteConvertReport r;
  std::string bytes = onnx::convert_graph_to_lite(g, {false}, {}, &r);
  EXPECT_EQ(r.lite_ops.count("mul"), 0u) << r.str();  // fused: no separate mul / clamp / add
  tl::Model lite = tl::Model::from_buffer(bytes.data(), bytes.size());
  tl::Context ctx(lite);
  ctx.set_input(0, {2, 4, 6, 6}, x.contiguous().data<float>());
  ctx.run();
  EXPECT_LE(rel_diff(ctx.output(0), fn({x})[0]), 1e-4) << r.str();
}

// The limits a host (the fuzzer) can put on a run: too much work or arena is refused before
// anything is allocated or computed.
TEST(Lite, WorkAndArenaLimitsRefuseAPlan) {
  std::unique_ptr<tlite::Model> m = tlite::Model::load_file(std::string(TANDEM_LITE_DATA_DIR) + "/tiny_cnn.tlite");
  std::vector<float> x(2 * 3 * 16 * 16, 0.25f);
  const int64_t shape[4] = {2, 3, 16, 16};
  for (int which = 0; which < 2; ++which) {
    tlite::Context c(*m);
    if (which == 0) c.set_work_limit(1000);
    else c.set_arena_limit(1000);
    c.set_input(0, shape, 4, x.data());
    try {
      c.run();
      ADD_FAILURE() << "ran past the limit";
    } catch (const tlite::LiteError& e) {
      EXPECT_NE(std::string(e.what()).find(which == 0 ? "above the limit" : "arena too large"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(c.arena_bytes(), 0u);
  }
  tlite::Context c(*m);  // no limits: runs
  c.set_input(0, shape, 4, x.data());
  c.run();
  EXPECT_GT(c.arena_bytes(), 0u);
}

// One model, a context per thread: concurrent runs give each thread the single-threaded result.
TEST(Lite, ContextsRunConcurrentlyOnOneModel) {
  std::string dir = TANDEM_LITE_DATA_DIR;
  tl::Model m(dir + "/tiny_cnn.tlite");
  tlite::npy::Array x;
  ASSERT_EQ(tlite::npy::read(dir + "/tiny_cnn.input_0.npy", x), "");
  std::vector<float> want;
  {
    tl::Context c(m);
    c.set_input(0, x.shape, x.data.data());
    c.run();
    tl::Output y = c.output(0);
    want.assign(y.data, y.data + y.numel());
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      tl::Context c(m);
      for (int rep = 0; rep < 20; ++rep) {
        c.set_input(0, x.shape, x.data.data());
        c.run();
        tl::Output y = c.output(0);
        for (int64_t i = 0; i < y.numel(); ++i) mismatches[size_t(t)] += y.data[i] != want[size_t(i)];
      }
    });
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

TEST(Lite, ConvertNamesEveryMissingOp) {
  // cumsum and sin: ops tandem-lite does not have.
  auto fn = [](const std::vector<Tensor>& xs) { return std::vector<Tensor>{sin(cumsum(xs[0], 1)) + xs[0]}; };
  std::string path = lite_dir() + "/missing.onnx";
  onnx::export_model(fn, {randn({2, 5})}, path);
  EXPECT_TRUE(throws_error([&] { onnx::convert_to_lite(path, lite_dir() + "/missing.tlite"); },
                           {"tandem-lite lacks", "cumsum", "sin", "tandem-lite maps"}));
  EXPECT_FALSE(std::filesystem::exists(lite_dir() + "/missing.tlite"));
}

}  // namespace
}  // namespace tandem
