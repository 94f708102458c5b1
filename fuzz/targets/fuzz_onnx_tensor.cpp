// A serialized ONNX TensorProto (what ONNX's test data .pb files hold) -> onnx::
// load_tensor_proto: dims, data type, raw_data / typed fields, external data (a 4 KiB
// "weights.bin" sits next to the file).
#include <fstream>

#include "../fuzz_util.h"
#include "tandem/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool weights = [] {
    std::ofstream f(tandem::fuzz::scratch_dir() / "weights.bin", std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(i * 7));
    return true;
  }();
  (void)weights;
  const std::string path = tandem::fuzz::write_input("tensor.pb", data, size);
  tandem::fuzz::expect_parse_or_error([&] {
    tandem::Tensor t = tandem::onnx::load_tensor_proto(path);
    if (t.numel() > 0 && t.numel() < (1 << 20)) (void)t.to(tandem::DType::Float64).sum().item<double>();
  });
  return 0;
}
