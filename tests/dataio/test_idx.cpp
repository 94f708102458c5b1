// IDX reader/writer on small generated files (raw and gzip), its errors, and Fashion-MNIST.
#include <zlib.h>

#include <filesystem>

#include "tandem/data.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::data;
using tandem::testing::read_bytes;
using tandem::testing::TempDir;
using tandem::testing::throws_error;
using tandem::testing::write_bytes;

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// An IDX file built byte by byte from the format description.
std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + payload;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

// The first n bytes of a .gz file after `skip` bytes of decompressed data, read with zlib.
std::vector<uint8_t> gz_read(const std::string& path, size_t skip, size_t n) {
  gzFile gz = gzopen(path.c_str(), "rb");
  EXPECT_NE(gz, nullptr);
  std::vector<uint8_t> buf(skip + n);
  EXPECT_EQ(gzread(gz, buf.data(), static_cast<unsigned>(buf.size())), static_cast<int>(buf.size()));
  gzclose(gz);
  return {buf.begin() + static_cast<long>(skip), buf.end()};
}

}  // namespace

TEST(Idx, ReadsHandWrittenUint8File) {
  TempDir dir;
  std::string payload;
  for (int i = 0; i < 12; ++i) payload.push_back(static_cast<char>(i * 20));
  write_bytes(dir / "a.idx", idx_bytes(0x08, {3, 2, 2}, payload));
  Tensor t = read_idx(dir / "a.idx");
  EXPECT_EQ(t.dtype(), kUInt8);
  EXPECT_EQ(t.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(t.to_vector<int64_t>()[11], 220);
  EXPECT_EQ(t.to_vector<int64_t>()[5], 100);
}

TEST(Idx, ReadsBigEndianInt32Int16AndFloat32) {
  TempDir dir;
  write_bytes(dir / "i.idx", idx_bytes(0x0C, {2}, be32(0x01020304) + be32(0xfffffffe)));
  EXPECT_EQ(read_idx(dir / "i.idx").to_vector<int64_t>(), (std::vector<int64_t>{0x01020304, -2}));
  write_bytes(dir / "s.idx", idx_bytes(0x0B, {3}, std::string("\x01\x02\xff\xfe\x00\x07", 6)));
  Tensor s = read_idx(dir / "s.idx");
  EXPECT_EQ(s.dtype(), kInt32);
  EXPECT_EQ(s.to_vector<int64_t>(), (std::vector<int64_t>{0x0102, -2, 7}));
  // 1.5f = 0x3fc00000, -2.0f = 0xc0000000
  write_bytes(dir / "f.idx", idx_bytes(0x0D, {1, 2}, be32(0x3fc00000) + be32(0xc0000000)));
  Tensor f = read_idx(dir / "f.idx");
  EXPECT_EQ(f.shape(), (Shape{1, 2}));
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
}

TEST(Idx, ReadsGzipCompressedFiles) {
  TempDir dir;
  std::string payload;
  for (int i = 0; i < 600; ++i) payload.push_back(static_cast<char>(i % 251));
  write_gz(dir / "a.idx.gz", idx_bytes(0x08, {20, 30}, payload));
  Tensor t = read_idx(dir / "a.idx.gz");
  EXPECT_EQ(t.shape(), (Shape{20, 30}));
  auto v = t.to_vector<int64_t>();
  for (int i = 0; i < 600; ++i) ASSERT_EQ(v[i], i % 251);
}

TEST(Idx, WriteReadRoundTripAllTypes) {
  TempDir dir;
  for (bool gz : {false, true}) {
    for (DType dt : {kUInt8, kInt8, kInt32, kFloat32, kFloat64}) {
      Tensor t = (randn({4, 3, 5}) * 50.0).to(dt);
      std::string path = dir / fmt::format("t_{}{}", dtype_name(dt), gz ? ".gz" : "");
      write_idx(path, t, gz);
      Tensor r = read_idx(path);
      EXPECT_EQ(r.dtype(), dt);
      EXPECT_EQ(r.shape(), t.shape());
      EXPECT_EQ(r.to_vector<double>(), t.to_vector<double>()) << dtype_name(dt) << " gz=" << gz;
    }
  }
  // The writer's bytes are the format's: compare against the hand-built file.
  write_idx(dir / "h.idx", tensor(std::vector<int32_t>{0x01020304}));
  EXPECT_EQ(read_bytes(dir / "h.idx"), idx_bytes(0x0C, {1}, be32(0x01020304)));
  EXPECT_TRUE(throws_error([&] { write_idx(dir / "x", zeros({2}, {.dtype = kInt64})); },
                           {"write_idx", "int64"}));
}

TEST(Idx, MissingFileNamesIt) {
  TempDir dir;
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "nope.gz"); }, {"nope.gz", "does not exist"}));
}

TEST(Idx, TruncatedRawFileSaysWhatWasExpected) {
  TempDir dir;
  std::string full = idx_bytes(0x08, {10, 28, 28}, std::string(7840, '\x05'));
  write_bytes(dir / "t.idx", full.substr(0, 1200));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "t.idx"); },
                           {"t.idx", "expected 7856 bytes", "10 x 28 x 28 uint8", "file has 1200"}));
  write_bytes(dir / "h.idx", full.substr(0, 9));  // cut inside the dimensions
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "h.idx"); }, {"h.idx", "16-byte header"}));
  write_bytes(dir / "e.idx", "");
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "e.idx"); }, {"e.idx", "file has 0 bytes"}));
}

TEST(Idx, TruncatedGzipFileSaysWhatWasExpected) {
  TempDir dir;
  // Decompressed data short of what the header announces (a complete gzip stream).
  std::string full = idx_bytes(0x08, {10, 28, 28}, std::string(7840, '\x05'));
  write_gz(dir / "short.gz", full.substr(0, 1200));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "short.gz"); },
                           {"short.gz", "expected 7856 bytes", "file has 1200", "gzip"}));
  // The compressed file itself cut short.
  std::string noisy;
  for (int i = 0; i < 7840; ++i) noisy.push_back(static_cast<char>((i * 7919) % 256));
  write_gz(dir / "whole.gz", idx_bytes(0x08, {10, 28, 28}, noisy));
  std::string gz = read_bytes(dir / "whole.gz");
  write_bytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "cut.gz"); }, {"cut.gz", "expected 7856 bytes"}));
}

TEST(Idx, RejectsBadMagicTypeAndTrailingData) {
  TempDir dir;
  write_bytes(dir / "m.idx", std::string("\x12\x34\x08\x01", 4) + be32(1) + "x");
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "m.idx"); }, {"m.idx", "magic"}));
  write_bytes(dir / "t.idx", idx_bytes(0x0A, {1}, "x"));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "t.idx"); }, {"t.idx", "0x0a"}));
  write_bytes(dir / "l.idx", idx_bytes(0x08, {2}, "abc"));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "l.idx"); }, {"l.idx", "longer"}));
  // A gzip file whose header claims far more than it could decompress to.
  write_gz(dir / "big.gz", idx_bytes(0x08, {60000, 60000, 28}, "abc"));
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "big.gz"); }, {"big.gz", "header is wrong"}));
}

TEST(Idx, IdxDatasetScalesImagesAndChecksCounts) {
  TempDir dir;
  std::string pixels;
  for (int i = 0; i < 2 * 2 * 3; ++i) pixels.push_back(static_cast<char>(i == 0 ? 255 : i));
  write_gz(dir / "img.gz", idx_bytes(0x08, {2, 2, 3}, pixels));
  write_gz(dir / "lab.gz", idx_bytes(0x08, {2}, "\x07\x02"));
  auto ds = idx_dataset(dir / "img.gz", dir / "lab.gz");
  ASSERT_EQ(ds->size(), 2);
  Example ex = ds->get(1);
  EXPECT_EQ(ex.data.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(ex.data.dtype(), kFloat32);
  EXPECT_FLOAT_EQ(ex.data.to_vector<float>()[0], 6.0f / 255.0f);
  EXPECT_FLOAT_EQ(ds->get(0).data.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(ex.target.dtype(), kInt64);
  EXPECT_EQ(ex.target.item<int64_t>(), 2);
  write_gz(dir / "lab3.gz", idx_bytes(0x08, {3}, "\x07\x02\x01"));
  EXPECT_TRUE(throws_error([&] { idx_dataset(dir / "img.gz", dir / "lab3.gz"); },
                           {"2 images", "3 labels"}));
}

TEST(Idx, FashionMnistMissingDirectoryOrFileIsExplained) {
  TempDir dir;
  EXPECT_TRUE(throws_error([&] { fashion_mnist(dir / "absent"); },
                           {"absent", "dataset-fashion-mnist"}));
  EXPECT_TRUE(throws_error([&] { fashion_mnist(dir.path(), false); },
                           {"t10k-images-idx3-ubyte.gz", "not found"}));
}

TEST(Idx, AnyIdxDirectoryWorksAsFashionMnist) {
  TempDir dir;
  std::string pixels(3 * 28 * 28, '\x80');
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_bytes(0x08, {3, 28, 28}, pixels));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {3}, std::string("\x00\x09\x04", 3)));
  auto ds = fashion_mnist(dir.path(), /*train=*/false);
  EXPECT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->get(1).target.item<int64_t>(), 9);
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {3}, std::string("\x00\x0a\x04", 3)));
  EXPECT_TRUE(throws_error([&] { fashion_mnist(dir.path(), false); }, {"label 10", "index 1"}));
}

// The real data set, when Debian's dataset-fashion-mnist is installed.
TEST(Idx, FashionMnistLoads) {
  const std::string dir = kFashionMnistDir;
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " is not installed (apt-get install dataset-fashion-mnist)";
  for (bool train : {false, true}) {
    const std::string prefix = train ? "train" : "t10k";
    auto ds = fashion_mnist(dir, train);
    const int64_t n = train ? 60000 : 10000;
    ASSERT_EQ(ds->size(), n);
    // Every class appears exactly n / 10 times in both splits.
    std::vector<int64_t> counts(10, 0);
    for (int64_t y : ds->targets().to_vector<int64_t>()) {
      ASSERT_GE(y, 0);
      ASSERT_LT(y, 10);
      ++counts[y];
    }
    for (int64_t c : counts) EXPECT_EQ(c, n / 10);
    // First and last images and labels against the bytes read directly with zlib.
    for (int64_t i : {int64_t{0}, n - 1}) {
      auto raw = gz_read(dir + "/" + prefix + "-images-idx3-ubyte.gz", 16 + 784 * i, 784);
      Example ex = ds->get(i);
      ASSERT_EQ(ex.data.shape(), (Shape{1, 28, 28}));
      auto px = ex.data.to_vector<float>();
      int64_t sum_raw = 0;
      double sum_px = 0;
      for (int k = 0; k < 784; ++k) {
        ASSERT_EQ(px[k], static_cast<float>(raw[k]) / 255.0f);
        sum_raw += raw[k];
        sum_px += px[k];
      }
      EXPECT_GT(sum_raw, 0);
      EXPECT_NEAR(sum_px * 255.0, static_cast<double>(sum_raw), 1e-2);
      auto label = gz_read(dir + "/" + prefix + "-labels-idx1-ubyte.gz", 8 + i, 1);
      EXPECT_EQ(ex.target.item<int64_t>(), label[0]);
    }
  }
}

// read_idx(path, limit) stops after the kept rows: a gzip file cut after them still reads,
// and what it reads equals the first rows of the whole file.
TEST(Idx, LimitReadsOnlyTheKeptRows) {
  TempDir dir;
  std::string pixels;
  for (int i = 0; i < 200 * 784; ++i) pixels.push_back(static_cast<char>((i * 7919 + i / 13) % 256));
  write_gz(dir / "whole.gz", idx_bytes(0x08, {200, 28, 28}, pixels));
  std::string gz = read_bytes(dir / "whole.gz");
  write_bytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  Tensor whole = read_idx(dir / "whole.gz");
  Tensor first = read_idx(dir / "cut.gz", 10);
  ASSERT_EQ(first.shape(), (Shape{10, 28, 28}));
  EXPECT_EQ(first.to_vector<int64_t>(), whole.narrow(0, 0, 10).to_vector<int64_t>());
  EXPECT_TRUE(throws_error([&] { read_idx(dir / "cut.gz"); }, {"cut.gz", "expected"}));
  // A limit at or beyond the size keeps everything (and still checks the whole file).
  EXPECT_EQ(read_idx(dir / "whole.gz", 500).shape(), (Shape{200, 28, 28}));
}

// ImageDataset converts per sample and per batch with the ops a whole-set conversion used,
// so every value has the same bits: float(byte) / 255, then (x - mean) / std on the tensor.
TEST(Idx, ImageDatasetBatchesEqualAWholeSetConversion) {
  manual_seed(3);
  const int64_t n = 300;
  Tensor bytes = randint(0, 256, {n, 28, 28}).to(DType::UInt8);  // every byte value occurs
  Tensor labels = randint(0, 10, {n});
  const double mean = 0.2860, stdev = 0.3530;
  Tensor whole = empty({n, 1, 28, 28}, {.dtype = DType::Float32});
  const uint8_t* b = bytes.data<uint8_t>();
  for (int64_t i = 0; i < whole.numel(); ++i) whole.data<float>()[i] = static_cast<float>(b[i]) / 255.0f;
  whole = (whole - mean) / stdev;
  ImageDataset ds(bytes, labels, mean, stdev);
  ASSERT_EQ(ds.size(), n);
  EXPECT_EQ(ds.images().dtype(), DType::UInt8);  // kept as stored
  std::vector<int64_t> idx = epoch_permutation(n, 7, 0);
  idx.resize(37);
  auto batch = ds.get_batch(idx.data(), static_cast<int64_t>(idx.size()));
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->data.shape(), (Shape{37, 1, 28, 28}));
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_EQ(batch->data.select(0, k).to_vector<float>(), whole.select(0, idx[k]).to_vector<float>());
    EXPECT_EQ(batch->target.select(0, k).item<int64_t>(), labels.select(0, idx[k]).item<int64_t>());
  }
  Example ex = ds.get(idx[5]);
  EXPECT_EQ(ex.data.to_vector<float>(), whole.select(0, idx[5]).to_vector<float>());
  // Through the DataLoader (workers build the batches) the same batches as from the floats.
  auto floats = std::make_shared<TensorDataset>(whole, labels);
  DataLoaderOptions lo{.batch_size = 64, .shuffle = true, .seed = 2, .num_workers = 2};
  DataLoader from_bytes(std::make_shared<ImageDataset>(bytes, labels, mean, stdev), lo);
  DataLoader from_floats(floats, lo);
  auto it = from_floats.begin();
  int64_t batches = 0;
  for (Batch& x : from_bytes) {
    ASSERT_TRUE(it != from_floats.end());
    EXPECT_EQ(x.data.to_vector<float>(), it->data.to_vector<float>());
    EXPECT_EQ(x.target.to_vector<int64_t>(), it->target.to_vector<int64_t>());
    ++it;
    ++batches;
  }
  EXPECT_EQ(batches, 5);
  EXPECT_TRUE(throws_error([&] { ImageDataset(whole, labels); }, {"ImageDataset", "uint8"}));
  EXPECT_TRUE(throws_error([&] { ImageDataset(bytes, labels.narrow(0, 0, 5)); }, {"one per image"}));
}
