// Reduction plans and the choice of the per-ISA reduction kernels.
#include "reduce.h"

#include <algorithm>

#include "isa.h"
#include "loops.h"

namespace tandem::cpu {

const ReduceTable& reduce_table() {
  return isa_table(baseline::reduce_table, avx2::reduce_table, avx512::reduce_table);
}

namespace {

struct Dim {
  int64_t size, stride;
};

// Merges neighbours d, d+1 that walk memory like one dim (loops.h's merge_dims).
std::vector<Dim> merged(const std::vector<Dim>& dims) {
  Shape size, merged_size;
  std::array<Shape, 1> stride, merged_stride;
  for (const Dim& d : dims) {
    size.push_back(d.size);
    stride[0].push_back(d.stride);
  }
  merge_dims<1>(size, stride, merged_size, merged_stride);
  std::vector<Dim> out;
  for (size_t i = 0; i < merged_size.size(); ++i) out.push_back({merged_size[i], merged_stride[0][i]});
  return out;
}

void split(const std::vector<Dim>& dims, size_t count, Shape& size, Shape& stride) {
  for (size_t i = 0; i < count; ++i) {
    size.push_back(dims[i].size);
    stride.push_back(dims[i].stride);
  }
}

}  // namespace

ReducePlan plan_reduce(const Tensor& x, const std::vector<bool>& mask) {
  ReducePlan p;
  std::vector<Dim> kept, red;
  for (int64_t d = 0; d < x.dim(); ++d) {
    (mask[d] ? p.num_red : p.num_out) *= x.size(d);
    if (x.size(d) != 1) (mask[d] ? red : kept).push_back({x.size(d), x.stride(d)});
  }
  if (x.numel() == 0) return p;
  p.data = x.data_ptr();
  // The order of the reduced elements is free: walk them in memory order.
  std::stable_sort(red.begin(), red.end(), [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
  red = merged(red);
  kept = merged(kept);
  if (!red.empty() && red.back().stride == 1) {
    p.inner = true;
    p.n = red.back().size;
    if (red.size() >= 2) {
      p.nrows = red[red.size() - 2].size;
      p.rs = red[red.size() - 2].stride;
    }
    split(red, red.size() >= 2 ? red.size() - 2 : 0, p.rsize, p.rstride);
    split(kept, kept.size(), p.ksize, p.kstride);
    return p;
  }
  if (!kept.empty() && kept.back().stride == 1) {
    p.inner = false;
    p.m = kept.back().size;
    split(kept, kept.size() - 1, p.ksize, p.kstride);
    if (!red.empty()) {
      p.n = red.back().size;
      p.rs = red.back().stride;
      split(red, red.size() - 1, p.rsize, p.rstride);
    }
    return p;
  }
  if (kept.empty() && red.empty()) return p;  // a single element
  // No stride-1 dim: copy to kept-then-reduced order, which makes one inner run per output.
  IntArray perm;
  std::vector<bool> mask2;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t d = 0; d < x.dim(); ++d)
      if (mask[d] == (pass == 1)) {
        perm.push_back(d);
        mask2.push_back(pass == 1);
      }
  Tensor c = dense(permuted_view(x, perm));
  ReducePlan q = plan_reduce(c, mask2);
  q.hold = c;
  return q;
}

}  // namespace tandem::cpu
