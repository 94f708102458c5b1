// Training checkpoints: the file -> io::load_checkpoint (safetensors layout, __metadata__
// format/epoch/step/optimizer/scheduler keys), then its rng_state -> Generator::set_state, the
// string a resumed run restores its random numbers from. The raw input is also tried as an
// RNG state directly, so that parser is fuzzed without a valid checkpoint around it.
#include "../fuzz_util.h"
#include "tandem/generator.h"
#include "tandem/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  fuzz::expect_parse_or_error([&] {
    Generator g;
    g.set_state(fuzz::as_string(data, size));
    (void)g.next_normal();
  });
  const std::string path = fuzz::write_input("in.ckpt.safetensors", data, size);
  fuzz::expect_parse_or_error([&] {
    io::Checkpoint ck = io::load_checkpoint(path);
    for (auto& [name, t] : ck.model)
      if (t.numel() > 0) (void)t.sum().item<double>();
    if (!ck.rng_state.empty()) {
      Generator g;
      g.set_state(ck.rng_state);
      (void)g.next_u64();
    }
  });
  return 0;
}
