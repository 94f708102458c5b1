// The JSON <-> tensor codec of the server (src/serve/tensor_json.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include <tandem/tandem.h>

#include "serve/status.h"
#include "serve/tensor_json.h"

using namespace tandem;
using namespace tandem::serve;

namespace {
Tensor parse_tensor(const std::string& text, DType dt) {
  rapidjson::Document doc;
  parse_json(doc, text);
  return json_to_tensor(doc, dt, "input 'x'");
}
std::string write(const Tensor& t, const char* sep = ", ") {
  std::string out;
  append_tensor(out, t, sep);
  return out;
}
}  // namespace

TEST(TensorJson, NestedListsBecomeShapedTensors) {
  Tensor t = parse_tensor("[[1, 2.5, -3], [4e1, 0.5, 6]]", kFloat32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data<float>()[3], 40.0f);
  EXPECT_EQ(parse_tensor("7", kInt64).shape(), Shape{});
  EXPECT_EQ(parse_tensor("[]", kFloat32).shape(), Shape{0});
}

TEST(TensorJson, NanAndInfinityReadAndWritten) {
  Tensor t = parse_tensor("[NaN, Infinity, -Infinity, 1]", kFloat32);
  EXPECT_TRUE(std::isnan(t.data<float>()[0]));
  EXPECT_EQ(t.data<float>()[1], INFINITY);
  EXPECT_EQ(write(t), "[NaN, Infinity, -Infinity, 1.0]");
}

TEST(TensorJson, FloatsWriteShortestRoundTripText) {
  Tensor t = tensor(std::vector<float>{0.1f, 3.0f, 1e-7f, 123456.78f});
  EXPECT_EQ(write(t, ","), "[0.1,3.0,1e-07,123456.78]");
  Tensor d = tensor(std::vector<double>{0.1, 2.0});
  EXPECT_EQ(write(d), "[0.1, 2.0]");
  EXPECT_EQ(write(tensor(std::vector<int64_t>{-5, 9})), "[-5, 9]");
  EXPECT_EQ(write(tensor(std::vector<int64_t>{1, 0}).to(kBool)), "[true, false]");
}

TEST(TensorJson, BadValuesAreInvalidArgumentNamingTheInput) {
  auto expect_bad = [](const std::string& text, DType dt, const std::string& words) {
    try {
      parse_tensor(text, dt);
      FAIL() << text << " parsed";
    } catch (const StatusError& e) {
      EXPECT_EQ(e.code(), Code::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("input 'x'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_bad("[[1, 2], [3]]", kFloat32, "same length");
  expect_bad("[[1, 2], 3]", kFloat32, "expected a list");
  expect_bad("[1, [2]]", kFloat32, "expected a scalar");
  expect_bad("[\"a\"]", kFloat32, "expected a number");
  expect_bad("[1.5]", kInt64, "integer");
  expect_bad("[300]", kUInt8, "out of range");
  expect_bad("[1]", kBool, "true or false");
}

TEST(TensorJson, MalformedJsonNamesTheOffset) {
  rapidjson::Document doc;
  try {
    parse_json(doc, "{\"instances\": [1, 2");
    FAIL();
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), Code::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_json(doc, "{} trailing"), StatusError);
}

TEST(TensorJson, Base64RoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n : {0, 1, 2, 3, 4, 255, 256}) {
    std::string back;
    ASSERT_TRUE(base64_decode(base64_encode(all.substr(0, n)), back));
    EXPECT_EQ(back, all.substr(0, n));
  }
  EXPECT_EQ(base64_encode("image bytes"), "aW1hZ2UgYnl0ZXM=");  // TF Serving's documentation example
  std::string out;
  EXPECT_FALSE(base64_decode("a*b=", out));
}

TEST(TensorJson, V2DataMustMatchTheShape) {
  rapidjson::Document doc;
  parse_json(doc, "[1, 2, 3, 4, 5, 6]");
  Tensor t = json_to_tensor_shaped(doc, kInt32, {2, 3}, "input 'x'");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data<int32_t>()[5], 6);
  EXPECT_THROW(json_to_tensor_shaped(doc, kInt32, {2, 2}, "input 'x'"), StatusError);
}
