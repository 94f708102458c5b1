#include "tandem/io/checkpoint.h"

#include <charconv>

#include "tandem/io/safetensors.h"

namespace tandem::io {

namespace {

constexpr std::string_view kModel = "model.", kOptimizer = "optimizer.", kScheduler = "scheduler.",
                           kExtra = "extra.";

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::string_view(s).substr(0, prefix.size()) == prefix;
}

int64_t parse_int(const std::string& path, const std::map<std::string, std::string>& meta,
                  const char* key) {
  auto it = meta.find(key);
  TANDEM_CHECK(it != meta.end(), "load_checkpoint: '{}' has no '{}' in its metadata", path, key);
  const std::string& s = it->second;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  TANDEM_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(),
               "load_checkpoint: '{}': metadata '{}' = '{}' is not an integer", path, key, s);
  return v;
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  auto add = [&](std::string_view prefix, const std::map<std::string, Tensor>& from) {
    for (const auto& [name, t] : from) tensors.emplace(std::string(prefix) + name, t);
  };
  auto add_meta = [&](std::string_view prefix, const std::map<std::string, std::string>& from) {
    for (const auto& [key, v] : from) meta.emplace(std::string(prefix) + key, v);
  };
  add(kModel, ckpt.model);
  add(kOptimizer, ckpt.optimizer.tensors);
  add(kScheduler, ckpt.scheduler.tensors);
  add_meta(kOptimizer, ckpt.optimizer.metadata);
  add_meta(kScheduler, ckpt.scheduler.metadata);
  add_meta(kExtra, ckpt.extra);
  meta["format"] = kCheckpointFormat;
  meta["epoch"] = std::to_string(ckpt.epoch);
  meta["step"] = std::to_string(ckpt.step);
  // The generator's state is decimal numbers and spaces; JSON escaping makes any text safe.
  meta["rng_state"] = ckpt.rng_state;
  save_safetensors(path, tensors, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  auto fmt_it = f.metadata.find("format");
  TANDEM_CHECK(fmt_it != f.metadata.end(),
               "load_checkpoint: '{}' is a safetensors file but not a tandem checkpoint (no "
               "'format' in its metadata); load plain weights with io::load_safetensors",
               path);
  TANDEM_CHECK(fmt_it->second == kCheckpointFormat,
               "load_checkpoint: '{}' has format '{}'; this build reads '{}'", path, fmt_it->second,
               kCheckpointFormat);

  Checkpoint ck;
  ck.epoch = parse_int(path, f.metadata, "epoch");
  ck.step = parse_int(path, f.metadata, "step");
  auto rng = f.metadata.find("rng_state");
  TANDEM_CHECK(rng != f.metadata.end(), "load_checkpoint: '{}' has no 'rng_state' in its metadata",
               path);
  ck.rng_state = rng->second;

  for (auto& [name, t] : f.tensors) {
    if (starts_with(name, kModel)) {
      ck.model.emplace(name.substr(kModel.size()), t);
    } else if (starts_with(name, kOptimizer)) {
      ck.optimizer.tensors.emplace(name.substr(kOptimizer.size()), t);
    } else if (starts_with(name, kScheduler)) {
      ck.scheduler.tensors.emplace(name.substr(kScheduler.size()), t);
    } else {
      TANDEM_FAIL("load_checkpoint: '{}': tensor '{}' belongs to no section (expected a "
                  "'model.', 'optimizer.' or 'scheduler.' prefix)",
                  path, name);
    }
  }
  for (auto& [key, v] : f.metadata) {
    if (key == "format" || key == "epoch" || key == "step" || key == "rng_state") continue;
    if (starts_with(key, kOptimizer)) {
      ck.optimizer.metadata.emplace(key.substr(kOptimizer.size()), v);
    } else if (starts_with(key, kScheduler)) {
      ck.scheduler.metadata.emplace(key.substr(kScheduler.size()), v);
    } else if (starts_with(key, kExtra)) {
      ck.extra.emplace(key.substr(kExtra.size()), v);
    } else {
      TANDEM_FAIL("load_checkpoint: '{}': metadata '{}' belongs to no section (expected an "
                  "'optimizer.', 'scheduler.' or 'extra.' prefix)",
                  path, key);
    }
  }
  return ck;
}

}  // namespace tandem::io
