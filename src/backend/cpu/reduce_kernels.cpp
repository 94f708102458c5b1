// CPU kernels of the reduction ops (src/ops/defs/reduce.cpp): each one picks a
// plan (reduce.h), then runs either the per-ISA vector kernels (float32/float64)
// or plain loops (integers and bool, which these ops rarely see in hot code).
#include <cmath>
#include <limits>

#include "reduce.h"
#include "reduce_kernels.h"

namespace tandem::cpu {
namespace {

template <typename T> const ReduceKernels<T>& kern() {
  if constexpr (std::is_same_v<T, float>) return reduce_table().f32;
  else return reduce_table().f64;
}

template <typename T> struct TypeTag { using type = T; };

// Runs f(TypeTag<T>{}) for the non-float element types (half types never reach a
// kernel: dispatch computes them in float32).
template <typename F>
void dispatch_ints(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Bool: return f(TypeTag<bool>{});
    case DType::UInt8: return f(TypeTag<uint8_t>{});
    case DType::Int8: return f(TypeTag<int8_t>{});
    case DType::Int16: return f(TypeTag<int16_t>{});
    case DType::UInt16: return f(TypeTag<uint16_t>{});
    case DType::Int32: return f(TypeTag<int32_t>{});
    case DType::Int64: return f(TypeTag<int64_t>{});
    default: TANDEM_FAIL("{}: dtype {} is not supported here", op, t);
  }
}

template <typename T> bool nan_value(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// a comes from earlier elements; NaN wins, the earlier NaN first.
template <typename T> T ext_combine(bool is_max, T a, T b) {
  if (nan_value(a)) return a;
  if (nan_value(b)) return b;
  return (is_max ? b > a : b < a) ? b : a;
}

template <typename T> ValIdx<T> arg_combine(bool is_max, ValIdx<T> a, ValIdx<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0 || nan_value(a.v)) return a;
  if (nan_value(b.v)) return b;
  return (is_max ? b.v > a.v : b.v < a.v) ? b : a;
}

// Plain loops for any element type: step(acc&, value, position).
template <typename T, typename Acc, typename Step, typename Comb, typename Fin>
struct ScalarOps {
  using in_t = T;
  using acc_t = Acc;
  Acc init;
  Step step;
  Comb comb;
  Fin fin;
  Acc identity() const { return init; }
  Acc run(const T* x, int64_t n, int64_t rs, int64_t nrows, int64_t r0, int64_t) const {
    Acc a = init;
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t i = 0; i < n; ++i) step(a, x[r * rs + i], r0 + r * n + i);
    return a;
  }
  Acc combine(Acc a, Acc b) const { return comb(a, b); }
  void rows(const T* x, int64_t rs, int64_t nrows, int64_t w, Acc* acc, int64_t r0, int64_t) const {
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t j = 0; j < w; ++j) step(acc[j], x[r * rs + j], r0 + r);
  }
  void finish(int64_t o, Acc a) const { fin(o, a); }
};
template <typename T, typename Acc, typename Step, typename Comb, typename Fin>
ScalarOps<T, Acc, Step, Comb, Fin> scalar_ops(Acc init, Step s, Comb c, Fin f) {
  return {init, s, c, f};
}

// Sums of f(x - c[o]) with the vector kernels; acc in double.
template <typename T, typename Fin>
struct VecSumOps {
  using in_t = T;
  using acc_t = double;
  int kind;
  const T* shift;  // per output, or null
  Fin fin;
  double identity() const { return 0.0; }
  double run(const T* x, int64_t n, int64_t rs, int64_t nrows, int64_t, int64_t o) const {
    return kern<T>().sum[kind](x, n, rs, nrows, shift ? shift[o] : T(0));
  }
  double combine(double a, double b) const { return a + b; }
  void rows(const T* x, int64_t rs, int64_t nrows, int64_t w, double* acc, int64_t, int64_t o0) const {
    kern<T>().sum_rows[kind](x, rs, nrows, w, shift ? shift + o0 : nullptr, acc);
  }
  void finish(int64_t o, double a) const { fin(o, a); }
};
template <typename T, typename Fin>
VecSumOps<T, Fin> vec_sum(int kind, const T* shift, Fin f) {
  return {kind, shift, f};
}

template <typename T, typename Fin>
struct VecProdOps {
  using in_t = T;
  using acc_t = double;
  Fin fin;
  double identity() const { return 1.0; }
  double run(const T* x, int64_t n, int64_t rs, int64_t nrows, int64_t, int64_t) const {
    double a = 1.0;
    for (int64_t r = 0; r < nrows; ++r) a *= kern<T>().prod(x + r * rs, n);
    return a;
  }
  double combine(double a, double b) const { return a * b; }
  void rows(const T* x, int64_t rs, int64_t nrows, int64_t w, double* acc, int64_t, int64_t) const {
    kern<T>().prod_rows(x, rs, nrows, w, acc);
  }
  void finish(int64_t o, double a) const { fin(o, a); }
};

template <typename T, typename Fin>
struct VecExtOps {
  using in_t = T;
  using acc_t = T;
  int kind;
  T init;
  Fin fin;
  T identity() const { return init; }
  T run(const T* x, int64_t n, int64_t rs, int64_t nrows, int64_t, int64_t) const {
    return kern<T>().ext[kind](x, n, rs, nrows);
  }
  T combine(T a, T b) const { return ext_combine(kind == kExtMax || kind == kExtMaxAbs, a, b); }
  void rows(const T* x, int64_t rs, int64_t nrows, int64_t w, T* acc, int64_t, int64_t) const {
    kern<T>().ext_rows[kind](x, rs, nrows, w, acc);
  }
  void finish(int64_t o, T a) const { fin(o, a); }
};
template <typename T, typename Fin>
VecExtOps<T, Fin> vec_ext(int kind, T init, Fin f) {
  return {kind, init, f};
}

template <typename T, typename Fin>
struct VecArgOps {
  using in_t = T;
  using acc_t = ValIdx<T>;
  bool is_max;
  Fin fin;
  ValIdx<T> identity() const { return {T(0), -1}; }
  ValIdx<T> run(const T* x, int64_t n, int64_t rs, int64_t nrows, int64_t r0, int64_t) const {
    ValIdx<T> acc{T(0), -1};  // plans of arg reductions have one reduced dim: nrows == 1
    for (int64_t r = 0; r < nrows; ++r) {
      int64_t i = kern<T>().arg_ext[is_max ? 0 : 1](x + r * rs, n);
      acc = arg_combine(is_max, acc, ValIdx<T>{x[r * rs + i], r0 + r * n + i});
    }
    return acc;
  }
  ValIdx<T> combine(ValIdx<T> a, ValIdx<T> b) const { return arg_combine(is_max, a, b); }
  void rows(const T* x, int64_t rs, int64_t nrows, int64_t w, ValIdx<T>* acc, int64_t r0,
            int64_t) const {
    kern<T>().arg_ext_rows[is_max ? 0 : 1](x, rs, nrows, w, r0, acc);
  }
  void finish(int64_t o, ValIdx<T> a) const { fin(o, a); }
};

bool is_vec_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

}  // namespace

void sum_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, bool mean) {
  ReducePlan p = plan_reduce(x, mask);
  const double count = static_cast<double>(p.num_red);
  if (is_vec_float(x.dtype())) {
    TANDEM_DISPATCH_FLOAT(x.dtype(), "sum", [&] {
      scalar_t* o = static_cast<scalar_t*>(out.data_ptr());
      reduce_run(p, vec_sum<scalar_t>(kSumPlain, nullptr, [=](int64_t i, double a) {
                   o[i] = static_cast<scalar_t>(mean ? a / count : a);
                 }));
    });
    return;
  }
  int64_t* o = out.data<int64_t>();
  dispatch_ints(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // NOTE: wraps around on overflow like PyTorch's int64 sum (unsigned math: no UB).
    auto addw = [](int64_t a, int64_t b) {
      return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    };
    reduce_run(p, scalar_ops<T>(
                      int64_t{0}, [=](int64_t& a, T v, int64_t) { a = addw(a, static_cast<int64_t>(v)); },
                      addw, [=](int64_t i, int64_t a) { o[i] = a; }));
  });
}

void prod_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out) {
  ReducePlan p = plan_reduce(x, mask);
  if (is_vec_float(x.dtype())) {
    TANDEM_DISPATCH_FLOAT(x.dtype(), "prod", [&] {
      using T = scalar_t;
      T* o = static_cast<T*>(out.data_ptr());
      auto fin = [=](int64_t i, double a) { o[i] = static_cast<T>(a); };
      reduce_run(p, VecProdOps<T, decltype(fin)>{fin});
    });
    return;
  }
  int64_t* o = out.data<int64_t>();
  dispatch_ints(x.dtype(), "prod", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // NOTE: wraps around on overflow like PyTorch's int64 product (unsigned math: no UB).
    auto mulw = [](int64_t a, int64_t b) {
      return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    };
    reduce_run(p, scalar_ops<T>(
                      int64_t{1}, [=](int64_t& a, T v, int64_t) { a = mulw(a, static_cast<int64_t>(v)); },
                      mulw, [=](int64_t i, int64_t a) { o[i] = a; }));
  });
}

void ext_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, bool is_max) {
  ReducePlan p = plan_reduce(x, mask);
  if (is_vec_float(x.dtype())) {
    TANDEM_DISPATCH_FLOAT(x.dtype(), "amax", [&] {
      using T = scalar_t;
      T* o = static_cast<T*>(out.data_ptr());
      T init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      reduce_run(p, vec_ext<T>(is_max ? kExtMax : kExtMin, init, [=](int64_t i, T a) { o[i] = a; }));
    });
    return;
  }
  dispatch_ints(x.dtype(), "amax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.data_ptr());
    T init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    reduce_run(p, scalar_ops<T>(
                      init, [=](T& a, T v, int64_t) { a = (is_max ? v > a : v < a) ? v : a; },
                      [=](T a, T b) { return ext_combine(is_max, a, b); },
                      [=](int64_t i, T a) { o[i] = a; }));
  });
}

void arg_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& values,
                const Tensor& indices, bool is_max) {
  ReducePlan p = plan_reduce(x, mask);
  int64_t* oi = indices.data<int64_t>();
  auto body = [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* ov = values.defined() ? static_cast<T*>(values.data_ptr()) : nullptr;
    auto fin = [=](int64_t i, ValIdx<T> a) {
      oi[i] = a.i;
      if (ov) ov[i] = a.v;
    };
    if constexpr (std::is_floating_point_v<T>) {
      reduce_run(p, VecArgOps<T, decltype(fin)>{is_max, fin});
    } else {
      reduce_run(p, scalar_ops<T>(
                        ValIdx<T>{T(0), -1},
                        [=](ValIdx<T>& a, T v, int64_t r) {
                          if (a.i < 0 || (is_max ? v > a.v : v < a.v)) a = {v, r};
                        },
                        [=](ValIdx<T> a, ValIdx<T> b) { return arg_combine(is_max, a, b); }, fin));
    }
  };
  if (x.dtype() == DType::Float32) body(TypeTag<float>{});
  else if (x.dtype() == DType::Float64) body(TypeTag<double>{});
  else dispatch_ints(x.dtype(), is_max ? "argmax" : "argmin", body);
}

void var_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out,
                int64_t correction, bool take_sqrt) {
  ReducePlan p = plan_reduce(x, mask);
  const double n = static_cast<double>(p.num_red);
  const double divisor = std::max(0.0, n - static_cast<double>(correction));
  TANDEM_DISPATCH_FLOAT(x.dtype(), "var", [&] {
    using T = scalar_t;
    // NOTE: two passes (mean, then squared deviations) for accuracy; the second
    // shifts by the mean rounded to T and removes that rounding's n*d^2 exactly.
    std::vector<double> mean(p.num_out);
    std::vector<T> shift(p.num_out);
    double* pm = mean.data();
    T* ps = shift.data();
    reduce_run(p, vec_sum<T>(kSumPlain, nullptr, [=](int64_t i, double a) {
                 pm[i] = a / n;
                 ps[i] = static_cast<T>(pm[i]);
               }));
    T* o = static_cast<T*>(out.data_ptr());
    reduce_run(p, vec_sum<T>(kSumSqDev, ps, [=](int64_t i, double a) {
                 double d = pm[i] - static_cast<double>(ps[i]);
                 double m2 = std::max(a - n * d * d, 0.0);
                 if (a != a) m2 = a;
                 double v = m2 / divisor;
                 o[i] = static_cast<T>(take_sqrt ? std::sqrt(v) : v);
               }));
  });
}

void logsumexp_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out) {
  ReducePlan p = plan_reduce(x, mask);
  TANDEM_DISPATCH_FLOAT(x.dtype(), "logsumexp", [&] {
    using T = scalar_t;
    std::vector<T> mx(p.num_out), shift(p.num_out);
    T* pm = mx.data();
    T* ps = shift.data();
    reduce_run(p, vec_ext<T>(kExtMax, -std::numeric_limits<T>::infinity(), [=](int64_t i, T a) {
                 pm[i] = a;
                 // NOTE: an infinite maximum is the answer itself; shift by 0 to keep
                 // the exp pass harmless (its result is ignored below).
                 ps[i] = std::isinf(a) ? T(0) : a;
               }));
    T* o = static_cast<T*>(out.data_ptr());
    reduce_run(p, vec_sum<T>(kSumExpDev, ps, [=](int64_t i, double a) {
                 o[i] = std::isinf(pm[i]) ? pm[i] : static_cast<T>(std::log(a) + pm[i]);
               }));
  });
}

void norm_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, double pn) {
  ReducePlan p = plan_reduce(x, mask);
  TANDEM_DISPATCH_FLOAT(x.dtype(), "norm", [&] {
    using T = scalar_t;
    T* o = static_cast<T*>(out.data_ptr());
    if (p.num_red == 0) {  // PyTorch's torch.norm: 0 for every p
      std::fill(o, o + p.num_out, T(0));
      return;
    }
    if (pn == 2.0) {
      reduce_run(p, vec_sum<T>(kSumSqDev, nullptr,
                               [=](int64_t i, double a) { o[i] = static_cast<T>(std::sqrt(a)); }));
    } else if (pn == 1.0) {
      reduce_run(p, vec_sum<T>(kSumAbs, nullptr,
                               [=](int64_t i, double a) { o[i] = static_cast<T>(a); }));
    } else if (std::isinf(pn)) {
      bool mx = pn > 0;
      reduce_run(p, vec_ext<T>(mx ? kExtMaxAbs : kExtMinAbs,
                               mx ? T(0) : std::numeric_limits<T>::infinity(),
                               [=](int64_t i, T a) { o[i] = a; }));
    } else if (pn == 0.0) {
      reduce_run(p, scalar_ops<T>(
                        0.0, [](double& a, T v, int64_t) { a += v != T(0) ? 1.0 : 0.0; },
                        [](double a, double b) { return a + b; },
                        [=](int64_t i, double a) { o[i] = static_cast<T>(a); }));
    } else {
      reduce_run(p, scalar_ops<T>(
                        0.0,
                        [=](double& a, T v, int64_t) {
                          a += std::pow(std::fabs(static_cast<double>(v)), pn);
                        },
                        [](double a, double b) { return a + b; },
                        [=](int64_t i, double a) { o[i] = static_cast<T>(std::pow(a, 1.0 / pn)); }));
    }
  });
}

void softmax_kernel(const Tensor& x_in, int64_t dim, const Tensor& out, bool log) {
  if (x_in.numel() == 0) return;
  Tensor x = dense(x_in);
  int64_t outer = 1, C = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < dim ? outer : d == dim ? C : inner) *= x.size(d);
  TANDEM_DISPATCH_FLOAT(x.dtype(), log ? "log_softmax" : "softmax", [&] {
    using T = scalar_t;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* py = static_cast<T*>(out.data_ptr());
    const auto& k = kern<T>();
    if (inner == 1) {
      parallel_for(outer, std::max<int64_t>(1, kReduceGrain / C), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) k.softmax_row(px + o * C, py + o * C, C, log);
      });
      return;
    }
    constexpr int64_t kCols = 64;
    const int64_t tiles = (inner + kCols - 1) / kCols;
    parallel_for(outer * tiles, std::max<int64_t>(1, kReduceGrain / (C * kCols)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t t = b; t < e; ++t) {
                     int64_t o = t / tiles, j0 = (t % tiles) * kCols;
                     int64_t off = o * C * inner + j0;
                     k.softmax_cols(px + off, py + off, C, inner, std::min(kCols, inner - j0), log);
                   }
                 });
  });
}

void softmax_backward_kernel(const Tensor& g_in, const Tensor& y_in, int64_t dim, const Tensor& out,
                             bool log) {
  if (out.numel() == 0) return;
  Tensor g = dense(g_in), y = dense(y_in);
  int64_t outer = 1, C = 1, inner = 1;
  for (int64_t d = 0; d < y.dim(); ++d) (d < dim ? outer : d == dim ? C : inner) *= y.size(d);
  TANDEM_DISPATCH_FLOAT(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    using T = scalar_t;
    const T* pg = static_cast<const T*>(g.data_ptr());
    const T* py = static_cast<const T*>(y.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    const auto& k = kern<T>();
    const int which = log ? 1 : 0;
    if (inner == 1) {
      parallel_for(outer, std::max<int64_t>(1, kReduceGrain / C), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) k.softmax_bwd_row[which](pg + o * C, py + o * C, po + o * C, C);
      });
      return;
    }
    constexpr int64_t kCols = 64;
    const int64_t tiles = (inner + kCols - 1) / kCols;
    parallel_for(outer * tiles, std::max<int64_t>(1, kReduceGrain / (C * kCols)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t t = b; t < e; ++t) {
                     int64_t o = t / tiles, j0 = (t % tiles) * kCols;
                     int64_t off = o * C * inner + j0;
                     k.softmax_bwd_cols[which](pg + off, py + off, po + off, C, inner,
                                               std::min(kCols, inner - j0));
                   }
                 });
  });
}

void cumsum_kernel(const Tensor& x_in, int64_t dim, const Tensor& out, bool reverse) {
  if (x_in.numel() == 0) return;
  Tensor x = dense(x_in);
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < dim ? outer : d == dim ? n : inner) *= x.size(d);
  auto run = [&](auto in_tag, auto out_tag, auto acc_tag) {
    using T = typename decltype(in_tag)::type;
    using O = typename decltype(out_tag)::type;
    using A = typename decltype(acc_tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    O* py = static_cast<O*>(out.data_ptr());
    const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
    // NOTE: float sums run in double (as PyTorch's CPU cumsum), so long
    // prefixes do not drift.
    const int64_t grain = std::max<int64_t>(1, kReduceGrain / (n * inner));
    if constexpr (std::is_floating_point_v<T>) {
      if (inner == 1) {
        const auto& k = kern<T>();
        parallel_for(outer, grain, [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) k.cumsum_row[reverse ? 1 : 0](px + o * n, py + o * n, n);
        });
        return;
      }
    }
    if (inner == 1) {
      // NOTE: one running sum is a chain of dependent adds (latency-bound); eight
      // rows at a time keep eight independent chains in flight.
      constexpr int64_t kRows = 8;
      parallel_for(outer, grain, [&](int64_t b, int64_t e) {
        int64_t o = b;
        for (; o + kRows <= e; o += kRows) {
          A acc[kRows] = {};
          const T* xr = px + o * n;
          O* yr = py + o * n;
          for (int64_t k = 0, r = first; k < n; ++k, r += step)
#pragma GCC unroll 8
            for (int64_t j = 0; j < kRows; ++j) {
              acc[j] += static_cast<A>(xr[j * n + r]);
              yr[j * n + r] = static_cast<O>(acc[j]);
            }
        }
        for (; o < e; ++o) {
          A acc = 0;
          for (int64_t k = 0, r = first; k < n; ++k, r += step) {
            acc += static_cast<A>(px[o * n + r]);
            py[o * n + r] = static_cast<O>(acc);
          }
        }
      });
      return;
    }
    // Running sums of rows: split the columns too, so that one tall block uses every thread.
    constexpr int64_t kCols = 512;
    const int64_t tiles = (inner + kCols - 1) / kCols;
    parallel_for(outer * tiles, std::max<int64_t>(1, kReduceGrain / (n * std::min(inner, kCols))),
                 [&](int64_t b, int64_t e) {
      A acc[kCols];
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / tiles, i0 = (t % tiles) * kCols, w = std::min(kCols, inner - i0);
        std::fill(acc, acc + w, A(0));
        for (int64_t k = 0, r = first; k < n; ++k, r += step) {
          const T* xr = px + (o * n + r) * inner + i0;
          O* yr = py + (o * n + r) * inner + i0;
          for (int64_t i = 0; i < w; ++i) {
            acc[i] += static_cast<A>(xr[i]);
            yr[i] = static_cast<O>(acc[i]);
          }
        }
      }
    });
  };
  if (x.dtype() == DType::Float32) run(TypeTag<float>{}, TypeTag<float>{}, TypeTag<double>{});
  else if (x.dtype() == DType::Float64) run(TypeTag<double>{}, TypeTag<double>{}, TypeTag<double>{});
  // Integer running sums wrap around on overflow, as PyTorch's do: unsigned math, no UB.
  else dispatch_ints(x.dtype(), "cumsum", [&](auto tag) { run(tag, TypeTag<int64_t>{}, TypeTag<uint64_t>{}); });
}

}  // namespace tandem::cpu
