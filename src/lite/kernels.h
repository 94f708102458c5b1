// tandem-lite's float32 kernels: plain loops written for auto-vectorization, and one
// register-blocked GEMM micro-kernel on GCC vector extensions (AVX2/AVX-512 on x86-64, NEON on
// aarch64, scalar code elsewhere). Only the C++ standard library. Every function takes raw
// pointers and sizes the caller (runtime.cpp) has already checked.
#pragma once
#include <cstddef>
#include <cstdint>

#include "format.h"

namespace tlite::kernels {

struct ActParams {
  Act kind = Act::None;
  float p0 = 0, p1 = 0;
};
// x[i] = act(x[i]) for i < n.
void apply_act(float* x, int64_t n, const ActParams& a);
// y[i] = act(x[i]).
void unary(const float* x, float* y, int64_t n, const ActParams& a);

// C[M, N] (+)= A[M, K] · B[K, N], row-major with leading dimensions lda, ldb, ldc.
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
          int64_t ldc, bool accumulate);

struct ConvGeom {
  int64_t N, C, H, W, O, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, Ho, Wo;
};
// Scratch floats conv2d needs (im2col of one group of one image; 0 for 1x1/stride-1 and depthwise).
int64_t conv2d_scratch(const ConvGeom& g);
// y [N, O, Ho, Wo] = act(conv(x [N, C, H, W], w [O, C/groups, kh, kw]) + bias?).
void conv2d(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y, float* scratch,
            const ActParams& act);

struct PoolGeom {
  int64_t NC, H, W, kh, kw, sh, sw, pt, pl, dh, dw, Ho, Wo;
};
void max_pool2d(const PoolGeom& g, const float* x, float* y);
void avg_pool2d(const PoolGeom& g, bool count_include_pad, const float* x, float* y);
void adaptive_avg_pool2d(int64_t NC, int64_t H, int64_t W, int64_t Ho, int64_t Wo, const float* x, float* y);

// Broadcast binary op on shapes already aligned to `rank` dims (a dim of size 1 in an input
// broadcasts: its stride is 0). out has `odims`.
enum class Binary { Add, Sub, Mul, Div, Pow, Max, Min };
void binary(Binary op, int rank, const int64_t* odims, const float* a, const int64_t* astrides, const float* b,
            const int64_t* bstrides, float* out);
// out[odims] = x read through strides (transpose, expand: any strided view).
void strided_copy(int rank, const int64_t* odims, const float* x, const int64_t* xstrides, float* out);

// Softmax over the middle dim of [outer, n, inner].
void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
// layer_norm over rows of length n: y = (x - mean) / sqrt(var + eps) * w + b (w, b may be null).
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t n, float eps);
// batch_norm (inference) of [N, C, inner].
void batch_norm(const float* x, const float* mean, const float* var, const float* w, const float* b, float* y,
                int64_t N, int64_t C, int64_t inner, float eps);

}  // namespace tlite::kernels
