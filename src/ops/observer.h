// The op observer: dispatch (src/ops/dispatch.cpp) and the plan executor announce each op they
// run to at most one observer, a function set while something records (the profiler does). An
// ObservedOp around an op costs one relaxed load and a never-taken branch while none is set.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "tandem/opdef.h"
#include "tandem/tensor.h"

namespace tandem::detail {

// Called when an op ends. `outs`: the op's outputs (may be null); `start_ns`: op_clock_ns() when
// it began; `inplace`: an in-place op (PyTorch spells it "<name>_"). Must not throw.
using OpObserver = void (*)(const OpDef& def, const std::vector<Tensor>& inputs,
                            const std::vector<Tensor>* outs, int64_t start_ns, bool inplace);

extern std::atomic<OpObserver> g_op_observer;

// Sets (or, with nullptr, clears) the observer; returns the one it replaces.
inline OpObserver set_op_observer(OpObserver fn) {
  return g_op_observer.exchange(fn, std::memory_order_acq_rel);
}

// The clock observers are given (steady, nanoseconds).
int64_t op_clock_ns();

class ObservedOp {
 public:
  ObservedOp(const OpDef& def, const std::vector<Tensor>& inputs, const std::vector<Tensor>* outs,
             bool inplace = false) {
    if (OpObserver fn = g_op_observer.load(std::memory_order_relaxed)) [[unlikely]] {
      fn_ = fn, def_ = &def, inputs_ = &inputs, outs_ = outs, inplace_ = inplace;
      start_ = op_clock_ns();
    }
  }
  ~ObservedOp() {
    if (fn_) [[unlikely]] fn_(*def_, *inputs_, outs_, start_, inplace_);
  }
  ObservedOp(const ObservedOp&) = delete;
  ObservedOp& operator=(const ObservedOp&) = delete;

 private:
  OpObserver fn_ = nullptr;
  const OpDef* def_ = nullptr;
  const std::vector<Tensor>* inputs_ = nullptr;
  const std::vector<Tensor>* outs_ = nullptr;
  int64_t start_ = 0;
  bool inplace_ = false;
};

}  // namespace tandem::detail
