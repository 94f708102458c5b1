// Elementwise CPU kernels: the per-ISA float32/float64 kernel table, the run-time
// ISA choice, and the drivers that split a tensor op into contiguous runs over threads.
//
//   cpu::ew_unary(cpu::Unary::Exp, x, out);              // out = exp(x), float32/float64
//   cpu::ew_binary(cpu::Binary::Add, a, b, out, {.alpha = 2.0});
//
// The hot loops live in src/backend/cpu/isa/*.cpp, compiled once per ISA level
// (baseline, avx2, avx512) into namespaces tandem::cpu::<level>; this header is the
// only thing both sides share, so it holds plain declarations and PODs only.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "elementwise_table.h"
#include "isa.h"
#include "loops.h"
#include "tandem/tensor.h"

namespace tandem::cpu {

// The table of the level in use (isa.h: current_isa()).
const IsaKernels& kernels();

// ---- drivers (out is contiguous and already has its final shape and dtype)

// out = op(x); x has out's float dtype and broadcasts to out's shape.
void ew_unary(Unary op, const Tensor& x, const Tensor& out, const EwParams& p = {});
// out = op(a, b); a and b broadcast to out's shape. Each has out's float dtype or
// is a single element of any dtype (converted once, never materialized).
void ew_binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out,
               const EwParams& p = {});

// A single-element tensor's value, read as double.
double scalar_value(const Tensor& t);

// One operand of an elementwise loop: a tensor, or a single value held elsewhere.
struct Operand {
  char* data = nullptr;
  int64_t esize = 0;  // bytes per element
  int64_t numel = 1;
  const Tensor* t = nullptr;  // null for a bare value (broadcast everywhere)
  static Operand of(const Tensor& t) {
    return {static_cast<char*>(t.data_ptr()), static_cast<int64_t>(t.itemsize()), t.numel(), &t};
  }
  static Operand value(void* p, int64_t esize) { return {static_cast<char*>(p), esize, 1, nullptr}; }
};

// Calls fn(ptrs, strides, n) for runs of elements, in parallel over large tensors.
// Operand 0 is the (contiguous) output; the others broadcast to its shape. ptrs
// are byte pointers to a run's first element, strides are in elements of each
// operand. A single-element operand gets stride 0 and a contiguous full-size one
// stride 1, so the common cases reach fn as one run per thread, allocation-free.
// NOTE: an input that shares memory with the output must be exactly the output
// (same elements in the same order); copy anything else first (resolve_overlap).
template <size_t N, typename F>
void for_each_run(const std::array<Operand, N>& ops, F&& fn);

// `in`, or a copy of it when it is another view of out's memory.
Tensor resolve_overlap(const Tensor& in, const Tensor& out);

// Elements per thread below which a loop stays serial.
inline constexpr int64_t kGrain = 32768;

// Operand for input `in` of an op computing in dtype `dt` with output `out`:
// the tensor itself when it already has dtype dt and cannot alias out badly; a
// converted single value in `buf`; or a converted / de-aliased copy kept in `keep`.
union ScalarBuf {
  double f64;
  int64_t i64;
  char bytes[8];
};
Operand prepare_input(const Tensor& in, DType dt, const Tensor& out, ScalarBuf& buf, Tensor& keep);

// ---- integer and bool kernels (elementwise_generic.cpp), every dtype but the 16-bit floats

// Add/Sub/Mul/Pow/Minimum/Maximum in out's integer or bool dtype (integers wrap like PyTorch).
void ew_binary_int(Binary op, const Tensor& a, const Tensor& b, const Tensor& out,
                   const EwParams& p = {});
// Neg/Abs/Sign/Relu/Clamp in out's integer or bool dtype.
void ew_unary_int(Unary op, const Tensor& x, const Tensor& out, const EwParams& p = {});
enum class Compare : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };
// out (bool) = a op b, both compared in dtype `dt`.
void ew_compare(Compare op, const Tensor& a, const Tensor& b, DType dt, const Tensor& out);
enum class Logical : uint8_t { And, Or, Xor };
void ew_logical(Logical op, const Tensor& a, const Tensor& b, const Tensor& out);
void ew_logical_not(const Tensor& x, const Tensor& out);
// out = cond ? a : b, with a and b taken in out's dtype.
void ew_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

// ---- implementation of for_each_run

namespace detail {
int max_threads();  // 1 inside a parallel region
// Runs body(ctx, begin, end) over [0, n) split into one chunk per thread.
void parallel_chunks(int64_t n, void* ctx, void (*body)(void* ctx, int64_t begin, int64_t end));
// Runs body(ctx, begin, end) over [0, blocks) split evenly over the threads.
void parallel_blocks(int64_t blocks, void* ctx, void (*body)(void* ctx, int64_t begin, int64_t end));
// Whether a strided loop should walk 2-D tiles: some input is strided along
// the inner dimension but denser along the next-outer one.
template <size_t N>
bool wants_tiles(const StridedLoop<N>& loop) {
  size_t nd = loop.shape.size();
  if (nd < 2 || loop.shape[nd - 1] < 16 || loop.shape[nd - 2] < 2) return false;
  for (size_t k = 1; k < N; ++k) {
    int64_t si = std::abs(loop.strides[k][nd - 1]), so = std::abs(loop.strides[k][nd - 2]);
    if (si > 1 && so < si) return true;
  }
  return false;
}
template <typename Body>
void run_chunks(int64_t n, Body& body) {
  if (n <= kGrain || max_threads() == 1) {
    body(int64_t{0}, n);
  } else {
    parallel_chunks(n, &body,
                    [](void* c, int64_t b, int64_t e) { (*static_cast<Body*>(c))(b, e); });
  }
}
}  // namespace detail

template <size_t N, typename F>
void for_each_run(const std::array<Operand, N>& ops, F&& fn) {
  const Tensor& out = *ops[0].t;
  int64_t numel = out.numel();
  if (numel == 0) return;
  std::array<int64_t, N> st{};
  st[0] = 1;
  bool simple = out.is_contiguous();
  for (size_t k = 1; k < N && simple; ++k) {
    if (ops[k].numel == 1) st[k] = 0;
    else if (ops[k].numel == numel && ops[k].t->is_contiguous()) st[k] = 1;
    else simple = false;
  }
  if (simple) {
    auto body = [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = ops[k].data + b * st[k] * ops[k].esize;
      fn(p, st, e - b);
    };
    detail::run_chunks(numel, body);
    return;
  }
  std::array<Shape, N> strides;
  strides[0] = out.strides();
  for (size_t k = 1; k < N; ++k)
    strides[k] = ops[k].t ? broadcast_strides(*ops[k].t, out.shape()) : Shape(out.dim(), 0);
  StridedLoop<N> loop(out.shape(), strides);
  int64_t inner = loop.inner();
  std::array<int64_t, N> ist = loop.inner_strides();
  if (detail::wants_tiles(loop)) {
    // NOTE: an input that is contiguous along the next-outer dimension and strided
    // along the inner one (a transpose) touches a new cache line per element.
    // Tiles of kTileRows rows x kTileCols columns use each line it loads fully.
    constexpr int64_t kTileRows = 32, kTileCols = 16;
    int64_t rows = loop.outer();
    auto tiles = [&](int64_t rb, int64_t re) {  // rows [rb, re), re - rb <= kTileRows
      std::array<std::array<int64_t, N>, kTileRows> off;
      for (int64_t r = rb; r < re; ++r) off[r - rb] = loop.offsets(r);
      for (int64_t c = 0; c < inner; c += kTileCols) {
        int64_t len = std::min(kTileCols, inner - c);
        for (int64_t r = rb; r < re; ++r) {
          std::array<char*, N> p;
          for (size_t k = 0; k < N; ++k)
            p[k] = ops[k].data + (off[r - rb][k] + c * ist[k]) * ops[k].esize;
          fn(p, ist, len);
        }
      }
    };
    auto body = [&](int64_t b, int64_t e) {  // row blocks [b, e)
      for (int64_t rb = b; rb < e; ++rb) tiles(rb * kTileRows, std::min(rows, (rb + 1) * kTileRows));
    };
    int64_t blocks = (rows + kTileRows - 1) / kTileRows;
    if (numel <= kGrain || detail::max_threads() == 1) {
      body(int64_t{0}, blocks);
    } else {
      using Body = decltype(body);
      detail::parallel_blocks(blocks, &body,
                              [](void* c, int64_t b, int64_t e) { (*static_cast<Body*>(c))(b, e); });
    }
    return;
  }
  auto body = [&](int64_t b, int64_t e) {
    while (b < e) {
      int64_t pos = b % inner, len = std::min(inner - pos, e - b);
      std::array<int64_t, N> off = loop.offsets(b / inner);
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = ops[k].data + (off[k] + pos * ist[k]) * ops[k].esize;
      fn(p, ist, len);
      b += len;
    }
  };
  detail::run_chunks(numel, body);
}

}  // namespace tandem::cpu
