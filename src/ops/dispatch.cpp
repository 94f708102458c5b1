// dispatch: infer -> allocate -> kernel -> record (docs/architecture.md "How data flows").
#include <algorithm>
#include <chrono>

#include "../backend/cpu/loops.h"
#include "autocast_ops.h"
#include "observer.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"
#include "tandem/opdef.h"

namespace tandem {

namespace detail {
std::atomic<OpObserver> g_op_observer{nullptr};

int64_t op_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace detail

namespace {

thread_local DispatchInterceptor* t_interceptor = nullptr;
thread_local bool t_autocast = false;
thread_local DType t_autocast_dtype = DType::BFloat16;

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// The kernel takes this half type as it is (else dispatch widens to float32).
bool kernel_takes_half(const OpDef& def, DType t) {
  return def.supports_half || (t == DType::BFloat16 && detail::autocast_op(def).bf16_kernel);
}

// Autocast: the inputs `def` wants in this scope, in `cast`; false when none changes.
bool autocast_inputs(const OpDef& def, AutocastPolicy policy, const std::vector<Tensor>& inputs,
                     std::vector<Tensor>& cast) {
  const bool lower = policy == AutocastPolicy::Lower;
  const DType want = lower ? t_autocast_dtype : DType::Float32;
  auto changes = [&](const Tensor& t) {
    return t.defined() && (lower ? t.dtype() == DType::Float32 : t.dtype() == t_autocast_dtype);
  };
  if (std::none_of(inputs.begin(), inputs.end(), changes)) return false;
  cast = inputs;
  for (Tensor& t : cast)
    if (changes(t)) t = t.to(want);
  return true;
}

void check_inputs(const OpDef& def, const std::vector<Tensor>& inputs) {
  if (def.num_inputs >= 0)
    TANDEM_CHECK(static_cast<int>(inputs.size()) == def.num_inputs,
                 "{}: expected {} inputs, got {}", def.name, def.num_inputs, inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) continue;
    bool optional = false;
    for (int k : def.optional_inputs) optional |= (k == static_cast<int>(i));
    TANDEM_CHECK(optional, "{}: input {} is an undefined tensor", def.name, i);
  }
}

// NOTE: per-thread scratch vectors reused from call to call (by nesting depth:
// kernels and backward formulas call ops too), so that a steady-state dispatch
// allocates little more than its outputs. Assigning a Shape into a reused
// TensorMeta keeps the vector's capacity.
struct Scratch {
  std::vector<TensorMeta> in_meta;
  std::vector<Tensor> outs;
};
thread_local std::vector<std::unique_ptr<Scratch>> t_scratch;
thread_local size_t t_depth = 0;
struct ScratchLease {
  Scratch* s;
  ScratchLease() {
    if (t_scratch.size() <= t_depth) t_scratch.push_back(std::make_unique<Scratch>());
    s = t_scratch[t_depth++].get();
  }
  ~ScratchLease() {
    s->outs.clear();
    --t_depth;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
};

void fill_meta(TensorMeta& m, const Tensor& t) {
  if (!t.defined()) {
    m.shape.clear();
    m.dtype = DType::Float32;
    m.device = Device::CPU;
    m.is_wrapped_number = false;
    m.defined = false;
    return;
  }
  m.shape = t.shape();
  m.dtype = t.dtype();
  m.device = t.device();
  m.is_wrapped_number = t.impl()->is_wrapped_number;
  m.defined = true;
}

// A fresh contiguous tensor for an inferred output; takes the shape from `m`.
Tensor make_output(TensorMeta& m, Device dev) {
  for (int64_t s : m.shape)
    TANDEM_CHECK(s >= 0, "empty: negative dimension in shape {}", shape_str(m.shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->strides = contiguous_strides(m.shape);
  impl->numel = shape_numel(m.shape);
  impl->sizes = std::move(m.shape);
  impl->dtype = m.dtype;
  impl->storage = std::make_shared<Storage>(impl->numel * itemsize(m.dtype), dev);
  return Tensor(std::move(impl));
}

void run_kernel(const OpDef& def, const std::vector<Tensor>& inputs,
                std::vector<TensorMeta>& out_meta, const Attrs& attrs, std::vector<Tensor>& outs) {
  if (def.view) {
    outs = def.view(inputs, attrs);
    return;
  }
  Device dev = Device::CPU;
  for (const Tensor& t : inputs)
    if (t.defined()) dev = t.device();
  KernelFn kernel = dev == Device::CPU ? def.cpu : def.cuda;
  TANDEM_CHECK(kernel != nullptr, "{}: no kernel for device {}", def.name, device_name(dev));
  outs.reserve(out_meta.size());
  for (TensorMeta& m : out_meta) outs.push_back(make_output(m, dev));
  kernel(KernelArgs{inputs, outs, attrs});
}

void dispatch_into(const OpDef& def, const std::vector<Tensor>& inputs, const Attrs& attrs,
                   std::vector<Tensor>& outs) {
  if (t_autocast) {
    // NOTE: before the interceptor, so that a traced function records the casts as `to` nodes.
    AutocastPolicy policy = detail::autocast_op(def).policy;
    std::vector<Tensor> cast;
    if (policy != AutocastPolicy::None && autocast_inputs(def, policy, inputs, cast))
      return dispatch_into(def, cast, attrs, outs);
  }
  detail::ObservedOp observed(def, inputs, &outs);  // one never-taken branch when off
  check_inputs(def, inputs);
  if (t_interceptor) {
    outs = t_interceptor->run(def, inputs, attrs);
    return;
  }
  std::vector<TensorMeta> out_meta;
  bool has_half = false;  // an input the kernel does not take as it is
  {
    ScratchLease lease;
    std::vector<TensorMeta>& in_meta = lease.s->in_meta;
    in_meta.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      fill_meta(in_meta[i], inputs[i]);
      has_half |= inputs[i].defined() && is_half(inputs[i].dtype()) && !kernel_takes_half(def, inputs[i].dtype());
    }
    out_meta = def.infer(in_meta, attrs);
  }

  if (has_half && !def.view) {
    // NOTE: float16/bfloat16 are storage types: compute in float32, round once at the end.
    std::vector<Tensor> wide = inputs;
    for (Tensor& t : wide)
      if (t.defined() && is_half(t.dtype())) t = t.to(DType::Float32);
    outs = dispatch(def, std::move(wide), attrs);
    for (size_t i = 0; i < outs.size(); ++i)
      if (outs[i].dtype() != out_meta[i].dtype) outs[i] = outs[i].to(out_meta[i].dtype);
    return;
  }

  run_kernel(def, inputs, out_meta, attrs, outs);
  if (autograd::needs_record(def, inputs)) autograd::record(def, inputs, outs, attrs);
}

}  // namespace

bool is_autocast_enabled() { return t_autocast; }
DType get_autocast_dtype() { return t_autocast_dtype; }
void set_autocast_enabled(bool on, DType dtype) {
  TANDEM_CHECK(dtype == DType::BFloat16, "autocast: the CPU runs bfloat16 only, got {}", dtype);
  t_autocast = on;
  t_autocast_dtype = dtype;
}

DispatchInterceptor* set_dispatch_interceptor(DispatchInterceptor* interceptor) {
  DispatchInterceptor* old = t_interceptor;
  t_interceptor = interceptor;
  return old;
}

std::vector<Tensor> dispatch(const OpDef& def, std::vector<Tensor> inputs, const Attrs& attrs) {
  std::vector<Tensor> outs;
  dispatch_into(def, inputs, attrs, outs);
  return outs;
}

Tensor dispatch1(const OpDef& def, std::vector<Tensor> inputs, const Attrs& attrs) {
  ScratchLease lease;
  std::vector<Tensor>& outs = lease.s->outs;
  outs.clear();
  dispatch_into(def, inputs, attrs, outs);
  return std::move(outs[0]);
}

Tensor& dispatch_inplace(const OpDef& def, Tensor& self, std::vector<Tensor> others,
                         const Attrs& attrs) {
  TANDEM_CHECK(self.defined(), "{}_: in-place op on an undefined tensor", def.name);
  if (t_interceptor) {
    t_interceptor->run_inplace(def, self, others, attrs);
    return self;
  }
  std::vector<Tensor> inputs;
  inputs.reserve(others.size() + 1);
  inputs.push_back(self);
  for (Tensor& t : others) inputs.push_back(std::move(t));
  detail::ObservedOp observed(def, inputs, nullptr, /*inplace=*/true);
  bool record = autograd::needs_record(def, inputs);
  if (record) {
    TANDEM_CHECK(!(self.is_leaf() && self.requires_grad()),
                 "{}_: a leaf tensor that requires grad (shape {}) is used in an in-place "
                 "operation; wrap the update in NoGradGuard or use the out-of-place {}",
                 def.name, shape_str(self.shape()), def.name);
    TANDEM_CHECK(!self.impl()->is_view,
                 "{}_: in-place change of a view (shape {}) while recording gradients is not "
                 "supported: the tensor it views would not see the change in its history. Use the "
                 "out-of-place {} (or clone() the view first)", def.name, shape_str(self.shape()),
                 def.name);
  }
  TensorMeta out;
  {
    ScratchLease lease;
    std::vector<TensorMeta>& in_meta = lease.s->in_meta;
    in_meta.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) fill_meta(in_meta[i], inputs[i]);
    out = std::move(def.infer(in_meta, attrs)[0]);
  }
  TANDEM_CHECK(out.shape == self.shape(),
               "{}_: the result has shape {} but the in-place target has shape {}", def.name,
               shape_str(out.shape), shape_str(self.shape()));
  TANDEM_CHECK(promote_types(out.dtype, self.dtype()) == self.dtype() ||
                   (is_floating(self.dtype()) && is_floating(out.dtype)),
               "{}_: result type {} can't be cast to the in-place target's dtype {}", def.name,
               out.dtype, self.dtype());

  bool any_half = false;
  for (const Tensor& t : inputs) any_half |= t.defined() && is_half(t.dtype());
  if (!record && def.elementwise && def.cpu && self.is_contiguous() && out.dtype == self.dtype() &&
      self.device() == Device::CPU && (def.supports_half || !any_half)) {
    // Fast path: the elementwise kernel writes straight into self.
    ScratchLease lease;
    std::vector<Tensor>& outs = lease.s->outs;
    outs.clear();
    outs.push_back(self);
    def.cpu(KernelArgs{inputs, outs, attrs});
    self.storage()->bump_version();
    return self;
  }
  Tensor result;
  if (record) {
    // The op's saved input must keep the old values: run it on a copy of self,
    // whose history links back to self's old history.
    inputs[0] = self.clone();
    result = dispatch1(def, inputs, attrs);
  } else {
    result = dispatch1(def, inputs, attrs);
  }
  {
    NoGradGuard ng;
    Tensor dst = self.detach();
    cpu::copy_into(dst, result);
  }
  self.storage()->bump_version();
  if (record) {
    auto* meta = self.impl()->autograd.get();
    if (!meta) {
      self.impl()->autograd = std::make_unique<autograd::AutogradMeta>();
      meta = self.impl()->autograd.get();
    }
    meta->requires_grad = true;
    meta->grad_fn = result.grad_fn();
    meta->output_nr = result.output_nr();
  }
  return self;
}

std::vector<TensorMeta> infer_same_as_input(const std::vector<TensorMeta>& in, const Attrs&) {
  return {in.at(0)};
}

DType result_type(const std::vector<TensorMeta>& in) {
  // Three priority tiers; a lower tier only matters when its category
  // (bool < integer < floating) is higher than the tiers above it.
  auto category = [](DType t) { return t == DType::Bool ? 0 : is_floating(t) ? 2 : 1; };
  std::optional<DType> dimmed, zero_dim, wrapped;
  for (const TensorMeta& m : in) {
    if (!m.defined) continue;
    auto& slot = m.is_wrapped_number ? wrapped : (m.shape.empty() ? zero_dim : dimmed);
    slot = slot ? promote_types(*slot, m.dtype) : m.dtype;
  }
  std::optional<DType> r = dimmed;
  if (zero_dim && (!r || category(*zero_dim) > category(*r)))
    r = r ? promote_types(*r, *zero_dim) : *zero_dim;
  if (wrapped && (!r || category(*wrapped) > category(*r))) {
    // A C++ number of a higher category takes the default type of its category.
    DType w = *wrapped == DType::Float64 ? DType::Float32 : *wrapped;
    if (r && category(*wrapped) == 2 && is_floating(*r)) w = *r;
    r = r ? (category(w) > category(*r) ? w : promote_types(*r, w)) : *wrapped;
  }
  return r.value_or(DType::Float32);
}

}  // namespace tandem
