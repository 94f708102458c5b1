#include "servable.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <tandem/io.h>
#include <tandem/memory.h>
#include <tandem/models.h>
#include <tandem/onnx/export.h>
#include <tandem/ops.h>
#include <unistd.h>

#include "status.h"

namespace tandem::serve {
namespace fs = std::filesystem;

namespace {
TensorSpec spec_of(const onnx::ValueInfo& vi) {
  TensorSpec s{.name = vi.name, .dtype = vi.dtype, .has_shape = vi.has_shape};
  for (const auto& d : vi.shape) s.shape.push_back(d.is_static() ? d.value : -1);
  return s;
}

// A version directory that is a tandem run directory (model.safetensors written by `tandem
// train`, whose metadata names the zoo model) is exported to ONNX with a dynamic batch, as
// `tandem export --dynamic-batch` would, and imported from memory: the same path as a model.onnx.
onnx::Model load_run_directory(const fs::path& file) {
  io::SafetensorsFile f = io::load_safetensors(file.string());
  auto it = f.metadata.find("model");
  TANDEM_CHECK(it != f.metadata.end(),
               "{}: no \"model\" entry in its metadata (a model.safetensors written by `tandem train` names its "
               "zoo model); export other weights to model.onnx",
               file.string());
  const auto names = models::names();
  TANDEM_CHECK(std::find(names.begin(), names.end(), it->second) != names.end(),
               "{}: unknown zoo model '{}' in its metadata", file.string(), it->second);
  auto model = models::create(it->second);
  model->load_state_dict(f.tensors);
  // export_model writes a file: a private temporary one, removed once read.
  fs::path tmp = fs::temp_directory_path() /
                 fmt::format("tandem-serve-{}-{}.onnx", ::getpid(), std::hash<std::string>{}(file.string()));
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  o.doc_string = fmt::format("tandem zoo model '{}', weights {}", it->second, file.string());
  std::string bytes;
  try {
    onnx::export_model(model, zeros({1, 1, 28, 28}), tmp.string(), o);
    std::ifstream in(tmp, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::remove(tmp, ec);
  return onnx::Model::load_from_bytes(bytes, file.parent_path().string());
}

Tensor example(const TensorSpec& s, int64_t batch) {
  Shape shape;
  for (size_t i = 0; i < s.shape.size(); ++i) shape.push_back(s.shape[i] >= 0 ? s.shape[i] : i == 0 ? batch : 1);
  return zeros(shape, {.dtype = s.dtype});
}
}  // namespace

std::shared_ptr<Servable> Servable::load(const std::string& dir, const std::vector<int64_t>& warm_batches) {
  fs::path file = fs::path(dir) / "model.onnx";
  fs::path weights = fs::path(dir) / "model.safetensors";
  bool run_dir = !fs::is_regular_file(file) && fs::is_regular_file(weights);
  TANDEM_CHECK(fs::is_regular_file(file) || run_dir,
               "{}: no model.onnx (or model.safetensors of a tandem run) in the version directory", dir);
  if (run_dir) file = weights;
  // When the last holder lets go (an unloaded version after its in-flight requests), the
  // model's blocks go back to the OS rather than into the allocator's cache, so that RSS
  // returns to what it was before the version loaded.
  std::shared_ptr<Servable> s(
      new Servable(run_dir ? load_run_directory(file) : onnx::Model::load(file.string())), [](Servable* p) {
        delete p;
        tandem::empty_cache();
      });
  s->path_ = file.string();
  for (const auto& vi : s->model_.info().inputs) s->inputs_.push_back(spec_of(vi));
  for (const auto& vi : s->model_.info().outputs) s->outputs_.push_back(spec_of(vi));
  TANDEM_CHECK(!s->inputs_.empty() && !s->outputs_.empty(), "{}: the model has no inputs or no outputs", file.string());
  // Warm-up: the first run traces and compiles the Plan; a model that cannot run fails here,
  // before it takes traffic.
  bool dyn = true;
  for (const auto& in : s->inputs_) dyn = dyn && in.has_shape && !in.shape.empty() && in.shape[0] < 0;
  std::map<std::string, Tensor> x1, x2;
  for (const auto& in : s->inputs_) {
    x1[in.name] = example(in, 1);
    x2[in.name] = example(in, 2);
  }
  auto y1 = s->model_.run(x1);
  if (dyn) {
    auto y2 = s->model_.run(x2);
    bool follows = true;
    for (size_t i = 0; i < y2.size(); ++i)
      follows = follows && y1[i].dim() > 0 && y1[i].size(0) == 1 && y2[i].size(0) == 2;
    s->batchable_ = follows;
  }
  if (s->batchable_) {
    for (int64_t b : warm_batches) {
      std::map<std::string, Tensor> xb;
      for (const auto& in : s->inputs_) xb[in.name] = example(in, b);
      s->model_.run(xb);
    }
  }
  return s;
}

std::vector<Tensor> Servable::run(const std::map<std::string, Tensor>& inputs) const {
  std::lock_guard lock(mu_);
  return model_.run(inputs);
}

void check_inputs(const Servable& s, const std::map<std::string, Tensor>& inputs) {
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const auto& in : s.inputs()) known = known || in.name == name;
    if (!known) {
      std::string names;
      for (const auto& in : s.inputs()) names += (names.empty() ? "'" : ", '") + in.name + "'";
      throw StatusError(Code::InvalidArgument, fmt::format("input '{}' is not an input of the model (inputs: {})", name, names));
    }
  }
  for (const auto& in : s.inputs()) {
    auto it = inputs.find(in.name);
    if (it == inputs.end())
      throw StatusError(Code::InvalidArgument, fmt::format("input '{}' is missing", in.name));
    const Tensor& t = it->second;
    if (t.dtype() != in.dtype)
      throw StatusError(Code::InvalidArgument, fmt::format("input '{}': expected dtype {}, got {}", in.name, in.dtype, t.dtype()));
    if (!in.has_shape) continue;
    bool ok = t.dim() == static_cast<int64_t>(in.shape.size());
    for (size_t d = 0; ok && d < in.shape.size(); ++d) ok = in.shape[d] < 0 || in.shape[d] == t.size(d);
    if (!ok) {
      std::string want;
      for (size_t d = 0; d < in.shape.size(); ++d) want += (d ? ", " : "") + (in.shape[d] < 0 ? std::string("-1") : std::to_string(in.shape[d]));
      throw StatusError(Code::InvalidArgument, fmt::format("input '{}': expected shape [{}] (-1: any size), got {}",
                                                           in.name, want, shape_str(t.shape())));
    }
  }
}

}  // namespace tandem::serve
