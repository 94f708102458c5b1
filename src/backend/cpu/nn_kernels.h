// CPU kernels of the nn ops (pooling, normalization, dropout, embedding) on raw
// contiguous buffers. The OpDefs in src/ops/defs/nn*.cpp validate shapes and make
// inputs contiguous; these functions trust their arguments.
//
// Instantiated for float and double. Hot inner loops are compiled once per ISA level
// (AVX-512, AVX2, baseline) with GCC target_clones and picked at load time.
#pragma once
#include <cstdint>

namespace tandem::cpu {

// ---- pooling over [planes, H, W] -> [planes, OH, OW] --------------------------
struct Pool2d {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// The maximum of each window; NaN if the window holds one.
template <typename T> void max_pool2d_fwd(const Pool2d& p, const T* x, T* y);
// gx = 0, then gx[argmax of window o] += g[o]. The argmax is PyTorch's: the first
// maximum in row-major window order, or the last NaN.
template <typename T> void max_pool2d_bwd(const Pool2d& p, const T* g, const T* x, T* gx);
// y[o] = src[argmax of window o] (src has x's shape): the adjoint of max_pool2d_bwd.
template <typename T> void max_pool2d_gather(const Pool2d& p, const T* src, const T* x, T* y);
template <typename T> void avg_pool2d_fwd(const Pool2d& p, bool count_include_pad, const T* x, T* y);
template <typename T> void avg_pool2d_bwd(const Pool2d& p, bool count_include_pad, const T* g, T* gx);
// Window o covers [floor(o*H/OH), ceil((o+1)*H/OH)); uses planes, H, W, OH, OW only.
template <typename T> void adaptive_avg_pool2d_fwd(const Pool2d& p, const T* x, T* y);
template <typename T> void adaptive_avg_pool2d_bwd(const Pool2d& p, const T* g, T* gx);

// ---- normalization ------------------------------------------------------------
// Every norm is y = (x - mean) * rstd * w + b with mean/rstd over a set of M elements
// (a row, a group, a channel). The backward kernels also take the gradients flowing
// into the saved mean and rstd (gmean, grstd: zero in first-order backward, nonzero
// when a composite double-backward formula used them) and return
//   gx = rstd*w*gy + (gmean - rstd*sum(w*gy))/M
//        - (x - mean)*rstd^3*(sum(w*gy*(x - mean)) + grstd)/M
// so the forward node's backward is exact for all three of its outputs.
// w, b may be null (no affine); gw, gb may be null (not wanted); gx likewise.

// Rows of D: mean, rstd [rows].
template <typename T>
void layer_norm_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                    int64_t D, double eps);
template <typename T>
void layer_norm_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                    const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t rows, int64_t D);

// x as [N, C, S], stats per (n, group of C/G channels): mean, rstd [N, G]; w, b [C].
template <typename T>
void group_norm_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t N,
                    int64_t C, int64_t S, int64_t G, double eps);
template <typename T>
void group_norm_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                    const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t N, int64_t C,
                    int64_t S, int64_t G);

// x as [N, C, S], stats per channel over N*S: mean, rstd, var_unbiased [C] (the last
// feeds the running-variance update; NaN when N*S == 1).
template <typename T>
void batch_norm_train_fwd(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                          T* var_unbiased, int64_t N, int64_t C, int64_t S, double eps);
template <typename T>
void batch_norm_train_bwd(const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                          const T* gmean, const T* grstd, T* gx, T* gw, T* gb, int64_t N,
                          int64_t C, int64_t S);
// y = x * scale[c] + shift[c].
template <typename T>
void channel_affine(const T* x, const T* scale, const T* shift, T* y, int64_t N, int64_t C,
                    int64_t S);

}  // namespace tandem::cpu
