// Containers: Sequential (a chain), ModuleList (an indexed list), ModuleDict (named).
//
//   auto mlp = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
//       std::make_shared<nn::Linear>(512, 10));
//   Tensor logits = (*mlp)(x);                 // children named "0", "1", "2"
//   auto fc = mlp->at<nn::Linear>(0);          // typed access (Error on a wrong type)
//
// Children are held by shared_ptr: the same module added twice shares its parameters.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tandem/nn/module.h"

namespace tandem::nn {

// Common part of Sequential and ModuleList: children named "0", "1", ... in order.
class ModuleListBase : public Module {
 public:
  void push_back(std::shared_ptr<Module> m);
  void extend(const std::vector<std::shared_ptr<Module>>& ms);
  size_t size() const { return mods_.size(); }
  bool empty() const { return mods_.empty(); }
  // Negative indices count from the end, as Python's.
  std::shared_ptr<Module> operator[](int64_t i) const;
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    TANDEM_CHECK(m != nullptr, "{}: element {} is a {}, not the requested type", name(), i,
                 (*this)[i]->name());
    return m;
  }
  auto begin() const { return mods_.begin(); }
  auto end() const { return mods_.end(); }

 protected:
  explicit ModuleListBase(std::string type) : Module(std::move(type)) {}
  std::vector<std::shared_ptr<Module>> mods_;
};

class Sequential : public ModuleListBase {
 public:
  Sequential() : ModuleListBase("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> ms);
  // Sequential(a, b, c) with shared_ptrs to any module types (works with make_shared).
  template <class M0, class... Ms>
  explicit Sequential(std::shared_ptr<M0> m0, std::shared_ptr<Ms>... ms) : Sequential() {
    push_back(std::static_pointer_cast<Module>(std::move(m0)));
    (push_back(std::static_pointer_cast<Module>(std::move(ms))), ...);
  }
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& ms);
  // Named children (PyTorch's Sequential(OrderedDict(...))).
  explicit Sequential(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named);
  // Sequential(const Sequential&) would copy a module; use the pointer instead.
  using ModuleListBase::push_back;
  void push_back(const std::string& name, std::shared_ptr<Module> m);
  // Each child's output feeds the next (through operator(), so hooks run).
  Tensor forward(const Tensor& x) override;
};

// A list of modules with no forward of its own (the owner decides how to call them).
class ModuleList : public ModuleListBase {
 public:
  ModuleList() : ModuleListBase("ModuleList") {}
  ModuleList(std::initializer_list<std::shared_ptr<Module>> ms);
  explicit ModuleList(const std::vector<std::shared_ptr<Module>>& ms);
};

// Modules by name, in insertion order; no forward of its own.
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  explicit ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& items);
  // Adds, or replaces the module registered under `key`.
  void insert(const std::string& key, std::shared_ptr<Module> m);
  std::shared_ptr<Module> operator[](const std::string& key) const { return child(key); }
  template <class M>
  std::shared_ptr<M> at(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>(child(key));
    TANDEM_CHECK(m != nullptr, "ModuleDict: \"{}\" is a {}, not the requested type", key,
                 child(key)->name());
    return m;
  }
  bool contains(const std::string& key) const;
  std::vector<std::string> keys() const;
  size_t size() const { return named_children().size(); }
};

}  // namespace tandem::nn
