// A tiny learnable IDX dataset for the training tests: class k lights a 4×4 block at
// column 2 + 2k (row 12) on top of uniform noise, so a model can learn it in a few steps.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <tandem/data.h>
#include <tandem/tandem.h>

namespace tandem::testing {

inline Tensor tiny_images(const std::vector<int64_t>& labels, Generator& gen) {
  int64_t n = static_cast<int64_t>(labels.size());
  std::vector<uint8_t> px(static_cast<size_t>(n * 28 * 28));
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* img = px.data() + i * 28 * 28;
    for (int p = 0; p < 28 * 28; ++p) img[p] = static_cast<uint8_t>(gen.next_u64() % 96);
    int64_t col = 2 + 2 * labels[i];
    for (int r = 12; r < 16; ++r)
      for (int64_t c = col; c < col + 4; ++c) img[r * 28 + c] = 255;
  }
  return tensor(px, Shape{n, 28, 28});
}

// Writes {train,t10k}-{images-idx3,labels-idx1}-ubyte(.gz) under `dir`.
inline void write_tiny_idx(const std::string& dir, int64_t n_train, int64_t n_test, bool gzip = true) {
  std::filesystem::create_directories(dir);
  Generator gen(1234);
  for (auto [prefix, n] : {std::pair<std::string, int64_t>{"train", n_train}, {"t10k", n_test}}) {
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (auto& l : labels) l = static_cast<int64_t>(gen.next_u64() % 10);
    std::vector<uint8_t> l8(labels.begin(), labels.end());
    std::string ext = gzip ? ".gz" : "";
    data::write_idx(dir + "/" + prefix + "-images-idx3-ubyte" + ext, tiny_images(labels, gen), gzip);
    data::write_idx(dir + "/" + prefix + "-labels-idx1-ubyte" + ext, tensor(l8), gzip);
  }
}

// A fresh directory under the system temp dir (removed first if it exists), private to this
// process: ctest runs each test in its own process, two at a time.
inline std::string fresh_temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("tandem_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace tandem::testing
