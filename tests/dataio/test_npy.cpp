// .npy / .npz against files NumPy wrote (tests/reference/gen_dataio.py) and round trips.
#include <cmath>

#include "tandem/io/npy.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace tandem;
using tandem::testing::read_bytes;
using tandem::testing::TempDir;
using tandem::testing::throws_error;
using tandem::testing::write_bytes;

namespace {

std::string ref(const std::string& name) { return std::string(TANDEM_TEST_DATA_DIR) + "/dataio/" + name; }

// The generator's formula: v[i] = i * scale + offset in C order, as double.
std::vector<double> ramp(int64_t n, double scale, double offset) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * scale + offset;
  return v;
}

void expect_ramp(const Tensor& t, DType dt, const Shape& shape, double scale, double offset) {
  EXPECT_EQ(t.dtype(), dt);
  EXPECT_EQ(t.shape(), shape);
  EXPECT_EQ(t.to_vector<double>(), ramp(shape_numel(shape), scale, offset));
}

}  // namespace

TEST(Npy, LoadsEveryDtypeNumpyWrote) {
  expect_ramp(io::load_npy(ref("f32_2x3.npy")), kFloat32, {2, 3}, 0.5, -1.0);
  expect_ramp(io::load_npy(ref("f64_3.npy")), kFloat64, {3}, 0.25, 1.0);
  expect_ramp(io::load_npy(ref("f16_4.npy")), kFloat16, {4}, 0.5, -1.0);
  expect_ramp(io::load_npy(ref("i64_2x2.npy")), kInt64, {2, 2}, 1e12, -3.0);
  expect_ramp(io::load_npy(ref("i32_4.npy")), kInt32, {4}, 1000, -2000);
  expect_ramp(io::load_npy(ref("i8_3.npy")), kInt8, {3}, 50, -100);
  expect_ramp(io::load_npy(ref("u8_5.npy")), kUInt8, {5}, 60, 0);
  expect_ramp(io::load_npy(ref("i16_3.npy")), kInt16, {3}, 300, -400);
  expect_ramp(io::load_npy(ref("f32_2x3x4.npy")), kFloat32, {2, 3, 4}, 1, 0);
  Tensor b = io::load_npy(ref("bool_4.npy"));
  EXPECT_EQ(b.dtype(), kBool);
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1}));
  Tensor s = io::load_npy(ref("f64_scalar.npy"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 2.5);
  Tensor e = io::load_npy(ref("f32_empty_0x3.npy"));
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
}

TEST(Npy, LoadsFortranOrderBigEndianAndVersion2) {
  expect_ramp(io::load_npy(ref("f32_2x3x4_fortran.npy")), kFloat32, {2, 3, 4}, 1, 0);
  EXPECT_TRUE(io::load_npy(ref("f32_2x3x4_fortran.npy")).is_contiguous());
  expect_ramp(io::load_npy(ref("f64_2x3_bigendian.npy")), kFloat64, {2, 3}, 0.5, -1.0);
  expect_ramp(io::load_npy(ref("i32_3_bigendian.npy")), kInt32, {3}, 70000, -1);
  expect_ramp(io::load_npy(ref("f32_2x3_v2.npy")), kFloat32, {2, 3}, 0.5, -1.0);
}

TEST(Npy, SaveWritesTheSameBytesAsNumpy) {
  TempDir dir;
  Tensor t = tensor(ramp(6, 0.5, -1.0), Shape{2, 3}).to(kFloat32);
  io::save_npy(dir / "x.npy", t);
  EXPECT_EQ(read_bytes(dir / "x.npy"), read_bytes(ref("f32_2x3.npy")));
  io::save_npy(dir / "y.npy", tensor(ramp(3, 0.25, 1.0), Shape{3}));
  EXPECT_EQ(read_bytes(dir / "y.npy"), read_bytes(ref("f64_3.npy")));
  io::save_npy(dir / "s.npy", scalar_tensor(2.5, {.dtype = kFloat64}));
  EXPECT_EQ(read_bytes(dir / "s.npy"), read_bytes(ref("f64_scalar.npy")));
  io::save_npy(dir / "b.npy", tensor(std::vector<uint8_t>{1, 0, 0, 1}).to(kBool));
  EXPECT_EQ(read_bytes(dir / "b.npy"), read_bytes(ref("bool_4.npy")));
}

TEST(Npy, RoundTripKeepsDtypeShapeAndValues) {
  TempDir dir;
  for (DType dt : {kFloat32, kFloat64, kFloat16, kInt64, kInt32, kInt8, kUInt8, kBool}) {
    Tensor t = (randn({3, 1, 4}) * 20.0).to(dt);
    io::save_npy(dir / "t.npy", t);
    Tensor r = io::load_npy(dir / "t.npy");
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_EQ(r.shape(), t.shape());
    EXPECT_EQ(r.to_vector<double>(), t.to_vector<double>()) << dtype_name(dt);
  }
  // A non-contiguous tensor is written in its logical (C) order.
  Tensor base = arange(6).reshape({2, 3});
  io::save_npy(dir / "t.npy", base.t());
  EXPECT_EQ(io::load_npy(dir / "t.npy").to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(throws_error([&] { io::save_npy(dir / "bf.npy", zeros({2}, {.dtype = kBFloat16})); },
                           {"bfloat16", "convert"}));
}

TEST(Npy, ErrorsNameTheFileAndTheProblem) {
  TempDir dir;
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "missing.npy"); }, {"missing.npy", "cannot open"}));
  EXPECT_TRUE(throws_error([&] { io::load_npy(ref("u4_3_unsupported.npy")); },
                           {"u4_3_unsupported.npy", "<u4", "not supported"}));
  write_bytes(dir / "junk.npy", "hello world, not numpy");
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "junk.npy"); }, {"junk.npy", "not a .npy"}));
  std::string good = read_bytes(ref("f32_2x3.npy"));
  write_bytes(dir / "short.npy", good.substr(0, good.size() - 5));
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "short.npy"); },
                           {"short.npy", "expected 24 bytes", "has 19", "truncated"}));
  write_bytes(dir / "hdr.npy", good.substr(0, 40));
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "hdr.npy"); }, {"hdr.npy", "truncated"}));
  std::string bad_shape = good;
  bad_shape.replace(bad_shape.find("(2, 3)"), 6, "(2, x)");
  write_bytes(dir / "shape.npy", bad_shape);
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "shape.npy"); }, {"shape.npy", "shape"}));
  std::string object = good;
  object.replace(object.find("<f4"), 3, "|O ");
  write_bytes(dir / "obj.npy", object);
  EXPECT_TRUE(throws_error([&] { io::load_npy(dir / "obj.npy"); }, {"obj.npy", "not supported"}));
}

TEST(Npz, LoadsNumpySavezAndSavezCompressed) {
  auto stored = io::load_npz(ref("stored.npz"));
  ASSERT_EQ(stored.size(), 3u);
  expect_ramp(stored.at("a"), kFloat32, {2, 3}, 0.5, -1.0);
  expect_ramp(stored.at("b"), kInt64, {4}, 3, 1);
  EXPECT_EQ(stored.at("flag").to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  auto compressed = io::load_npz(ref("compressed.npz"));
  ASSERT_EQ(compressed.size(), 2u);
  expect_ramp(compressed.at("a"), kFloat32, {2, 3}, 0.5, -1.0);
  expect_ramp(compressed.at("big"), kFloat64, {64, 16}, 0.125, 0.0);
}

TEST(Npz, RoundTripStoredAndCompressed) {
  TempDir dir;
  std::map<std::string, Tensor> m{{"w", randn({5, 7})},
                                  {"steps", arange(4)},
                                  {"mask", tensor(std::vector<uint8_t>{1, 0}).to(kBool)}};
  for (bool compress : {false, true}) {
    io::save_npz(dir / "m.npz", m, compress);
    auto r = io::load_npz(dir / "m.npz");
    ASSERT_EQ(r.size(), m.size());
    for (const auto& [k, t] : m) {
      EXPECT_EQ(r.at(k).dtype(), t.dtype()) << k;
      EXPECT_EQ(r.at(k).shape(), t.shape()) << k;
      EXPECT_EQ(r.at(k).to_vector<double>(), t.to_vector<double>()) << k;
    }
  }
  // Deflate really compresses a repetitive array.
  io::save_npz(dir / "z.npz", {{"z", zeros({1000})}}, true);
  EXPECT_LT(read_bytes(dir / "z.npz").size(), 500u);
}

TEST(Npz, CorruptArchivesGiveErrors) {
  TempDir dir;
  std::string good = read_bytes(ref("stored.npz"));
  write_bytes(dir / "cut.npz", good.substr(0, good.size() / 2));
  EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "cut.npz"); }, {"cut.npz"}));
  std::string flipped = good;
  flipped[flipped.find("NUMPY") + 60] ^= 0x55;  // a data byte of member a.npy
  write_bytes(dir / "crc.npz", flipped);
  EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "crc.npz"); }, {"crc.npz", "CRC-32"}));
  std::string comp = read_bytes(ref("compressed.npz"));
  std::string cut_deflate = comp;
  for (size_t i = 40; i < 80; ++i) cut_deflate[i] = 0;
  write_bytes(dir / "deflate.npz", cut_deflate);
  EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "deflate.npz"); }, {"deflate.npz"}));
  write_bytes(dir / "notzip.npz", "just text");
  EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "notzip.npz"); }, {"notzip.npz", "not a zip"}));
}

// Crafted archives whose 64-bit zip64 offsets are chosen so that `offset + record size`
// wraps around to a small number: the reader must reject them, not read far outside the file.
// (A wrapped check read just before the buffer and then failed on the signature: the
// sanitizer build, which runs these tests, reports that read.)
namespace {

void le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// End-of-central-directory record for `entries` entries, `cd_size` bytes at `cd_offset`.
std::string eocd(uint64_t entries, uint64_t cd_size, uint64_t cd_offset) {
  std::string s;
  le(s, 0x06054b50, 4);
  le(s, 0, 4);  // disk numbers
  le(s, entries, 2);
  le(s, entries, 2);
  le(s, cd_size, 4);
  le(s, cd_offset, 4);
  le(s, 0, 2);  // comment length
  return s;
}

}  // namespace

TEST(Npz, Zip64LocatorOffsetThatWrapsIsRejected) {
  TempDir dir;
  for (uint64_t z : {~uint64_t{0} - 55, ~uint64_t{0} - 7, uint64_t{1} << 63}) {
    std::string f;
    le(f, 0x07064b50, 4);  // zip64 end-of-central-directory locator
    le(f, 0, 4);
    le(f, z, 8);           // where the zip64 record would be: z + 56 wraps below the file size
    le(f, 1, 4);
    f += eocd(0xffff, 0xffffffff, 0xffffffff);
    write_bytes(dir / "z64.npz", f);
    EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "z64.npz"); }, {"z64.npz", "zip64"})) << z;
  }
}

TEST(Npz, Zip64LocalHeaderOffsetThatWrapsIsRejected) {
  TempDir dir;
  for (uint64_t local : {~uint64_t{0} - 29, ~uint64_t{0} - 3, uint64_t{1} << 63}) {
    const std::string name = "a.npy";
    std::string cd;
    le(cd, 0x02014b50, 4);
    le(cd, 45, 2);  // made by
    le(cd, 45, 2);  // needed
    le(cd, 0, 2);   // flags
    le(cd, 0, 2);   // stored
    le(cd, 0, 4);   // time, date
    le(cd, 0, 4);   // crc
    le(cd, 0, 4);   // compressed size
    le(cd, 0, 4);   // uncompressed size
    le(cd, name.size(), 2);
    le(cd, 12, 2);  // extra length
    le(cd, 0, 2);   // comment length
    le(cd, 0, 2);   // disk
    le(cd, 0, 2);   // internal attributes
    le(cd, 0, 4);   // external attributes
    le(cd, 0xffffffff, 4);  // local header offset: in the zip64 extra field
    cd += name;
    le(cd, 0x0001, 2);
    le(cd, 8, 2);
    le(cd, local, 8);  // local + 30 wraps below the file size
    std::string f = cd + eocd(1, cd.size(), 0);
    write_bytes(dir / "local.npz", f);
    EXPECT_TRUE(throws_error([&] { io::load_npz(dir / "local.npz"); }, {"local.npz", "local header"}))
        << local;
  }
}
