// IDX files (the MNIST / Fashion-MNIST format) and the Fashion-MNIST dataset.
//
//   auto train = data::fashion_mnist();              // /usr/share/datasets/fashion-mnist
//   auto test = data::fashion_mnist(dir, /*train=*/false);
//   Tensor images = data::read_idx(dir + "/t10k-images-idx3-ubyte.gz");  // uint8 [10000,28,28]
//
// IDX: 2 zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64),
// the rank, then one big-endian uint32 per dimension and the big-endian values. Files may be
// gzip-compressed (read through zlib, which also reads plain files).
#pragma once
#include <memory>
#include <string>

#include "tandem/data/dataset.h"

namespace tandem::data {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The tensor in an IDX file (.gz or raw): uint8, int8, int32 (from i16 or i32), float32 or
// float64, shaped as the header says. A missing, truncated, oversized or malformed file gives
// an Error naming the file and what was expected. limit > 0 keeps the first `limit` entries
// along dim 0 and stops reading there (a gzip file is decompressed only that far; the rest is
// neither read nor checked). The file is streamed into the result: no whole-file buffer.
Tensor read_idx(const std::string& path, int64_t limit = 0);
// Writes `t` (uint8, int8, int32, float32 or float64) as IDX; gzip-compressed when `gzip`.
void write_idx(const std::string& path, const Tensor& t, bool gzip = false);

// A labelled image set from two IDX files: images [N, H, W] (uint8) become float32
// [1, H, W] in [0, 1] (x / 255), labels [N] become int64. The whole set is converted once
// at load; get(i) returns views (no copy). Also checks that the counts agree.
std::shared_ptr<TensorDataset> idx_dataset(const std::string& images_path,
                                           const std::string& labels_path);

// Fashion-MNIST (or MNIST: same file names) from `dir`: train-images-idx3-ubyte(.gz),
// train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz).
// train: 60000 examples, test: 10000; data float32 [1, 28, 28] in [0, 1], target int64 0..9.
std::shared_ptr<TensorDataset> fashion_mnist(const std::string& dir = kFashionMnistDir,
                                             bool train = true);

}  // namespace tandem::data
