// ONNX models: any bytes -> onnx::Model::load_from_bytes (protobuf, checker, shape inference,
// import of every node, initializers incl. external data) must import or throw tandem::Error;
// a model that imports with small static inputs is also run on zeros. The model's folder
// holds a 4 KiB "weights.bin", so external-data references (location, offset, length) reach
// the file reading code.
#include <fstream>
#include <map>

#include "../fuzz_util.h"
#include "tandem/onnx.h"

namespace {

const std::string& model_dir() {
  static const std::string dir = [] {
    auto d = tandem::fuzz::scratch_dir() / "model";
    std::filesystem::create_directories(d);
    std::ofstream f(d / "weights.bin", std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(i * 7));
    return d.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  fuzz::expect_parse_or_error([&] {
    auto model = onnx::Model::load_from_bytes(fuzz::as_string(data, size), model_dir());
    std::map<std::string, Tensor> inputs;
    for (const auto& vi : model.info().inputs) {
      if (!vi.has_shape || !graph::is_static(vi.shape)) return;
      Shape s = graph::static_shape(vi.shape);
      if (shape_numel(s) > 4096) return;
      inputs[vi.name] = zeros(s, {.dtype = vi.dtype});
    }
    model.run(inputs);
  });
  return 0;
}
