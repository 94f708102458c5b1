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

// ---- The plain copy replaced by the packed one (inference models that own their weights)
// release_when_packed(w): from now on, each time w is packed (at its current version), the
// pages of w's own buffer go back to the OS (madvise MADV_DONTNEED on the whole pages inside
// it; the buffer stays allocated and reads as zeros until restored), so the packed copy
// replaces the plain one. Only for weights that nothing but prepacked kernels reads.
// ensure_plain(w): puts w's values back (a reorder from its packed copy: exact) if they were
// released; every kernel that may read a prepacked weight's plain layout calls it first, and
// get() does before packing w into another layout. keep_plain(w): ensure_plain, and no more
// releases (call it before host code or eager ops read w).
// NOTE: a released weight's packed entries are never dropped (not by the size cap, not by
// clear()) before its values are restored.
void release_when_packed(const Tensor& w);
void ensure_plain(const Tensor& w);
void keep_plain(const Tensor& w);
// Bytes of plain copies now released (live storages only). For tests and reports.
size_t released_bytes();

// Number of live entries (entries of dead storages are dropped first). For tests.
size_t size();
// Number of reorders done so far (cache misses and re-packs). For tests.
size_t packs();
void clear();

}  // namespace tandem::cpu::packed_weights
