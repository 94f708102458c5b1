#include "packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "../../ops/weight_release.h"
#include "onednn.h"

namespace tandem::cpu::packed_weights {
namespace {

struct Entry {
  std::weak_ptr<Storage> storage;  // identity: never keeps the weight alive
  int64_t offset = 0;
  Shape shape, strides;
  DType dtype = DType::Float32;
  dnnl::memory::desc user, target;
  uint64_t version = 0;  // the storage version the packed copy was made from
  dnnl::memory packed;   // owns its buffer
};

// NOTE: a model has a few dozen weights, each packed for a few layouts (batch sizes can
// change the layout a primitive picks). Past the cap, after dropping dead entries, the
// whole cache is cleared: re-packing is cheap next to leaking packed copies.
constexpr size_t kMaxEntries = 1024;

// A weight whose plain pages were handed back: restored from `from` (a packed entry of the
// same storage, version and logical dims) by a reorder into `user` over the storage's bytes.
struct Released {
  std::weak_ptr<Storage> storage;
  int64_t offset = 0;
  uint64_t version = 0;
  size_t bytes = 0;  // whole pages given back
  dnnl::memory::desc user, target;
  dnnl::memory packed;
};

struct Cache {
  std::mutex mu;
  // Keyed by the storage's address; the entry's weak_ptr decides whether it still matches.
  std::unordered_multimap<const Storage*, Entry> map;
  std::unordered_map<const Storage*, Released> released;
  std::unordered_map<const Storage*, std::weak_ptr<Storage>> release_on_pack;
  size_t packs = 0;
};

// Fast path of ensure_plain: nothing released anywhere (one relaxed load per kernel call).
std::atomic<size_t> g_released_count{0};

// Minimum size worth releasing: below it the page rounding leaves little to give back.
constexpr size_t kMinRelease = size_t{64} << 10;

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: kernels may run during static teardown
  return *c;
}

// Graph code reaches release_when_packed / keep_plain through ops' hooks (no layer includes
// a backend). Set at static initialization: this file is linked wherever a kernel packs.
[[maybe_unused]] const bool packed_weights_hooks_set = [] {
  ops::weight_release_hooks() = {&release_when_packed, &keep_plain};
  return true;
}();

bool matches(const Entry& e, const Tensor& w, const dnnl::memory::desc& user, const dnnl::memory::desc& target) {
  std::shared_ptr<Storage> s = e.storage.lock();
  return s != nullptr && s == w.storage() && e.offset == w.offset() && e.dtype == w.dtype() &&
         e.shape == w.shape() && e.strides == w.strides() && e.user == user && e.target == target;
}

void drop_expired(Cache& c) {
  for (auto it = c.map.begin(); it != c.map.end();) {
    if (it->second.storage.expired()) it = c.map.erase(it);
    else ++it;
  }
  for (auto it = c.release_on_pack.begin(); it != c.release_on_pack.end();) {
    if (it->second.expired()) it = c.release_on_pack.erase(it);
    else ++it;
  }
  for (auto it = c.released.begin(); it != c.released.end();) {
    if (it->second.storage.expired()) {
      it = c.released.erase(it);
      g_released_count.fetch_sub(1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
}

// Whole pages inside [p, p + n): the range madvise may drop without touching neighbours.
std::pair<char*, size_t> packed_weights_inner_pages(void* p, size_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  const uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;
  if (hi <= lo) return {nullptr, 0};
  return {reinterpret_cast<char*>(lo), static_cast<size_t>(hi - lo)};
}

// Writes the released weight's values back from its packed copy (under c.mu).
void restore_locked(Cache& c, std::unordered_map<const Storage*, Released>::iterator it) {
  namespace dn = onednn;
  Released& r = it->second;
  std::shared_ptr<Storage> s = r.storage.lock();
  // A storage written since (its version moved on) holds newer values than the packed copy.
  if (s != nullptr && s->version() == r.version) {
    void* base = static_cast<char*>(s->data()) + r.offset;
    dnnl::memory dst(r.user, dn::engine(), base);
    try {
      dn::reorder(r.packed, dst);
      dn::stream().wait();
    } catch (const dnnl::error& e) {
      TANDEM_FAIL("packed_weights: could not restore a released weight from its packed copy: {}", e.what());
    }
  }
  c.released.erase(it);
  g_released_count.fetch_sub(1, std::memory_order_relaxed);
}

// Gives w's plain pages back when `e` (just packed from w at its version) covers all of it.
void release_locked(Cache& c, const Tensor& w, const Entry& e) {
  const Storage* key = w.storage().get();
  if (w.nbytes() < kMinRelease || !w.is_contiguous() || e.user.get_size() != w.nbytes() ||
      c.released.count(key))
    return;
  auto [pages, bytes] = packed_weights_inner_pages(w.data_ptr(), w.nbytes());
  if (bytes == 0 || madvise(pages, bytes, MADV_DONTNEED) != 0) return;
  c.released.emplace(key, Released{w.storage(), w.offset(), e.version, bytes, e.user, e.target, e.packed});
  g_released_count.fetch_add(1, std::memory_order_relaxed);
}

void restore_all_locked(Cache& c) {
  while (!c.released.empty()) restore_locked(c, c.released.begin());
}

}  // namespace

dnnl::memory get(const Tensor& w, const dnnl::memory::desc& user, const dnnl::memory::desc& target) {
  namespace dn = onednn;
  TANDEM_CHECK(w.defined() && w.device() == Device::CPU, "packed_weights: needs a defined CPU tensor");
  TANDEM_CHECK(user.get_size() <= w.storage()->nbytes() - w.offset() * w.itemsize(),
               "packed_weights: the descriptor of weight {} spans {} bytes, more than its storage holds",
               shape_str(w.shape()), user.get_size());
  Cache& c = cache();
  const Storage* key = w.storage().get();
  const uint64_t version = w.version();  // read before packing: a concurrent write re-packs next time
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto [lo, hi] = c.map.equal_range(key);
    for (auto it = lo; it != hi; ++it)
      if (matches(it->second, w, user, target) && it->second.version == version) return it->second.packed;
    if (auto r = c.released.find(key); r != c.released.end()) restore_locked(c, r);  // packing reads w
  }
  dnnl::memory packed(target, dn::engine());
  dnnl::memory src(user, dn::engine(), w.data_ptr());
  try {
    dn::reorder(src, packed);
    dn::stream().wait();
  } catch (const dnnl::error& e) {
    TANDEM_FAIL("packed_weights: oneDNN could not reorder weight {} into the primitive's layout: {}",
                shape_str(w.shape()), e.what());
  }
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.packs;
  auto [lo, hi] = c.map.equal_range(key);
  auto mark = c.release_on_pack.find(key);
  const bool release = mark != c.release_on_pack.end() && mark->second.lock() == w.storage() && w.version() == version;
  for (auto it = lo; it != hi; ++it)
    if (matches(it->second, w, user, target)) {
      it->second.version = version;
      it->second.packed = packed;
      if (release) release_locked(c, w, it->second);
      return packed;
    }
  drop_expired(c);
  if (c.map.size() >= kMaxEntries) {
    restore_all_locked(c);  // the entries are the only copy of released weights
    c.map.clear();
  }
  auto it = c.map.emplace(key, Entry{w.storage(), w.offset(), w.shape(), w.strides(), w.dtype(), user, target, version, packed});
  if (release) release_locked(c, w, it->second);
  return packed;
}

size_t size() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  drop_expired(c);
  return c.map.size();
}

size_t packs() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.packs;
}

void clear() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  restore_all_locked(c);
  c.map.clear();
}

void release_when_packed(const Tensor& w) {
  if (!w.defined() || w.device() != Device::CPU) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.release_on_pack[w.storage().get()] = w.storage();
}

void keep_plain(const Tensor& w) {
  if (!w.defined()) return;
  ensure_plain(w);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.release_on_pack.erase(w.storage().get());
}

void ensure_plain(const Tensor& w) {
  if (g_released_count.load(std::memory_order_relaxed) == 0 || !w.defined()) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.released.find(w.storage().get());
  if (it != c.released.end() && it->second.storage.lock() == w.storage()) restore_locked(c, it);
}

size_t released_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  drop_expired(c);
  size_t n = 0;
  for (const auto& [key, r] : c.released) n += r.bytes;
  return n;
}

}  // namespace tandem::cpu::packed_weights
