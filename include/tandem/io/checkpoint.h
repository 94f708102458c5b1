// Training checkpoints: model, optimizer and scheduler state, RNG state, epoch and step in
// one safetensors file, saved atomically.
//
//   io::Checkpoint ck;
//   ck.model = model->state_dict();
//   ck.optimizer = opt.state_dict();
//   ck.scheduler = sched.state_dict();
//   ck.rng_state = default_generator().get_state();
//   ck.epoch = epoch; ck.step = step;
//   io::save_checkpoint("run/last.ckpt.safetensors", ck);
//   ...
//   io::Checkpoint r = io::load_checkpoint("run/last.ckpt.safetensors");
//   model->load_state_dict(r.model); opt.load_state_dict(r.optimizer);
//   default_generator().set_state(r.rng_state);
//
// File layout (any safetensors reader can open it): tensors "model.<name>",
// "optimizer.<name>", "scheduler.<name>"; __metadata__ "format" = "tandem.checkpoint.v1",
// "epoch", "step" (decimal), "rng_state", "optimizer.<key>", "scheduler.<key>",
// "extra.<key>". Loaded tensors alias the file's mapping like load_safetensors's.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "tandem/state_dict.h"
#include "tandem/tensor.h"

namespace tandem::io {

inline constexpr const char* kCheckpointFormat = "tandem.checkpoint.v1";

struct Checkpoint {
  std::map<std::string, Tensor> model;
  StateDict optimizer;
  StateDict scheduler;
  std::string rng_state;  // e.g. default_generator().get_state()
  int64_t epoch = 0;
  int64_t step = 0;
  std::map<std::string, std::string> extra;  // anything else the caller wants back
};

// Atomic: a crash during the save leaves the previous checkpoint at `path`.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);

// Error if `path` is not a valid safetensors file or not a tandem checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace tandem::io
