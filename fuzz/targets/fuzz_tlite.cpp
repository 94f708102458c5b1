// tandem-lite's model loader (src/lite/format.h's parse and each node's attribute checks), then
// a run on ones at the model's input shapes (dynamic dims 1) with the activation arena capped
// at 64 MiB and the work at 2^24 operations: bytes load and run, or fail with a tlite::LiteError that says why; never a crash.
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime.h"
#include "tandem_lite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The C API's view of a failure: a status and a message.
  tl_model* cm = nullptr;
  if (tl_model_load_buffer(data, size, &cm) != TL_OK) {
    if (tl_last_error()[0] == '\0') __builtin_trap();
    return 0;
  }
  tl_model_destroy(cm);
  std::unique_ptr<tlite::Model> m = tlite::Model::load_buffer(data, size);  // loaded above: must load again
  tlite::Context ctx(*m);
  ctx.set_arena_limit(size_t{64} << 20);
  ctx.set_work_limit(int64_t{1} << 24);  // a run stays well under libFuzzer's 10 s per input (ASan, loaded machine)
  try {
    for (size_t i = 0; i < m->input_shapes().size(); ++i) {
      std::vector<int64_t> shape = m->input_shapes()[i];
      int64_t n = 1;
      for (int64_t& d : shape) {
        if (d < 0) d = 1;
        n *= d;
      }
      if (n > (int64_t{1} << 20)) return 0;  // too large an input to fuzz quickly
      std::vector<float> x(size_t(n), 1.0f);
      ctx.set_input(int(i), shape.data(), int(shape.size()), x.data());
    }
    ctx.run();
    for (size_t i = 0; i < m->file().outputs.size(); ++i) {
      tlite::Dims d;
      ctx.output(int(i), d);
    }
  } catch (const tlite::LiteError& e) {
    if (e.what()[0] == '\0') __builtin_trap();
  }
  return 0;
}
