// Shared pieces of the tandem benchmark programs.
//
// Every case reports its work per iteration as a counter ("flop" or "bytes") so that
// bench/report.py turns times into GFLOP/s or GB/s the same way for tandem, oneDNN and
// PyTorch (bench/torch_bench.py emits the same counters under the same case names).
// Times are wall-clock (UseRealTime): OpenMP work runs on other threads, so the main
// thread's CPU time would undercount.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <string>
#include <tuple>
#include <vector>

#include "tandem/tandem.h"

namespace tandem::bench {

// Runs `body` once before timing. An op that still throws (a stub that says "not
// implemented yet", or any other error) marks the case skipped instead of aborting the
// whole program, so the harness works while ops are being written.
template <typename F>
bool try_once(benchmark::State& state, F&& body) {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    state.SkipWithError(msg.find("not implemented") != std::string::npos
                            ? "not implemented"
                            : ("error: " + msg).c_str());
    return false;
  }
}

// (M, K, N): square sizes, then the Fashion-MNIST MLP's two layers at batch 128.
inline std::vector<std::tuple<int64_t, int64_t, int64_t>> matmul_shapes() {
  return {{128, 128, 128},   {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
          {2048, 2048, 2048}, {128, 784, 512}, {128, 512, 256}};
}
inline std::string matmul_name(int64_t m, int64_t k, int64_t n) {
  return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
}
// 1048576 -> "1M"
inline std::string size_name(int64_t n) {
  return n % (1 << 20) == 0 ? std::to_string(n >> 20) + "M" : std::to_string(n);
}

inline void set_flop(benchmark::State& state, double flop) { state.counters["flop"] = flop; }
inline void set_bytes(benchmark::State& state, double bytes) { state.counters["bytes"] = bytes; }

}  // namespace tandem::bench
