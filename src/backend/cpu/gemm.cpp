#include "gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <vector>

#include "loops.h"
#include "onednn.h"
#include "reduce_table.h"
#include "tandem/autocast.h"

namespace tandem::cpu {

MatView& MatView::transpose() {
  size_t n = sizes.size();
  std::swap(sizes[n - 1], sizes[n - 2]);
  std::swap(strides[n - 1], strides[n - 2]);
  return *this;
}

MatView& MatView::expand_rank(int64_t n) {
  int64_t extra = n - ndim();
  if (extra > 0) {
    sizes.insert(sizes.begin(), extra, 1);
    strides.insert(strides.begin(), extra, 0);
  }
  return *this;
}

namespace {

// A copy of `v` in contiguous memory, owned by `hold`.
MatView contiguous_copy(const MatView& v, DType dtype, Tensor& hold) {
  Tensor src = from_blob(const_cast<void*>(v.data), v.sizes, dtype, {}, v.strides);
  hold = empty(v.sizes, {.dtype = dtype});
  copy_into(hold, src);
  return MatView::of(hold);
}

// Rewrites v's strides into the plain layouts oneDNN's fast matmul kernels take:
// each matrix row- or column-major (one unit stride), broadcast batch dims as
// size 1 (oneDNN broadcasts those; stride 0 would send it to its reference
// kernel), and tidy strides on size-1 dims. False when the layout has no unit
// stride in the matrix and must be copied.
bool canonicalize(MatView& v) {
  int64_t nd = v.ndim();
  for (int64_t d = 0; d + 2 < nd; ++d)
    if (v.sizes[d] != 1 && v.strides[d] == 0) v.sizes[d] = 1;
  int64_t r = v.rows(), c = v.cols();
  int64_t& sr = v.strides[nd - 2];
  int64_t& sc = v.strides[nd - 1];
  int64_t extent;
  if ((c == 1 || sc == 1) && (r == 1 || sr >= c)) {
    sc = 1;
    if (r == 1) sr = c;
    extent = sr * r;
  } else if ((r == 1 || sr == 1) && (c == 1 || sc >= r)) {
    sr = 1;
    if (c == 1) sc = r;
    extent = sc * c;
  } else {
    return false;
  }
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (v.sizes[d] == 1) v.strides[d] = extent;
    else if (v.strides[d] < 0) return false;
    else extent = std::max(extent, v.strides[d] * v.sizes[d]);
  }
  return true;
}

// If v's batch and row dims form one evenly strided run over row-major matrices,
// the view as one [batch*rows, cols] matrix (so a batch times a shared matrix is
// one large GEMM, which oneDNN runs much faster than many small ones).
bool fold_rows(const MatView& v, MatView& out) {
  int64_t nd = v.ndim();
  if (v.strides[nd - 1] != 1) return false;
  int64_t rows = 1, inner_stride = -1, expected = -1;
  for (int64_t d = nd - 2; d >= 0; --d) {
    if (v.sizes[d] == 1) continue;
    if (expected >= 0 && v.strides[d] != expected) return false;
    if (inner_stride < 0) inner_stride = v.strides[d];
    expected = v.strides[d] * v.sizes[d];
    rows *= v.sizes[d];
  }
  if (inner_stride < 0) inner_stride = v.cols();
  if (rows > 1 && inner_stride < v.cols()) return false;
  out = {v.data, {rows, v.cols()}, {inner_stride, 1}};
  return true;
}

struct MatmulPrim {
  dnnl::matmul prim;
  onednn::Args args;  // src, weights, dst[, bias]
};

void gemm_onednn(MatView a, MatView b, Tensor bias, const Tensor& c, const Shape& c_shape) {
  namespace dn = onednn;
  const DType dt = c.dtype();
  Tensor hold_a, hold_b;
  if (!canonicalize(a)) {
    a = contiguous_copy(a, dt, hold_a);
    canonicalize(a);
  }
  if (!canonicalize(b)) {
    b = contiguous_copy(b, dt, hold_b);
    canonicalize(b);
  }
  MatView cv{c.data_ptr(), c_shape, contiguous_strides(c_shape)};
  const int64_t nd = cv.ndim();
  // Batch dims broadcast in both operands (user-expanded with stride 0): oneDNN wants
  // one of them to have the full size, so compute one copy and broadcast it.
  bool both_broadcast = false;
  for (int64_t d = 0; d + 2 < nd; ++d) both_broadcast |= a.sizes[d] == 1 && b.sizes[d] == 1 && c_shape[d] != 1;
  if (both_broadcast) {
    Shape small = c_shape;
    for (int64_t d = 0; d + 2 < nd; ++d)
      if (a.sizes[d] == 1 && b.sizes[d] == 1) small[d] = 1;
    Tensor once = empty(small, {.dtype = dt});
    gemm_onednn(std::move(a), std::move(b), bias, once, small);
    copy_into(from_blob(c.data_ptr(), c_shape, dt), once);
    return;
  }
  bool b_shared = std::all_of(b.sizes.begin(), b.sizes.end() - 2, [](int64_t s) { return s == 1; });
  bool same_batch = std::equal(a.sizes.begin(), a.sizes.end() - 2, cv.sizes.begin());
  MatView folded;
  if (nd > 2 && b_shared && same_batch && fold_rows(a, folded)) {
    a = std::move(folded);
    b = {b.data, {b.rows(), b.cols()}, {b.strides[nd - 2], b.strides[nd - 1]}};
    cv = {cv.data, {a.rows(), cv.cols()}, {cv.cols(), 1}};
  }
  if (bias.defined() && bias.stride(0) != 1) bias = bias.contiguous();

  const int64_t M = cv.rows(), N = cv.cols(), K = a.cols();
  // NOTE: a few rows times a matrix stored as rows of K (x @ wᵀ: linear at batch 1, an RNN
  // step) is a matrix-vector product bound by reading w. oneDNN 2.6's matmul runs it at about
  // half the bandwidth of plain dot products here (1x3136 @ [128,3136]ᵀ: 52 µs vs 27 µs, one
  // AVX-512 thread), so those go through the ISA table's dot_rows, split over w's rows.
  if (cv.ndim() == 2 && dt == DType::Float32 && few_rows_path(M, K) && a.strides[1] == 1 && b.strides[0] == 1) {
    const float* pa = static_cast<const float*>(a.data);
    const float* pb = static_cast<const float*>(b.data);
    float* pc = static_cast<float*>(c.data_ptr());
    const int64_t lda = a.strides[0], ldb = b.strides[1];
    const auto dot_rows = reduce_table().f32.dot_rows;
    const float* pbias = bias.defined() ? bias.data<float>() : nullptr;
    parallel_for(N, std::max<int64_t>(16, 32768 / K), [&](int64_t n0, int64_t n1) {
      dot_rows(pa, lda, M, pb + n0 * ldb, ldb, K, n1 - n0, pc + n0, N);
      if (pbias)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t j = n0; j < n1; ++j) pc[m * N + j] += pbias[j];
    });
    return;
  }

  // NOTE: measured on AVX-512 (oneDNN 2.6): for large plain matrices dnnl_sgemm is
  // up to 15% faster than the matmul primitive (which wins on smaller ones), and
  // needs no primitive. The bias is written into c first and accumulated onto.
  if (cv.ndim() == 2 && dt == DType::Float32 && M * N * K >= (int64_t{1} << 29)) {
    float* pc = static_cast<float*>(c.data_ptr());
    if (bias.defined()) {
      const float* pb = bias.data<float>();
      parallel_for(M, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) std::copy(pb, pb + N, pc + i * N);
      });
    }
    auto trans = [](const MatView& v) { return v.strides[1] == 1 ? 'N' : 'T'; };
    auto ld = [](const MatView& v) { return v.strides[1] == 1 ? v.strides[0] : v.strides[1]; };
    dnnl_status_t st = dnnl_sgemm(trans(a), trans(b), M, N, K, 1.0f, static_cast<const float*>(a.data),
                                  ld(a), static_cast<const float*>(b.data), ld(b),
                                  bias.defined() ? 1.0f : 0.0f, pc, N);
    TANDEM_CHECK(st == dnnl_success, "matmul: dnnl_sgemm failed (status {}) for [{}, {}] @ [{}, {}]",
                 static_cast<int>(st), M, K, K, N);
    return;
  }

  dn::Key key("matmul");
  key.add(dt).add(a.sizes).add(a.strides).add(b.sizes).add(b.strides).add(cv.sizes).add(
      int64_t{bias.defined()});
  auto p = dn::cached<MatmulPrim>(key, [&] {
    MatmulPrim m;
    dnnl::memory::desc amd = dn::md(a.sizes, a.strides, dt), bmd = dn::md(b.sizes, b.strides, dt),
                       cmd = dn::md(cv.sizes, cv.strides, dt);
    m.args.add(DNNL_ARG_SRC, amd).add(DNNL_ARG_WEIGHTS, bmd).add(DNNL_ARG_DST, cmd);
    if (bias.defined()) {
      Shape bs(cv.sizes.size(), 1), bst(cv.sizes.size(), cv.cols());
      bs.back() = cv.cols();
      bst.back() = 1;
      dnnl::memory::desc biasmd = dn::md(bs, bst, dt);
      m.args.add(DNNL_ARG_BIAS, biasmd);
      m.prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(amd, bmd, biasmd, cmd), dn::attr(), dn::engine()));
    } else {
      m.prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(amd, bmd, cmd), dn::attr(), dn::engine()));
    }
    return m;
  });
  void* pa = const_cast<void*>(a.data);
  void* pb = const_cast<void*>(b.data);
  if (bias.defined()) p->args.execute(p->prim, {pa, pb, c.data_ptr(), bias.data_ptr()});
  else p->args.execute(p->prim, {pa, pb, c.data_ptr()});
}

// The reference loop: B is packed row-major per batch, then rows of C are computed
// in parallel over tiles of B small enough to stay in L2 (kKBlock x kNBlock).
template <typename T>
void gemm_loop(const MatView& a, const MatView& b, const Tensor& bias, const Tensor& c, const Shape& cs) {
  constexpr int64_t kKBlock = 128, kNBlock = 256;
  const int64_t nd = static_cast<int64_t>(cs.size()), M = cs[nd - 2], N = cs[nd - 1], K = a.cols();
  const int64_t sar = a.strides[nd - 2], sac = a.strides[nd - 1];
  const int64_t sbr = b.strides[nd - 2], sbc = b.strides[nd - 1];
  const int64_t batches = c.numel() / std::max<int64_t>(M * N, 1);
  const T* pa0 = static_cast<const T*>(a.data);
  const T* pb0 = static_cast<const T*>(b.data);
  T* pc0 = static_cast<T*>(c.data_ptr());
  const T* pbias = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
  const int64_t sbias = bias.defined() ? bias.stride(0) : 0;
  std::vector<T> bpack(K * N);
  for (int64_t bi = 0; bi < batches; ++bi) {
    int64_t oa = 0, ob = 0;
    for (int64_t d = nd - 3, r = bi; d >= 0; --d) {
      int64_t i = r % cs[d];
      r /= cs[d];
      if (a.sizes[d] != 1) oa += i * a.strides[d];
      if (b.sizes[d] != 1) ob += i * b.strides[d];
    }
    const T* pa = pa0 + oa;
    const T* pb = pb0 + ob;
    T* pc = pc0 + bi * M * N;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) bpack[k * N + j] = pb[k * sbr + j * sbc];
    parallel_for(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K * N, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = 0; j < N; ++j) pc[i * N + j] = pbias ? pbias[j * sbias] : T(0);
      for (int64_t j0 = 0; j0 < N; j0 += kNBlock) {
        const int64_t j1 = std::min(N, j0 + kNBlock);
        for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
          const int64_t k1 = std::min(K, k0 + kKBlock);
          for (int64_t i = r0; i < r1; ++i) {
            T* crow = pc + i * N;
            for (int64_t k = k0; k < k1; ++k) {
              const T aik = pa[i * sar + k * sac];
              const T* brow = bpack.data() + k * N;
              for (int64_t j = j0; j < j1; ++j) crow[j] += aik * brow[j];
            }
          }
        }
      }
    });
  }
}

}  // namespace

void gemm(MatView a, MatView b, const Tensor& bias, const Tensor& c,
          const Shape& c_shape) {
  if (c.numel() == 0) return;
  const Shape& cs = c_shape.empty() ? c.shape() : c_shape;
  const DType dt = c.dtype();
  if (dt == DType::Float32 && a.cols() > 0) {
    gemm_onednn(std::move(a), std::move(b), bias, c, cs);
    return;
  }
  if (dt == DType::BFloat16 && a.cols() > 0) {
    if (bf16_native()) return gemm_onednn(std::move(a), std::move(b), bias, c, cs);
    // Without AVX512-BF16: the bf16 operands widened (exactly), a float32 product, rounded once.
    // The same numbers as oneDNN's bf16 primitive up to the order of the float32 sums.
    auto widen = [](const MatView& v) {
      return from_blob(const_cast<void*>(v.data), v.sizes, DType::BFloat16, {}, v.strides).to(DType::Float32);
    };
    Tensor af = widen(a), bf = widen(b), cf = empty(cs, {.dtype = DType::Float32});
    gemm(MatView::of(af), MatView::of(bf), bias.defined() ? bias.to(DType::Float32) : Tensor(), cf, cs);
    copy_into(from_blob(c.data_ptr(), cs, DType::BFloat16), cf);
    return;
  }
  TANDEM_DISPATCH_NUMERIC(dt, "matmul", [&] { gemm_loop<scalar_t>(a, b, bias, c, cs); });
}

}  // namespace tandem::cpu
