// safetensors: round trips, files written independently from the spec
// (tests/reference/gen_safetensors.py), zero-copy loading.
#include <sstream>

#include "io_test_util.h"
#include "test_util.h"

namespace tandem::testing {
namespace {

const std::string kDataDir = TANDEM_TEST_DATA_DIR;

Tensor random_of(DType dt, const Shape& shape, Generator& g) {
  if (dt == DType::Bool) return rand(shape, {}, &g) < wrap_scalar(0.5);
  if (is_floating(dt)) return (randn(shape, {}, &g) * 100.0).to(dt);
  double lo = dt == DType::UInt8 ? 0 : (dt == DType::Int8 ? -128 : -1e9);
  double hi = dt == DType::UInt8 ? 256 : (dt == DType::Int8 ? 128 : 1e9);
  return randint(static_cast<int64_t>(lo), static_cast<int64_t>(hi), shape, {.dtype = DType::Int64}, &g)
      .to(dt);
}

TEST(Safetensors, RoundTripsEveryDtypeAndShape) {
  ScratchDir dir;
  Generator g(11);
  const std::vector<Shape> shapes = {{2, 3}, {}, {0}, {3, 0, 2}, {1}, {2, 1, 3, 2}};
  for (int d = 0; d < kNumDTypes; ++d) {
    auto dt = static_cast<DType>(d);
    std::map<std::string, Tensor> in;
    for (size_t i = 0; i < shapes.size(); ++i) in["t" + std::to_string(i)] = random_of(dt, shapes[i], g);
    std::string path = dir.file(std::string(dtype_name(dt)) + ".safetensors");
    io::save_safetensors(path, in, {{"dtype", std::string(dtype_name(dt))}});
    io::SafetensorsFile out = io::load_safetensors(path);
    ASSERT_EQ(out.tensors.size(), in.size());
    for (const auto& [name, t] : in) EXPECT_TRUE(same_tensor(out.tensors.at(name), t)) << dtype_name(dt) << " " << name;
    EXPECT_EQ(out.metadata, (std::map<std::string, std::string>{{"dtype", std::string(dtype_name(dt))}}));
  }
}

TEST(Safetensors, RoundTripsMixedDtypesInOneFileAligned) {
  ScratchDir dir;
  Generator g(5);
  std::map<std::string, Tensor> in;
  // Odd sizes of small items between larger ones: the writer's data order keeps every
  // tensor aligned, so all of them alias the mapping.
  for (int d = 0; d < kNumDTypes; ++d) in[fmt::format("x{}", d)] = random_of(static_cast<DType>(d), {3}, g);
  io::save_safetensors(dir.file("m.safetensors"), in);
  io::SafetensorsFile out = io::load_safetensors(dir.file("m.safetensors"));
  for (const auto& [name, t] : in) {
    EXPECT_TRUE(same_tensor(out.tensors.at(name), t)) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(out.tensors.at(name).data_ptr()) % t.itemsize(), 0u) << name;
  }
}

TEST(Safetensors, NonContiguousInputsAreSavedInLogicalOrder) {
  ScratchDir dir;
  Tensor base = arange(0, 24, 1, {.dtype = DType::Float32}).reshape({4, 6});
  std::map<std::string, Tensor> in = {
      {"transposed", base.t()},
      {"strided", base.slice(1, 1, 6, 2)},
      {"expanded", tensor({1.0, 2.0, 3.0}).expand({2, 3})},
  };
  for (const auto& [name, t] : in) ASSERT_FALSE(t.is_contiguous()) << name;
  io::save_safetensors(dir.file("nc.safetensors"), in);
  io::SafetensorsFile out = io::load_safetensors(dir.file("nc.safetensors"));
  for (const auto& [name, t] : in) {
    EXPECT_TRUE(out.tensors.at(name).is_contiguous());
    EXPECT_TRUE(same_tensor(out.tensors.at(name), t.contiguous())) << name;
    EXPECT_EQ(out.tensors.at(name).to_vector<double>(), t.to_vector<double>()) << name;
  }
}

TEST(Safetensors, ReadsIndependentlyWrittenFileOfEveryDtype) {
  io::SafetensorsFile f = io::load_safetensors(kDataDir + "/io/ref_all_dtypes.safetensors");
  const std::map<std::string, DType> expected_dtype = {
      {"bool", kBool},   {"u8", kUInt8},   {"i8", kInt8},           {"i32", kInt32},
      {"i64", kInt64},   {"f16", kFloat16}, {"bf16", kBFloat16},     {"f32", kFloat32},
      {"f64_scalar", kFloat64}, {"f32_empty", kFloat32}, {"i64_4d", kInt64}};
  ASSERT_EQ(f.tensors.size(), expected_dtype.size());
  for (const auto& [name, dt] : expected_dtype) {
    const Tensor& t = f.tensors.at(name);
    Tensor ref = load_npy("io/ref_all_dtypes." + name + ".npy");
    EXPECT_EQ(t.dtype(), dt) << name;
    // float16/bfloat16 references are float32 with exactly representable values.
    EXPECT_TRUE(same_tensor(is_floating(dt) && itemsize(dt) == 2 ? t.to(kFloat32) : t, ref)) << name;
  }
  EXPECT_EQ(f.tensors.at("f64_scalar").dim(), 0);
  EXPECT_EQ(f.tensors.at("f32_empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(f.metadata.at("framework"), "reference");
  EXPECT_EQ(f.metadata.at("note"), "h\xc3\xa9llo \xe2\x9c\x93 \"quoted\"");
}

TEST(Safetensors, WritesTheSameBytesAsTheSpecWriter) {
  // The Python writer follows the spec with the same conventions (sorted compact JSON,
  // space padding, data by item size then name): identical bytes mean any reader of that
  // file (the script checks it with numpy) reads ours.
  const std::string ref = read_bytes(kDataDir + "/io/ref_all_dtypes.safetensors");
  io::SafetensorsFile f = io::load_safetensors(kDataDir + "/io/ref_all_dtypes.safetensors");
  std::map<std::string, Tensor> rebuilt;
  for (const auto& [name, t] : f.tensors) {
    rebuilt[name] = load_npy("io/ref_all_dtypes." + name + ".npy").to(t.dtype());
  }
  std::ostringstream os;
  io::write_safetensors(os, rebuilt, f.metadata);
  EXPECT_EQ(os.str().size(), ref.size());
  EXPECT_TRUE(os.str() == ref) << "first difference at byte "
                               << std::mismatch(ref.begin(), ref.end(), os.str().begin()).first - ref.begin();
}

TEST(Safetensors, ReadsOtherWritersLayoutsIncludingMisalignedTensors) {
  io::SafetensorsFile f = io::load_safetensors(kDataDir + "/io/ref_variants.safetensors");
  EXPECT_TRUE(f.metadata.empty());
  ASSERT_EQ(f.tensors.size(), 4u);
  for (const auto& [name, t] : f.tensors) {
    Tensor ref = load_npy("io/ref_variants." + name + ".npy");
    EXPECT_TRUE(same_tensor(t.dtype() == kFloat16 ? t.to(kFloat32) : t, ref)) << name;
    // Misaligned in the file (unpadded header, odd F16 before it): loaded as an aligned copy.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % t.itemsize(), 0u) << name;
  }
}

TEST(Safetensors, LoadedTensorsAliasTheMappingAndOutliveIt) {
  ScratchDir dir;
  const std::string path = dir.file("alias.safetensors");
  Tensor a = arange(0, 1000, 1, {.dtype = kFloat32}), b = arange(0, 10, 1, {.dtype = kFloat32});
  io::save_safetensors(path, {{"a", a}, {"b", b}});
  Tensor la, lb;
  {
    io::SafetensorsFile f = io::load_safetensors(path);
    la = f.tensors.at("a");
    lb = f.tensors.at("b");
  }
  // Both point into one mapping at their data offsets: no copies were made.
  const io::SafetensorsLayout layout = [&] {
    std::string bytes = read_bytes(path);
    return io::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }();
  ASSERT_EQ(layout.entries.size(), 2u);
  EXPECT_EQ(static_cast<const char*>(lb.data_ptr()) - static_cast<const char*>(la.data_ptr()),
            static_cast<std::ptrdiff_t>(layout.entries[1].begin - layout.entries[0].begin));
  EXPECT_EQ(la.storage()->nbytes(), a.nbytes());

  // The mapping outlives the file object and the file's name.
  std::filesystem::remove(path);
  EXPECT_TRUE(same_tensor(la, a));
  EXPECT_TRUE(same_tensor(lb, b));
}

TEST(Safetensors, WritingALoadedTensorDoesNotChangeTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("private.safetensors");
  Tensor a = arange(0, 16, 1, {.dtype = kFloat64});
  io::save_safetensors(path, {{"a", a}});
  const std::string before = read_bytes(path);
  {
    Tensor t = io::load_safetensors(path).tensors.at("a");
    t.fill_(-1.0);
    EXPECT_EQ(t.to_vector<double>(), std::vector<double>(16, -1.0));
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(same_tensor(io::load_safetensors(path).tensors.at("a"), a));
}

TEST(Safetensors, EmptyFileOfNoTensorsRoundTrips) {
  ScratchDir dir;
  io::save_safetensors(dir.file("e.safetensors"), {});
  io::SafetensorsFile f = io::load_safetensors(dir.file("e.safetensors"));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
  EXPECT_EQ(read_bytes(dir.file("e.safetensors")).size() % 8, 0u);
}

TEST(Safetensors, SaveRefusesWhatTheFormatCannotHold) {
  ScratchDir dir;
  EXPECT_TRUE(throws_error([&] { io::save_safetensors(dir.file("x"), {{"__metadata__", ones({1})}}); },
                           {"__metadata__", "reserved"}));
  EXPECT_TRUE(throws_error([&] { io::save_safetensors(dir.file("x"), {{"w", Tensor()}}); },
                           {"'w'", "undefined"}));
  EXPECT_TRUE(throws_error([&] { io::save_safetensors(dir.file("x"), {{"bad\xff", ones({1})}}); },
                           {"UTF-8"}));
  EXPECT_TRUE(throws_error([&] { io::save_safetensors(dir.file("x"), {}, {{"k", "v\xc3"}}); },
                           {"UTF-8"}));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // no temporary file left behind
}

}  // namespace
}  // namespace tandem::testing
