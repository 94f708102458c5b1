// PyTorch's eager dispatch overhead through its C++ API (libtorch), the counterpart of
// dispatch/add_1elem in bench_tandem.cpp: a + b on 1-element float32 tensors.
// --threads=N calls at::set_num_threads(N) (irrelevant for 1 element, kept for symmetry).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void dispatch_add(benchmark::State& state) {
  at::Tensor a = at::randn({1}), b = at::randn({1});
  for (auto _ : state) {
    at::Tensor c = a + b;
    benchmark::DoNotOptimize(c.unsafeGetTensorImpl());
  }
}
BENCHMARK(dispatch_add)->Name("dispatch/add_1elem")->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      at::set_num_threads(std::atoi(argv[i] + 10));
    else
      args.push_back(argv[i]);
  }
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
