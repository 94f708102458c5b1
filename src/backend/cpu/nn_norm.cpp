// Normalization kernels (see nn_kernels.h for the formulas).
//
// NOTE: statistics are two-pass (mean, then the sum of squared deviations from it),
// accumulated in double across blocks: one-pass E[x^2] - E[x]^2 loses every digit
// when |mean| >> std. The backward sums use (x - mean) directly for the same reason.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/loops.h"
#include "backend/cpu/nn_kernels.h"
#include "backend/cpu/nn_simd.h"

namespace tandem::cpu {
namespace {

using namespace nn_simd;

// Rows (or blocks) per parallel chunk: ~32K elements of work each.
int64_t row_grain(int64_t row_elems) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(row_elems, 1)); }

// ---- layer norm rows

template <typename T>
TANDEM_NN_INLINE void ln_fwd_row_impl(const T* x, const T* w, const T* b, T* y, int64_t D,
                                      double eps, T* mean_out, T* rstd_out) {
  const double mu = sum_run(x, D) / static_cast<double>(D);
  const double var = sum_sqdev_run(x, D, static_cast<T>(mu)) / static_cast<double>(D);
  const double r = 1.0 / std::sqrt(var + eps);
  *mean_out = static_cast<T>(mu);
  *rstd_out = static_cast<T>(r);
  const T m = static_cast<T>(mu), rs = static_cast<T>(r);
  if (w && b) {
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) * rs * w[i] + b[i];
  } else if (w) {
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) * rs * w[i];
  } else if (b) {
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) * rs + b[i];
  } else {
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) * rs;
  }
}
template <typename T>
void ln_fwd_row(const T* x, const T* w, const T* b, T* y, int64_t D, double eps, T* mean, T* rstd) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { ln_fwd_row_impl(x, w, b, y, D, eps, mean, rstd); });
}

// One row of the layer-norm backward. Adds gy*xhat and gy to the column partials
// gwp, gbp (when not null) and writes gx (when not null).
template <typename T, bool kW, bool kCols>
TANDEM_NN_INLINE void ln_bwd_row_impl(const T* gy, const T* x, const T* w, T mean, T rstd,
                                      T gmean, T grstd, T* gx, T* gwp, T* gbp, int64_t D) {
  // sum(w*gy) and sum(w*gy*(x - mean)), with the column partials in the same sweep.
  double sa = 0, sax = 0;
  block_sum2<T>(
      D,
      [&](int64_t i, Vec<T>& a, Vec<T>& ax) TANDEM_NN_LAMBDA {
        Vec<T> g = vload(gy + i), d = vload(x + i) - mean;
        Vec<T> gw = g;
        if constexpr (kW) gw = g * vload(w + i);
        a += gw;
        ax += gw * d;
        if constexpr (kCols) {
          vstore(gwp + i, vload(gwp + i) + g * d * rstd);
          vstore(gbp + i, vload(gbp + i) + g);
        }
      },
      [&](int64_t i, double& a, double& ax) TANDEM_NN_LAMBDA {
        T g = gy[i], d = x[i] - mean;
        T gw = kW ? g * w[i] : g;
        a += static_cast<double>(gw);
        ax += static_cast<double>(gw * d);
        if constexpr (kCols) {
          gwp[i] += g * d * rstd;
          gbp[i] += g;
        }
      },
      &sa, &sax);
  if (!gx) return;
  const double M = static_cast<double>(D), r = rstd;
  const T c1 = static_cast<T>((static_cast<double>(gmean) - r * sa) / M);
  const T c2 = static_cast<T>(-r * r * r * (sax + static_cast<double>(grstd)) / M);
  for (int64_t i = 0; i < D; ++i) {
    T gw = kW ? gy[i] * w[i] : gy[i];
    gx[i] = rstd * gw + c1 + c2 * (x[i] - mean);
  }
}
template <typename T>
void ln_bwd_row(const T* gy, const T* x, const T* w, T mean, T rstd, T gmean, T grstd, T* gx,
                T* gwp, T* gbp, int64_t D) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA {
    if (w && gwp) ln_bwd_row_impl<T, true, true>(gy, x, w, mean, rstd, gmean, grstd, gx, gwp, gbp, D);
    else if (w) ln_bwd_row_impl<T, true, false>(gy, x, w, mean, rstd, gmean, grstd, gx, gwp, gbp, D);
    else if (gwp) ln_bwd_row_impl<T, false, true>(gy, x, w, mean, rstd, gmean, grstd, gx, gwp, gbp, D);
    else ln_bwd_row_impl<T, false, false>(gy, x, w, mean, rstd, gmean, grstd, gx, gwp, gbp, D);
  });
}

// ---- runs (channel slices of [N, C, S])

template <typename T>
double run_sum(const T* x, int64_t n) {
  return nn_isa_run([&]() TANDEM_NN_LAMBDA { return sum_run(x, n); });
}
template <typename T>
double run_sqdev(const T* x, int64_t n, T c) {
  return nn_isa_run([&]() TANDEM_NN_LAMBDA { return sum_sqdev_run(x, n, c); });
}
template <typename T>
void run_dot(const T* g, const T* x, int64_t n, T c, double* sg, double* sgx) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { dot_run(g, x, n, c, sg, sgx); });
}
// y = x*a + c over a run.
template <typename T> TANDEM_NN_INLINE void axpc_impl(const T* x, T a, T c, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + c;
}
template <typename T>
void run_axpc(const T* x, T a, T c, T* y, int64_t n) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { axpc_impl(x, a, c, y, n); });
}
// gx = k*g + c1 + c2*(x - m) over a run.
template <typename T>
TANDEM_NN_INLINE void gx_impl(const T* g, const T* x, T k, T c1, T c2, T m, T* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = k * g[i] + c1 + c2 * (x[i] - m);
}
template <typename T>
void run_gx(const T* g, const T* x, T k, T c1, T c2, T m, T* gx, int64_t n) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { gx_impl(g, x, k, c1, c2, m, gx, n); });
}

// The gx coefficients of nn_kernels.h for one statistic: gx = k*gy + c1 + c2*(x - mean),
// k = rstd*w, given sa = sum(w*gy), sax = sum(w*gy*(x - mean)) over its M elements.
template <typename T> struct GxCoef {
  T c1, c2;
};
template <typename T>
GxCoef<T> gx_coef(double sa, double sax, double M, double rstd, double gmean, double grstd) {
  return {static_cast<T>((gmean - rstd * sa) / M),
          static_cast<T>(-rstd * rstd * rstd * (sax + grstd) / M)};
}

}  // namespace

template <typename T>
void layer_norm_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                    int64_t D, double eps) {
  parallel_for(rows, row_grain(D), [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r)
      ln_fwd_row(x + r * D, w, b, y + r * D, D, eps, mean + r, rstd + r);
  });
}

template <typename T>
void layer_norm_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                    const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t rows, int64_t D) {
  const bool cols = gw || gb;
  // Column sums (gw, gb) go to one partial buffer per chunk of rows, added up at the end
  // (a fixed chunking, so results depend on the thread count only).
  const int64_t grain = row_grain(D);
  const int64_t chunks = rows > grain ? std::min<int64_t>(rows, omp_get_max_threads()) : 1;
  std::vector<T> partial(cols ? static_cast<size_t>(chunks * 2 * D) : 0, T(0));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      T* gwp = cols ? partial.data() + ch * 2 * D : nullptr;
      T* gbp = cols ? gwp + D : nullptr;
      for (int64_t r = rows * ch / chunks; r < rows * (ch + 1) / chunks; ++r)
        ln_bwd_row(gy + r * D, x + r * D, w, mean[r], rstd[r], gmean ? gmean[r] : T(0),
                   grstd ? grstd[r] : T(0), gx ? gx + r * D : nullptr, gwp, gbp, D);
    }
  });
  if (!cols) return;
  for (int64_t i = 0; i < D; ++i) {
    T sw = 0, sb = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      sw += partial[ch * 2 * D + i];
      sb += partial[ch * 2 * D + D + i];
    }
    if (gw) gw[i] = sw;
    if (gb) gb[i] = sb;
  }
}

template <typename T>
void group_norm_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t N,
                    int64_t C, int64_t S, int64_t G, double eps) {
  const int64_t Cg = C / G, M = Cg * S;
  parallel_for(N * G, row_grain(M), [&](int64_t s, int64_t e) {
    for (int64_t k = s; k < e; ++k) {
      const T* xk = x + k * M;
      const double mu = run_sum(xk, M) / static_cast<double>(M);
      const double var = run_sqdev(xk, M, static_cast<T>(mu)) / static_cast<double>(M);
      const double r = 1.0 / std::sqrt(var + eps);
      mean[k] = static_cast<T>(mu);
      rstd[k] = static_cast<T>(r);
      const int64_t c0 = (k % G) * Cg;
      for (int64_t c = 0; c < Cg; ++c) {
        double a = r * (w ? static_cast<double>(w[c0 + c]) : 1.0);
        double sh = (b ? static_cast<double>(b[c0 + c]) : 0.0) - mu * a;
        run_axpc(xk + c * S, static_cast<T>(a), static_cast<T>(sh), y + k * M + c * S, S);
      }
    }
  });
}

template <typename T>
void group_norm_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                    const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t N, int64_t C,
                    int64_t S, int64_t G) {
  const int64_t Cg = C / G, M = Cg * S;
  // Per (n, c): sum(gy) and sum(gy * (x - mean)); gw and gb add them up over n.
  std::vector<double> db(N * C), dot(N * C);
  parallel_for(N * G, row_grain(M), [&](int64_t s, int64_t e) {
    for (int64_t k = s; k < e; ++k) {
      const int64_t n = k / G, c0 = (k % G) * Cg;
      const T m = mean[k];
      double sa = 0, sax = 0;
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t off = k * M + c * S;
        double g1, g2;
        run_dot(gy + off, x + off, S, m, &g1, &g2);
        db[n * C + c0 + c] = g1;
        dot[n * C + c0 + c] = g2;
        double wc = w ? static_cast<double>(w[c0 + c]) : 1.0;
        sa += wc * g1;
        sax += wc * g2;
      }
      if (!gx) continue;
      const double r = rstd[k];
      GxCoef<T> cf = gx_coef<T>(sa, sax, static_cast<double>(M), r, gmean ? gmean[k] : 0.0,
                                grstd ? grstd[k] : 0.0);
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t off = k * M + c * S;
        T kc = static_cast<T>(r * (w ? static_cast<double>(w[c0 + c]) : 1.0));
        run_gx(gy + off, x + off, kc, cf.c1, cf.c2, m, gx + off, S);
      }
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sw += static_cast<double>(rstd[n * G + c / Cg]) * dot[n * C + c];
      sb += db[n * C + c];
    }
    if (gw) gw[c] = static_cast<T>(sw);
    if (gb) gb[c] = static_cast<T>(sb);
  }
}

template <typename T>
void batch_norm_train_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                          T* var_unbiased, int64_t N, int64_t C, int64_t S, double eps) {
  const int64_t M = N * S;
  auto finish = [&](int64_t c, double mu, double ssd) {
    const double var = ssd / static_cast<double>(M);
    mean[c] = static_cast<T>(mu);
    rstd[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
    var_unbiased[c] = M > 1 ? static_cast<T>(ssd / static_cast<double>(M - 1))
                            : std::numeric_limits<T>::quiet_NaN();
  };
  if (S == 1) {
    // [N, C]: a channel is a column; sweep rows so the inner loop is contiguous.
    parallel_for(C, std::max<int64_t>(16, row_grain(N)), [&](int64_t c0, int64_t c1) {
      const int64_t nc = c1 - c0;
      std::vector<double> s(nc, 0.0), q(nc, 0.0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < nc; ++c) s[c] += static_cast<double>(x[n * C + c0 + c]);
      for (int64_t c = 0; c < nc; ++c) s[c] /= static_cast<double>(M);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < nc; ++c) {
          double d = static_cast<double>(x[n * C + c0 + c]) - s[c];
          q[c] += d * d;
        }
      for (int64_t c = 0; c < nc; ++c) finish(c0 + c, s[c], q[c]);
    });
  } else {
    parallel_for(C, std::max<int64_t>(1, row_grain(M)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < N; ++n) s += run_sum(x + (n * C + c) * S, S);
        const double mu = s / static_cast<double>(M);
        for (int64_t n = 0; n < N; ++n) q += run_sqdev(x + (n * C + c) * S, S, static_cast<T>(mu));
        finish(c, mu, q);
      }
    });
  }
  std::vector<T> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    double a = static_cast<double>(rstd[c]) * (w ? static_cast<double>(w[c]) : 1.0);
    scale[c] = static_cast<T>(a);
    shift[c] = static_cast<T>((b ? static_cast<double>(b[c]) : 0.0) - static_cast<double>(mean[c]) * a);
  }
  channel_affine(x, scale.data(), shift.data(), y, N, C, S);
}

template <typename T>
void batch_norm_train_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                          const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t N,
                          int64_t C, int64_t S) {
  const int64_t M = N * S;
  std::vector<double> db(C, 0.0), dot(C, 0.0);
  if (S == 1) {
    parallel_for(C, std::max<int64_t>(16, row_grain(N)), [&](int64_t c0, int64_t c1) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = c0; c < c1; ++c) {
          double g = static_cast<double>(gy[n * C + c]);
          db[c] += g;
          dot[c] += g * (static_cast<double>(x[n * C + c]) - static_cast<double>(mean[c]));
        }
    });
  } else {
    parallel_for(C, std::max<int64_t>(1, row_grain(M)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n) {
          double g1, g2;
          run_dot(gy + (n * C + c) * S, x + (n * C + c) * S, S, mean[c], &g1, &g2);
          db[c] += g1;
          dot[c] += g2;
        }
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    if (gw) gw[c] = static_cast<T>(static_cast<double>(rstd[c]) * dot[c]);
    if (gb) gb[c] = static_cast<T>(db[c]);
  }
  if (!gx) return;
  std::vector<T> k(C), c1(C), c2(C);
  for (int64_t c = 0; c < C; ++c) {
    double wc = w ? static_cast<double>(w[c]) : 1.0, r = rstd[c];
    GxCoef<T> cf = gx_coef<T>(wc * db[c], wc * dot[c], static_cast<double>(M), r,
                              gmean ? gmean[c] : 0.0, grstd ? grstd[c] : 0.0);
    k[c] = static_cast<T>(r * wc);
    c1[c] = cf.c1;
    c2[c] = cf.c2;
  }
  parallel_for(N * C, row_grain(S), [&](int64_t s, int64_t e) {
    for (int64_t nc = s; nc < e; ++nc) {
      int64_t c = nc % C;
      run_gx(gy + nc * S, x + nc * S, k[c], c1[c], c2[c], mean[c], gx + nc * S, S);
    }
  });
}

template <typename T>
void channel_affine(const T* x, const T* scale, const T* shift, T* y, int64_t N, int64_t C,
                    int64_t S) {
  parallel_for(N * C, row_grain(S), [&](int64_t s, int64_t e) {
    for (int64_t nc = s; nc < e; ++nc) {
      int64_t c = nc % C;
      run_axpc(x + nc * S, scale[c], shift[c], y + nc * S, S);
    }
  });
}

#define TANDEM_NN_NORM_INSTANTIATE(T)                                                              \
  template void layer_norm_fwd<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t,      \
                                  double);                                                         \
  template void layer_norm_bwd<T>(const T*, const T*, const T*, const T*, const T*, const T*,      \
                                  const T*, T*, T*, T*, int64_t, int64_t);                         \
  template void group_norm_fwd<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t,      \
                                  int64_t, int64_t, double);                                       \
  template void group_norm_bwd<T>(const T*, const T*, const T*, const T*, const T*, const T*,      \
                                  const T*, T*, T*, T*, int64_t, int64_t, int64_t, int64_t);       \
  template void batch_norm_train_fwd<T>(const T*, const T*, const T*, T*, T*, T*, T*, int64_t,     \
                                        int64_t, int64_t, double);                                 \
  template void batch_norm_train_bwd<T>(const T*, const T*, const T*, const T*, const T*,          \
                                        const T*, const T*, T*, T*, T*, int64_t, int64_t, int64_t); \
  template void channel_affine<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t);
TANDEM_NN_NORM_INSTANTIATE(float)
TANDEM_NN_NORM_INSTANTIATE(double)
#undef TANDEM_NN_NORM_INSTANTIATE

}  // namespace tandem::cpu
