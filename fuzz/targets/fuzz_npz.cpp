// .npz (zip of .npy members, stored or deflated, zip64 records) -> io::load_npz.
#include "../fuzz_util.h"
#include "tandem/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tandem::fuzz::write_input("in.npz", data, size);
  tandem::fuzz::expect_parse_or_error([&] {
    for (auto& [name, t] : tandem::io::load_npz(path))
      if (t.numel() > 0) (void)t.sum().item<double>();
  });
  return 0;
}
