// Module::summary: a torchinfo-style table from one forward pass with forward hooks.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "tandem/autograd.h"
#include "tandem/nn/module.h"
#include "tandem/ops.h"

namespace tandem::nn {

namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

int64_t depth_of(const std::string& dotted) {
  if (dotted.empty()) return 0;
  return 1 + static_cast<int64_t>(std::count(dotted.begin(), dotted.end(), '.'));
}

std::string last_part(const std::string& dotted) {
  auto pos = dotted.rfind('.');
  return pos == std::string::npos ? dotted : dotted.substr(pos + 1);
}

// Removes the hooks even when forward throws.
struct SummaryState {
  std::vector<std::pair<std::shared_ptr<Module>, int64_t>> hooks;
  ~SummaryState() {
    for (auto& [m, id] : hooks) m->remove_forward_hook(id);
  }
};

}  // namespace

std::string Module::summary(const Shape& input_shape) const {
  DType dtype = DType::Float32;
  for (const Tensor& p : parameters())
    if (p.is_floating_point()) {
      dtype = p.dtype();
      break;
    }
  return summary(input_shape, dtype);
}

std::string Module::summary(const Shape& input_shape, DType input_dtype) const {
  auto modules = named_modules();
  std::map<const Module*, Shape> out_shapes;
  std::map<const Module*, bool> saved_modes;
  for (auto& [n, m] : modules) saved_modes[m.get()] = m->training_;

  Tensor x;
  {
    SummaryState state;
    for (auto& [n, m] : modules) {
      int64_t id = m->register_forward_hook(
          [&out_shapes](Module& mod, const Tensor&, const Tensor& y) {
            if (y.defined()) out_shapes[&mod] = y.shape();
          });
      state.hooks.emplace_back(m, id);
    }
    for (auto& [n, m] : modules) m->training_ = false;
    struct RestoreModes {
      std::vector<std::pair<std::string, std::shared_ptr<Module>>>& mods;
      std::map<const Module*, bool>& saved;
      ~RestoreModes() {
        for (auto& [n, m] : mods) m->training_ = saved[m.get()];
      }
    } restore{modules, saved_modes};
    NoGradGuard ng;
    x = zeros(input_shape, {.dtype = input_dtype});
    (*modules.front().second)(x);
  }

  const size_t w_layer = 44, w_shape = 26, w_params = 16;
  const std::string rule(w_layer + w_shape + w_params, '=');
  std::string s;
  s += rule + "\n";
  s += fmt::format("{:<{}}{:<{}}{:>{}}\n", "Layer (name: type)", w_layer, "Output Shape", w_shape,
                   "Param #", w_params);
  s += rule + "\n";
  int64_t activation_bytes = 0;
  for (auto& [name, m] : modules) {
    int64_t d = depth_of(name);
    std::string label;
    if (d == 0) {
      label = m->name();
    } else {
      for (int64_t i = 1; i < d; ++i) label += "│    ";
      label += "├─" + last_part(name) + ": " + m->name();
    }
    auto it = out_shapes.find(m.get());
    std::string shape = "--";
    if (it != out_shapes.end()) {
      shape = shape_str(it->second);
      // Leaves only: a container's output is its last child's.
      if (m->named_children().empty())
        activation_bytes += shape_numel(it->second) * static_cast<int64_t>(itemsize(input_dtype));
    }
    int64_t own = 0;
    bool has_own = false;
    for (auto& [pn, p] : m->named_parameters(false)) {
      own += p.numel();
      has_own = true;
    }
    std::string params = has_own ? with_commas(own) : "--";
    // "│" and "├─" are multi-byte: pad by displayed width, not bytes.
    size_t shown = 0;
    for (unsigned char c : label) shown += (c & 0xC0) != 0x80;
    std::string padded = label + std::string(shown < w_layer ? w_layer - shown : 1, ' ');
    s += fmt::format("{}{:<{}}{:>{}}\n", padded, shape, w_shape, params, w_params);
  }
  int64_t total = num_parameters(false), trainable = num_parameters(true);
  int64_t param_bytes = 0;
  for (const Tensor& p : parameters()) param_bytes += static_cast<int64_t>(p.nbytes());
  int64_t input_bytes = x.defined() ? static_cast<int64_t>(x.nbytes()) : 0;
  // As torchinfo: outputs are kept for the backward pass, so count them twice.
  int64_t fwd_bwd = 2 * activation_bytes;
  auto mb = [](int64_t b) { return static_cast<double>(b) / 1e6; };
  s += rule + "\n";
  s += fmt::format("Total params: {}\n", with_commas(total));
  s += fmt::format("Trainable params: {}\n", with_commas(trainable));
  s += fmt::format("Non-trainable params: {}\n", with_commas(total - trainable));
  s += rule + "\n";
  s += fmt::format("Input size (MB): {:.2f}\n", mb(input_bytes));
  s += fmt::format("Forward/backward pass size (MB): {:.2f}\n", mb(fwd_bwd));
  s += fmt::format("Params size (MB): {:.2f}\n", mb(param_bytes));
  s += fmt::format("Estimated Total Size (MB): {:.2f}\n", mb(input_bytes + fwd_bwd + param_bytes));
  s += rule + "\n";
  return s;
}

}  // namespace tandem::nn
