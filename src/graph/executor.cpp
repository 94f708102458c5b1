// The executor: Plan::run binds the per-run buffers (inputs, variables, outputs) to the
// pre-built handles, calls each step's kernel directly (no dispatch, no shape rule, no
// allocation), then copies the outputs that are not written in place and applies the updates.
#include <fmt/format.h>

#include "../backend/cpu/loops.h"
#include "../ops/observer.h"
#include "plan_impl.h"
#include "tandem/autograd.h"

namespace tandem::graph {

using namespace detail;

namespace {
std::string meta_str(DType d, const Shape& s) { return fmt::format("{}{}", dtype_name(d), tandem::shape_str(s)); }
}  // namespace

Plan::Plan() = default;
Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::~Plan() = default;
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;

size_t Plan::arena_bytes() const { return impl_->stats.arena_bytes; }
size_t Plan::num_steps() const { return impl_->steps.size(); }
const MemoryStats& Plan::memory() const { return impl_->stats; }
const std::vector<TensorMeta>& Plan::input_metas() const { return impl_->input_metas; }
const std::vector<TensorMeta>& Plan::output_metas() const { return impl_->output_metas; }

size_t Plan::num_variables() const { return impl_->variables.size(); }

void Plan::set_variable(size_t index, const Tensor& live) {
  Impl& p = *impl_;
  TANDEM_CHECK(index < p.variables.size(), "graph::Plan::set_variable: index {} out of range ({} variables)", index,
               p.variables.size());
  const TensorMeta& m = p.vals[p.input_vals.size() + index].meta;
  TANDEM_CHECK(live.defined() && live.dtype() == m.dtype && live.shape() == m.shape &&
                   live.strides() == p.variable_strides[index] && live.device() == Device::CPU,
               "graph::Plan::set_variable: variable '{}' was lowered as {} with strides {}, got {}; lower the "
               "graph again", p.variable_names[index], meta_str(m.dtype, m.shape),
               tandem::shape_str(p.variable_strides[index]),
               live.defined() ? fmt::format("{} with strides {}", meta_str(live.dtype(), live.shape()),
                                            tandem::shape_str(live.strides()))
                              : std::string("an undefined tensor"));
  TANDEM_CHECK(!p.busy.load(), "graph::Plan::set_variable: the plan is running");
  p.variables[index] = live;
}

std::vector<Plan::PlannedBuffer> Plan::arena_buffers() const {
  std::vector<PlannedBuffer> out;
  for (const Buffer& b : impl_->buffers)
    if (b.alias_of < 0 && b.where == Where::Arena) out.push_back({b.offset, b.bytes, b.first, b.last});
  return out;
}

namespace {

// Clears the busy flag however run() leaves.
struct BusyGuard {
  std::atomic<bool>& flag;
  explicit BusyGuard(std::atomic<bool>& f) : flag(f) {
    TANDEM_CHECK(!flag.exchange(true),
                 "graph::Plan::run: the plan is already running on another thread; a Plan runs one call "
                 "at a time (lower one Plan per thread)");
  }
  ~BusyGuard() { flag.store(false); }
};

void run_steps(Plan::Impl& p) {
  for (Step& st : p.steps) {
    switch (st.kind) {
      case StepKind::Kernel: {
        tandem::detail::ObservedOp observed(*st.op, st.ins, nullptr);  // one never-taken branch when off
        st.op->cpu(KernelArgs{st.ins, st.outs, st.attrs});
        for (size_t k = 0; k < st.outs.size(); ++k) {
          if (st.outs[k].impl() == st.out_impls[k]) continue;
          // The kernel replaced its output handle: copy the result into the planned buffer.
          Tensor got = st.outs[k];
          Tensor planned(p.slots[p.vals[st.out_vals[k]].slot].impl);
          cpu::copy_into(planned, got);
          st.outs[k] = planned;
        }
        break;
      }
      case StepKind::View:
        break;
      case StepKind::Copy:
        cpu::copy_into(st.copy_dst, st.ins[0]);
        break;
      case StepKind::Dispatch: {
        std::vector<Tensor> r = dispatch(*st.op, st.ins, st.attrs);
        for (size_t k = 0; k < st.outs.size(); ++k) cpu::copy_into(st.outs[k], r.at(k));
        break;
      }
    }
  }
}

}  // namespace

void Plan::run_into(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  TANDEM_CHECK(impl_ != nullptr, "graph::Plan::run: the plan is empty (moved from?)");
  Impl& p = *impl_;
  TANDEM_CHECK(!p.stats_only, "graph::Plan::run: this plan was lowered with LowerOptions::allocate = false "
               "(memory statistics only); lower it again with allocate = true to run it");
  BusyGuard busy(p.busy);
  TANDEM_CHECK(inputs.size() == p.input_vals.size(), "graph::Plan::run: expected {} inputs, got {}",
               p.input_vals.size(), inputs.size());
  TANDEM_CHECK(outputs.size() == p.output_vals.size(), "graph::Plan::run: expected {} output tensors, got {}",
               p.output_vals.size(), outputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    const TensorMeta& m = p.input_metas[i];
    TANDEM_CHECK(x.defined(), "graph::Plan::run: input {} '{}' is undefined; expected {}", i, p.input_names[i],
                 meta_str(m.dtype, m.shape));
    TANDEM_CHECK(x.dtype() == m.dtype && x.shape() == m.shape && x.device() == Device::CPU,
                 "graph::Plan::run: input {} '{}' expected {}, got {}{}; lower the graph again for other "
                 "shapes (LowerOptions::input_shapes)", i, p.input_names[i], meta_str(m.dtype, m.shape),
                 meta_str(x.dtype(), x.shape()), x.device() == Device::CPU ? "" : " on another device");
    if (x.is_contiguous()) {
      p.roots[p.slots[p.vals[p.input_vals[i]].slot].buffer] = &x;
    } else {
      p.contiguous_inputs[i] = x.contiguous();
      p.roots[p.slots[p.vals[p.input_vals[i]].slot].buffer] = &p.contiguous_inputs[i];
    }
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& y = outputs[k];
    const TensorMeta& m = p.output_metas[k];
    TANDEM_CHECK(y.defined() && y.dtype() == m.dtype && y.shape() == m.shape && y.is_contiguous() &&
                     y.device() == Device::CPU,
                 "graph::Plan::run_into: output {} must be a contiguous CPU tensor {}, got {}", k,
                 meta_str(m.dtype, m.shape), y.defined() ? meta_str(y.dtype(), y.shape()) : "undefined");
  }
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const Buffer& buf = p.buffers[b];
    if (buf.alias_of >= 0) continue;
    if (buf.where == Where::Output) {
      p.roots[b] = &outputs[buf.index];
    } else if (buf.where == Where::Variable) {
      p.roots[b] = &p.variables[buf.index];
    }
  }
  for (size_t j = 0; j < p.variables.size(); ++j) {
    const Tensor& v = p.variables[j];
    TANDEM_CHECK(v.dtype() == p.variable_dtypes[j] && v.strides() == p.variable_strides[j] &&
                     v.shape() == p.vals[p.input_vals.size() + j].meta.shape &&
                     v.device() == Device::CPU,
                 "graph::Plan::run: variable '{}' changed dtype, shape, layout or device since lowering (now {} with strides "
                 "{}); lower the graph again", p.variable_names[j], meta_str(v.dtype(), v.shape()),
                 tandem::shape_str(v.strides()));
  }
  for (int s : p.rebind) {
    Slot& sl = p.slots[s];
    const Tensor& root = *p.roots[sl.buffer];
    sl.impl->storage = root.storage();
    sl.impl->offset = root.offset() + sl.rel;
  }
  {
    NoGradGuard no_grad;
    run_steps(p);
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (!p.output_copies[k]) continue;
      cpu::copy_into(outputs[k], Tensor(p.slots[p.vals[p.output_vals[k]].slot].impl));
    }
    for (const Update& u : p.updates) {
      const Tensor& var = p.variables[u.variable];
      if (!u.direct) cpu::copy_into(var, Tensor(p.slots[p.vals[u.val].slot].impl));
      var.storage()->bump_version();
    }
  }
  // Drop the references to the caller's tensors (no memory of theirs is held between runs).
  for (int s : p.rebind) p.slots[s].impl->storage = p.placeholder;
  for (Tensor& t : p.contiguous_inputs) t = Tensor();
}

std::vector<Tensor> Plan::run(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(impl_ != nullptr, "graph::Plan::run: the plan is empty (moved from?)");
  std::vector<Tensor> outs;
  outs.reserve(impl_->output_metas.size());
  for (const TensorMeta& m : impl_->output_metas) outs.push_back(empty(m.shape, {.dtype = m.dtype}));
  run_into(inputs, outs);
  return outs;
}

}  // namespace tandem::graph
