// Elementwise drivers: run-time ISA choice, operand preparation, thread split.
#include "elementwise.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>

namespace tandem::cpu {
namespace {

template <typename D, typename S>
D convert_value(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return static_cast<double>(v) != 0.0;
  } else if constexpr (std::is_integral_v<D> && !std::is_integral_v<S>) {
    // NOTE: out-of-range float->int is undefined in C++ (and unspecified in
    // PyTorch): NaN gives 0, the rest saturates through int64.
    double d;
    if constexpr (std::is_same_v<S, double>) d = v;
    else d = static_cast<float>(v);
    if (d != d) return D(0);
    int64_t i = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d);
    return static_cast<D>(i);
  } else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) {
    return D(static_cast<float>(v));
  } else if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>) {
    return static_cast<D>(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace

const IsaKernels& kernels() {
  switch (current_isa()) {
    case Isa::Avx512: return avx512::kernel_table();
    case Isa::Avx2: return avx2::kernel_table();
    case Isa::Baseline: break;
  }
  return baseline::kernel_table();
}

namespace detail {

int max_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

void parallel_chunks(int64_t n, void* ctx, void (*body)(void*, int64_t, int64_t)) {
  int64_t want = std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, n / kGrain));
#pragma omp parallel num_threads(static_cast<int>(want))
  {
    int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    // 64-element boundaries keep each thread's vector loop aligned and its
    // output cache lines its own.
    int64_t chunk = ((n + nt - 1) / nt + 63) / 64 * 64;
    int64_t b = tid * chunk, e = std::min(n, b + chunk);
    if (b < e) body(ctx, b, e);
  }
}

void parallel_blocks(int64_t blocks, void* ctx, void (*body)(void*, int64_t, int64_t)) {
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    int64_t b = blocks * tid / nt, e = blocks * (tid + 1) / nt;
    if (b < e) body(ctx, b, e);
  }
}

}  // namespace detail

double scalar_value(const Tensor& t) {
  return TANDEM_DISPATCH_ALL(t.dtype(), "scalar_value", [&] {
    return convert_value<double>(*static_cast<const scalar_t*>(t.data_ptr()));
  });
}

Tensor resolve_overlap(const Tensor& in, const Tensor& out) {
  if (!in.defined() || in.storage() != out.storage()) return in;
  bool same = in.data_ptr() == out.data_ptr() && in.numel() == out.numel() &&
              in.dtype() == out.dtype() && in.is_contiguous() && out.is_contiguous();
  if (same) return in;
  Tensor copy = empty(in.shape(), {.dtype = in.dtype(), .device = in.device()});
  copy_into(copy, in);
  return copy;
}

Operand prepare_input(const Tensor& in, DType dt, const Tensor& out, ScalarBuf& buf, Tensor& keep) {
  if (in.dtype() == dt) {
    if (in.storage() != out.storage()) return Operand::of(in);
    keep = resolve_overlap(in, out);
    return Operand::of(keep);
  }
  if (in.numel() == 1) {
    TANDEM_DISPATCH_ALL(dt, "elementwise", [&] {
      using D = scalar_t;
      D* dst = reinterpret_cast<D*>(buf.bytes);
      TANDEM_DISPATCH_ALL(in.dtype(), "elementwise", [&] {
        *dst = convert_value<D>(*static_cast<const scalar_t*>(in.data_ptr()));
      });
    });
    return Operand::value(buf.bytes, static_cast<int64_t>(itemsize(dt)));
  }
  keep = empty(in.shape(), {.dtype = dt, .device = in.device()});
  copy_into(keep, in);
  return Operand::of(keep);
}

void ew_unary(Unary op, const Tensor& x, const Tensor& out, const EwParams& p) {
  TANDEM_CHECK(out.dtype() == DType::Float32 || out.dtype() == DType::Float64,
               "internal: float kernel called with dtype {}", out.dtype());
  UnaryKernel k = kernels().unary[static_cast<int>(op)][out.dtype() == DType::Float64];
  ScalarBuf buf;
  Tensor keep;
  std::array<Operand, 2> ops{Operand::of(out), prepare_input(x, out.dtype(), out, buf, keep)};
  for_each_run(ops, [&](const std::array<char*, 2>& ptr, const std::array<int64_t, 2>& st,
                        int64_t n) { k(ptr[1], st[1], ptr[0], n, p); });
}

void ew_binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out, const EwParams& p) {
  TANDEM_CHECK(out.dtype() == DType::Float32 || out.dtype() == DType::Float64,
               "internal: float kernel called with dtype {}", out.dtype());
  BinaryKernel k = kernels().binary[static_cast<int>(op)][out.dtype() == DType::Float64];
  ScalarBuf ba, bb;
  Tensor ka, kb;
  std::array<Operand, 3> ops{Operand::of(out), prepare_input(a, out.dtype(), out, ba, ka),
                             prepare_input(b, out.dtype(), out, bb, kb)};
  for_each_run(ops, [&](const std::array<char*, 3>& ptr, const std::array<int64_t, 3>& st,
                        int64_t n) { k(ptr[1], st[1], ptr[2], st[2], ptr[0], n, p); });
}

}  // namespace tandem::cpu
