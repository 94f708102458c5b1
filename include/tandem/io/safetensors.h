// safetensors files: named tensors + string metadata, readable by other implementations.
//
//   using namespace tandem;
//   io::save_safetensors("model.safetensors", {{"w", randn({3, 4})}, {"b", zeros({4})}},
//                        {{"framework", "tandem"}});
//   io::SafetensorsFile f = io::load_safetensors("model.safetensors");
//   Tensor w = f.tensors.at("w");          // aliases the file's mapping: no copy
//
// The format (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian
// u64 N, then N bytes of JSON
//   {"w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}, ...,
//    "__metadata__": {"framework": "tandem"}}
// padded with spaces so the data starts 8-byte aligned, then the tensors' raw little-endian
// bytes, row-major, back to back. Offsets are relative to the start of the data.
//
// dtypes: BOOL U8 I8 I32 I64 F16 BF16 F32 F64 map to tandem's DType. The spec's other types
// (I16, U16, U32, U64, F8_*) have no tandem dtype: loading a file with one is an Error.
//
// Loading maps the file (mmap, MAP_PRIVATE) and the tensors alias the mapping; the mapping
// lives as long as any tensor from it. Writing to such a tensor changes this process's
// private copy of the page only: the file on disk never changes. A tensor whose bytes are
// not aligned to its element size in the file (possible in files from other writers) is
// copied instead. A file must not be truncated in place while mapped (the OS would raise
// SIGBUS on access); save_safetensors replaces files by rename, so the mapped old file stays
// valid.
#pragma once
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::io {

// Writes the safetensors bytes of `tensors` (sorted by name, each made contiguous) and
// `metadata` to `os`. Tensors must be defined and on the CPU; no name may be "__metadata__".
void write_safetensors(std::ostream& os, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// write_safetensors into `path`, atomically (see atomic_file.h).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Maps and validates `path` (see parse_safetensors); throws tandem::Error naming the file
// and the problem if anything is wrong with it.
SafetensorsFile load_safetensors(const std::string& path);

// ---- the validated layout of a safetensors buffer (used by the loader and the fuzzer)

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets from the start of the whole buffer (header included)
  uint64_t end = 0;
};

struct SafetensorsLayout {
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length
};

// Checks everything a reader relies on and throws tandem::Error otherwise: at least 8
// bytes; header length <= size - 8 and <= 100 MB; the header is a JSON object; each
// entry is an object with exactly "dtype" (a known, supported name), "shape" (non-negative
// integers) and "data_offsets" ([begin, end] integers); numel x itemsize does not overflow
// and equals end - begin; the ranges lie inside the data, do not overlap and cover it with
// no gap; "__metadata__" maps strings to strings; BOOL bytes are 0 or 1. Never reads
// outside [data, data + size).
SafetensorsLayout parse_safetensors(const uint8_t* data, size_t size);

// "F32" for Float32, ...; the spec's names.
std::string_view safetensors_dtype_name(DType dtype);

}  // namespace tandem::io
