#include "tandem/nn/container.h"

#include <fmt/format.h>

namespace tandem::nn {

void ModuleListBase::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(mods_.size()), m);
  mods_.push_back(std::move(m));
}

void ModuleListBase::extend(const std::vector<std::shared_ptr<Module>>& ms) {
  for (const auto& m : ms) push_back(m);
}

std::shared_ptr<Module> ModuleListBase::operator[](int64_t i) const {
  const auto n = static_cast<int64_t>(mods_.size());
  TANDEM_CHECK(i >= -n && i < n, "{}: index {} is out of range for {} modules", name(), i, n);
  return mods_[static_cast<size_t>(i < 0 ? i + n : i)];
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> ms) : Sequential() {
  for (const auto& m : ms) push_back(m);
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& ms) : Sequential() { extend(ms); }

Sequential::Sequential(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named)
    : Sequential() {
  for (const auto& [n, m] : named) push_back(n, m);
}

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> m) {
  register_module(name, m);
  mods_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : mods_) y = (*m)(y);
  return y;
}

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> ms) : ModuleList() {
  for (const auto& m : ms) push_back(m);
}

ModuleList::ModuleList(const std::vector<std::shared_ptr<Module>>& ms) : ModuleList() { extend(ms); }

ModuleDict::ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& items)
    : ModuleDict() {
  for (const auto& [k, m] : items) insert(k, m);
}

void ModuleDict::insert(const std::string& key, std::shared_ptr<Module> m) {
  replace_module(key, std::move(m));
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& [n, c] : named_children())
    if (n == key) return true;
  return false;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [n, c] : named_children()) out.push_back(n);
  return out;
}

}  // namespace tandem::nn
