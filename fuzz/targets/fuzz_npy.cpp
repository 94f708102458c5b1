// .npy bytes -> io::parse_npy: a tensor whose byte size matches the header, or an Error.
#include "../fuzz_util.h"
#include "tandem/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::expect_parse_or_error([&] {
    tandem::Tensor t = tandem::io::parse_npy(tandem::fuzz::as_string(data, size), "fuzz.npy");
    // Every element must be readable (ASan flags a tensor smaller than its shape says).
    if (t.numel() > 0) (void)t.sum().item<double>();
  });
  return 0;
}
