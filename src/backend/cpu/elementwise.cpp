// Elementwise drivers: run-time ISA choice, operand preparation, thread split.
#include "elementwise.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

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
  return isa_table(baseline::kernel_table, avx2::kernel_table, avx512::kernel_table);
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

namespace {

// out = k(a, b) where one operand is full-size and contiguous and the other, contiguous too,
// repeats a row of `inner` elements over `mid` rows of out for each of `outer` rows: out viewed
// as [outer, mid, inner] (a channel scale on blocked activations, [N, C/16, H, W, 16] *
// [N, C/16, 1, 1, 16]; a bias over a short last dim). The generic loop would call the kernel
// once per short row; here the repeated row is copied into a buffer of many rows and the kernel
// runs over long stretches. False (nothing done) when out is not of that form.
bool ew_binary_repeated_rows(BinaryKernel k, const Tensor& a, const Tensor& b, const Tensor& out,
                             const EwParams& p) {
  if (a.dtype() != out.dtype() || b.dtype() != out.dtype() || !out.is_contiguous() || !a.is_contiguous() ||
      !b.is_contiguous() || out.dim() < 2)
    return false;
  const bool a_full = a.shape() == out.shape(), b_full = b.shape() == out.shape();
  if (a_full == b_full) return false;
  const Tensor& rep = a_full ? b : a;
  const Tensor& full = a_full ? a : b;
  if (rep.dim() != out.dim()) return false;
  // The full operand may be out itself (in place); nothing else may share out's memory.
  auto overlaps = [&](const Tensor& t) {
    const char *t0 = static_cast<const char*>(t.data_ptr()), *o0 = static_cast<const char*>(out.data_ptr());
    const char *t1 = t0 + t.numel() * t.itemsize(), *o1 = o0 + out.numel() * out.itemsize();
    return t0 < o1 && o0 < t1;
  };
  if (overlaps(rep) || (full.data_ptr() != out.data_ptr() && overlaps(full))) return false;
  // out's dims: [outer: rep matches][mid: rep is 1][inner: rep matches], mid and inner non-empty.
  const int64_t nd = out.dim();
  int64_t d = nd;
  int64_t inner = 1, mid = 1, outer = 1;
  while (d > 0 && rep.size(d - 1) == out.size(d - 1)) inner *= out.size(--d);
  const int64_t inner_dims = nd - d;
  while (d > 0 && rep.size(d - 1) == 1 && out.size(d - 1) != 1) mid *= out.size(--d);
  for (int64_t i = 0; i < d; ++i) {
    if (rep.size(i) != out.size(i)) return false;
    outer *= out.size(i);
  }
  if (inner_dims == 0 || mid < 4 || inner > 256 || out.numel() == 0) return false;
  const int64_t es = static_cast<int64_t>(out.itemsize());
  const int64_t rows = std::max<int64_t>(1, std::min(mid, 4096 / inner));  // rows per kernel call
  const char* ap = static_cast<const char*>(a.data_ptr());
  const char* bp = static_cast<const char*>(b.data_ptr());
  char* op = static_cast<char*>(out.data_ptr());
  // Tasks: (outer row, stretch of `rows` middle rows); a thread refills its buffer when its
  // tasks reach the next outer row.
  const int64_t stretches = (mid + rows - 1) / rows;
  auto body = [&](int64_t begin, int64_t end) {
    std::vector<char> buf(static_cast<size_t>(rows * inner * es));
    int64_t filled = -1;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / stretches, m = (t % stretches) * rows;
      if (o != filled) {
        const char* row = (a_full ? bp : ap) + o * inner * es;
        for (int64_t r = 0; r < rows; ++r) std::memcpy(buf.data() + r * inner * es, row, inner * es);
        filled = o;
      }
      const int64_t n = std::min(rows, mid - m) * inner;
      const int64_t at = (o * mid + m) * inner * es;
      if (a_full) k(ap + at, 1, buf.data(), 1, op + at, n, p);
      else k(buf.data(), 1, bp + at, 1, op + at, n, p);
    }
  };
  if (out.numel() <= kGrain || detail::max_threads() == 1) {
    body(0, outer * stretches);
  } else {
    using Body = decltype(body);
    detail::parallel_blocks(outer * stretches, &body,
                            [](void* c, int64_t b0, int64_t e0) { (*static_cast<Body*>(c))(b0, e0); });
  }
  return true;
}

}  // namespace

void ew_binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out, const EwParams& p) {
  TANDEM_CHECK(out.dtype() == DType::Float32 || out.dtype() == DType::Float64,
               "internal: float kernel called with dtype {}", out.dtype());
  BinaryKernel k = kernels().binary[static_cast<int>(op)][out.dtype() == DType::Float64];
  if (ew_binary_repeated_rows(k, a, b, out, p)) return;
  ScalarBuf ba, bb;
  Tensor ka, kb;
  std::array<Operand, 3> ops{Operand::of(out), prepare_input(a, out.dtype(), out, ba, ka),
                             prepare_input(b, out.dtype(), out, bb, kb)};
  for_each_run(ops, [&](const std::array<char*, 3>& ptr, const std::array<int64_t, 3>& st,
                        int64_t n) { k(ptr[1], st[1], ptr[2], st[2], ptr[0], n, p); });
}

}  // namespace tandem::cpu
