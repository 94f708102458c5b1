// The CPU reduction driver: turns "reduce tensor x over these dims" into calls of a
// small per-op kernel object over contiguous runs or row blocks, in parallel.
//
//   ReducePlan p = plan_reduce(x, mask);       // layout analysis, once per call
//   SumOps ops{...};                            // what to compute (see below)
//   reduce_run(p, ops);                         // calls ops.finish(o, acc) for every output o
//
// A plan is one of two shapes (after dropping size-1 dims and merging dims that
// are contiguous in memory):
//   inner: the reduced dims include the stride-1 dim: every output reduces a
//          block of `nrows` contiguous runs x[r*rs + i], i < n (several blocks
//          when more reduced dims remain);
//   outer: a kept dim has stride 1: every block of m consecutive outputs
//          accumulates rows x[r*rs + j], j < m (e.g. the sum over dim 0).
// Any other layout (no stride-1 dim) is first copied to kept-dims-then-reduced
// order, which is the inner shape.
//
// The ops object (see VecSumOps in reduce_kernels.cpp for a complete one) provides
//   using in_t, acc_t;
//   acc_t identity() const;
//   acc_t run(const in_t* x, int64_t n, int64_t rs, int64_t nrows, int64_t r0, int64_t o) const;
//                                                   // all of x[r*rs + i], r < nrows, i < n
//   acc_t combine(acc_t a, acc_t b) const;          // a from earlier elements
//   void rows(const in_t* x, int64_t rs, int64_t nrows, int64_t w, acc_t* acc,
//             int64_t r0, int64_t o0) const;        // acc[j] (+)= x[r*rs + j], r < nrows, j < w
//   void finish(int64_t o, acc_t a) const;          // writes output o
// r0 is the position of the first element (run) or row along the reduction (for
// arg reductions, whose plans have a single reduced dim) and o/o0 the output index.
#pragma once
#include <algorithm>
#include <memory>
#include <vector>

#include "loops.h"
#include "reduce_table.h"

namespace tandem::cpu {

struct ReducePlan {
  bool inner = true;
  const void* data = nullptr;  // element 0 of the (possibly copied) input
  Tensor hold;                 // keeps a copied input alive
  Shape ksize, kstride;  // kept dims (inner: all of them; outer: all but the last), input strides
  Shape rsize, rstride;  // reduced dims other than those the kernel walks
  int64_t n = 1;         // inner: run length; outer: number of rows
  int64_t rs = 0;        // stride between rows (inner: between the runs of a block)
  int64_t nrows = 1;     // inner: runs per block
  int64_t m = 1;         // outer: outputs per block (kept stride-1 dim)
  int64_t num_out = 1, num_red = 1;
};

// mask[d]: dim d is reduced. x may have any strides.
ReducePlan plan_reduce(const Tensor& x, const std::vector<bool>& mask);

// Element offset of linear index i over (size, stride), row-major.
inline int64_t offset_of(int64_t i, const Shape& size, const Shape& stride) {
  int64_t off = 0;
  for (size_t d = size.size(); d-- > 0;) {
    off += (i % size[d]) * stride[d];
    i /= size[d];
  }
  return off;
}

// Walks linear indices b, b+1, ... over (size, stride), keeping the offset.
struct OffsetWalker {
  const Shape& size;
  const Shape& stride;
  Shape idx;
  int64_t off = 0;
  OffsetWalker(const Shape& sz, const Shape& st, int64_t b) : size(sz), stride(st), idx(sz.size()) {
    for (size_t d = size.size(); d-- > 0;) {
      idx[d] = b % size[d];
      off += idx[d] * stride[d];
      b /= size[d];
    }
  }
  void next() {
    for (size_t d = size.size(); d-- > 0;) {
      off += stride[d];
      if (++idx[d] < size[d]) return;
      off -= idx[d] * stride[d];
      idx[d] = 0;
    }
  }
};

inline constexpr int64_t kReduceGrain = 32768;  // elements below which one thread does it all

template <typename Ops>
void reduce_run(const ReducePlan& p, const Ops& ops) {
  using T = typename Ops::in_t;
  using Acc = typename Ops::acc_t;
  const T* x = static_cast<const T*>(p.data);
  if (p.num_out == 0) return;
  if (p.num_red == 0) {
    for (int64_t o = 0; o < p.num_out; ++o) ops.finish(o, ops.identity());
    return;
  }
  const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t total = p.num_out * p.num_red;
  const bool par = nt > 1 && total >= kReduceGrain;
  const int64_t nro = shape_numel(p.rsize);  // reduced positions outside the kernel's walk

  if (p.inner) {
    const int64_t block = p.n * p.nrows;  // elements per kernel call
    auto one = [&](int64_t koff, int64_t o) {
      if (nro == 1) return ops.run(x + koff, p.n, p.rs, p.nrows, 0, o);
      Acc acc = ops.identity();
      OffsetWalker rw(p.rsize, p.rstride, 0);
      for (int64_t q = 0; q < nro; ++q, rw.next())
        acc = ops.combine(acc, ops.run(x + koff + rw.off, p.n, p.rs, p.nrows, q * block, o));
      return acc;
    };
    if (!par || p.num_out >= 4 * nt) {
      int64_t grain = par ? std::max<int64_t>(1, kReduceGrain / p.num_red) : p.num_out;
      parallel_for(p.num_out, grain, [&](int64_t b, int64_t e) {
        OffsetWalker kw(p.ksize, p.kstride, b);
        for (int64_t o = b; o < e; ++o, kw.next()) ops.finish(o, one(kw.off, o));
      });
      return;
    }
    // Few outputs with long reductions: split each reduction among the threads,
    // by runs when there are enough of them, else by columns of the runs.
    const int64_t nruns = nro * p.nrows;
    const bool by_runs = nruns >= nt;
    const int64_t len = by_runs ? nruns : p.n;
    int64_t chunk = (len + nt - 1) / nt;
    if (!by_runs) chunk = (chunk + 63) / 64 * 64;  // NOTE: whole cache lines per thread
    const int64_t nchunks = (len + chunk - 1) / chunk;
    std::unique_ptr<Acc[]> part(new Acc[nchunks]);  // not vector: Acc may be bool
    for (int64_t o = 0; o < p.num_out; ++o) {
      const int64_t koff = offset_of(o, p.ksize, p.kstride);
#pragma omp parallel for schedule(static) num_threads(nt)
      for (int64_t c = 0; c < nchunks; ++c) {
        const int64_t b = c * chunk, e = std::min(len, b + chunk);
        Acc acc = ops.identity();
        if (by_runs) {
          for (int64_t f = b; f < e;) {  // runs f.. within block q = f / nrows
            const int64_t q = f / p.nrows, r = f % p.nrows, cnt = std::min(e - f, p.nrows - r);
            const T* base = x + koff + offset_of(q, p.rsize, p.rstride) + r * p.rs;
            acc = ops.combine(acc, ops.run(base, p.n, p.rs, cnt, f * p.n, o));
            f += cnt;
          }
        } else {
          OffsetWalker rw(p.rsize, p.rstride, 0);
          for (int64_t q = 0; q < nro; ++q, rw.next())
            acc = ops.combine(acc, ops.run(x + koff + rw.off + b, e - b, p.rs, p.nrows, q * block + b, o));
        }
        part[c] = acc;
      }
      Acc acc = part[0];
      for (int64_t c = 1; c < nchunks; ++c) acc = ops.combine(acc, part[c]);
      ops.finish(o, acc);
    }
    return;
  }

  // Outer: blocks of up to kTile consecutive outputs accumulate rows.
  constexpr int64_t kTile = 256;
  const int64_t tiles = (p.m + kTile - 1) / kTile;
  const int64_t nko = shape_numel(p.ksize);
  const int64_t tasks = nko * tiles;
  auto rows_into = [&](const T* base, int64_t r_begin, int64_t r_end, int64_t w, Acc* acc,
                       int64_t o0) {
    OffsetWalker rw(p.rsize, p.rstride, 0);
    for (int64_t q = 0; q < nro; ++q, rw.next())
      ops.rows(base + rw.off + r_begin * p.rs, p.rs, r_end - r_begin, w, acc, r_begin, o0);
  };
  if (!par || tasks >= 2 * nt || p.n < 4 * nt) {
    int64_t grain = par ? std::max<int64_t>(1, kReduceGrain / (p.num_red * std::min(kTile, p.m)))
                        : tasks;
    parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      Acc acc[kTile];
      for (int64_t t = b; t < e; ++t) {
        int64_t ko = t / tiles, j0 = (t % tiles) * kTile, w = std::min(kTile, p.m - j0);
        int64_t o0 = ko * p.m + j0;
        std::fill(acc, acc + w, ops.identity());
        rows_into(x + offset_of(ko, p.ksize, p.kstride) + j0, 0, p.n, w, acc, o0);
        for (int64_t j = 0; j < w; ++j) ops.finish(o0 + j, acc[j]);
      }
    });
    return;
  }
  // Few, long columns: split the rows among the threads, then combine in row order.
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t ko = t / tiles, j0 = (t % tiles) * kTile, w = std::min(kTile, p.m - j0);
    int64_t o0 = ko * p.m + j0;
    const T* base = x + offset_of(ko, p.ksize, p.kstride) + j0;
    int64_t chunk = (p.n + nt - 1) / nt;
    int64_t nchunks = (p.n + chunk - 1) / chunk;
    std::unique_ptr<Acc[]> part(new Acc[nchunks * w]);
    std::fill(part.get(), part.get() + nchunks * w, ops.identity());
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < nchunks; ++c)
      rows_into(base, c * chunk, std::min(p.n, (c + 1) * chunk), w, part.get() + c * w, o0);
    for (int64_t j = 0; j < w; ++j) {
      Acc acc = part[j];
      for (int64_t c = 1; c < nchunks; ++c) acc = ops.combine(acc, part[c * w + j]);
      ops.finish(o0 + j, acc);
    }
  }
}

}  // namespace tandem::cpu
