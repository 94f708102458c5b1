#include "tandem/nn/module.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <set>

#include "tandem/autograd.h"
#include "tandem/ops.h"
#include "tandem/graph/trace.h"

namespace tandem::nn {

Module::Module(std::string name) : name_(std::move(name)) {
  if (name_.empty()) name_ = "Module";
}

Module::~Module() = default;

Tensor Module::forward(const Tensor&) {
  TANDEM_FAIL(
      "{}: forward(const Tensor&) is not implemented for this module; it is a container or "
      "needs other inputs (call its own forward overload)",
      name_);
}

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  if (!hooks_.empty()) {
    // Copy: a hook may remove itself.
    auto hooks = hooks_;
    for (auto& [id, h] : hooks) h(*this, x, y);
  }
  return y;
}

int64_t Module::register_forward_hook(ForwardHook hook) {
  hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_forward_hook(int64_t id) {
  std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
}

// ---- registration

void Module::check_new_name(const std::string& name, const char* what) const {
  TANDEM_CHECK(!name.empty(), "{}: register_{}: the name must not be empty", name_, what);
  TANDEM_CHECK(name.find('.') == std::string::npos,
               "{}: register_{}(\"{}\"): names must not contain '.' (dots separate submodules "
               "in named_parameters and state_dict keys)",
               name_, what, name);
  bool taken = std::any_of(params_.begin(), params_.end(), [&](auto& p) { return p.name == name; }) ||
               std::any_of(buffers_.begin(), buffers_.end(), [&](auto& b) { return b.name == name; }) ||
               std::any_of(children_.begin(), children_.end(), [&](auto& c) { return c.first == name; });
  TANDEM_CHECK(!taken, "{}: register_{}(\"{}\"): the name is already registered in this module",
               name_, what, name);
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  if (t.defined()) {
    // A parameter is a leaf: cut any history the initial value carries.
    if (!t.is_leaf()) t = t.detach();
    if (requires_grad || t.requires_grad()) t.requires_grad_(requires_grad);
  }
  params_.push_back({name, std::move(t)});
  return params_.back().tensor;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name(name, "buffer");
  buffers_.push_back({name, std::move(t), persistent});
  return buffers_.back().tensor;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "module");
  TANDEM_CHECK(m != nullptr, "{}: register_module(\"{}\"): the module is null", name_, name);
  TANDEM_CHECK(m.get() != this, "{}: register_module(\"{}\"): a module cannot contain itself", name_,
               name);
  children_.emplace_back(name, std::move(m));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
  TANDEM_CHECK(m != nullptr, "{}: replace_module(\"{}\"): the module is null", name_, name);
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  register_module_impl(name, std::move(m));
}

Tensor& Module::parameter(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return p.tensor;
  TANDEM_FAIL("{}: no parameter named \"{}\" (use named_parameters() to list them)", name_, name);
}

Tensor& Module::buffer(const std::string& name) {
  for (auto& b : buffers_)
    if (b.name == name) return b.tensor;
  TANDEM_FAIL("{}: no buffer named \"{}\" (use named_buffers() to list them)", name_, name);
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (auto& [n, c] : children_)
    if (n == name) return c;
  TANDEM_FAIL("{}: no submodule named \"{}\" (use named_children() to list them)", name_, name);
}

// ---- traversal

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::set<const Module*> seen;
  auto* self = const_cast<Module*>(this);
  std::shared_ptr<Module> self_ptr = self->weak_from_this().lock();
  if (!self_ptr) self_ptr = std::shared_ptr<Module>(std::shared_ptr<Module>(), self);  // non-owning
  std::function<void(const std::string&, const std::shared_ptr<Module>&)> walk =
      [&](const std::string& prefix, const std::shared_ptr<Module>& m) {
        if (!seen.insert(m.get()).second) return;
        out.emplace_back(prefix, m);
        for (auto& [n, c] : m->children_) walk(join(prefix, n), c);
      };
  walk("", self_ptr);
  return out;
}

void Module::collect_state(const std::string& prefix,
                           std::vector<std::pair<std::string, Tensor>>& out, bool params,
                           bool buffers, bool persistent_only) const {
  if (params)
    for (auto& p : params_)
      if (p.tensor.defined()) out.emplace_back(join(prefix, p.name), p.tensor);
  if (buffers)
    for (auto& b : buffers_)
      if (b.tensor.defined() && (b.persistent || !persistent_only))
        out.emplace_back(join(prefix, b.name), b.tensor);
  for (auto& [n, c] : children_) c->collect_state(join(prefix, n), out, params, buffers, persistent_only);
}

namespace {
// Keeps the first occurrence of each TensorImpl (PyTorch's remove_duplicate=True).
std::vector<std::pair<std::string, Tensor>> dedup(std::vector<std::pair<std::string, Tensor>> v) {
  std::set<const TensorImpl*> seen;
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(v.size());
  for (auto& e : v)
    if (seen.insert(e.second.impl()).second) out.push_back(std::move(e));
  return out;
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  if (recurse) {
    collect_state("", out, true, false, false);
  } else {
    for (auto& p : params_)
      if (p.tensor.defined()) out.emplace_back(p.name, p.tensor);
  }
  return dedup(std::move(out));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  if (recurse) {
    collect_state("", out, false, true, false);
  } else {
    for (auto& b : buffers_)
      if (b.tensor.defined()) out.emplace_back(b.name, b.tensor);
  }
  return dedup(std::move(out));
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, c] : children_) out.push_back(c);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
}

// ---- modes, grads, dtype

void Module::train(bool on) {
  for (auto& [n, m] : named_modules()) m->training_ = on;
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none) graph::trace_grad_cleared(p);  // tandem::compile: no .grad dependence
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      NoGradGuard ng;
      g.zero_();
    }
  }
}

namespace {
// Makes `t`'s own TensorImpl hold `src`'s data (same shape), so every handle sees it.
void rebind(const Tensor& t, const Tensor& src) {
  TensorImpl* impl = t.impl();
  impl->storage = src.storage();
  impl->sizes = src.shape();
  impl->strides = src.strides();
  impl->offset = src.offset();
  impl->numel = src.numel();
  impl->dtype = src.dtype();
  impl->is_view = false;  // it owns fresh storage now
}

void convert_in_place(const Tensor& t, DType dtype) {
  if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) return;
  NoGradGuard ng;
  Tensor g = t.grad();
  Tensor converted = t.detach().to(dtype).contiguous();
  rebind(t, converted);
  if (g.defined()) {
    // The grad may be shared with nothing else we know of; give it its own converted copy.
    if (g.dtype() != dtype) rebind(g, g.detach().to(dtype).contiguous());
  }
}
}  // namespace

void Module::to(DType dtype) {
  TANDEM_CHECK(is_floating(dtype),
               "{}: to({}): modules can only be converted to a floating-point dtype (integer "
               "buffers keep their dtype anyway)",
               name_, dtype);
  std::vector<std::pair<std::string, Tensor>> all;
  collect_state("", all, true, true, false);
  for (auto& [n, t] : dedup(std::move(all))) convert_in_place(t, dtype);
}

// ---- state

std::map<std::string, Tensor> Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect_state("", all, true, true, true);
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : all) out.emplace(n, t.detach());
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  std::vector<std::pair<std::string, Tensor>> own;
  collect_state("", own, true, true, true);
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> own_names;
  for (auto& [name, t] : own) {
    own_names.insert(name);
    auto it = sd.find(name);
    if (it == sd.end()) {
      missing.push_back(name);
    } else if (!it->second.defined()) {
      misshaped.push_back(fmt::format("{} (undefined tensor in the state dict)", name));
    } else if (it->second.shape() != t.shape()) {
      misshaped.push_back(fmt::format("{} (checkpoint shape {}, module shape {})", name,
                                      shape_str(it->second.shape()), shape_str(t.shape())));
    }
  }
  for (auto& [name, t] : sd)
    if (!own_names.count(name)) unexpected.push_back(name);
  bool fail = !misshaped.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (fail) {
    std::string msg = fmt::format("{}: load_state_dict failed, nothing was loaded:", name_);
    if (!misshaped.empty())
      msg += fmt::format("\n  mis-shaped keys: {}", fmt::join(misshaped, ", "));
    if (strict && !missing.empty()) msg += fmt::format("\n  missing keys: {}", fmt::join(missing, ", "));
    if (strict && !unexpected.empty())
      msg += fmt::format("\n  unexpected keys: {}", fmt::join(unexpected, ", "));
    msg += strict ? "\n  (check that the checkpoint was saved from the same architecture; pass "
                    "strict=false to load only the matching keys)"
                  : "\n  (check that the checkpoint was saved from the same architecture)";
    TANDEM_FAIL("{}", msg);
  }
  NoGradGuard ng;
  for (auto& [name, t] : own) {
    auto it = sd.find(name);
    if (it == sd.end()) continue;
    // Skip self-assignment (sd aliasing the live tensor): copy_ of overlapping memory.
    if (it->second.shares_storage(t) && it->second.offset() == t.offset() &&
        it->second.strides() == t.strides() && it->second.dtype() == t.dtype())
      continue;
    Tensor dst = t;
    dst.copy_(it->second);
  }
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---- printing

void Module::repr_into(std::string& out, int indent) const {
  out += name_ + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    std::string pad(static_cast<size_t>(indent + 2), ' ');
    for (auto& [n, c] : children_) {
      out += pad + "(" + n + "): ";
      c->repr_into(out, indent + 2);
      out += "\n";
    }
    out += std::string(static_cast<size_t>(indent), ' ');
  }
  out += ")";
}

std::string Module::repr() const {
  std::string out;
  repr_into(out, 0);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace tandem::nn

namespace tandem::nn {

std::vector<std::pair<std::string, Tensor>> Module::state_parameters() const { return named_parameters(); }
std::vector<std::pair<std::string, Tensor>> Module::state_buffers() const { return named_buffers(); }
std::vector<std::pair<std::string, const ModelState*>> Module::state_modules() const {
  std::vector<std::pair<std::string, const ModelState*>> out;
  for (auto& [name, m] : named_modules()) out.emplace_back(name, m.get());
  return out;
}

}  // namespace tandem::nn
