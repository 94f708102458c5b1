// metrics.jsonl text -> the lines a resumed run keeps (train::metrics_lines_to_keep): every
// kept line is a line of the input, and nothing but a tandem::Error may escape (none should).
#include "../fuzz_util.h"
#include "../../src/train/metrics_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = tandem::fuzz::as_string(data, size);
  tandem::fuzz::expect_parse_or_error([&] {
    for (int64_t last : {int64_t{-1}, int64_t{0}, int64_t{3}, INT64_MAX})
      for (const std::string& line : tandem::train::metrics_lines_to_keep(text, last))
        if (line.empty() || text.find(line) == std::string::npos) __builtin_trap();
  });
  return 0;
}
