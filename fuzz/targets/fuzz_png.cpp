// PNG bytes -> summary::decode_png (libpng behind a setjmp error path): pixels of exactly
// width * height * channels bytes, or an Error.
#include "../fuzz_util.h"
#include "tandem/summary/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::expect_parse_or_error([&] {
    auto img = tandem::summary::decode_png(tandem::fuzz::as_string(data, size));
    if (img.pixels.size() != size_t(img.width) * img.height * img.channels) __builtin_trap();
  });
  return 0;
}
