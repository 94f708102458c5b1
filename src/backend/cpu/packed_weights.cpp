#include "packed_weights.h"

#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

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

struct Cache {
  std::mutex mu;
  // Keyed by the storage's address; the entry's weak_ptr decides whether it still matches.
  std::unordered_multimap<const Storage*, Entry> map;
  size_t packs = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: kernels may run during static teardown
  return *c;
}

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
  }
  dnnl::memory packed(target, dn::engine());
  dnnl::memory src(user, dn::engine(), w.data_ptr());
  try {
    dnnl::reorder(src, packed).execute(dn::stream(), src, packed);
    dn::stream().wait();
  } catch (const dnnl::error& e) {
    TANDEM_FAIL("packed_weights: oneDNN could not reorder weight {} into the primitive's layout: {}",
                shape_str(w.shape()), e.what());
  }
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.packs;
  auto [lo, hi] = c.map.equal_range(key);
  for (auto it = lo; it != hi; ++it)
    if (matches(it->second, w, user, target)) {
      it->second.version = version;
      it->second.packed = packed;
      return packed;
    }
  drop_expired(c);
  if (c.map.size() >= kMaxEntries) c.map.clear();
  c.map.emplace(key, Entry{w.storage(), w.offset(), w.shape(), w.strides(), w.dtype(), user, target, version, packed});
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
  c.map.clear();
}

}  // namespace tandem::cpu::packed_weights
