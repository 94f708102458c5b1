// Validation of a safetensors buffer. Kept free of tensor code (only the DType enum, fmt and
// nlohmann::json) so the fuzzer (fuzz/) compiles exactly this file with clang's
// instrumentation and reaches every check below.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "tandem/io/safetensors.h"

namespace tandem::io {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's cap

struct DTypeName {
  std::string_view name;
  DType dtype;
  size_t itemsize;
};
constexpr DTypeName kDTypes[] = {
    {"BOOL", DType::Bool, 1},     {"U8", DType::UInt8, 1},      {"I8", DType::Int8, 1},
    {"I16", DType::Int16, 2},     {"U16", DType::UInt16, 2},    {"I32", DType::Int32, 4},     {"I64", DType::Int64, 8},     {"F16", DType::Float16, 2},
    {"BF16", DType::BFloat16, 2}, {"F32", DType::Float32, 4},   {"F64", DType::Float64, 8},
};
// In the spec, but tandem has no such dtype.
constexpr std::string_view kUnsupported[] = {"U32",     "U64",     "F8_E4M3", "F8_E5M2",
                                             "F8_E8M0", "F4",      "F6_E2M3", "F6_E3M2", "C64"};

const char* json_type(const json& j) { return j.type_name(); }

// A JSON integer >= 0 that fits int64 (shapes and offsets).
std::optional<int64_t> non_negative_int(const json& j) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < 0) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, uint64_t data_start,
                             uint64_t data_size) {
  TANDEM_CHECK(j.is_object(), "tensor '{}': expected a JSON object, got {}", name, json_type(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    TANDEM_CHECK(it.key() == "dtype" || it.key() == "shape" || it.key() == "data_offsets",
                 "tensor '{}': unexpected field '{}' (expected exactly dtype, shape, data_offsets)",
                 name, it.key());
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    TANDEM_CHECK(j.contains(field), "tensor '{}': missing field '{}'", name, field);
  }
  SafetensorsEntry e;
  e.name = name;

  const json& dt = j["dtype"];
  TANDEM_CHECK(dt.is_string(), "tensor '{}': dtype must be a string, got {}", name, json_type(dt));
  const std::string& dts = dt.get_ref<const std::string&>();
  size_t itemsize = 0;
  for (const DTypeName& d : kDTypes) {
    if (d.name == dts) {
      e.dtype = d.dtype;
      itemsize = d.itemsize;
    }
  }
  if (itemsize == 0) {
    bool known = std::find(std::begin(kUnsupported), std::end(kUnsupported), dts) != std::end(kUnsupported);
    TANDEM_CHECK(!known,
                 "tensor '{}': dtype {} has no tandem equivalent (supported: BOOL U8 I8 I32 I64 F16 "
                 "BF16 F32 F64); convert it before saving, e.g. to I32 or F32",
                 name, dts);
    TANDEM_FAIL("tensor '{}': unknown dtype '{}' (supported: BOOL U8 I8 I32 I64 F16 BF16 F32 F64)",
                name, dts);
  }

  const json& sh = j["shape"];
  TANDEM_CHECK(sh.is_array(), "tensor '{}': shape must be an array, got {}", name, json_type(sh));
  // NOTE: the product of the non-zero sizes must fit int64 even when another size is 0:
  // stride computations multiply them.
  int64_t product = 1;
  bool has_zero = false;
  for (const json& d : sh) {
    std::optional<int64_t> v = non_negative_int(d);
    TANDEM_CHECK(v.has_value(), "tensor '{}': shape entries must be integers in [0, 2^63), got {}",
                 name, d.dump());
    e.shape.push_back(*v);
    if (*v == 0) {
      has_zero = true;
    } else {
      TANDEM_CHECK(!__builtin_mul_overflow(product, *v, &product),
                   "tensor '{}': the number of elements of shape {} overflows", name, sh.dump());
    }
  }
  int64_t nbytes = 0;
  TANDEM_CHECK(!__builtin_mul_overflow(has_zero ? 0 : product, static_cast<int64_t>(itemsize), &nbytes),
               "tensor '{}': the byte size of shape {} overflows", name, sh.dump());

  const json& off = j["data_offsets"];
  TANDEM_CHECK(off.is_array() && off.size() == 2,
               "tensor '{}': data_offsets must be an array [begin, end], got {}", name, off.dump());
  std::optional<int64_t> begin = non_negative_int(off[0]), end = non_negative_int(off[1]);
  TANDEM_CHECK(begin && end, "tensor '{}': data_offsets must be non-negative integers, got {}",
               name, off.dump());
  TANDEM_CHECK(*begin <= *end, "tensor '{}': data_offsets [{}, {}] end before they begin", name,
               *begin, *end);
  TANDEM_CHECK(static_cast<uint64_t>(*end) <= data_size,
               "tensor '{}': data_offsets [{}, {}] go past the end of the data ({} bytes; truncated "
               "file?)",
               name, *begin, *end, data_size);
  TANDEM_CHECK(*end - *begin == nbytes,
               "tensor '{}': data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", name,
               *begin, *end, *end - *begin, sh.dump(), dts, nbytes);
  e.begin = data_start + static_cast<uint64_t>(*begin);
  e.end = data_start + static_cast<uint64_t>(*end);
  return e;
}

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  TANDEM_FAIL("safetensors: no name for dtype code {}", static_cast<int>(dtype));
}

SafetensorsLayout parse_safetensors(const uint8_t* data, size_t size) {
  if constexpr (std::endian::native != std::endian::little) {
    TANDEM_FAIL("safetensors: this build runs on a big-endian machine; only little-endian hosts "
                "are supported");
  }
  TANDEM_CHECK(size >= 8, "file is {} bytes, too short for the 8-byte header length (truncated?)",
               size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  TANDEM_CHECK(n <= size - 8,
               "header length {} exceeds the {} bytes after it (truncated or not a safetensors "
               "file?)",
               n, size - 8);
  TANDEM_CHECK(n <= kMaxHeaderBytes, "header length {} is over the {} byte limit", n,
               kMaxHeaderBytes);
  TANDEM_CHECK(n >= 2 && data[8] == '{', "header does not start with '{{' (not a safetensors file?)");

  // NOTE: nlohmann's parser takes a NUL byte for the end of input and would ignore what
  // follows it; valid JSON text never holds a raw NUL.
  TANDEM_CHECK(std::memchr(data + 8, 0, n) == nullptr,
               "header is not valid JSON: it contains a NUL byte at offset {}",
               static_cast<const uint8_t*>(std::memchr(data + 8, 0, n)) - (data + 8));
  // A repeated key would silently replace the earlier one (JSON leaves duplicates
  // undefined): refuse them, in every object of the header.
  std::vector<std::set<std::string>> keys_seen;  // one set per open object
  auto no_duplicates = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys_seen.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      keys_seen.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      TANDEM_CHECK(keys_seen.back().insert(key).second,
                   "header is not valid: the key '{}' appears twice in one object", key);
    }
    return true;
  };
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n, no_duplicates);
  } catch (const json::exception& e) {
    TANDEM_FAIL("header is not valid JSON: {}", e.what());
  }
  TANDEM_CHECK(header.is_object(), "header must be a JSON object, got {}", json_type(header));

  SafetensorsLayout layout;
  layout.data_start = 8 + n;
  const uint64_t data_size = size - layout.data_start;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        const json& m = it.value();
        if (m.is_null()) continue;
        TANDEM_CHECK(m.is_object(), "__metadata__ must be an object of strings, got {}", json_type(m));
        for (auto mt = m.begin(); mt != m.end(); ++mt) {
          TANDEM_CHECK(mt.value().is_string(), "__metadata__ '{}': values must be strings, got {}",
                       mt.key(), json_type(mt.value()));
          layout.metadata.emplace(mt.key(), mt.value().get<std::string>());
        }
        continue;
      }
      layout.entries.push_back(parse_entry(it.key(), it.value(), layout.data_start, data_size));
    }
  } catch (const json::exception& e) {  // defensive: every access above is type-checked first
    TANDEM_FAIL("malformed header: {}", e.what());
  }

  // Ranges back to back from the start to the end of the data: no overlap (two tensors
  // sharing bytes) and no gap (bytes that belong to nothing), as the spec requires.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : layout.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = layout.data_start;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : by_offset) {
    TANDEM_CHECK(e->begin >= pos, "tensors '{}' and '{}' overlap (bytes [{}, {}) and [{}, {}))",
                 prev ? prev->name : "", e->name, prev ? prev->begin - layout.data_start : 0,
                 pos - layout.data_start, e->begin - layout.data_start, e->end - layout.data_start);
    TANDEM_CHECK(e->begin == pos,
                 "bytes [{}, {}) of the data belong to no tensor (a gap before '{}'); the format "
                 "requires tensors back to back",
                 pos - layout.data_start, e->begin - layout.data_start, e->name);
    pos = e->end;
    prev = e;
  }
  TANDEM_CHECK(pos == size, "the last {} bytes of the file belong to no tensor (trailing data)",
               size - pos);

  // A bool byte other than 0 or 1 is not a valid C++ bool.
  for (const SafetensorsEntry& e : layout.entries) {
    if (e.dtype != DType::Bool) continue;
    for (uint64_t i = e.begin; i < e.end; ++i) {
      TANDEM_CHECK(data[i] <= 1, "tensor '{}': BOOL byte {} is {}, expected 0 or 1", e.name,
                   i - e.begin, static_cast<int>(data[i]));
    }
  }
  return layout;
}

}  // namespace tandem::io
