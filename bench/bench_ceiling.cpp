// The "library ceiling" columns of the table: what the hardware and library give with no
// framework in between.
//
//   onednn_matmul/MxKxN   oneDNN's matmul primitive, created once, output preallocated
//   onednn_sgemm/MxKxN    dnnl_sgemm (row-major, no transposes), output preallocated;
//                         the table's ceiling is the faster of the two (dnnl_sgemm wins
//                         on large squares here), and tandem's matmul target is within 10%.
//   memcpy/<n>            n float32 elements copied by memcpy, split across the OpenMP
//                         threads: the bandwidth ceiling for elementwise ops (target ≥ 70%).
//   fma_peak              float32 FMA throughput of the cores (AVX-512, registers only, every
//                         OpenMP thread): the compute ceiling that training's GFLOP/s is a
//                         fraction of (bench/train_peak_run.sh). Counter GFLOPs.
//   bf16_dot_peak         the same for AVX512-BF16's dpbf16 (bfloat16 pairs into float32): the
//                         ceiling of oneDNN's bf16 kernels, to compare with fma_peak.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <immintrin.h>

#include <time.h>

#include <algorithm>
#include <cstring>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bench_util.h"

namespace tandem::bench {
namespace {

void onednn_matmul(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  using dnnl::memory;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  memory::desc a_md({m, k}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc b_md({k, n}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc c_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), eng);
  dnnl::matmul prim(pd);
  memory a(a_md, eng), b(b_md, eng), c(c_md, eng);
  // Random-ish finite values; the contents do not change the timing.
  for (memory* mem : {&a, &b}) {
    float* p = static_cast<float*>(mem->get_data_handle());
    size_t count = mem->get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < count; ++i) p[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f - 0.5f;
  }
  for (auto _ : state) {
    prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
  set_flop(state, 2.0 * m * k * n);
}

void onednn_sgemm(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.1f - 0.3f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) * 0.1f - 0.2f;
  for (auto _ : state) {
    dnnl_sgemm('N', 'N', m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  set_flop(state, 2.0 * m * k * n);
}

void parallel_memcpy(benchmark::State& state, int64_t n) {
  std::vector<float> src(n, 1.0f), dst(n, 0.0f);
  for (auto _ : state) {
#pragma omp parallel
    {
      int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t begin = n * t / nt, end = n * (t + 1) / nt;
      std::memcpy(dst.data() + begin, src.data() + begin, (end - begin) * sizeof(float));
    }
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * 4 * n);
}

// 16 independent accumulators: FMA latency 4 x 2 ports needs at least 8 in flight.
__attribute__((target("avx512f"), noinline)) float fma_loop(int64_t iters, float seed) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// dpbf16 (AVX512-BF16): each instruction multiplies 16 pairs of bfloat16 and adds both products
// to a float32 lane, 64 FLOPs, the work of oneDNN's bf16 matmul and convolution kernels.
__attribute__((target("avx512f,avx512bf16"), noinline)) float bf16_dot_loop(int64_t iters, float seed) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

// Runs `loop` on every OpenMP thread; flops_per_iter: FLOPs of one iteration (16 instructions).
void instruction_peak(benchmark::State& state, float (*loop)(int64_t, float), double flops_per_iter) {
  constexpr int64_t kIters = 1 << 20;
  int threads = 1;
  float sink = 0;
  double core_rate = 0;  // sum over threads of FLOPs per second of the thread's own CPU time
  for (auto _ : state) {
    double rate = 0;
#pragma omp parallel reduction(+ : sink, rate)
    {
#pragma omp single
      threads = omp_get_num_threads();
      timespec t0{}, t1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
      sink += loop(kIters, static_cast<float>(omp_get_thread_num()));
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
      double cpu = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
      rate += flops_per_iter * kIters / cpu;
    }
    core_rate = std::max(core_rate, rate);
  }
  benchmark::DoNotOptimize(sink);
  // GFLOPs: over wall time (what the threads got on this machine); core_GFLOPs: over each
  // thread's own CPU time, the cores' peak even on a loaded machine.
  state.counters["GFLOPs"] =
      benchmark::Counter(flops_per_iter * kIters * threads * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["core_GFLOPs"] = core_rate / 1e9;
}

void fma_peak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  instruction_peak(state, fma_loop, 2.0 * 16 * 16);  // 2 FLOPs per lane, 16 lanes, 16 accumulators
}

void bf16_dot_peak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    state.SkipWithError("no AVX512-BF16 on this CPU");
    return;
  }
  instruction_peak(state, bf16_dot_loop, 4.0 * 16 * 16);  // 2 products + 2 adds per lane
}

int register_all() {
  benchmark::RegisterBenchmark("fma_peak", fma_peak)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("bf16_dot_peak", bf16_dot_peak)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (auto [m, k, n] : matmul_shapes())
    benchmark::RegisterBenchmark(("onednn_matmul/" + matmul_name(m, k, n)).c_str(), onednn_matmul,
                                 m, k, n)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  for (auto [m, k, n] : matmul_shapes())
    benchmark::RegisterBenchmark(("onednn_sgemm/" + matmul_name(m, k, n)).c_str(), onednn_sgemm,
                                 m, k, n)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  for (int64_t n : {int64_t{1} << 20, int64_t{16} << 20})
    benchmark::RegisterBenchmark(("memcpy/" + size_name(n)).c_str(), parallel_memcpy, n)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace tandem::bench
