// Tensor metadata, storage, creation and printing. Ops live in src/ops.
#include "tandem/tensor.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <ostream>
#include <sstream>

#include "read_hook.h"
#include "tensor_autograd.h"
#include "allocator.h"
#include "tandem/generator.h"

namespace tandem {

std::string_view device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  TANDEM_CHECK(device == Device::CPU, "this build has no {} backend", device_name(device));
  data_ = cpu_allocator::allocate(nbytes);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (owned_) {
    cpu_allocator::deallocate(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
}


// ---- shape helpers

namespace {
[[noreturn]] void throw_shape_overflow(const Shape& shape) {
  throw Error(fmt::format("shape [{}] has more elements than int64 can count",
                          fmt::join(shape, ", ")));
}
}  // namespace

// Shapes come from files too: a product past int64 is an Error, not a wrapped count. The
// check counts a zero size as one, as the strides do, so that a shape accepted here also has
// representable contiguous strides.
int64_t shape_numel(const Shape& shape) {
  int64_t stride_extent = 1;
  bool has_zero = false;
  for (int64_t s : shape) {
    has_zero |= s == 0;
    if (__builtin_mul_overflow(stride_extent, std::max<int64_t>(s, 1), &stride_extent))
      throw_shape_overflow(shape);
  }
  if (has_zero) return 0;
  int64_t n = 1;
  for (int64_t s : shape)
    if (__builtin_mul_overflow(n, s, &n)) throw_shape_overflow(shape);
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    if (__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s)) throw_shape_overflow(shape);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-dim tensor accepts dim 0 and -1
  TANDEM_CHECK(dim >= -n && dim < n, "{}: dimension {} is out of range for a {}-D tensor", op,
               dim, ndim);
  return dim < 0 ? dim + n : dim;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TANDEM_CHECK(da == db || da == 1 || db == 1,
                 "{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})", op,
                 shape_str(a), shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- Tensor metadata

int64_t Tensor::size(int64_t d) const { return impl_->sizes[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return impl_->strides[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = impl_->sizes.size(); i-- > 0;) {
    if (impl_->sizes[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->sizes[i];
  }
  return true;
}

namespace detail {
namespace {
thread_local ValueReadHook* t_value_read_hook = nullptr;
}  // namespace
ValueReadHook*& value_read_hook() { return t_value_read_hook; }
}

void* Tensor::data_ptr() const {
  if (detail::t_value_read_hook) [[unlikely]] detail::t_value_read_hook->on_read(impl(), "data_ptr()");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * itemsize();
}

namespace {
// Converts one element value to T. NOTE: integers convert to integers directly, never
// through double: int64 values above 2^53 (INT64_MAX is what exporters write for an
// open-ended slice) must stay exact. Float to integer saturates and NaN gives 0, as the
// elementwise kernels do (a plain cast of an out-of-range float is undefined).
template <typename T, typename S>
T cast_value(S v) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<S>) {
    if constexpr (std::is_same_v<T, bool>) return v != 0;
    else return static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return static_cast<double>(v) != 0.0;
  } else if constexpr (std::is_integral_v<T>) {
    double d = static_cast<double>(v);
    if (d != d) return T(0);
    if (d >= 0x1p63) return static_cast<T>(std::numeric_limits<int64_t>::max());
    if (d < -0x1p63) return static_cast<T>(std::numeric_limits<int64_t>::min());
    return static_cast<T>(static_cast<int64_t>(d));
  } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(static_cast<double>(v));
  }
}
// Reads element `i` (offset in elements from data_ptr) as T.
template <typename T>
T load_as(const void* base, DType dt, int64_t i) {
  return TANDEM_DISPATCH_ALL(dt, "load", [&]() -> T {
    return cast_value<T>(static_cast<const scalar_t*>(base)[i]);
  });
}
// Calls fn(element offset) for every element in row-major order.
template <typename F>
void for_each_element(const Tensor& t, F&& fn) {
  int64_t n = t.numel();
  if (n == 0) return;
  int64_t nd = t.dim();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    fn(off);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) {
        off += t.strides()[d];
        break;
      }
      off -= t.strides()[d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

template <typename T>
T Tensor::item() const {
  TANDEM_CHECK(defined(), "item(): the tensor is undefined");
  TANDEM_CHECK(numel() == 1, "item(): a tensor with {} elements (shape {}) cannot be converted to "
               "a scalar; only one-element tensors can", numel(), shape_str(shape()));
  if (detail::t_value_read_hook) [[unlikely]] detail::t_value_read_hook->on_read(impl(), "item()");
  return load_as<T>(data_ptr(), dtype(), 0);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  if (detail::t_value_read_hook) [[unlikely]] detail::t_value_read_hook->on_read(impl(), "to_vector()");
  std::vector<T> out;
  out.reserve(numel());
  const void* base = data_ptr();
  DType dt = dtype();
  for_each_element(*this, [&](int64_t off) { out.push_back(load_as<T>(base, dt, off)); });
  return out;
}

#define TANDEM_INSTANTIATE(T) \
  template T Tensor::item<T>() const; \
  template std::vector<T> Tensor::to_vector<T>() const;
TANDEM_INSTANTIATE(float)
TANDEM_INSTANTIATE(double)
TANDEM_INSTANTIATE(int64_t)
TANDEM_INSTANTIATE(int32_t)
TANDEM_INSTANTIATE(uint8_t)
TANDEM_INSTANTIATE(int8_t)
TANDEM_INSTANTIATE(int16_t)
TANDEM_INSTANTIATE(uint16_t)
TANDEM_INSTANTIATE(bool)
#undef TANDEM_INSTANTIATE

// ---- autograd accessors







Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->sizes = impl_->sizes;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->numel = impl_->numel;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}


// ---- creation

Tensor empty(const Shape& shape, TensorOptions opts) {
  for (int64_t s : shape)
    TANDEM_CHECK(s >= 0, "empty: negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->numel = shape_numel(shape);
  impl->dtype = opts.dtype;
  impl->storage = std::make_shared<Storage>(impl->numel * tandem::itemsize(opts.dtype), opts.device);
  Tensor t(std::move(impl));
  if (opts.requires_grad) t.requires_grad_();
  return t;
}

namespace {
template <typename F>
void fill_contiguous(Tensor& t, F&& value_at) {
  TANDEM_DISPATCH_ALL(t.dtype(), "fill", [&] {
    scalar_t* p = static_cast<scalar_t*>(t.data_ptr());
    int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) p[i] = cast_value<scalar_t>(value_at(i));
  });
}
Tensor make_filled(const Shape& shape, TensorOptions opts, double v) {
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  if (v == 0.0) {
    std::memset(t.data_ptr(), 0, t.nbytes());
  } else {
    fill_contiguous(t, [v](int64_t) { return v; });
  }
  if (rg) t.requires_grad_();
  return t;
}
}  // namespace

Tensor zeros(const Shape& shape, TensorOptions opts) { return make_filled(shape, opts, 0.0); }
Tensor ones(const Shape& shape, TensorOptions opts) { return make_filled(shape, opts, 1.0); }
Tensor full(const Shape& shape, double value, TensorOptions opts) {
  return make_filled(shape, opts, value);
}
Tensor scalar_tensor(double value, TensorOptions opts) { return make_filled({}, opts, value); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor full_like(const Tensor& t, double v) {
  return full(t.shape(), v, {.dtype = t.dtype(), .device = t.device()});
}

Tensor arange(double end, TensorOptions opts) { return arange(0.0, end, 1.0, opts); }
Tensor arange(double start, double end, double step, TensorOptions opts) {
  TANDEM_CHECK(step != 0.0, "arange: step must be nonzero");
  TANDEM_CHECK(std::isfinite(start) && std::isfinite(end), "arange: bounds must be finite");
  TANDEM_CHECK((end - start) / step >= 0, "arange: the sign of step ({}) goes away from end ({} -> {})",
               step, start, end);
  int64_t n = static_cast<int64_t>(std::ceil((end - start) / step));
  Tensor t = empty({n}, {.dtype = opts.dtype, .device = opts.device});
  fill_contiguous(t, [&](int64_t i) { return start + step * static_cast<double>(i); });
  if (opts.requires_grad) t.requires_grad_();
  return t;
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  TANDEM_CHECK(steps >= 0, "linspace: steps must be non-negative, got {}", steps);
  Tensor t = empty({steps}, {.dtype = opts.dtype, .device = opts.device});
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Like PyTorch, fill the second half from the end so both endpoints are exact.
  fill_contiguous(t, [&](int64_t i) {
    return i < steps / 2 ? start + step * static_cast<double>(i)
                         : end - step * static_cast<double>(steps - 1 - i);
  });
  if (opts.requires_grad) t.requires_grad_();
  return t;
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opts) {
  int64_t cols = m.value_or(n);
  TANDEM_CHECK(n >= 0 && cols >= 0, "eye: sizes must be non-negative, got {} x {}", n, cols);
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = zeros({n, cols}, opts);
  fill_contiguous(t, [&](int64_t i) { return (i / std::max<int64_t>(cols, 1)) == (i % std::max<int64_t>(cols, 1)) ? 1.0 : 0.0; });
  if (rg) t.requires_grad_();
  return t;
}

Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  TANDEM_CHECK(is_floating(opts.dtype), "rand: dtype must be floating point, got {}", opts.dtype);
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  if (opts.dtype == DType::Float64) {
    fill_contiguous(t, [&](int64_t) { return g.next_double(); });
  } else {
    fill_contiguous(t, [&](int64_t) { return static_cast<double>(g.next_float()); });
  }
  if (rg) t.requires_grad_();
  return t;
}

Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  TANDEM_CHECK(is_floating(opts.dtype), "randn: dtype must be floating point, got {}", opts.dtype);
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  fill_contiguous(t, [&](int64_t) { return g.next_normal(); });
  if (rg) t.requires_grad_();
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  TANDEM_CHECK(high > low, "randint: high ({}) must be greater than low ({})", high, low);
  Tensor t = empty(shape, {.dtype = opts.dtype, .device = opts.device});
  uint64_t range = static_cast<uint64_t>(high - low);
  fill_contiguous(t, [&](int64_t) {
    // NOTE: rejection sampling avoids modulo bias.
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r;
    do r = g.next_u64(); while (r >= limit);
    return static_cast<double>(low + static_cast<int64_t>(r % range));
  });
  return t;
}

Tensor rand_like(const Tensor& t, Generator* gen) { return rand(t.shape(), {.dtype = t.dtype()}, gen); }
Tensor randn_like(const Tensor& t, Generator* gen) { return randn(t.shape(), {.dtype = t.dtype()}, gen); }

template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<Shape> shape, TensorOptions opts) {
  Shape s = shape.value_or(Shape{static_cast<int64_t>(values.size())});
  TANDEM_CHECK(shape_numel(s) == static_cast<int64_t>(values.size()),
               "tensor: {} values do not fill shape {}", values.size(), shape_str(s));
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(s, opts);
  TANDEM_DISPATCH_ALL(t.dtype(), "tensor", [&] {
    auto* p = static_cast<scalar_t*>(t.data_ptr());
    for (size_t i = 0; i < values.size(); ++i) p[i] = cast_value<scalar_t>(values[i]);
  });
  if (rg) t.requires_grad_();
  return t;
}
template Tensor tensor<float>(const std::vector<float>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int32_t>(const std::vector<int32_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<uint8_t>(const std::vector<uint8_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int8_t>(const std::vector<int8_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int16_t>(const std::vector<int16_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<uint16_t>(const std::vector<uint16_t>&, std::optional<Shape>, TensorOptions);

Tensor tensor(std::initializer_list<double> values, TensorOptions opts) {
  return tensor(std::vector<double>(values), std::nullopt, opts);
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter,
                 std::optional<Shape> strides) {
  TANDEM_CHECK(data != nullptr || shape_numel(shape) == 0, "from_blob: null data pointer");
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = shape;
  impl->strides = strides.value_or(contiguous_strides(shape));
  TANDEM_CHECK(impl->strides.size() == shape.size(), "from_blob: {} strides for a {}-D shape",
               impl->strides.size(), shape.size());
  impl->numel = shape_numel(shape);
  impl->dtype = dtype;
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i) extent += (shape[i] - 1) * impl->strides[i];
  impl->storage = std::make_shared<Storage>(data, extent * tandem::itemsize(dtype), Device::CPU,
                                            std::move(deleter));
  return Tensor(std::move(impl));
}

// ---- printing

namespace {
constexpr int64_t kSummarizeThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

void print_rec(std::ostream& os, const Tensor& t, const std::vector<double>& flat_unused,
               int64_t dim, int64_t offset, bool summarize, int indent, bool is_float,
               int precision) {
  (void)flat_unused;
  const void* base = t.data_ptr();
  auto fmt_elem = [&](int64_t off) {
    if (t.dtype() == DType::Bool) return std::string(load_as<bool>(base, t.dtype(), off) ? "True" : "False");
    if (!is_float) return fmt::format("{}", load_as<int64_t>(base, t.dtype(), off));
    double v = load_as<double>(base, t.dtype(), off);
    if (std::isnan(v)) return std::string("nan");
    if (std::isinf(v)) return std::string(v > 0 ? "inf" : "-inf");
    return fmt::format("{:.{}f}", v, precision);
  };
  if (t.dim() == 0) {
    os << fmt_elem(offset);
    return;
  }
  int64_t n = t.shape()[dim];
  int64_t stride = t.strides()[dim];
  os << '[';
  bool last = dim == t.dim() - 1;
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (last ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdgeItems;
    }
    if (last) {
      os << fmt_elem(offset + i * stride);
    } else {
      print_rec(os, t, flat_unused, dim + 1, offset + i * stride, summarize, indent + 1, is_float,
                precision);
    }
    if (i + 1 < n) os << (last ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}
}  // namespace

std::string Tensor::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  bool is_float = is_floating(t.dtype());
  print_rec(os, t, {}, 0, 0, t.numel() > kSummarizeThreshold, 7, is_float, 4);
  if (t.dtype() != DType::Float32 && t.dtype() != DType::Int64 && t.dtype() != DType::Bool)
    os << ", dtype=" << dtype_name(t.dtype());
  if (t.numel() == 0) os << ", size=" << shape_str(t.shape());
  if (std::string fn = detail::grad_fn_name(t); !fn.empty()) os << ", grad_fn=<" << fn << ">";
  else if (t.requires_grad()) os << ", requires_grad=True";
  return os << ')';
}

// ---- threads and numerics

void set_num_threads(int n) {
  TANDEM_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got {}", n);
  omp_set_num_threads(n);
}
int get_num_threads() { return omp_get_max_threads(); }

namespace {
bool g_flush_denormal = true;
void apply_ftz(bool on) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned csr = __builtin_ia32_stmxcsr();
  constexpr unsigned kFTZ = 0x8000, kDAZ = 0x0040;
  csr = on ? (csr | kFTZ | kDAZ) : (csr & ~(kFTZ | kDAZ));
  __builtin_ia32_ldmxcsr(csr);
#else
  (void)on;
#endif
}
// NOTE: threads inherit the creating thread's MXCSR, so setting it on the main
// thread before the OpenMP pool starts covers the pool too.
struct DenormalInit {
  DenormalInit() { apply_ftz(true); }
} g_denormal_init;
}  // namespace

void set_flush_denormal(bool on) {
  g_flush_denormal = on;
  apply_ftz(on);
  // NOTE: MXCSR is per thread; set it in every OpenMP worker (oneDNN shares the pool).
#pragma omp parallel
  apply_ftz(on);
}
bool get_flush_denormal() { return g_flush_denormal; }

}  // namespace tandem
