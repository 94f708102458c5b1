// IDX files (MNIST's format, plain or gzip) -> data::read_idx.
#include "../fuzz_util.h"
#include "tandem/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader picks gzip by the magic bytes, so one file name covers both.
  const std::string path = tandem::fuzz::write_input("in-idx-ubyte", data, size);
  tandem::fuzz::expect_parse_or_error([&] {
    tandem::Tensor t = tandem::data::read_idx(path);
    if (t.numel() > 0) (void)t.sum().item<double>();
  });
  return 0;
}
