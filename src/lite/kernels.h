// tandem-lite's float32 kernels: plain loops written for auto-vectorization, and one
// register-blocked GEMM micro-kernel on GCC vector extensions (AVX2/AVX-512 on x86-64, NEON on
// aarch64, scalar code elsewhere). Only the C++ standard library. Every function takes raw
// pointers and sizes the caller (runtime.cpp) has already checked.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

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

// ---- int8 (kernels_int8.cpp): bit-exact with the full runtime's int8 path ----

// q = saturate(round_half_even(x / scale) + zp) to int8 (sgn) or uint8; NaN gives zp.
void quantize(const float* x, int64_t n, float scale, int32_t zp, bool sgn, void* y);
// y = (q - zp[c]) * scale[c] over [outer, C, inner] (C = 1: per tensor).
void dequantize(const void* q, bool sgn, int64_t outer, int64_t C, int64_t inner, const float* scale,
                const int32_t* zp, float* y);

// A quantized conv2d / linear layer, prepared once at load: W [O, Kp] int8 (uint8 weights are
// stored minus 128, their zero points too), K padded to Kp (a multiple of 4) with zeros, and
// the per-channel requantization constants (format.h, Key::Rounding).
struct QLayer {
  int64_t O = 0, K = 0, Kp = 0;
  std::vector<int8_t> w;          // [O, Kp]
  std::vector<int8_t> wp;         // w packed [O/16][Kp/4][16][4] for the dot-product paths (empty: none)
  std::vector<int32_t> wsum;      // sum over k of w[o, k]
  std::vector<int32_t> w_zp;      // per channel
  bool w_zp_zero = true;
  std::vector<float> mult, bias;  // per channel; bias empty: the layer has none
  int32_t x_zp = 0;               // in the uint8 domain (int8 activations are read + 128)
  int32_t y_zp = 0;
  bool x_signed = false, y_signed = false, relu = false;
  int rounding = 0;
  std::vector<QLayer> groups;     // grouped conv2d (not depthwise): each group's weights as a layer
};
// Fills Kp, wsum and (where this CPU has a dot-product path and `dot_layout`) wp from w.
void qlayer_pack(QLayer& L, bool dot_layout);

// The int8 GEMM in use ("avx512-vnni", "aarch64-dotprod" or "portable"); tests force the
// portable loops (process-wide, not thread-safe: set it before any run) to compare the paths.
const char* int8_path();
void int8_portable_only(bool on);

// Scratch bytes for qconv2d / qlinear (im2col rows in uint8, int32 sums).
int64_t qconv2d_scratch_bytes(const ConvGeom& g, const QLayer& L);
int64_t qlinear_scratch_bytes(int64_t M, const QLayer& L);
// y [N, O, Ho, Wo] q8 = requant(conv(x q8 [N, C, H, W], L)).
void qconv2d(const ConvGeom& g, const QLayer& L, const void* x, void* y, uint8_t* scratch);
// y [M, O] q8 = requant(x [M, K] · W^T).
void qlinear(int64_t M, const QLayer& L, const void* x, void* y, uint8_t* scratch);

}  // namespace tlite::kernels
