#include "onednn.h"

#include "elementwise.h"
#include "tandem/autocast.h"

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace tandem::cpu::onednn {

const dnnl::engine& engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

bool supported(DType t) {
  return t == DType::Float32 || t == DType::BFloat16 || t == DType::Float16 ||
         t == DType::Int32 || t == DType::Int8 || t == DType::UInt8;
}

dnnl::memory::data_type data_type(DType t) {
  using dt = dnnl::memory::data_type;
  switch (t) {
    case DType::Float32: return dt::f32;
    case DType::BFloat16: return dt::bf16;
    case DType::Float16: return dt::f16;
    case DType::Int32: return dt::s32;
    case DType::Int8: return dt::s8;
    case DType::UInt8: return dt::u8;
    default: TANDEM_FAIL("oneDNN: dtype {} is not supported", t);
  }
}

dnnl::memory::desc md(const Shape& dims, const Shape& strides, DType t) {
  if (dims.empty()) return dnnl::memory::desc({1}, data_type(t), dnnl::memory::dims{1});
  return dnnl::memory::desc(dims, data_type(t), strides);
}

dnnl::memory::desc md(const Tensor& t) { return md(t.shape(), t.strides(), t.dtype()); }

dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, engine(), t.data_ptr());
}

dnnl::memory wrap(const Tensor& t) { return wrap(t, md(t)); }

bool append_activation(dnnl::post_ops& po, Key& key, Unary act, double p0, double p1) {
  dnnl::algorithm alg;
  float alpha = 0, beta = 0;
  switch (act) {
    case Unary::Relu: alg = dnnl::algorithm::eltwise_relu; break;
    case Unary::LeakyRelu: alg = dnnl::algorithm::eltwise_relu; alpha = static_cast<float>(p0); break;
    case Unary::Gelu: alg = dnnl::algorithm::eltwise_gelu_erf; break;
    case Unary::GeluTanh: alg = dnnl::algorithm::eltwise_gelu_tanh; break;
    case Unary::Sigmoid: alg = dnnl::algorithm::eltwise_logistic; break;
    case Unary::Tanh: alg = dnnl::algorithm::eltwise_tanh; break;
    case Unary::Silu: alg = dnnl::algorithm::eltwise_swish; alpha = 1.0f; break;
    case Unary::HardSwish: alg = dnnl::algorithm::eltwise_hardswish; break;  // x * relu6(x + 3) / 6
    case Unary::Clamp:
      // NOTE: two-sided only (ReLU6's [0, 6], hard-sigmoid's [0, 1]): oneDNN's clip with an
      // infinite bound would turn an infinite input into the bound's float max. A NaN
      // convolution output follows oneDNN's clip, as max_pool2d_blocked follows its max.
      if (!std::isfinite(p0) || !std::isfinite(p1)) return false;
      alg = dnnl::algorithm::eltwise_clip;
      alpha = static_cast<float>(p0);
      beta = static_cast<float>(p1);
      break;
    default: return false;  // the caller applies the rest itself
  }
  po.append_eltwise(1.0f, alg, alpha, beta);
  int32_t alpha_bits, beta_bits;
  std::memcpy(&alpha_bits, &alpha, sizeof alpha_bits);
  std::memcpy(&beta_bits, &beta, sizeof beta_bits);
  key.add(static_cast<int64_t>(act)).add(int64_t{alpha_bits}).add(int64_t{beta_bits});
  return true;
}

dnnl::primitive_attr attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

namespace {

// The calling thread's scratchpad: grown to the largest any primitive asked for on this thread.
// Primitives on one thread run one after another (execute waits or the stream is in order).
void* thread_scratchpad(size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buf;
  if (bytes > buf.size) {
    size_t size = (bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, size);
    TANDEM_CHECK(p != nullptr, "oneDNN: out of memory for a {} byte scratchpad", size);
    std::free(buf.p);
    buf.p = p;
    buf.size = size;
  }
  return buf.p;
}

// Adds prim's scratchpad (if it wants one) to args.
void add_scratchpad(const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory>& args) {
  const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (md == nullptr) return;
  const size_t bytes = dnnl_memory_desc_get_size(md);
  if (bytes == 0) return;
  args.insert_or_assign(DNNL_ARG_SCRATCHPAD, dnnl::memory(dnnl::memory::desc(*md), engine(), thread_scratchpad(bytes)));
}

}  // namespace

void execute(const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory> args) {
  add_scratchpad(prim, args);
  prim.execute(stream(), args);
}

void reorder(const dnnl::memory& from, const dnnl::memory& to) {
  execute(dnnl::reorder(from, to, attr()), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

Args& Args::add(int arg, const dnnl::memory::desc& md) {
  descs_.emplace_back(arg, md);
  map_.emplace(arg, dnnl::memory(md, engine(), DNNL_MEMORY_NONE));
  return *this;
}

void Args::execute(const dnnl::primitive& prim, std::initializer_list<void*> data) const {
  TANDEM_CHECK(data.size() == descs_.size(), "internal: oneDNN primitive given {} arguments, expects {}",
               data.size(), descs_.size());
  std::unique_lock<std::mutex> lock(*busy_, std::try_to_lock);
  if (lock.owns_lock()) {
    auto it = data.begin();
    for (const auto& [arg, md] : descs_) map_.at(arg).set_data_handle(*it++);
    add_scratchpad(prim, map_);
    prim.execute(stream(), map_);
  } else {
    std::unordered_map<int, dnnl::memory> own;
    auto it = data.begin();
    for (const auto& [arg, md] : descs_) own.emplace(arg, dnnl::memory(md, engine(), *it++));
    add_scratchpad(prim, own);
    prim.execute(stream(), own);
  }
  stream().wait();
}

Key::Key(std::string kind) : kind_(std::move(kind)) {
  ints_.reserve(32);
  ints_.push_back(omp_get_max_threads());
}

Key& Key::add(const std::vector<int64_t>& v) {
  ints_.push_back(static_cast<int64_t>(v.size()));
  ints_.insert(ints_.end(), v.begin(), v.end());
  return *this;
}

size_t Key::hash() const {
  size_t h = std::hash<std::string>{}(kind_);
  for (int64_t v : ints_) h = (h ^ static_cast<size_t>(v)) * 0x100000001b3ull;
  return h;
}

namespace {

struct KeyHash {
  size_t operator()(const Key& k) const { return k.hash(); }
};

// NOTE: shapes seen by one process are usually few (layers x batch sizes), but a
// model fed variable-length inputs would grow the cache without bound: past the
// cap we drop everything and start over (cheap, and rare).
constexpr size_t kMaxEntries = 4096;

struct Cache {
  std::mutex mu;
  std::unordered_map<Key, std::shared_ptr<void>, KeyHash> map;
  uint64_t hits = 0, misses = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: kernels may run during static teardown
  return *c;
}

}  // namespace

namespace detail {

std::shared_ptr<void> cache_lookup(const Key& key, const std::function<std::shared_ptr<void>()>& make) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.map.find(key);
    if (it != c.map.end()) {
      ++c.hits;
      return it->second;
    }
    ++c.misses;
  }
  std::shared_ptr<void> made;
  try {
    made = make();
  } catch (const dnnl::error& e) {
    TANDEM_FAIL("oneDNN could not create a {} primitive: {}", key.kind(), e.what());
  }
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.map.size() >= kMaxEntries) c.map.clear();
  return c.map.emplace(key, std::move(made)).first->second;
}

}  // namespace detail

CacheStats cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.map.size(), c.hits, c.misses};
}

void clear_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.map.clear();
}

}  // namespace tandem::cpu::onednn

namespace tandem {

bool bf16_native() {
  // NOTE: oneDNN's ISA values are cumulative bit masks; its effective ISA also honours
  // ONEDNN_MAX_CPU_ISA, so a run can simulate a CPU without AVX512-BF16 either way.
  static const bool cpu_has = [] {
    auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & want) == want;
  }();
  return cpu_has && cpu::isa_name() == "avx512";
}

}  // namespace tandem
