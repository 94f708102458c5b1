// tandem::Error — the one exception type for user errors.
//
//   TANDEM_CHECK(a.dim() == 2, "matmul: expected a 2-D tensor, got shape {}", a.shape());
//
// The message should name the op, the shapes and what to do about it.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>
#include <string>

namespace tandem {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

}  // namespace tandem

#define TANDEM_CHECK(cond, ...)                                   \
  do {                                                            \
    if (!(cond)) [[unlikely]]                                     \
      throw ::tandem::Error(::fmt::format(__VA_ARGS__));          \
  } while (0)

#define TANDEM_FAIL(...) throw ::tandem::Error(::fmt::format(__VA_ARGS__))
