#include <deque>
#include <mutex>
#include <unordered_map>

#include "defs/defs.h"
#include "tandem/opdef.h"

namespace tandem {
namespace {

struct Registry {
  std::deque<OpDef> defs;  // deque: stable addresses
  std::unordered_map<std::string, const OpDef*> by_name;
};

Registry& registry_storage() {
  static Registry r;
  return r;
}

// Every op family registers here, once, on first use of the registry.
Registry& registry() {
  static std::once_flag once;
  std::call_once(once, [] { defs::register_all(); });
  return registry_storage();
}

}  // namespace

const OpDef& register_op(OpDef def) {
  Registry& r = registry_storage();
  TANDEM_CHECK(!def.name.empty(), "register_op: an op needs a name");
  TANDEM_CHECK(r.by_name.count(def.name) == 0, "register_op: op '{}' is registered twice", def.name);
  TANDEM_CHECK(def.infer != nullptr, "register_op: op '{}' has no shape rule", def.name);
  TANDEM_CHECK(def.view != nullptr || def.cpu != nullptr, "register_op: op '{}' has no CPU kernel",
               def.name);
  r.defs.push_back(std::move(def));
  const OpDef* p = &r.defs.back();
  r.by_name.emplace(p->name, p);
  return *p;
}

const OpDef* find_op(std::string_view name) {
  Registry& r = registry();
  auto it = r.by_name.find(std::string(name));
  return it == r.by_name.end() ? nullptr : it->second;
}

const OpDef& op(std::string_view name) {
  const OpDef* d = find_op(name);
  TANDEM_CHECK(d != nullptr, "unknown op '{}'", name);
  return *d;
}

std::vector<const OpDef*> all_ops() {
  Registry& r = registry();
  std::vector<const OpDef*> out;
  for (const OpDef& d : r.defs) out.push_back(&d);
  return out;
}

std::string attrs_str(const Attrs& attrs) {
  std::string s;
  for (const auto& [k, v] : attrs.items()) {
    if (!s.empty()) s += ", ";
    s += k + "=";
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>>)
            s += fmt::format("[{}]", fmt::join(x, ", "));
          else
            s += fmt::format("{}", x);
        },
        v);
  }
  return s;
}

}  // namespace tandem
