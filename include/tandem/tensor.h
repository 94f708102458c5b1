// tandem::Tensor — an n-dimensional array with define-by-run autograd.
//
//   #include <tandem/tandem.h>
//   using namespace tandem;
//   Tensor w = randn({3, 2}).requires_grad_();
//   Tensor x = ones({4, 3});
//   Tensor loss = relu(matmul(x, w)).sum();
//   loss.backward();               // w.grad() now holds d loss / d w
//   std::cout << w.grad() << "\n";
//
// Ownership and aliasing: a Tensor is a shared handle. Copying a Tensor is a
// shallow copy (both handles see the same TensorImpl). Views (reshape of a
// contiguous tensor, permute, slice, expand, ...) are new TensorImpls that share
// the same Storage; writing through one view is visible through every other.
// `clone()` makes a deep copy. Storage carries the version counter bumped by
// every in-place write, shared by all views of it.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tandem/dtype.h"
#include "tandem/error.h"

namespace tandem {

using Shape = std::vector<int64_t>;
using IntArray = std::vector<int64_t>;

enum class Device : uint8_t { CPU, CUDA };
std::string_view device_name(Device d);

// Owns (or borrows) a block of bytes. Blocks it owns come from the caching allocator.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Borrows `data` (no copy); `deleter` (may be empty) runs when the storage dies.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_ = Device::CPU;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  uint64_t version_ = 0;
};

class Tensor;
namespace autograd {
struct Node;
struct AutogradMeta;
}  // namespace autograd

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  int64_t numel = 1;
  DType dtype = DType::Float32;
  // A C++ number turned into a 0-dim tensor (`x + 2.0`): lowest priority in type promotion.
  bool is_wrapped_number = false;
  // Made by a view op from another tensor's storage (autograd refuses in-place
  // changes through views of tensors that require grad: the base would not see them).
  bool is_view = false;
  std::unique_ptr<autograd::AutogradMeta> autograd;  // null until autograd needs it

  TensorImpl();
  ~TensorImpl();
};

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  bool requires_grad = false;
};

using TensorHook = std::function<Tensor(const Tensor&)>;  // return undefined to keep the grad

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- metadata
  const Shape& shape() const { return impl_->sizes; }
  const Shape& sizes() const { return impl_->sizes; }
  const Shape& strides() const { return impl_->strides; }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl_->sizes.size()); }
  int64_t numel() const { return impl_->numel; }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  size_t itemsize() const { return tandem::itemsize(impl_->dtype); }
  size_t nbytes() const { return numel() * itemsize(); }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  bool shares_storage(const Tensor& other) const { return storage() == other.storage(); }

  // ---- data access (CPU)
  void* data_ptr() const;  // address of element 0 (storage + offset)
  template <typename T>
  T* data() const {
    TANDEM_CHECK(dtype_v<T> == dtype(), "Tensor::data<{}>(): tensor has dtype {}", dtype_v<T>,
                 dtype());
    return static_cast<T*>(data_ptr());
  }
  template <typename T>
  T item() const;  // the single element, converted to T; Error unless numel()==1
  double item() const { return item<double>(); }
  template <typename T>
  std::vector<T> to_vector() const;  // all elements in row-major order, converted to T

  // ---- autograd
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  uint32_t output_nr() const;
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  Tensor detach() const;  // shares storage, no history
  void retain_grad() const;
  bool retains_grad() const;
  void register_hook(TensorHook hook) const;
  uint64_t version() const { return impl_->storage->version(); }

  // ---- conversions and copies
  Tensor to(DType dtype) const;
  Tensor clone() const;
  Tensor contiguous() const;
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_();

  // ---- views (share storage)
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const IntArray& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
               int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // ---- common ops as methods (see ops.h for the full list)
  Tensor sum(const IntArray& dims = {}, bool keepdim = false) const;
  Tensor mean(const IntArray& dims = {}, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor pow(double exponent) const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor matmul(const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, double value) const;

  // ---- in-place arithmetic (bumps the version counter)
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& div_(const Tensor& other);
  Tensor& add_(double other);
  Tensor& mul_(double other);
  Tensor& clamp_(std::optional<double> min, std::optional<double> max);
  Tensor& masked_fill_(const Tensor& mask, double value);
  Tensor& operator+=(const Tensor& o) { return add_(o); }
  Tensor& operator-=(const Tensor& o) { return sub_(o); }
  Tensor& operator*=(const Tensor& o) { return mul_(o); }
  Tensor& operator/=(const Tensor& o) { return div_(o); }

  std::string str() const;  // same text as operator<<

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor arange(double end, TensorOptions opts = {.dtype = DType::Int64});
Tensor arange(double start, double end, double step = 1.0,
              TensorOptions opts = {.dtype = DType::Int64});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions opts = {});
Tensor scalar_tensor(double value, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

class Generator;
Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);   // U[0,1)
Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);  // N(0,1)
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               TensorOptions opts = {.dtype = DType::Int64}, Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);

// Copies `values` into a new tensor of `shape` (default: 1-D).
template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<Shape> shape = std::nullopt,
              TensorOptions opts = {.dtype = dtype_v<T>});
Tensor tensor(std::initializer_list<double> values, TensorOptions opts = {});
// Wraps an external buffer without copying; `deleter` runs when the last view dies.
Tensor from_blob(void* data, const Shape& shape, DType dtype,
                 std::function<void(void*)> deleter = {}, std::optional<Shape> strides = {});

// Shape helpers
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op = "");
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");
std::string shape_str(const Shape& shape);  // "[2, 3]"

// ---- threads and numerics
void set_num_threads(int n);
int get_num_threads();
// Flush denormals to zero in every kernel thread (default: on).
void set_flush_denormal(bool on);
bool get_flush_denormal();

}  // namespace tandem
