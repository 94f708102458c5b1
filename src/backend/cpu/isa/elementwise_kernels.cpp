// Float32/float64 elementwise kernels, compiled once per ISA level (CMakeLists.txt
// builds src/backend/cpu/isa/*.cpp with -DTANDEM_ISA=baseline|avx2|avx512 and the
// matching -m flags); src/backend/cpu/elementwise.cpp picks a table at run time.
//
// Every loop is a plain loop GCC vectorizes: an op is a functor of one element
// built from vmath.h, and the loops below only choose the access pattern.
// NOTE: see vmath.h for why nothing here may use std:: inline functions.
#include "../elementwise_table.h"
#include "vmath.h"

#define TANDEM_ISA_STR2(x) #x
#define TANDEM_ISA_STR(x) TANDEM_ISA_STR2(x)

namespace tandem::cpu::TANDEM_ISA {
namespace {

using vm::fabs_;
using vm::fmadd;
using vm::sqrt_;

constexpr int64_t kBlock = 256;  // elements per gather / range-check block

// Ops whose fast formula only holds on part of the domain say so with
// `kChecked`: ok(x) marks the fast part, slow(x) computes the rest.
template <typename F, typename T>
inline T eval_checked(const F& f, T x) {
  if constexpr (F::kChecked) return f.ok(x) ? f(x) : f.slow(x);
  else return f(x);
}

// y[i] = f(x[i]) over a contiguous x (y may be x itself).
template <typename T, typename F>
inline void unary_contig(const T* x, T* y, int64_t n, const F& f) {
  if constexpr (F::kChecked) {
    for (int64_t b = 0; b < n; b += kBlock) {
      int64_t m = n - b < kBlock ? n - b : kBlock;
      const T* xb = x + b;
      T* yb = y + b;
      int bad = 0;
      for (int64_t i = 0; i < m; ++i) bad |= !f.ok(xb[i]);
      if (bad) {
        for (int64_t i = 0; i < m; ++i) yb[i] = eval_checked(f, xb[i]);
        continue;
      }
#pragma GCC ivdep
      for (int64_t i = 0; i < m; ++i) yb[i] = f(xb[i]);
    }
  } else {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  }
}

template <typename T, typename F>
inline void unary_loop(const T* x, int64_t sx, T* y, int64_t n, const F& f) {
  if (sx == 1) {
    unary_contig(x, y, n, f);
  } else if (sx == 0) {
    T v = eval_checked(f, x[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  } else {
    // Gather a block into y, then transform it in place: the math stays vectorized.
    for (int64_t b = 0; b < n; b += kBlock) {
      int64_t m = n - b < kBlock ? n - b : kBlock;
      for (int64_t i = 0; i < m; ++i) y[b + i] = x[(b + i) * sx];
      unary_contig(y + b, y + b, m, f);
    }
  }
}

template <typename T, typename F>
inline void binary_loop(const T* a, int64_t sa, const T* b, int64_t sb, T* y, int64_t n,
                        const F& f) {
  if (sa == 1 && sb == 1) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const T bv = b[0];
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const T av = a[0];
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else if (sa == 0 && sb == 0) {
    const T v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  } else {
    T ab[kBlock], bb[kBlock];
    for (int64_t s = 0; s < n; s += kBlock) {
      int64_t m = n - s < kBlock ? n - s : kBlock;
      for (int64_t i = 0; i < m; ++i) ab[i] = a[(s + i) * sa];
      for (int64_t i = 0; i < m; ++i) bb[i] = b[(s + i) * sb];
      for (int64_t i = 0; i < m; ++i) y[s + i] = f(ab[i], bb[i]);
    }
  }
}

// ---- one-input ops

#define TANDEM_UNARY_FN(Name, expr)                       \
  template <typename T>                                   \
  struct Name {                                           \
    static constexpr bool kChecked = false;               \
    explicit Name(const EwParams&) {}                     \
    TANDEM_VM_INLINE T operator()(T x) const { return expr; }              \
  };
TANDEM_UNARY_FN(NegF, -x)
TANDEM_UNARY_FN(ExpF, vm::vexp(x))
TANDEM_UNARY_FN(LogF, vm::vlog(x))
TANDEM_UNARY_FN(Log1pF, vm::vlog1p(x))
TANDEM_UNARY_FN(SqrtF, sqrt_(x))
TANDEM_UNARY_FN(RsqrtF, T(1) / sqrt_(x))
TANDEM_UNARY_FN(AbsF, fabs_(x))
TANDEM_UNARY_FN(SignF, x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)))  // NaN -> 0, as PyTorch
TANDEM_UNARY_FN(TanhF, vm::vtanh(x))
TANDEM_UNARY_FN(SigmoidF, vm::vsigmoid(x))
TANDEM_UNARY_FN(ReluF, x < T(0) ? T(0) : x)  // keeps NaN
TANDEM_UNARY_FN(SiluF, x / (T(1) + vm::vexp(-x)))
#undef TANDEM_UNARY_FN

template <typename T>
struct SinF {
  static constexpr bool kChecked = true;
  explicit SinF(const EwParams&) {}
  TANDEM_VM_INLINE bool ok(T x) const { return fabs_(x) <= vm::trig_limit<T>(); }
  TANDEM_VM_INLINE T operator()(T x) const { return vm::vsin(x); }
  T slow(T x) const {
    if constexpr (sizeof(T) == 4) return __builtin_sinf(x);
    else return __builtin_sin(x);
  }
};
template <typename T>
struct CosF {
  static constexpr bool kChecked = true;
  explicit CosF(const EwParams&) {}
  TANDEM_VM_INLINE bool ok(T x) const { return fabs_(x) <= vm::trig_limit<T>(); }
  TANDEM_VM_INLINE T operator()(T x) const { return vm::vcos(x); }
  T slow(T x) const {
    if constexpr (sizeof(T) == 4) return __builtin_cosf(x);
    else return __builtin_cos(x);
  }
};

template <typename T>
struct LeakyReluF {
  static constexpr bool kChecked = false;
  T slope;
  explicit LeakyReluF(const EwParams& p) : slope(static_cast<T>(p.p0)) {}
  TANDEM_VM_INLINE T operator()(T x) const { return x > T(0) ? x : x * slope; }
};

// Phi(x) = P(N(0,1) <= x) and, on the side, the density phi(x).
// Phi(x) and phi(x) (float32; float64 takes gelu_f64_entry below).
template <typename T>
TANDEM_VM_INLINE T normal_cdf(T x, T& pdf) {
  static_assert(sizeof(T) == 4, "float64 gelu uses its own loops");
  return vm::normal_cdf_pdf(x, pdf);
}

template <typename T>
struct GeluF {
  static constexpr bool kChecked = false;
  explicit GeluF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T x) const {
    T pdf;
    return x * normal_cdf(x, pdf);
  }
};

// gelu(x, "tanh") = x/2 (1 + tanh(y)) = x sigmoid(2y): no cancellation for x < 0.
constexpr double kGeluBeta = 0.7978845608028653558798921;  // sqrt(2/pi)
constexpr double kGeluKappa = 0.044715;
template <typename T>
struct GeluTanhF {
  static constexpr bool kChecked = false;
  explicit GeluTanhF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T x) const {
    T y = T(kGeluBeta) * fmadd(T(kGeluKappa) * x, x * x, x);
    return x / (T(1) + vm::vexp(T(-2) * y));
  }
};

template <typename T>
struct SoftplusF {
  static constexpr bool kChecked = false;
  T beta, threshold, inv_beta;
  explicit SoftplusF(const EwParams& p)
      : beta(static_cast<T>(p.p0)), threshold(static_cast<T>(p.p1)), inv_beta(T(1) / beta) {}
  TANDEM_VM_INLINE T operator()(T x) const {
    T bx = x * beta;
    return bx > threshold ? x : vm::vlog1p(vm::vexp(bx)) / beta;
  }
};

template <typename T>
struct ClampF {
  static constexpr bool kChecked = false;
  T lo, hi;
  explicit ClampF(const EwParams& p) : lo(static_cast<T>(p.p0)), hi(static_cast<T>(p.p1)) {}
  TANDEM_VM_INLINE T operator()(T x) const {
    T y = x < lo ? lo : x;  // NaN stays NaN; lo > hi gives hi, as PyTorch
    return y > hi ? hi : y;
  }
};

template <typename T>
struct HardSwishF {
  static constexpr bool kChecked = false;
  explicit HardSwishF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T x) const {
    T t = x * T(1.0 / 6) + T(0.5);
    t = t < T(0) ? T(0) : t;
    return x * (t > T(1) ? T(1) : t);
  }
};

// ---- two-input ops

#define TANDEM_BINARY_FN(Name, expr)                      \
  template <typename T>                                   \
  struct Name {                                           \
    explicit Name(const EwParams&) {}                     \
    TANDEM_VM_INLINE T operator()(T a, T b) const { return expr; }         \
  };
TANDEM_BINARY_FN(MulF, a * b)
TANDEM_BINARY_FN(DivF, a / b)
// std::min/max order (ties give a), plus NaN from either side.
TANDEM_BINARY_FN(MinimumF, b != b ? b : (b < a ? b : a))
TANDEM_BINARY_FN(MaximumF, b != b ? b : (a < b ? b : a))
TANDEM_BINARY_FN(TanhBackwardF, a * (T(1) - b * b))
TANDEM_BINARY_FN(SigmoidBackwardF, a * (T(1) - b) * b)
TANDEM_BINARY_FN(ReluBackwardF, b <= T(0) ? T(0) : a)  // as threshold_backward: NaN passes g
#undef TANDEM_BINARY_FN

template <typename T>
struct AddF {
  T alpha;
  explicit AddF(const EwParams& p) : alpha(static_cast<T>(p.alpha)) {}
  TANDEM_VM_INLINE T operator()(T a, T b) const { return a + alpha * b; }
};
template <typename T>
struct SubF {
  T alpha;
  explicit SubF(const EwParams& p) : alpha(static_cast<T>(p.alpha)) {}
  TANDEM_VM_INLINE T operator()(T a, T b) const { return a - alpha * b; }
};

template <typename T>
struct GeluBackwardF {
  explicit GeluBackwardF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T g, T x) const {
    T pdf;
    T cdf = normal_cdf(x, pdf);
    return g * fmadd(x, pdf, cdf);
  }
};

template <typename T>
struct GeluTanhBackwardF {
  explicit GeluTanhBackwardF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T g, T x) const {
    T x2 = x * x;
    T th = vm::vtanh(T(kGeluBeta) * fmadd(T(kGeluKappa) * x, x2, x));
    T left = T(0.5) * x;
    T dleft = T(0.5) * (T(1) + th);
    T dright = left * (T(1) - th * th) * T(kGeluBeta) * fmadd(T(3 * kGeluKappa), x2, T(1));
    return g * (dleft + dright);
  }
};

template <typename T>
struct SiluBackwardF {
  explicit SiluBackwardF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T g, T x) const {
    T s = T(1) / (T(1) + vm::vexp(-x));
    return g * s * fmadd(x, T(1) - s, T(1));
  }
};

template <typename T>
struct PowF {
  explicit PowF(const EwParams&) {}
  TANDEM_VM_INLINE T operator()(T a, T b) const {
    if constexpr (sizeof(T) == 4) return __builtin_powf(a, b);
    else return __builtin_pow(a, b);
  }
};

// ---- kernel entry points

template <typename T, template <typename> class F>
void unary_entry(const void* x, int64_t sx, void* y, int64_t n, const EwParams& p) {
  unary_loop(static_cast<const T*>(x), sx, static_cast<T*>(y), n, F<T>(p));
}

template <typename T, template <typename> class F>
void binary_entry(const void* a, int64_t sa, const void* b, int64_t sb, void* y, int64_t n,
                  const EwParams& p) {
  binary_loop(static_cast<const T*>(a), sa, static_cast<const T*>(b), sb, static_cast<T*>(y), n,
              F<T>(p));
}

// pow with one exponent: the exponents PyTorch special-cases get the same plain
// formulas (so pow(x, 2) is exactly x*x, pow(x, 0.5) is sqrt); the rest goes to libm.
enum class PowKind { Square, Cube, Sqrt, Rsqrt, Reciprocal, ReciprocalSquare };
template <typename T, PowKind K>
struct PowConstF {
  static constexpr bool kChecked = false;
  TANDEM_VM_INLINE T operator()(T x) const {
    if constexpr (K == PowKind::Square) return x * x;
    else if constexpr (K == PowKind::Cube) return x * x * x;
    else if constexpr (K == PowKind::Sqrt) return sqrt_(x);
    else if constexpr (K == PowKind::Rsqrt) return T(1) / sqrt_(x);
    else if constexpr (K == PowKind::Reciprocal) return T(1) / x;
    else return T(1) / (x * x);
  }
};

template <typename T>
void pow_entry(const void* av, int64_t sa, const void* bv, int64_t sb, void* yv, int64_t n,
               const EwParams& p) {
  const T* a = static_cast<const T*>(av);
  const T* b = static_cast<const T*>(bv);
  T* y = static_cast<T*>(yv);
  T e = sb == 0 ? b[0] : T(0);
  if (sb != 0) binary_loop(a, sa, b, sb, y, n, PowF<T>(p));
  else if (e == T(2)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::Square>{});
  else if (e == T(3)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::Cube>{});
  else if (e == T(0.5)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::Sqrt>{});
  else if (e == T(-0.5)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::Rsqrt>{});
  else if (e == T(-1)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::Reciprocal>{});
  else if (e == T(-2)) unary_loop(a, sa, y, n, PowConstF<T, PowKind::ReciprocalSquare>{});
  else binary_loop(a, sa, b, sb, y, n, PowF<T>(p));
}

// float64 gelu and its backward: libm's erfc is a call, which would keep the
// whole loop scalar; it gets its own pass over each block instead, and the rest
// of the formula (exp included) stays vectorized.
constexpr double kInvSqrt2 = 0.7071067811865475244008444;
constexpr double kInvSqrt2Pi = 0.3989422804014326779399461;
void gelu_f64_entry(const void* xv, int64_t sx, void* yv, int64_t n, const EwParams&) {
  const double* x = static_cast<const double*>(xv);
  double* y = static_cast<double*>(yv);
  double xb[kBlock], cdf[kBlock];
  for (int64_t s = 0; s < n; s += kBlock) {
    int64_t m = n - s < kBlock ? n - s : kBlock;
    for (int64_t i = 0; i < m; ++i) xb[i] = x[(s + i) * sx];
    for (int64_t i = 0; i < m; ++i) cdf[i] = 0.5 * __builtin_erfc(-xb[i] * kInvSqrt2);
    for (int64_t i = 0; i < m; ++i) y[s + i] = xb[i] * cdf[i];
  }
}
void gelu_backward_f64_entry(const void* gv, int64_t sg, const void* xv, int64_t sx, void* yv,
                             int64_t n, const EwParams&) {
  const double* g = static_cast<const double*>(gv);
  const double* x = static_cast<const double*>(xv);
  double* y = static_cast<double*>(yv);
  double gb[kBlock], xb[kBlock], cdf[kBlock];
  for (int64_t s = 0; s < n; s += kBlock) {
    int64_t m = n - s < kBlock ? n - s : kBlock;
    for (int64_t i = 0; i < m; ++i) gb[i] = g[(s + i) * sg];
    for (int64_t i = 0; i < m; ++i) xb[i] = x[(s + i) * sx];
    for (int64_t i = 0; i < m; ++i) cdf[i] = 0.5 * __builtin_erfc(-xb[i] * kInvSqrt2);
    for (int64_t i = 0; i < m; ++i) {
      double pdf = vm::vexp(-0.5 * xb[i] * xb[i]) * kInvSqrt2Pi;
      y[s + i] = gb[i] * fmadd(xb[i], pdf, cdf[i]);
    }
  }
}

constexpr IsaKernels make_table() {
  IsaKernels t{};
  t.name = TANDEM_ISA_STR(TANDEM_ISA);
  auto u = [&](Unary op, UnaryKernel f32, UnaryKernel f64) {
    t.unary[static_cast<int>(op)][0] = f32;
    t.unary[static_cast<int>(op)][1] = f64;
  };
  auto b = [&](Binary op, BinaryKernel f32, BinaryKernel f64) {
    t.binary[static_cast<int>(op)][0] = f32;
    t.binary[static_cast<int>(op)][1] = f64;
  };
#define TANDEM_U(op, F) u(Unary::op, unary_entry<float, F>, unary_entry<double, F>)
#define TANDEM_B(op, F) b(Binary::op, binary_entry<float, F>, binary_entry<double, F>)
  TANDEM_U(Neg, NegF);
  TANDEM_U(Exp, ExpF);
  TANDEM_U(Log, LogF);
  TANDEM_U(Log1p, Log1pF);
  TANDEM_U(Sqrt, SqrtF);
  TANDEM_U(Rsqrt, RsqrtF);
  TANDEM_U(Abs, AbsF);
  TANDEM_U(Sign, SignF);
  TANDEM_U(Sin, SinF);
  TANDEM_U(Cos, CosF);
  TANDEM_U(Tanh, TanhF);
  TANDEM_U(Sigmoid, SigmoidF);
  TANDEM_U(Relu, ReluF);
  TANDEM_U(LeakyRelu, LeakyReluF);
  u(Unary::Gelu, unary_entry<float, GeluF>, gelu_f64_entry);
  TANDEM_U(GeluTanh, GeluTanhF);
  TANDEM_U(Silu, SiluF);
  TANDEM_U(Softplus, SoftplusF);
  TANDEM_U(Clamp, ClampF);
  TANDEM_U(HardSwish, HardSwishF);
  TANDEM_B(Add, AddF);
  TANDEM_B(Sub, SubF);
  TANDEM_B(Mul, MulF);
  TANDEM_B(Div, DivF);
  b(Binary::Pow, pow_entry<float>, pow_entry<double>);
  TANDEM_B(Minimum, MinimumF);
  TANDEM_B(Maximum, MaximumF);
  TANDEM_B(TanhBackward, TanhBackwardF);
  TANDEM_B(SigmoidBackward, SigmoidBackwardF);
  TANDEM_B(ReluBackward, ReluBackwardF);
  b(Binary::GeluBackward, binary_entry<float, GeluBackwardF>, gelu_backward_f64_entry);
  TANDEM_B(GeluTanhBackward, GeluTanhBackwardF);
  TANDEM_B(SiluBackward, SiluBackwardF);
#undef TANDEM_U
#undef TANDEM_B
  return t;
}

constexpr IsaKernels kTable = make_table();

}  // namespace

const IsaKernels& kernel_table() { return kTable; }

}  // namespace tandem::cpu::TANDEM_ISA
