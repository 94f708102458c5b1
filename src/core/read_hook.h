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

}  // namespace detail
}  // namespace tandem
