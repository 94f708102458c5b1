// Hook on reads of tensor values from host code (item(), to_vector(), data_ptr()), set while
// tandem::compile traces a function (src/graph/trace.cpp): reading a traced tensor's value
// there would bake that value into the graph, so the tracer turns it into an Error.
#pragma once

namespace tandem {
struct TensorImpl;
namespace detail {

struct ValueReadHook {
  virtual ~ValueReadHook() = default;
  virtual void on_read(const TensorImpl* impl, const char* what) = 0;
};
// NOTE: one thread-local pointer test per host read; null outside tracing.
extern thread_local ValueReadHook* t_value_read_hook;

// A host read that only validates (throws on a bad value, never changes what is computed) is
// fine while tracing: the kernels that use the values check them again on every compiled run.
class ValidationRead {
 public:
  ValidationRead() : saved_(t_value_read_hook) { t_value_read_hook = nullptr; }
  ~ValidationRead() { t_value_read_hook = saved_; }
  ValidationRead(const ValidationRead&) = delete;
  ValidationRead& operator=(const ValidationRead&) = delete;

 private:
  ValueReadHook* saved_;
};

}  // namespace detail
}  // namespace tandem
