// NumPy .npy and .npz files.
//
//   io::save_npy("w.npy", randn({3, 4}));
//   Tensor w = io::load_npy("w.npy");                        // float32 [3, 4]
//   io::save_npz("run.npz", {{"w", w}, {"step", tensor(std::vector<int64_t>{7})}});
//   std::map<std::string, Tensor> all = io::load_npz("run.npz");   // np.savez / savez_compressed
//
// dtypes: float16/32/64, int8/32/64, uint8, bool (bfloat16 has no NumPy type: convert first).
// Loading also accepts big-endian data and fortran_order=True arrays (converted to C order);
// anything else (object arrays, structured dtypes, other integer widths) gives an Error that
// names the file and the dtype. Saves are atomic: a temp file in the same directory, renamed
// over the target when complete.
#pragma once
#include <map>
#include <string>

#include "tandem/tensor.h"

namespace tandem::io {

Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const Tensor& t);

// Parses .npy bytes already in memory (an .npz member); `name` appears in errors.
Tensor parse_npy(const std::string& bytes, const std::string& name);
// The .npy bytes of `t` (version 1.0 header padded to 64 bytes, C order, little-endian).
std::string npy_bytes(const Tensor& t);

// Keys are the member names without ".npy" (as numpy's NpzFile). Stored and deflated
// members are read; zip64 records as numpy writes them are understood.
std::map<std::string, Tensor> load_npz(const std::string& path);
// compress=false: stored members (np.savez); true: deflate (np.savez_compressed).
void save_npz(const std::string& path, const std::map<std::string, Tensor>& tensors,
              bool compress = false);

}  // namespace tandem::io
