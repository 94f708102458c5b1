#include "tandem/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "tandem/io/atomic_file.h"

namespace tandem::io {

namespace {

using nlohmann::json;

// A read-only file mapped copy-on-write; unmapped when the last tensor aliasing it dies.
struct Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr != MAP_FAILED) ::munmap(addr, size);
  }
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void write_safetensors(std::ostream& os, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  if constexpr (std::endian::native != std::endian::little) {
    TANDEM_FAIL("save_safetensors: only little-endian hosts are supported (the format is "
                "little-endian and tensors are written as they are in memory)");
  }
  // Data order: larger items first, then by name (as the reference writer): with the header
  // padded to 8 bytes every tensor then starts aligned to its item size, so loading can
  // alias the mapping instead of copying.
  std::vector<std::pair<const std::string*, Tensor>> order;
  order.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    TANDEM_CHECK(name != "__metadata__",
                 "save_safetensors: '__metadata__' is reserved by the format; rename the tensor");
    TANDEM_CHECK(t.defined(), "save_safetensors: tensor '{}' is undefined", name);
    TANDEM_CHECK(t.device() == Device::CPU, "save_safetensors: tensor '{}' is on {}; move it to the CPU",
                 name, device_name(t.device()));
    order.emplace_back(&name, t.contiguous());
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.itemsize() > b.second.itemsize();
  });
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, c] : order) {
    uint64_t nbytes = c.nbytes();
    header[*name] = {{"dtype", safetensors_dtype_name(c.dtype())},
                     {"shape", c.shape()},
                     {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // names or values that are not valid UTF-8
    TANDEM_FAIL("save_safetensors: tensor names and metadata must be valid UTF-8 ({})", e.what());
  }
  // Pad with spaces so the data starts at a multiple of 8, as the reference writer does:
  // every tensor whose offset is a multiple of its item size is then aligned in a mapping.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t n = text.size();
  os.write(reinterpret_cast<const char*>(&n), 8);
  os.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, c] : order) {
    if (c.nbytes() > 0) {
      os.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    }
  }
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, [&](std::ostream& os) { write_safetensors(os, tensors, metadata); });
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TANDEM_CHECK(fd.fd >= 0, "load_safetensors: cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  TANDEM_CHECK(::fstat(fd.fd, &st) == 0, "load_safetensors: cannot stat '{}': {}", path,
               std::strerror(errno));
  TANDEM_CHECK(S_ISREG(st.st_mode), "load_safetensors: '{}' is not a regular file", path);
  auto size = static_cast<size_t>(st.st_size);
  TANDEM_CHECK(size >= 8, "load_safetensors: '{}' is {} bytes, too short for the 8-byte header "
               "length (truncated?)", path, size);

  auto mapping = std::make_shared<Mapping>();
  // NOTE: MAP_PRIVATE + PROT_WRITE: tensors may be written (copy-on-write, private to this
  // process) without ever touching the file.
  mapping->addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  TANDEM_CHECK(mapping->addr != MAP_FAILED, "load_safetensors: cannot map '{}': {}", path,
               std::strerror(errno));
  mapping->size = size;
  const auto* base = static_cast<const uint8_t*>(mapping->addr);

  SafetensorsLayout layout;
  try {
    layout = parse_safetensors(base, size);
  } catch (const Error& e) {
    TANDEM_FAIL("load_safetensors: '{}' is not a valid safetensors file: {}", path, e.what());
  }

  SafetensorsFile out;
  out.metadata = std::move(layout.metadata);
  for (SafetensorsEntry& e : layout.entries) {
    const size_t isz = itemsize(e.dtype);
    void* ptr = const_cast<uint8_t*>(base) + e.begin;
    Tensor t;
    if (e.end == e.begin) {
      t = empty(e.shape, {.dtype = e.dtype});
    } else if (reinterpret_cast<uintptr_t>(ptr) % isz != 0) {
      // Misaligned in the file (writers that do not pad): a copy keeps kernels' loads legal.
      t = empty(e.shape, {.dtype = e.dtype});
      std::memcpy(t.data_ptr(), ptr, e.end - e.begin);
    } else {
      t = from_blob(ptr, e.shape, e.dtype, [keep = mapping](void*) {});
    }
    out.tensors.emplace(std::move(e.name), std::move(t));
  }
  return out;
}

}  // namespace tandem::io
