// Weights reordered once into the layout a oneDNN primitive prefers, and kept.
//
//   dnnl::memory::desc user = onednn::md({K, N}, {1, K}, DType::Float32);   // w [N, K] as wᵀ
//   dnnl::memory packed = packed_weights::get(w, user, pd.weights_desc());
//   // pass `packed` as DNNL_ARG_WEIGHTS; valid until w's contents change
//
// Why: with weights in a plain layout, a matmul or convolution primitive either runs a
// slower kernel or reorders the weights on every call (a 1x3136 @ 3136x128 matmul: 52 µs
// plain, 21 µs on prepacked weights). In graph mode the weights a graph does not update are
// known ahead of time (graph::run_prepack_weights marks their nodes with `prepacked = 1`),
// so the reorder can be paid once and reused on every run.
//
// Validity: an entry is found again only for the same Storage object (held as a weak_ptr:
// an entry whose storage died, or whose address was reused by a new storage, never
// matches), the same offset, shape, strides and dtype, and the same user and target
// descriptors. An entry packed at an older storage version (any in-place op, optimizer
// step or graph::Plan variable update bumps it) is packed again. A write that bypasses
// the version counter (through data_ptr()) is not seen: such code must bump_version().
//
// Ownership: each entry owns its packed buffer (a dnnl::memory allocated by oneDNN). A
// re-pack makes a new buffer, so a caller still holding the old memory object keeps valid
// (if stale) data. Entries whose storage died are dropped on the next insert and by size().
// Thread-safe (one process-wide mutex; the reorder itself runs outside the lock).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>

#include "tandem/tensor.h"

namespace tandem::cpu::packed_weights {

// w's data (described by `user`, a descriptor of w's own memory) in layout `target`,
// reordered now if not cached or packed at an older version of w's storage.
dnnl::memory get(const Tensor& w, const dnnl::memory::desc& user, const dnnl::memory::desc& target);

// Number of live entries (entries of dead storages are dropped first). For tests.
size_t size();
// Number of reorders done so far (cache misses and re-packs). For tests.
size_t packs();
void clear();

}  // namespace tandem::cpu::packed_weights
