// summary::Writer + summary::read: what is written reads back exactly, the framing is
// TFRecord's, corruption is an Error, truncation keeps the readable prefix.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "summary_test_util.h"
#include "tandem/summary.h"
#include "test_util.h"

namespace tandem::summary {
namespace {

using testing::read_bytes;
using testing::ScratchDir;
using testing::write_bytes;
using tandem::testing::throws_error;

std::vector<Record> of_kind(const std::vector<Record>& rs, Kind k) {
  std::vector<Record> out;
  for (const Record& r : rs)
    if (r.kind == k) out.push_back(r);
  return out;
}

// Bitwise CRC32C, independent of the library's table-driven one.
uint32_t crc_bitwise(const char* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<unsigned char>(p[i]);
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}
uint32_t masked(const char* p, size_t n) {
  uint32_t c = crc_bitwise(p, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}
uint32_t le32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}
uint64_t le64(const std::string& s, size_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, 8);
  return v;
}

TEST(Writer, FileNameIsTensorBoardsPattern) {
  ScratchDir dir;
  Writer w(dir.str(), {.filename_suffix = ".train"});
  std::string name = std::filesystem::path(w.path()).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_TRUE(name.ends_with(".train")) << name;
  EXPECT_EQ(std::filesystem::path(w.path()).parent_path(), dir.path);
}

TEST(Writer, ScalarsReadBackWithTagsStepsValuesAndWallTimes) {
  ScratchDir dir;
  {
    Writer w(dir.str());
    for (int64_t step = 0; step < 20; ++step) {
      w.add_scalar("loss", 1.0 / (step + 1), step, 1000.0 + step);
      w.add_scalar("train/lr", 0.1 * std::pow(0.9, step), step * 10, 2000.5 + step);
    }
  }
  std::vector<Record> rs = read(dir.str());
  ASSERT_FALSE(rs.empty());
  EXPECT_EQ(rs[0].kind, Kind::FileVersion);
  EXPECT_EQ(rs[0].text, "brain.Event:2");
  std::vector<Record> sc = of_kind(rs, Kind::Scalar);
  ASSERT_EQ(sc.size(), 40u);
  for (int64_t step = 0; step < 20; ++step) {
    const Record& a = sc[2 * step];
    const Record& b = sc[2 * step + 1];
    EXPECT_EQ(a.tag, "loss");
    EXPECT_EQ(a.step, step);
    EXPECT_EQ(a.value, static_cast<float>(1.0 / (step + 1)));  // stored as float32, exactly
    EXPECT_EQ(a.wall_time, 1000.0 + step);
    EXPECT_EQ(b.tag, "train/lr");
    EXPECT_EQ(b.step, step * 10);
    EXPECT_EQ(b.value, static_cast<float>(0.1 * std::pow(0.9, step)));
    EXPECT_EQ(b.wall_time, 2000.5 + step);
  }
  auto last = last_scalars(dir.str());
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last["loss"].step, 19);
  EXPECT_EQ(last["loss"].value, static_cast<float>(1.0 / 20));
}

TEST(Writer, FramingIsTFRecordWithMaskedCrc32c) {
  ScratchDir dir;
  std::string path;
  {
    Writer w(dir.str());
    path = w.path();
    w.add_scalar("x", 3.0, 7);
  }
  std::string data = read_bytes(path);
  size_t pos = 0, records = 0;
  while (pos < data.size()) {
    ASSERT_GE(data.size() - pos, 16u);
    uint64_t len = le64(data, pos);
    EXPECT_EQ(le32(data, pos + 8), masked(data.data() + pos, 8)) << "record " << records;
    ASSERT_LE(pos + 12 + len + 4, data.size());
    EXPECT_EQ(le32(data, pos + 12 + len), masked(data.data() + pos + 12, len));
    if (records == 0)
      EXPECT_NE(data.substr(pos + 12, len).find("brain.Event:2"), std::string::npos);
    pos += 12 + len + 4;
    ++records;
  }
  EXPECT_EQ(pos, data.size());
  EXPECT_EQ(records, 2u);
}

TEST(Writer, HistogramHasStatsAndDefaultBuckets) {
  ScratchDir dir;
  std::vector<double> vals = {-1.0, 0.0, 0.5, 0.5, 2.0, 1e-13};
  {
    Writer w(dir.str());
    w.add_histogram("w", tensor(vals), 3);
  }
  std::vector<Record> hs = of_kind(read(dir.str()), Kind::Histogram);
  ASSERT_EQ(hs.size(), 1u);
  const HistogramValue& h = hs[0].histogram;
  EXPECT_EQ(hs[0].tag, "w");
  EXPECT_EQ(hs[0].step, 3);
  EXPECT_EQ(h.num, 6);
  EXPECT_EQ(h.min, -1.0);
  EXPECT_EQ(h.max, 2.0);
  EXPECT_DOUBLE_EQ(h.sum, 2.0 + 1e-13);
  EXPECT_DOUBLE_EQ(h.sum_squares, 1 + 0.25 + 0.25 + 4 + 1e-26);
  ASSERT_EQ(h.bucket.size(), h.bucket_limit.size());
  double total = 0;
  for (double c : h.bucket) total += c;
  EXPECT_EQ(total, 6);
  for (size_t i = 1; i < h.bucket_limit.size(); ++i) EXPECT_LT(h.bucket_limit[i - 1], h.bucket_limit[i]);
  // Every value lies in the bucket whose upper limit is the first one above it; the limits
  // are TensorBoard's: 0 or ±1e-12·1.1^k.
  for (double v : vals) {
    size_t i = std::upper_bound(h.bucket_limit.begin(), h.bucket_limit.end(), v) - h.bucket_limit.begin();
    ASSERT_LT(i, h.bucket.size()) << v;
    EXPECT_GE(h.bucket[i], 1) << v;
    double lim = h.bucket_limit[i];
    if (lim != 0) {
      double k = std::log(std::abs(lim) / 1e-12) / std::log(1.1);
      EXPECT_NEAR(k, std::round(k), 1e-6) << lim;
    }
  }
  // 0.5 twice: its bucket is (0.5/1.1 .. 0.5] -> the first limit above 0.5 holds 2.
  size_t i = std::upper_bound(h.bucket_limit.begin(), h.bucket_limit.end(), 0.5) - h.bucket_limit.begin();
  EXPECT_EQ(h.bucket[i], 2);
  EXPECT_LT(h.bucket_limit[i] / 1.1, 0.5 + 1e-12);
}

TEST(Writer, ImageRoundTripsThroughPng) {
  ScratchDir dir;
  Tensor chw = rand({3, 4, 5});
  Tensor gray = arange(12).reshape({3, 4}).to(DType::UInt8);
  {
    Writer w(dir.str());
    w.add_image("rgb", chw, 1);
    w.add_image("gray", gray, 2, "HW");
  }
  std::vector<Record> im = of_kind(read(dir.str()), Kind::Image);
  ASSERT_EQ(im.size(), 2u);
  EXPECT_EQ(im[0].tag, "rgb");
  EXPECT_EQ(im[0].image.height, 4);
  EXPECT_EQ(im[0].image.width, 5);
  EXPECT_EQ(im[0].image.colorspace, 3);
  DecodedImage d = decode_png(im[0].image.png);
  ASSERT_EQ(d.width, 5);
  ASSERT_EQ(d.height, 4);
  ASSERT_EQ(d.channels, 3);
  const float* p = chw.data<float>();
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x)
        ASSERT_EQ(d.pixels[(y * 5 + x) * 3 + c], std::lround(p[(c * 4 + y) * 5 + x] * 255.0f));
  DecodedImage g = decode_png(im[1].image.png);
  ASSERT_EQ(g.channels, 1);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(g.pixels[i], i);
}

TEST(Writer, ImagesAreTiledIntoAGrid) {
  Tensor batch = zeros({5, 1, 3, 3});
  for (int k = 0; k < 5; ++k) batch.select(0, k).fill_(0.1 * (k + 1));
  Tensor grid = make_grid(batch, 2, 2, 1.0);
  ASSERT_EQ(grid.shape(), (Shape{1, 3 * (3 + 2) + 2, 2 * (3 + 2) + 2}));
  // image k at row k/2, column k%2, top-left (2 + 5*(k/2), 2 + 5*(k%2)); padding is 1.0
  for (int k = 0; k < 5; ++k)
    EXPECT_FLOAT_EQ(grid.select(1, 2 + 5 * (k / 2)).select(1, 2 + 5 * (k % 2)).item<float>(), 0.1f * (k + 1));
  EXPECT_FLOAT_EQ(grid.select(1, 0).select(1, 0).item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(grid.select(1, 12).select(1, 7).item<float>(), 1.0f);  // empty 6th slot
  ScratchDir dir;
  {
    Writer w(dir.str());
    w.add_images("batch", batch, 0, 2);
  }
  std::vector<Record> im = of_kind(read(dir.str()), Kind::Image);
  ASSERT_EQ(im.size(), 1u);
  EXPECT_EQ(im[0].image.height, 17);
  EXPECT_EQ(im[0].image.width, 12);
}

TEST(Writer, TextAndHParams) {
  ScratchDir dir;
  {
    Writer w(dir.str());
    w.add_text("notes", "**lr** sweep: 0.1", 4);
    w.add_hparams({{"lr", 0.1}, {"model", std::string("mlp")}, {"nesterov", true}},
                  {{"hparam/accuracy", 0.875}}, 9);
  }
  std::vector<Record> rs = read(dir.str());
  std::vector<Record> tx = of_kind(rs, Kind::Text);
  ASSERT_EQ(tx.size(), 1u);
  EXPECT_EQ(tx[0].tag, "notes");
  EXPECT_EQ(tx[0].text, "**lr** sweep: 0.1");
  EXPECT_EQ(tx[0].plugin, "text");
  EXPECT_EQ(tx[0].step, 4);
  std::vector<Record> hp = of_kind(rs, Kind::HParams);
  ASSERT_EQ(hp.size(), 3u);
  EXPECT_EQ(hp[0].tag, "_hparams_/experiment");
  EXPECT_EQ(hp[1].tag, "_hparams_/session_start_info");
  EXPECT_EQ(hp[2].tag, "_hparams_/session_end_info");
  EXPECT_EQ(hp[1].hparams, (std::map<std::string, std::string>{
                              {"lr", "0.1"}, {"model", "mlp"}, {"nesterov", "true"}}));
  EXPECT_TRUE(hp[0].hparams.empty());
  auto last = last_scalars(dir.str());
  ASSERT_EQ(last.count("hparam/accuracy"), 1u);
  EXPECT_EQ(last["hparam/accuracy"].value, 0.875f);
  EXPECT_EQ(last["hparam/accuracy"].step, 9);
}

TEST(Writer, BadInputsAreErrors) {
  ScratchDir dir;
  Writer w(dir.str());
  EXPECT_TRUE(throws_error([&] { w.add_image("x", zeros({2, 4, 4}), 0); }, {"2 channels"}));
  EXPECT_TRUE(throws_error([&] { w.add_image("x", zeros({4, 4}), 0, "CHW"); }, {"3-D"}));
  EXPECT_TRUE(throws_error([&] { w.add_image("x", zeros({4, 4}), 0, "WH"); }, {"dataformats"}));
  w.close();
  EXPECT_TRUE(throws_error([&] { w.add_scalar("x", 1, 0); }, {"after close"}));
  std::string file = dir / "not_a_dir";
  write_bytes(file, "x");
  EXPECT_TRUE(throws_error([&] { Writer bad(file + "/sub"); }, {"log directory"}));
}

// A file with N complete records; corrupting / truncating copies of it.
struct Sample {
  ScratchDir dir;
  std::string path;
  Sample() {
    Writer w(dir.str());
    path = w.path();
    for (int i = 0; i < 5; ++i) w.add_scalar("v", i, i);
  }
};

TEST(Reader, FlippedDataByteIsAnErrorNamingFileAndOffset) {
  Sample s;
  std::string data = read_bytes(s.path);
  size_t first_len = le64(data, 0);
  size_t second = 12 + first_len + 4;
  data[second + 12 + 3] ^= 0x40;
  write_bytes(s.path, data);
  EXPECT_TRUE(throws_error([&] { read(s.path); },
                           {s.path, fmt::format("offset {}", second), "data CRC"}));
}

TEST(Reader, FlippedLengthByteIsAnError) {
  Sample s;
  std::string data = read_bytes(s.path);
  data[0] ^= 0x01;
  write_bytes(s.path, data);
  EXPECT_TRUE(throws_error([&] { read(s.dir.str()); }, {"offset 0", "length CRC"}));
}

TEST(Reader, TruncatedLastRecordIsDroppedWithAWarning) {
  Sample s;
  std::string data = read_bytes(s.path);
  for (size_t cut : {1, 5, 15}) {
    write_bytes(s.path, data.substr(0, data.size() - cut));
    std::vector<std::string> warnings;
    std::vector<Record> sc = of_kind(read(s.path, {.warnings = &warnings}), Kind::Scalar);
    ASSERT_EQ(sc.size(), 4u) << "cut " << cut;
    EXPECT_EQ(sc.back().value, 3.0f);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("truncated"), std::string::npos) << warnings[0];
  }
}

TEST(Reader, MissingPathIsAnError) {
  EXPECT_TRUE(throws_error([] { read("/nonexistent/tandem/run"); }, {"/nonexistent/tandem/run"}));
}

TEST(Writer, FlushMakesRecordsReadableWhileTheWriterIsOpen) {
  ScratchDir dir;
  Writer w(dir.str(), {.flush_secs = 0, .max_queue = 1000});
  w.add_scalar("a", 1, 0);
  EXPECT_EQ(of_kind(read(w.path()), Kind::Scalar).size(), 0u);  // still buffered
  w.flush();
  EXPECT_EQ(of_kind(read(w.path()), Kind::Scalar).size(), 1u);
}

TEST(Writer, BackgroundThreadFlushesOnItsTimer) {
  ScratchDir dir;
  Writer w(dir.str(), {.flush_secs = 0.05, .max_queue = 1000});
  w.add_scalar("a", 1, 0);
  // Waits for the flush thread (the bound is only a hang guard, not a timing check).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t n = 0;
  while ((n = of_kind(read(w.path()), Kind::Scalar).size()) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(n, 1u);
}

TEST(Writer, KilledProcessLeavesTheFlushedRecordsReadable) {
  ScratchDir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Writer w(dir.str(), {.flush_secs = 0, .max_queue = 1000});
    for (int i = 0; i < 3; ++i) w.add_scalar("x", i, i);
    w.flush();
    w.add_scalar("x", 99, 99);  // never flushed
    ::_exit(0);                 // no destructors, like a crash
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  std::vector<std::string> warnings;
  std::vector<Record> sc = of_kind(read(dir.str(), {.warnings = &warnings}), Kind::Scalar);
  ASSERT_EQ(sc.size(), 3u);
  EXPECT_EQ(sc[2].value, 2.0f);
  EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace tandem::summary
