// Callbacks at the end of a backward pass (torch's Variable._execution_engine.queue_callback).
//
//   t.register_hook([&](const Tensor& g) {          // runs while backward() walks the graph
//     autograd::queue_callback([&] { flush(); });   // runs once backward() has finished
//     return Tensor();
//   });
//
// DistributedDataParallel uses it to wait for its gradient all-reduces before backward()
// returns. A callback queued outside backward() runs at the end of the next one on this
// thread; callbacks run in the order queued; one that queues another runs it in the same
// flush. An exception from backward() (or a callback) drops the callbacks not yet run.
#pragma once
#include <functional>

namespace tandem::autograd {

void queue_callback(std::function<void()> fn);

}  // namespace tandem::autograd
