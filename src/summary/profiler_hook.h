// The profiler's hook in dispatch (src/ops/dispatch.cpp): an OpScope around each op costs
// one relaxed load and a never-taken branch while no Profiler records.
#pragma once
#include <atomic>
#include <vector>

#include "tandem/opdef.h"
#include "tandem/tensor.h"

namespace tandem::profiler::detail {

extern std::atomic<bool> g_enabled;

int64_t now_ns();
void record_op(const OpDef& def, const std::vector<Tensor>& inputs,
               const std::vector<Tensor>* outs, int64_t start_ns, bool inplace);

class OpScope {
 public:
  // `outs`: where the op's outputs will be (for the allocated-bytes count); may be null.
  // `inplace`: recorded as "<name>_" (PyTorch's spelling of in-place ops).
  OpScope(const OpDef& def, const std::vector<Tensor>& inputs, const std::vector<Tensor>* outs,
          bool inplace = false) {
    if (g_enabled.load(std::memory_order_relaxed)) [[unlikely]] {
      def_ = &def, inputs_ = &inputs, outs_ = outs, inplace_ = inplace;
      start_ = now_ns();
    }
  }
  ~OpScope() {
    if (def_) [[unlikely]] record_op(*def_, *inputs_, outs_, start_, inplace_);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const OpDef* def_ = nullptr;
  const std::vector<Tensor>* inputs_ = nullptr;
  const std::vector<Tensor>* outs_ = nullptr;
  int64_t start_ = 0;
  bool inplace_ = false;
};

}  // namespace tandem::profiler::detail
