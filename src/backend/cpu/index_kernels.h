// CPU kernels of the indexing ops (src/ops/defs/index.cpp): gather / scatter_add along a
// dim, row selection and its adjoint, masked fill, padding by index maps, sort and top-k.
//
// Kernels never read or write outside their tensors: gather and scatter_add check each
// index as they go, skip the bad ones and report the first through BadIndex (the op then
// throws); the others take indices the op has validated.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::cpu {

// The first out-of-range index a (possibly parallel) kernel met.
class BadIndex {
 public:
  void report(int64_t v) {
    bool expected = false;
    if (seen_.compare_exchange_strong(expected, true)) value_ = v;
  }
  // Read only after the kernel returned (the parallel region has joined).
  bool seen() const { return seen_.load(); }
  int64_t value() const { return value_; }

 private:
  std::atomic<bool> seen_{false};
  int64_t value_ = 0;
};

// out = src broadcast to out's shape, same dtype, split across threads even when contiguous.
void copy_same_type(const Tensor& out, const Tensor& src);

// cat of contiguous inputs of out's dtype along dim into out: one pass, blocks copied
// whole. Returns false (doing nothing) when an input is strided or of another dtype.
bool cat_contiguous(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out);

// out[p] = x[p with coordinate `dim` replaced by index[p]]; out has index's shape. x and
// index (int64) may be strided; 0-dim tensors count as shape [1].
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out, BadIndex& bad);
// out[p with coordinate `dim` replaced by index[p]] += src[p] for every p of index; out
// already holds self. Same dtype for src and out (not 16-bit floats).
void scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out,
                 BadIndex& bad);

// out = x (contiguous) with rows idx[0..k) taken along dim. Indices already validated.
void index_select(const Tensor& x, int64_t dim, const int64_t* idx, int64_t k, const Tensor& out);
// out (zeroed here) gets g's rows summed into rows idx[j] along dim: the adjoint of
// index_select. g contiguous, floating dtype as out.
void index_add_rows(const Tensor& g, int64_t dim, const int64_t* idx, int64_t k, const Tensor& out);

// out = mask ? value : x with x and mask (1-byte bool/uint8) broadcast to out's shape;
// `value` points to one element of out's dtype.
void masked_fill(const Tensor& x, const Tensor& mask, const void* value, const Tensor& out);

// Padding as an index map per padded dim (the last maps.size() dims): output coordinate o
// reads input coordinate map[o], or the fill value when map[o] < 0. On [center0, center1)
// the map is o - left (a straight copy).
struct PadPlan {
  Shape in, out;
  int64_t first = 0;  // first padded dim
  std::vector<std::vector<int64_t>> maps;
  std::vector<int64_t> left, center0, center1;
};
// out = x (contiguous) padded by `plan`; `fill` points to one element of x's dtype.
void pad_gather(const Tensor& x, const PadPlan& plan, const void* fill, const Tensor& out);
// out (input-shaped, zeroed here) += g (contiguous, output-shaped) along the maps: the
// adjoint of pad_gather. Floating dtypes.
void pad_scatter_add(const Tensor& g, const PadPlan& plan, const Tensor& out);

// Sorts every slice along dim: values and int64 indices (contiguous, x's shape). NaN
// counts as larger than every number; equal elements keep their order (stable).
void sort(const Tensor& x, int64_t dim, bool descending, const Tensor& values,
          const Tensor& indices);
// The k largest (smallest) of every slice along dim (in order when `sorted`); ties as
// PyTorch's CPU topk orders them.
void topk(const Tensor& x, int64_t dim, int64_t k, bool largest, bool sorted,
          const Tensor& values, const Tensor& indices);

}  // namespace tandem::cpu
