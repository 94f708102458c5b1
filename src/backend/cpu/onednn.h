// oneDNN glue for CPU kernels: one engine, a stream per thread, zero-copy memory
// wrappers for tandem tensors, and a cache of created primitives.
//
//   using namespace tandem::cpu::onednn;
//   Key key("matmul");                                 // what makes a primitive unique
//   key.add(a.shape()).add(a.strides()).add(b.shape()).add(b.strides());
//   auto prim = cached<dnnl::matmul>(key, [&] {        // created once per key
//     return dnnl::matmul(dnnl::matmul::primitive_desc(
//         dnnl::matmul::desc(md(a), md(b), md(c)), engine()));
//   });
//   prim->execute(stream(), {{DNNL_ARG_SRC, wrap(a)}, {DNNL_ARG_WEIGHTS, wrap(b)},
//                            {DNNL_ARG_DST, wrap(c)}});
//
// NOTE: creating a primitive (descriptor + JIT code) costs tens of microseconds to
// milliseconds; executing one for a small shape costs a few. Kernels therefore build
// a Key from everything the primitive depends on and look it up here. The key always
// includes the current OpenMP thread count, because several oneDNN implementations
// fix their work split when they are created.
//
// This header is private to src/ (oneDNN is linked PRIVATE): never include it from
// include/tandem.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "elementwise_table.h"
#include "tandem/tensor.h"

namespace tandem::cpu::onednn {

// The process-wide CPU engine (created on first use, thread-safe).
const dnnl::engine& engine();
// This thread's stream on engine() (a stream is cheap; one per thread avoids sharing).
dnnl::stream& stream();

// oneDNN's data type for a tandem dtype; Error for dtypes oneDNN cannot compute in
// (float64, int64, bool, ...). `supported` says whether it would throw.
dnnl::memory::data_type data_type(DType t);
bool supported(DType t);

// A plain (strided) memory descriptor with t's sizes and strides. A 0-dim tensor
// is described as 1-D of size 1.
dnnl::memory::desc md(const Tensor& t);
// The same with explicit dims/strides (for viewing a tensor with another shape).
dnnl::memory::desc md(const Shape& dims, const Shape& strides, DType t);
// A memory object on t's data, no copy. The tensor must outlive the memory object.
dnnl::memory wrap(const Tensor& t);
dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& desc);

// NOTE: thread safety. oneDNN as Debian builds it (DNNL_ENABLE_CONCURRENT_EXEC off) gives a
// primitive in its default scratchpad mode the scratch memory of the thread that created it,
// shared with every other primitive that thread created: cached primitives run by two threads
// at once (a server's workers, Python threads) then overwrite each other's partial results.
// So every primitive tandem creates takes attr() (scratchpad mode `user`) and runs through
// execute() or Args, which hand it scratch memory of the calling thread.
//
//   dnnl::primitive_attr a = attr();  a.set_post_ops(po);
//   auto pd = dnnl::matmul::primitive_desc(desc, a, engine());
//   execute(prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
dnnl::primitive_attr attr();
// Runs prim on this thread's stream with args and this thread's scratchpad; does not wait.
void execute(const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory> args);
// A reorder from `from` to `to` (both memory objects on engine()), created and run here.
void reorder(const dnnl::memory& from, const dnnl::memory& to);

// A primitive's arguments as memory objects built once (with the primitive, in a
// cached entry) and re-pointed at each call's data: creating memory objects and the
// argument map per call costs about as much as running a small matmul.
//
//   entry.args.add(DNNL_ARG_SRC, src_md).add(DNNL_ARG_DST, dst_md);   // once
//   entry.args.execute(entry.prim, {x.data_ptr(), y.data_ptr()});    // per call
//
// Thread-safe: a call that finds the objects in use by another thread builds its own.
class Args {
 public:
  Args& add(int arg, const dnnl::memory::desc& md);
  // Pointers in the order of add(); runs on this thread's stream and waits.
  void execute(const dnnl::primitive& prim, std::initializer_list<void*> data) const;

 private:
  std::vector<std::pair<int, dnnl::memory::desc>> descs_;
  mutable std::unordered_map<int, dnnl::memory> map_;
  std::shared_ptr<std::mutex> busy_ = std::make_shared<std::mutex>();
};

// What identifies one primitive: a kind name plus integers (shapes, strides,
// dtypes, flags). Build it with add(); the thread count is added automatically.
class Key {
 public:
  explicit Key(std::string kind);
  Key& add(int64_t v) {
    ints_.push_back(v);
    return *this;
  }
  Key& add(const std::vector<int64_t>& v);  // adds the length, then the values
  Key& add(DType t) { return add(static_cast<int64_t>(t)); }
  bool operator==(const Key& o) const { return kind_ == o.kind_ && ints_ == o.ints_; }
  size_t hash() const;
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::vector<int64_t> ints_;
};

// Appends activation `act` (params p0, p1 as in cpu::Unary) to `po` as an eltwise post-op
// and adds what identifies it to `key`; false (nothing appended) for an activation without
// an exact oneDNN equivalent (clamp, ...), which the caller then applies itself.
bool append_activation(dnnl::post_ops& po, Key& key, Unary act, double p0, double p1);

namespace detail {
// Returns the cached object for key, or creates it with make() (under no lock, so
// creation may happen twice on a race; the first stored one wins). Thread-safe.
std::shared_ptr<void> cache_lookup(const Key& key, const std::function<std::shared_ptr<void>()>& make);
}  // namespace detail

// Cached object of type T for `key`, created by `make()` (returning a T) on a miss.
// T is usually a primitive, or a struct holding a primitive and its descriptor.
// The same key must always be used with the same T.
template <typename T, typename F>
std::shared_ptr<T> cached(const Key& key, F&& make) {
  return std::static_pointer_cast<T>(
      detail::cache_lookup(key, [&]() -> std::shared_ptr<void> { return std::make_shared<T>(make()); }));
}

// Number of entries in the cache and how many lookups missed (for tests and tuning).
struct CacheStats {
  size_t entries = 0;
  uint64_t hits = 0, misses = 0;
};
CacheStats cache_stats();
void clear_cache();

}  // namespace tandem::cpu::onednn
