// libFuzzer harness for the safetensors validator (tandem::io::parse_safetensors), the code
// load_safetensors runs on every mapped file before it touches any tensor data.
//
// Contract checked here: for any bytes, parse_safetensors either throws tandem::Error or
// returns ranges that lie inside the input and match their shapes; anything else (another
// exception, a read outside the input, undefined behaviour) is a crash the fuzzer reports.
// See fuzz/README.md to run it by hand.
#include <cstddef>
#include <cstdint>

#include "tandem/io/safetensors.h"

namespace {
size_t item_size(tandem::DType t) {
  switch (t) {
    case tandem::DType::Bool: case tandem::DType::UInt8: case tandem::DType::Int8: return 1;
    case tandem::DType::Int16: case tandem::DType::UInt16:
    case tandem::DType::Float16: case tandem::DType::BFloat16: return 2;
    case tandem::DType::Int32: case tandem::DType::Float32: return 4;
    case tandem::DType::Int64: case tandem::DType::Float64: return 8;
  }
  __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::io::SafetensorsLayout layout;
  try {
    layout = tandem::io::parse_safetensors(data, size);
  } catch (const tandem::Error&) {
    return 0;  // refused with a message: the expected outcome for most inputs
  }
  uint64_t pos = layout.data_start;
  uint8_t acc = 0;
  for (const auto& e : layout.entries) {
    if (e.begin < layout.data_start || e.begin > e.end || e.end > size) __builtin_trap();
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) __builtin_trap();
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * item_size(e.dtype) != e.end - e.begin) __builtin_trap();
    for (uint64_t i = e.begin; i < e.end; ++i) acc ^= data[i];  // ASan: every byte is inside
    pos += e.end - e.begin;
  }
  if (pos != size) __builtin_trap();  // ranges cover the data exactly (no gap, no overlap)
  volatile uint8_t sink = acc;
  (void)sink;
  return 0;
}
