// TensorBoard event files: TFRecord framing (lengths, masked CRC-32C) and Event protobufs ->
// summary::read, what `tandem logs` and `tandem plot` run on a run directory.
#include "../fuzz_util.h"
#include "tandem/summary/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tandem::fuzz::write_input("events.out.tfevents.1.fuzz", data, size);
  tandem::fuzz::expect_parse_or_error([&] {
    std::vector<std::string> warnings;
    for (const auto& r : tandem::summary::read(path, {.warnings = &warnings}))
      (void)r.tag.size();
  });
  return 0;
}
