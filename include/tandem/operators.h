// C++ numbers next to tensors, and the logical operators on bool tensors, as PyTorch users
// write them:
//
//   Tensor mask = (x > 0) & (x != 1);      // bool; also 0 < x, x == 0.5, ~mask, mask ^ true
//   Tensor y = xi * 2 + 1;                 // an int64 tensor stays int64 (like PyTorch)
//   x *= 0.5;  xi += 1;                    // in place
//   Tensor r = where(x > 0, x, 0);         // also pow(2, xi), pow(xi, 2)
//
// A number is wrapped with wrap_scalar (ops.h): bool stays bool, any integer becomes an int64
// "wrapped number", any floating type a float64 one; wrapped numbers have the lowest
// priority in type promotion, so `int_tensor + 1` is int64, `int_tensor > 0.5` compares in
// float32 and `float32_tensor == 0.1` compares in float32 (PyTorch's Python scalars).
// ops.h declares the tensor-tensor operators and `Tensor op double`; the templates here take
// every arithmetic type as an exact match, so `x + 1` does not go through double.
#pragma once
#include <cstdint>
#include <type_traits>

#include "tandem/ops.h"

namespace tandem {

// A C++ number usable next to a tensor.
template <typename T>
concept Number = std::is_arithmetic_v<T>;

template <Number T>
Tensor wrap_number(T v) {
  if constexpr (std::is_same_v<T, bool>) return wrap_scalar(static_cast<bool>(v));
  else if constexpr (std::is_integral_v<T>) return wrap_scalar(static_cast<int64_t>(v));
  else return wrap_scalar(static_cast<double>(v));
}

// On bool tensors: logical and, or, xor, not (PyTorch's meaning for bool). Other dtypes are
// an Error: tandem has no bitwise integer ops (compare first: `(x > 0) & (y > 0)`).
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& x);

#define TANDEM_NUMBER_OPERATOR(sym, fn)                                        \
  template <Number T>                                                          \
  Tensor operator sym(const Tensor& a, T b) { return fn(a, wrap_number(b)); }  \
  template <Number T>                                                          \
  Tensor operator sym(T a, const Tensor& b) { return fn(wrap_number(a), b); }
TANDEM_NUMBER_OPERATOR(+, add)
TANDEM_NUMBER_OPERATOR(-, sub)
TANDEM_NUMBER_OPERATOR(*, mul)
TANDEM_NUMBER_OPERATOR(/, div)
TANDEM_NUMBER_OPERATOR(==, eq)
TANDEM_NUMBER_OPERATOR(!=, ne)
TANDEM_NUMBER_OPERATOR(<, lt)
TANDEM_NUMBER_OPERATOR(<=, le)
TANDEM_NUMBER_OPERATOR(>, gt)
TANDEM_NUMBER_OPERATOR(>=, ge)
TANDEM_NUMBER_OPERATOR(&, operator&)
TANDEM_NUMBER_OPERATOR(|, operator|)
TANDEM_NUMBER_OPERATOR(^, operator^)
#undef TANDEM_NUMBER_OPERATOR

// where and pow with numbers: `where(x > 0, x, 0)`, `pow(2, xi)` (int64), `pow(xi, 2)` (int64).
template <Number T>
Tensor where(const Tensor& cond, const Tensor& a, T b) { return where(cond, a, wrap_number(b)); }
template <Number T>
Tensor where(const Tensor& cond, T a, const Tensor& b) { return where(cond, wrap_number(a), b); }
// Two numbers: floats give the default float type (float32), as PyTorch's where does.
template <Number A, Number B>
Tensor where(const Tensor& cond, A a, B b) {
  Tensor r = where(cond, wrap_number(a), wrap_number(b));
  if (r.dtype() == DType::Float64) r = r.to(DType::Float32);
  return r;
}
template <Number T>
Tensor pow(const Tensor& base, T exponent) { return pow(base, wrap_number(exponent)); }
template <Number T>
Tensor pow(T base, const Tensor& exponent) { return pow(wrap_number(base), exponent); }

// In place (bumps the version counter). An integer keeps an integer tensor integer; a
// float into an integer tensor is an Error (PyTorch: "result type Float can't be cast").
template <Number T>
Tensor& operator+=(Tensor& a, T v) { return a.add_(wrap_number(v)); }
template <Number T>
Tensor& operator-=(Tensor& a, T v) { return a.sub_(wrap_number(v)); }
template <Number T>
Tensor& operator*=(Tensor& a, T v) { return a.mul_(wrap_number(v)); }
template <Number T>
Tensor& operator/=(Tensor& a, T v) { return a.div_(wrap_number(v)); }

}  // namespace tandem
