// libFuzzer harness for the ONNX model loader: any bytes -> Model::load_from_bytes must import
// or throw tandem::Error (never crash, never another exception); a model that imports and has
// small static inputs is also run on zeros. Built by fuzz/onnx/CMakeLists.txt against the
// already-built libtandem.a (the harness is instrumented, the library is not).
#include <cstddef>
#include <cstdint>
#include <string>

#include <tandem/onnx.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  try {
    auto model = onnx::Model::load_from_bytes(std::string(reinterpret_cast<const char*>(data), size),
                                              "/nonexistent-tandem-fuzz-dir");
    std::map<std::string, Tensor> inputs;
    for (const auto& vi : model.info().inputs) {
      if (!vi.has_shape || !graph::is_static(vi.shape)) return 0;
      Shape s = graph::static_shape(vi.shape);
      if (shape_numel(s) > 4096) return 0;
      inputs[vi.name] = zeros(s, {.dtype = vi.dtype});
    }
    model.run(inputs);
  } catch (const Error&) {
  }
  return 0;
}
