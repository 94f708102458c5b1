// Helpers for tests/io: a scratch directory removed at the end, file bytes, exact equality.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tandem/tandem.h"
#include "tandem/io.h"

namespace tandem::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "tandem_io_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Same dtype, shape and bytes (bit-exact, NaN payloads included).
inline ::testing::AssertionResult same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << dtype_name(a.dtype()) << " vs "
                                         << dtype_name(b.dtype());
  }
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(a.shape()) << " vs "
                                         << shape_str(b.shape());
  }
  Tensor ca = a.contiguous(), cb = b.contiguous();
  if (a.numel() > 0 && std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) != 0) {
    return ::testing::AssertionFailure() << "values differ:\n" << a << "\nvs\n" << b;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tandem::testing
