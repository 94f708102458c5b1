// Corrupt and hostile safetensors files: each check of the loader has its own case, and
// each must end in tandem::Error (never a crash or a read outside the file). Every case
// goes through load_safetensors (a real file, mmap) and parse_safetensors on a heap buffer of
// exactly the file's size (so a sanitizer build flags any read past it).
#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "io_test_util.h"
#include "test_util.h"

namespace tandem::testing {
namespace {

// 8-byte length + header text + data bytes, with no padding or checks of our own.
std::string raw_file(const std::string& header, const std::string& data = "", std::optional<uint64_t> n = {}) {
  uint64_t len = n.value_or(header.size());
  std::string out(reinterpret_cast<const char*>(&len), 8);
  return out + header + data;
}

class Corrupt : public ::testing::Test {
 protected:
  // Expects both entry points to throw an Error whose message contains `needles`.
  void expect_rejected(const std::string& bytes, const std::vector<std::string>& needles) {
    std::vector<uint8_t> heap(bytes.begin(), bytes.end());
    EXPECT_TRUE(throws_error([&] { io::parse_safetensors(heap.data(), heap.size()); }, needles))
        << "parse_safetensors accepted or misreported: " << bytes.substr(8, 200);
    const std::string path = dir_.file("bad.safetensors");
    write_bytes(path, bytes);
    std::vector<std::string> with_path = needles;
    with_path.push_back(path);
    EXPECT_TRUE(throws_error([&] { io::load_safetensors(path); }, with_path));
  }
  void expect_header_rejected(const std::string& header, const std::string& data,
                              const std::vector<std::string>& needles) {
    expect_rejected(raw_file(header, data), needles);
  }
  ScratchDir dir_;
};

std::string valid_file() {
  std::ostringstream os;
  io::write_safetensors(os, {{"a", arange(0, 6, 1, {.dtype = kFloat32}).reshape({2, 3})},
                             {"b", tensor(std::vector<int64_t>{7, 8})},
                             {"m", tensor(std::vector<uint8_t>{1, 0, 1}).to(kBool)}},
                        {{"k", "v"}});
  return os.str();
}

TEST_F(Corrupt, ValidFileIsAcceptedByBothEntryPoints) {
  const std::string bytes = valid_file();
  std::vector<uint8_t> heap(bytes.begin(), bytes.end());
  EXPECT_EQ(io::parse_safetensors(heap.data(), heap.size()).entries.size(), 3u);
  write_bytes(dir_.file("ok.safetensors"), bytes);
  EXPECT_EQ(io::load_safetensors(dir_.file("ok.safetensors")).tensors.size(), 3u);
}

TEST_F(Corrupt, TruncatedAtEveryLength) {
  const std::string bytes = valid_file();
  for (size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    std::vector<uint8_t> heap(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_THROW(io::parse_safetensors(heap.data(), heap.size()), Error);
  }
  // The file loader at a few points: inside the length, the header and the data.
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  for (size_t len : {size_t{0}, size_t{5}, size_t{8}, size_t{8 + n / 2}, size_t{8 + n}, bytes.size() - 1}) {
    SCOPED_TRACE(len);
    write_bytes(dir_.file("t.safetensors"), bytes.substr(0, len));
    EXPECT_THROW(io::load_safetensors(dir_.file("t.safetensors")), Error);
  }
}

TEST_F(Corrupt, HeaderLengthLargerThanTheFile) {
  expect_rejected(raw_file("{}", "", uint64_t{3}), {"header length 3 exceeds the 2 bytes"});
  expect_rejected(raw_file("{}", "", ~uint64_t{0}), {"header length", "exceeds"});
  expect_rejected(raw_file("{}", "", uint64_t{1} << 63), {"header length", "exceeds"});
}

TEST_F(Corrupt, HeaderLengthOverTheLimit) {
  // A sparse file of 101 MB whose header claims 101 MB: refused before anything is read.
  const std::string path = dir_.file("huge.safetensors");
  const uint64_t n = 101ull << 20;
  write_bytes(path, raw_file("{", "", n));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + n)), 0);
  EXPECT_TRUE(throws_error([&] { io::load_safetensors(path); }, {"header length", "limit"}));
}

TEST_F(Corrupt, HeaderThatIsNotAJsonObject) {
  expect_header_rejected("[1, 2]", "", {"does not start with '{'"});
  expect_header_rejected("", "", {"does not start with '{'"});
  expect_header_rejected(std::string(4, '\0'), "", {"does not start with '{'"});
}

TEST_F(Corrupt, InvalidJson) {
  expect_header_rejected("{\"a\": ", "", {"not valid JSON"});
  expect_header_rejected("{\"a\": {},}", "", {"not valid JSON"});
  expect_header_rejected("{\"a\xff\": {}}", "", {"not valid JSON"});  // not UTF-8
  expect_header_rejected("{} {}", "", {"not valid JSON"});             // trailing garbage
  expect_header_rejected(std::string("{\"a\":1}\0\0", 9), "", {"not valid JSON"});
}

TEST_F(Corrupt, DeeplyNestedJsonDoesNotExhaustTheStack) {
  const size_t depth = 1'000'000;
  expect_header_rejected("{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}", "",
                         {"'a'", "expected a JSON object, got array"});
  std::string objects;
  for (size_t i = 0; i < depth / 10; ++i) objects += "{\"k\":";
  expect_header_rejected("{\"a\":" + objects + "1" + std::string(depth / 10, '}') + "}", "",
                         {"'a'", "unexpected field 'k'"});
}

TEST_F(Corrupt, EntriesOfTheWrongJsonTypes) {
  const std::string ok_shape = R"("shape":[1],"data_offsets":[0,4])";
  expect_header_rejected(R"({"a":1})", "", {"'a'", "expected a JSON object"});
  expect_header_rejected(R"({"a":{"dtype":32,)" + ok_shape + "}}", "abcd", {"dtype must be a string"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", "abcd",
                         {"shape must be an array"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", "abcd",
                         {"shape entries must be integers"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd",
                         {"shape entries must be integers"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})",
                         "abcd", {"shape entries must be integers"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", "abcd",
                         {"data_offsets must be an array [begin, end]"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":{"0":4}}})", "abcd",
                         {"data_offsets must be an array [begin, end]"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}})", "abcd",
                         {"data_offsets must be non-negative integers"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", "abcd",
                         {"data_offsets must be non-negative integers"});
}

TEST_F(Corrupt, MissingOrExtraFields) {
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1]}})", "abcd", {"missing field 'data_offsets'"});
  expect_header_rejected(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", "abcd", {"missing field 'dtype'"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":0}})", "abcd",
                         {"unexpected field 'x'"});
}

TEST_F(Corrupt, UnknownAndUnsupportedDtypes) {
  expect_header_rejected(R"({"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", "abcd",
                         {"unknown dtype 'F31'"});
  expect_header_rejected(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", "abcd",
                         {"unknown dtype 'f32'"});
  expect_header_rejected(R"({"a":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}})", "abcd",
                         {"U32", "no tandem equivalent"});
  expect_header_rejected(R"({"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})", "abcdefgh",
                         {"U64", "no tandem equivalent"});
}

TEST_F(Corrupt, ShapeTimesItemSizeDiffersFromTheByteRange) {
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
                         std::string(20, 'x'), {"hold 20 bytes", "needs 24"});
  expect_header_rejected(R"({"a":{"dtype":"F64","shape":[],"data_offsets":[0,4]}})",
                         std::string(4, 'x'), {"hold 4 bytes", "needs 8"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,4]}})",
                         std::string(4, 'x'), {"hold 4 bytes", "needs 0"});
}

TEST_F(Corrupt, ElementCountThatOverflows) {
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})",
                         "", {"overflows"});
  expect_header_rejected(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})",
                         "", {"byte size", "overflows"});
  // Zero elements, yet the other sizes multiply past int64 (strides would overflow).
  expect_header_rejected(
      R"({"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", "",
      {"overflows"});
}

TEST_F(Corrupt, OffsetsOutsideTheData) {
  expect_header_rejected(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", "abcd",
                         {"past the end of the data (4 bytes"});
  expect_header_rejected(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[9223372036854775804,9223372036854775808]}})",
                         "abcd", {"data_offsets must be non-negative integers"});
  expect_header_rejected(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", "abcd",
                         {"end before they begin"});
}

TEST_F(Corrupt, OverlappingRanges) {
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      std::string(12, 'x'), {"'a' and 'b' overlap"});
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      std::string(8, 'x'), {"overlap"});
  // A zero-size tensor placed inside another one's bytes.
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
      std::string(8, 'x'), {"overlap"});
}

TEST_F(Corrupt, GapsAndTrailingBytes) {
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
      std::string(12, 'x'), {"bytes [4, 8)", "gap before 'b'"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         std::string(8, 'x'), {"bytes [0, 4)", "gap before 'a'"});
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                         std::string(7, 'x'), {"last 3 bytes", "trailing"});
  expect_header_rejected(R"({})", "x", {"last 1 bytes"});
}

TEST_F(Corrupt, MetadataThatIsNotStrings) {
  expect_header_rejected(R"({"__metadata__":{"k":1}})", "", {"__metadata__ 'k'", "must be strings"});
  expect_header_rejected(R"({"__metadata__":{"k":null}})", "", {"__metadata__ 'k'"});
  expect_header_rejected(R"({"__metadata__":{"k":{"x":"y"}}})", "", {"__metadata__ 'k'"});
  expect_header_rejected(R"({"__metadata__":["k","v"]})", "", {"__metadata__ must be an object"});
  expect_header_rejected(R"({"__metadata__":"k"})", "", {"__metadata__ must be an object"});
}

TEST_F(Corrupt, DuplicateKeys) {
  const std::string a = R"("a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]})";
  expect_header_rejected("{" + a + "," + a + "}", "xy", {"key 'a' appears twice"});
  expect_header_rejected(R"({"a":{"dtype":"U8","dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "xy",
                         {"key 'dtype' appears twice"});
  expect_header_rejected(R"({"__metadata__":{"k":"1","k":"2"}})", "", {"key 'k' appears twice"});
  // The same key in different objects is fine.
  std::string ok = raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy");
  EXPECT_EQ(io::parse_safetensors(reinterpret_cast<const uint8_t*>(ok.data()), ok.size()).entries.size(), 2u);
}

TEST_F(Corrupt, BoolBytesOtherThanZeroOrOne) {
  expect_header_rejected(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})",
                         std::string("\x01\x02\x00", 3), {"'m'", "BOOL byte 1 is 2"});
}

TEST_F(Corrupt, PathsThatAreNotSafetensorsFiles) {
  EXPECT_TRUE(throws_error([&] { io::load_safetensors(dir_.file("missing.safetensors")); },
                           {"cannot open", "missing.safetensors", "No such file"}));
  EXPECT_TRUE(throws_error([&] { io::load_safetensors(dir_.path()); }, {"not a regular file"}));
  write_bytes(dir_.file("empty"), "");
  EXPECT_TRUE(throws_error([&] { io::load_safetensors(dir_.file("empty")); }, {"0 bytes", "too short"}));
  write_bytes(dir_.file("text"), "hello world, this is not a safetensors file");
  EXPECT_TRUE(throws_error([&] { io::load_safetensors(dir_.file("text")); }, {"header length"}));
}

TEST_F(Corrupt, EveryByteFlipOfAValidFileIsHandled) {
  // Not a proof, a smoke test next to the fuzzer: each single-byte corruption either still
  // validates (e.g. a changed data byte) or throws Error.
  const std::string bytes = valid_file();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> heap(bytes.begin(), bytes.end());
      heap[i] ^= x;
      try {
        io::SafetensorsLayout l = io::parse_safetensors(heap.data(), heap.size());
        for (const auto& e : l.entries) EXPECT_LE(e.end, heap.size());
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace tandem::testing
