// tandem's side of the benchmark table (cases and names mirror bench/torch_bench.py).
//
//   dispatch/add_1elem            a + b on 1-element float32 tensors: eager overhead per op
//   matmul/MxKxN                  [M,K] @ [K,N], counter "flop" = 2·M·K·N
//   conv2d_fwd_bwd/...            one Fashion-MNIST CNN conv layer, forward + backward
//   add|mul|gelu|clone/<n>        elementwise over n float32 elements, counter "bytes"
//   softmax|layer_norm/128x4096   over the last dim
//
// All ops are eager with freshly allocated outputs, as a user would call them.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_util.h"
#include "tandem/tandem.h"

namespace tandem::bench {
namespace {

void dispatch_add(benchmark::State& state) {
  Tensor a = randn({1}), b = randn({1});
  if (!try_once(state, [&] { (void)(a + b); })) return;
  for (auto _ : state) {
    Tensor c = a + b;
    benchmark::DoNotOptimize(c.impl());
  }
}

void matmul_case(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  Tensor a = randn({m, k}), b = randn({k, n});
  if (!try_once(state, [&] { (void)matmul(a, b); })) return;
  for (auto _ : state) {
    Tensor c = matmul(a, b);
    benchmark::DoNotOptimize(c.impl());
  }
  set_flop(state, 2.0 * m * k * n);
}

// x: [128, cin, hw, hw], 3x3 kernel, padding 1, with bias. The first layer's input is
// the image (no gradient); the second layer's input is an activation, so its gradient
// is computed too, as in training.
void conv_case(benchmark::State& state, int64_t cin, int64_t cout, int64_t hw) {
  bool input_grad = cin > 1;
  Tensor x = randn({128, cin, hw, hw});
  if (input_grad) x.requires_grad_();
  Tensor w = (randn({cout, cin, 3, 3}) * 0.1).requires_grad_();
  Tensor b = randn({cout}).requires_grad_();
  Tensor gy = randn({128, cout, hw, hw});
  auto step = [&] {
    Tensor y = conv2d(x, w, b, {1, 1}, {1, 1});
    y.backward(gy);
    // Drop the gradients so every iteration does the same work (no accumulation).
    w.set_grad(Tensor());
    b.set_grad(Tensor());
    if (input_grad) x.set_grad(Tensor());
  };
  if (!try_once(state, step)) return;
  for (auto _ : state) step();
}

enum class Ew { Add, Mul, Gelu, Clone };

void elementwise_case(benchmark::State& state, Ew op, int64_t n) {
  Tensor a = randn({n}), b = randn({n});
  auto run = [&] {
    switch (op) {
      case Ew::Add: return a + b;
      case Ew::Mul: return a * b;
      case Ew::Gelu: return gelu(a);
      case Ew::Clone: return a.clone();
    }
    return Tensor();
  };
  if (!try_once(state, [&] { (void)run(); })) return;
  for (auto _ : state) {
    Tensor c = run();
    benchmark::DoNotOptimize(c.impl());
  }
  int tensors = (op == Ew::Add || op == Ew::Mul) ? 3 : 2;  // read a (and b), write c
  set_bytes(state, 4.0 * n * tensors);
}

void softmax_case(benchmark::State& state) {
  Tensor x = randn({128, 4096});
  if (!try_once(state, [&] { (void)softmax(x, -1); })) return;
  for (auto _ : state) {
    Tensor y = softmax(x, -1);
    benchmark::DoNotOptimize(y.impl());
  }
  set_bytes(state, 2.0 * 4 * x.numel());
}

void layer_norm_case(benchmark::State& state) {
  Tensor x = randn({128, 4096}), w = randn({4096}), b = randn({4096});
  if (!try_once(state, [&] { (void)layer_norm(x, {4096}, w, b); })) return;
  for (auto _ : state) {
    Tensor y = layer_norm(x, {4096}, w, b);
    benchmark::DoNotOptimize(y.impl());
  }
  set_bytes(state, 2.0 * 4 * x.numel());
}

int register_all() {
  benchmark::RegisterBenchmark("dispatch/add_1elem", dispatch_add)->UseRealTime();

  for (auto [m, k, n] : matmul_shapes())
    benchmark::RegisterBenchmark(("matmul/" + matmul_name(m, k, n)).c_str(), matmul_case, m, k, n)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);

  benchmark::RegisterBenchmark("conv2d_fwd_bwd/b128_1to32_28x28", conv_case, 1, 32, 28)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("conv2d_fwd_bwd/b128_32to64_14x14", conv_case, 32, 64, 14)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);

  const std::pair<const char*, Ew> ew[] = {
      {"add", Ew::Add}, {"mul", Ew::Mul}, {"gelu", Ew::Gelu}, {"clone", Ew::Clone}};
  for (int64_t n : {int64_t{1} << 20, int64_t{16} << 20})
    for (auto [name, op] : ew)
      benchmark::RegisterBenchmark((std::string(name) + "/" + size_name(n)).c_str(),
                                   elementwise_case, op, n)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);

  benchmark::RegisterBenchmark("softmax/128x4096", softmax_case)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("layer_norm/128x4096", layer_norm_case)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace tandem::bench
