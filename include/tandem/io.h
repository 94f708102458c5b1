// tandem::io — files: safetensors, training checkpoints, atomic saves (and .npy/.npz).
//
//   io::save_safetensors("model.safetensors", model->state_dict());
//   auto f = io::load_safetensors("model.safetensors");
//   model->load_state_dict(f.tensors);
#pragma once
#include "tandem/io/atomic_file.h"
#include "tandem/io/checkpoint.h"
#include "tandem/io/safetensors.h"
#if __has_include("tandem/io/npy.h")
#include "tandem/io/npy.h"
#endif
