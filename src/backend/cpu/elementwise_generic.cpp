// Elementwise kernels for integer and bool dtypes, comparisons, logical ops and
// where: plain templated loops (the float math lives in isa/ per ISA level).
#include <limits>
#include <type_traits>

#include "elementwise.h"

namespace tandem::cpu {
namespace {

// out[i] = f(a[i], b[i]) with the run's strides; the contiguous and scalar
// cases get their own loops so the compiler can vectorize them.
template <typename O, typename A, typename B, typename F>
inline void binary_run(const std::array<char*, 3>& p, const std::array<int64_t, 3>& st, int64_t n,
                       F f) {
  O* o = reinterpret_cast<O*>(p[0]);
  const A* a = reinterpret_cast<const A*>(p[1]);
  const B* b = reinterpret_cast<const B*>(p[2]);
  if (st[1] == 1 && st[2] == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (st[1] == 1 && st[2] == 0) {
    const B bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (st[1] == 0 && st[2] == 1) {
    const A av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * st[1]], b[i * st[2]]);
  }
}

template <typename O, typename A, typename F>
inline void unary_run(const std::array<char*, 2>& p, const std::array<int64_t, 2>& st, int64_t n,
                      F f) {
  O* o = reinterpret_cast<O*>(p[0]);
  const A* a = reinterpret_cast<const A*>(p[1]);
  if (st[1] == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * st[1]]);
  }
}

// NOTE: signed overflow is undefined in C++ but wraps in PyTorch: do integer
// arithmetic in the unsigned type (C++20 converts back modulo 2^n). Types narrower
// than int use unsigned int: a uint16_t product would promote to (signed) int and overflow.
template <typename T>
using Unsigned = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
template <typename T> T wrap_add(T a, T b) { return static_cast<T>(Unsigned<T>(a) + Unsigned<T>(b)); }
template <typename T> T wrap_sub(T a, T b) { return static_cast<T>(Unsigned<T>(a) - Unsigned<T>(b)); }
template <typename T> T wrap_mul(T a, T b) { return static_cast<T>(Unsigned<T>(a) * Unsigned<T>(b)); }

// Integer power by squaring; negative exponents follow PyTorch's tensor rule
// (1 -> 1, -1 -> +-1, everything else -> 0).
template <typename T>
T int_pow(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp & 1) ? T(-1) : T(1);
      return 0;
    }
  }
  T result = 1;
  while (exp) {
    if (exp & 1) result = wrap_mul(result, base);
    exp = static_cast<T>(exp >> 1);
    base = wrap_mul(base, base);
  }
  return result;
}

template <typename T>
void int_binary(Binary op, const std::array<Operand, 3>& ops, const EwParams& prm) {
  auto run = [&](auto f) {
    for_each_run(ops, [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& st,
                          int64_t n) { binary_run<T, T, T>(p, st, n, f); });
  };
  if constexpr (std::is_same_v<T, bool>) {
    bool alpha = prm.alpha != 0.0;
    switch (op) {
      case Binary::Add: return run([alpha](bool a, bool b) { return a || (alpha && b); });
      case Binary::Mul: return run([](bool a, bool b) { return a && b; });
      case Binary::Minimum: return run([](bool a, bool b) { return a && b; });
      case Binary::Maximum: return run([](bool a, bool b) { return a || b; });
      case Binary::Pow: return run([](bool a, bool b) { return a || !b; });
      default: break;
    }
  } else {
    T alpha = static_cast<T>(static_cast<int64_t>(prm.alpha));
    switch (op) {
      case Binary::Add:
        if (alpha == 1) return run([](T a, T b) { return wrap_add(a, b); });
        return run([alpha](T a, T b) { return wrap_add(a, wrap_mul(alpha, b)); });
      case Binary::Sub:
        if (alpha == 1) return run([](T a, T b) { return wrap_sub(a, b); });
        return run([alpha](T a, T b) { return wrap_sub(a, wrap_mul(alpha, b)); });
      case Binary::Mul: return run([](T a, T b) { return wrap_mul(a, b); });
      case Binary::Pow: return run([](T a, T b) { return int_pow(a, b); });
      case Binary::Minimum: return run([](T a, T b) { return b < a ? b : a; });
      case Binary::Maximum: return run([](T a, T b) { return a < b ? b : a; });
      default: break;
    }
  }
  TANDEM_FAIL("internal: integer kernel for binary op {} is missing", static_cast<int>(op));
}

template <typename T>
void int_unary(Unary op, const std::array<Operand, 2>& ops, const EwParams& prm) {
  auto run = [&](auto f) {
    for_each_run(ops, [&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& st,
                          int64_t n) { unary_run<T, T>(p, st, n, f); });
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (op == Unary::Sign) return run([](bool x) { return x; });
  } else {
    switch (op) {
      case Unary::Neg: return run([](T x) { return wrap_sub(T(0), x); });
      case Unary::Abs: return run([](T x) { return x < T(0) ? wrap_sub(T(0), x) : x; });
      case Unary::Sign: return run([](T x) { return static_cast<T>((x > T(0)) - (x < T(0))); });
      case Unary::Relu: return run([](T x) { return x < T(0) ? T(0) : x; });
      case Unary::Clamp: {
        // Bounds were checked to fit T (infer); +-inf means "no bound".
        T lo = prm.p0 < static_cast<double>(std::numeric_limits<T>::lowest())
                   ? std::numeric_limits<T>::lowest() : static_cast<T>(prm.p0);
        T hi = prm.p1 > static_cast<double>(std::numeric_limits<T>::max())
                   ? std::numeric_limits<T>::max() : static_cast<T>(prm.p1);
        return run([lo, hi](T x) {
          T y = x < lo ? lo : x;
          return y > hi ? hi : y;
        });
      }
      default: break;
    }
  }
  TANDEM_FAIL("internal: integer kernel for unary op {} is missing", static_cast<int>(op));
}

}  // namespace

void ew_binary_int(Binary op, const Tensor& a, const Tensor& b, const Tensor& out,
                   const EwParams& p) {
  ScalarBuf ba, bb;
  Tensor ka, kb;
  std::array<Operand, 3> ops{Operand::of(out), prepare_input(a, out.dtype(), out, ba, ka),
                             prepare_input(b, out.dtype(), out, bb, kb)};
  switch (out.dtype()) {
    case DType::Bool: return int_binary<bool>(op, ops, p);
    case DType::UInt8: return int_binary<uint8_t>(op, ops, p);
    case DType::Int8: return int_binary<int8_t>(op, ops, p);
    case DType::Int16: return int_binary<int16_t>(op, ops, p);
    case DType::UInt16: return int_binary<uint16_t>(op, ops, p);
    case DType::Int32: return int_binary<int32_t>(op, ops, p);
    case DType::Int64: return int_binary<int64_t>(op, ops, p);
    default: TANDEM_FAIL("internal: integer kernel called with dtype {}", out.dtype());
  }
}

void ew_unary_int(Unary op, const Tensor& x, const Tensor& out, const EwParams& p) {
  ScalarBuf buf;
  Tensor keep;
  std::array<Operand, 2> ops{Operand::of(out), prepare_input(x, out.dtype(), out, buf, keep)};
  switch (out.dtype()) {
    case DType::Bool: return int_unary<bool>(op, ops, p);
    case DType::UInt8: return int_unary<uint8_t>(op, ops, p);
    case DType::Int8: return int_unary<int8_t>(op, ops, p);
    case DType::Int16: return int_unary<int16_t>(op, ops, p);
    case DType::UInt16: return int_unary<uint16_t>(op, ops, p);
    case DType::Int32: return int_unary<int32_t>(op, ops, p);
    case DType::Int64: return int_unary<int64_t>(op, ops, p);
    default: TANDEM_FAIL("internal: integer kernel called with dtype {}", out.dtype());
  }
}

void ew_compare(Compare op, const Tensor& a, const Tensor& b, DType dt, const Tensor& out) {
  ScalarBuf ba, bb;
  Tensor ka, kb;
  std::array<Operand, 3> ops{Operand::of(out), prepare_input(a, dt, out, ba, ka),
                             prepare_input(b, dt, out, bb, kb)};
  TANDEM_DISPATCH_ALL(dt, "compare", [&] {
    using T = scalar_t;
    // 16-bit floats compare through float (they are storage types).
    using C = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;
    auto run = [&](auto f) {
      for_each_run(ops, [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& st,
                            int64_t n) {
        binary_run<bool, T, T>(p, st, n, [f](T x, T y) { return f(C(x), C(y)); });
      });
    };
    switch (op) {
      case Compare::Eq: return run([](C x, C y) { return x == y; });
      case Compare::Ne: return run([](C x, C y) { return x != y; });
      case Compare::Lt: return run([](C x, C y) { return x < y; });
      case Compare::Le: return run([](C x, C y) { return x <= y; });
      case Compare::Gt: return run([](C x, C y) { return x > y; });
      case Compare::Ge: return run([](C x, C y) { return x >= y; });
    }
  });
}

void ew_logical(Logical op, const Tensor& a, const Tensor& b, const Tensor& out) {
  ScalarBuf ba, bb;
  Tensor ka, kb;
  std::array<Operand, 3> ops{Operand::of(out), prepare_input(a, DType::Bool, out, ba, ka),
                             prepare_input(b, DType::Bool, out, bb, kb)};
  auto run = [&](auto f) {
    for_each_run(ops, [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& st,
                          int64_t n) { binary_run<bool, bool, bool>(p, st, n, f); });
  };
  switch (op) {
    case Logical::And: return run([](bool x, bool y) { return x && y; });
    case Logical::Or: return run([](bool x, bool y) { return x || y; });
    case Logical::Xor: return run([](bool x, bool y) { return x != y; });
  }
}

void ew_logical_not(const Tensor& x, const Tensor& out) {
  ScalarBuf buf;
  Tensor keep;
  std::array<Operand, 2> ops{Operand::of(out), prepare_input(x, DType::Bool, out, buf, keep)};
  for_each_run(ops, [&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& st,
                        int64_t n) { unary_run<bool, bool>(p, st, n, [](bool v) { return !v; }); });
}

void ew_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  ScalarBuf bc, ba, bb;
  Tensor kc, ka, kb;
  std::array<Operand, 4> ops{Operand::of(out), prepare_input(cond, DType::Bool, out, bc, kc),
                             prepare_input(a, out.dtype(), out, ba, ka),
                             prepare_input(b, out.dtype(), out, bb, kb)};
  TANDEM_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = scalar_t;
    for_each_run(ops, [&](const std::array<char*, 4>& p, const std::array<int64_t, 4>& st,
                          int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      // NOTE: bool read as bytes: GCC vectorizes a byte mask, not a bool one.
      const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
      const T* x = reinterpret_cast<const T*>(p[2]);
      const T* y = reinterpret_cast<const T*>(p[3]);
      if (st[1] == 1 && st[2] == 1 && st[3] == 1) {
        // NOTE: both values are loaded unconditionally: a select the compiler
        // can vectorize instead of an unpredictable branch per element.
        for (int64_t i = 0; i < n; ++i) {
          T xv = x[i], yv = y[i];
          o[i] = c[i] != 0 ? xv : yv;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) o[i] = c[i * st[1]] != 0 ? x[i * st[2]] : y[i * st[3]];
      }
    });
  });
}

}  // namespace tandem::cpu
