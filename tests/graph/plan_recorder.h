// Test helper for the Plan tests: records eager code into a Graph through dispatch's
// interceptor hook, running every op eagerly at the same time, so each test gets both the graph
// and its eager reference outputs. Deliberately minimal (the real tracer is tandem::compile):
// tensors seen for the first time become variables when registered with `variable`, constants
// otherwise; in-place ops are recorded out of place.
//
//   PlanRecorder rec;
//   Tensor x = randn({4, 8});
//   rec.input("x", x);
//   rec.variable("w", w);
//   std::vector<Tensor> eager = rec.record([&] { return std::vector<Tensor>{relu(linear(x, w))}; });
//   graph::Plan plan = graph::lower(rec.graph);
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/graph/ir.h"
#include "tandem/models.h"
#include "tandem/tandem.h"

namespace tandem::testing {

class PlanRecorder : public DispatchInterceptor {
 public:
  graph::Graph graph;

  graph::Value* input(const std::string& name, const Tensor& t) {
    graph::Value* v = graph.add_input(name, t.dtype(), graph::sym_shape(t.shape()));
    map_[t.impl()] = v;
    keep_.push_back(t);
    return v;
  }
  graph::Value* variable(const std::string& name, const Tensor& t) {
    graph::Value* v = graph.add_variable(name, t);
    map_[t.impl()] = v;
    keep_.push_back(t);
    return v;
  }
  graph::Value* value_of(const Tensor& t) {
    auto it = map_.find(t.impl());
    if (it != map_.end()) return it->second;
    graph::Value* v = graph.add_constant(t);
    map_[t.impl()] = v;
    keep_.push_back(t);
    return v;
  }

  // Runs fn eagerly while recording; its results become the graph outputs.
  std::vector<Tensor> record(const std::function<std::vector<Tensor>()>& fn) {
    DispatchInterceptor* old = set_dispatch_interceptor(this);
    std::vector<Tensor> outs;
    try {
      outs = fn();
    } catch (...) {
      set_dispatch_interceptor(old);
      throw;
    }
    set_dispatch_interceptor(old);
    std::vector<graph::Value*> vs;
    for (const Tensor& t : outs) vs.push_back(value_of(t));
    graph.set_outputs(vs);
    return outs;
  }

  std::vector<Tensor> run(const OpDef& def, const std::vector<Tensor>& inputs, const Attrs& attrs) override {
    std::vector<graph::Value*> vin;
    for (const Tensor& t : inputs) vin.push_back(t.defined() ? value_of(t) : nullptr);
    DispatchInterceptor* self = set_dispatch_interceptor(nullptr);
    std::vector<Tensor> outs;
    try {
      outs = dispatch(def, inputs, attrs);
    } catch (...) {
      set_dispatch_interceptor(self);
      throw;
    }
    set_dispatch_interceptor(self);
    graph::Node* n = graph.add_node(def, vin, attrs);
    for (size_t k = 0; k < outs.size(); ++k) {
      map_[outs[k].impl()] = n->outputs[k];
      keep_.push_back(outs[k]);
    }
    return outs;
  }

  // In place: recorded as an out-of-place node whose output replaces self's value.
  void run_inplace(const OpDef& def, Tensor& self, std::vector<Tensor>& others, const Attrs& attrs) override {
    std::vector<graph::Value*> vin = {value_of(self)};
    for (const Tensor& t : others) vin.push_back(t.defined() ? value_of(t) : nullptr);
    DispatchInterceptor* me = set_dispatch_interceptor(nullptr);
    try {
      dispatch_inplace(def, self, others, attrs);
    } catch (...) {
      set_dispatch_interceptor(me);
      throw;
    }
    set_dispatch_interceptor(me);
    map_[self.impl()] = graph.add_node(def, vin, attrs)->output();
  }

 private:
  std::unordered_map<TensorImpl*, graph::Value*> map_;
  std::vector<Tensor> keep_;  // keeps every recorded TensorImpl alive (no address reuse)
};

}  // namespace tandem::testing
