// Shared by the libFuzzer harnesses in fuzz/targets/: the contract every harness checks is
// that any input either parses or is refused with a tandem::Error. Another exception escapes
// LLVMFuzzerTestOneInput and aborts (libFuzzer reports it as a crash), like a sanitizer report.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tandem/error.h"

namespace tandem::fuzz {

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A private directory for this fuzzing process (parsers that only take a path read the input
// from a file there). /dev/shm when it exists: a file per input must not wear a disk.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    if (const char* t = std::getenv("TANDEM_FUZZ_TMP")) base = t;
    auto d = base / ("tandem-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

// Writes the input to scratch_dir()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0)
    __builtin_trap();  // the harness's own failure, not the parser's
  return path;
}

// Runs fn; a tandem::Error is a refusal (the expected outcome for most inputs).
template <typename Fn>
void expect_parse_or_error(Fn&& fn) {
  try {
    fn();
  } catch (const tandem::Error&) {
  }
}

}  // namespace tandem::fuzz
