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
// This thread's hook; null outside tracing. NOTE: an accessor, not an extern thread_local:
// GCC 12's UBSan reports stores through another TU's extern thread_local pointer as stores to
// null. Reads in tensor.cpp test the thread-local directly (one pointer test per host read).
ValueReadHook*& value_read_hook();

// A host read that only validates (throws on a bad value, never changes what is computed) is
// fine while tracing: the kernels that use the values check them again on every compiled run.
class ValidationRead {
 public:
  ValidationRead() : saved_(value_read_hook()) { value_read_hook() = nullptr; }
  ~ValidationRead() { value_read_hook() = saved_; }
  ValidationRead(const ValidationRead&) = delete;
  ValidationRead& operator=(const ValidationRead&) = delete;

 private:
  ValueReadHook* saved_;
};

}  // namespace detail
}  // namespace tandem
