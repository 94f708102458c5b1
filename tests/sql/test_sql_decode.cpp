// The PostgreSQL wire decoders (src/data/sql_decode.h) without a server: values written
// here by the COPY binary format's definition (big-endian, length-prefixed fields), and the
// malformed messages a broken stream can carry, each refused with an Error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "data/sql_decode.h"
#include "tandem/error.h"

namespace {
namespace sql = tandem::data::sql;

std::string be32(int32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(static_cast<uint32_t>(v) >> (24 - 8 * i));
  return s;
}
std::string be16(int16_t v) {
  return {static_cast<char>(static_cast<uint16_t>(v) >> 8), static_cast<char>(v & 0xff)};
}
std::string field(const std::string& b) { return be32(static_cast<int32_t>(b.size())) + b; }
const std::string kHeader = std::string("PGCOPY\n\377\r\n\0", 11) + be32(0) + be32(0);

bool binary(sql::CopyRow& row, const std::string& m) {
  return row.binary(m.data(), static_cast<int>(m.size()));
}

TEST(SqlDecode, BinaryRowsAndValues) {
  sql::CopyRow row("test", 3);
  double d = -2.5;
  std::string dbytes(8, '\0');
  uint64_t u;
  std::memcpy(&u, &d, 8);
  for (int i = 0; i < 8; ++i) dbytes[i] = static_cast<char>(u >> (56 - 8 * i));
  // The row points into its message: keep the message alive while reading the row.
  const std::string message = kHeader + be16(3) + field(be32(-7)) + field(dbytes) + be32(-1);
  ASSERT_TRUE(binary(row, message));
  EXPECT_EQ(sql::binary_number(23, row.data(0), row.length(0), "t"), -7.0);
  EXPECT_EQ(sql::binary_number(701, row.data(1), row.length(1), "t"), -2.5);
  EXPECT_TRUE(row.is_null(2));
  // numeric 12.34: two base-10000 digits (12, 3400) with weight 0.
  std::string num = be16(2) + be16(0) + be16(0) + be16(2) + be16(12) + be16(3400);
  EXPECT_NEAR(sql::binary_number(1700, num.data(), static_cast<int>(num.size()), "t"), 12.34, 1e-12);
  EXPECT_FALSE(binary(row, be16(-1)));  // the trailer
}

TEST(SqlDecode, MalformedBinaryRowsAreErrors) {
  {
    sql::CopyRow row("test", 1);
    EXPECT_THROW(binary(row, "PGCOPY"), tandem::Error);  // short header
  }
  {
    sql::CopyRow row("test", 1);  // header extension longer than the message
    EXPECT_THROW(binary(row, std::string("PGCOPY\n\377\r\n\0", 11) + be32(0) + be32(1 << 30)),
                 tandem::Error);
  }
  {
    sql::CopyRow row("test", 1);  // header with no field count after it
    EXPECT_THROW(binary(row, kHeader), tandem::Error);
  }
  {
    sql::CopyRow row("test", 1);  // a field length beyond the message
    EXPECT_THROW(binary(row, kHeader + be16(1) + be32(1000) + "abc"), tandem::Error);
  }
  {
    sql::CopyRow row("test", 1);  // a negative length other than -1 (NULL)
    EXPECT_THROW(binary(row, kHeader + be16(1) + be32(-5)), tandem::Error);
  }
  {
    sql::CopyRow row("test", 2);  // the wrong field count
    EXPECT_THROW(binary(row, kHeader + be16(1) + field("x")), tandem::Error);
  }
}

TEST(SqlDecode, MalformedValuesAreErrors) {
  std::string two = be16(1);
  EXPECT_THROW(sql::binary_number(23, two.data(), 2, "t"), tandem::Error);  // int4 in 2 bytes
  std::string num = be16(100) + be16(0) + be16(0) + be16(0);  // 100 digits in 8 bytes
  EXPECT_THROW(sql::binary_number(1700, num.data(), 8, "t"), tandem::Error);
  std::vector<float> out;
  // float4[] claiming 2^30 elements in a few bytes, and one with a truncated element.
  std::string arr = be32(1) + be32(0) + be32(700) + be32(1 << 30) + be32(1);
  EXPECT_THROW(sql::binary_array(arr.data(), static_cast<int>(arr.size()), out, "t", "a"),
               tandem::Error);
  std::string arr2 = be32(1) + be32(0) + be32(700) + be32(1) + be32(1) + be32(4) + "ab";
  EXPECT_THROW(sql::binary_array(arr2.data(), static_cast<int>(arr2.size()), out, "t", "a"),
               tandem::Error);
  std::string bytes;
  EXPECT_THROW(sql::bytea_hex("\\x0", bytes, "t", "b"), tandem::Error);   // odd digit count
  EXPECT_THROW(sql::bytea_hex("\\xzz", bytes, "t", "b"), tandem::Error);  // not hex
  sql::bytea_hex("\\x00fF", bytes, "t", "b");
  EXPECT_EQ(bytes, std::string("\x00\xff", 2));
}

TEST(SqlDecode, TextRows) {
  sql::CopyRow row("test", 3);
  std::string m = "1.5\t\\N\ta\\tb\\\\c\\101\n";
  row.text(m.data(), static_cast<int>(m.size()));
  EXPECT_EQ(sql::text_number(701, row.str(0), "t", "x"), 1.5);
  EXPECT_TRUE(row.is_null(1));
  EXPECT_EQ(row.str(2), "a\tb\\cA");
  std::string few = "1\t2\n", many = "1\t2\t3\t4\n";
  EXPECT_THROW(row.text(few.data(), static_cast<int>(few.size())), tandem::Error);
  EXPECT_THROW(row.text(many.data(), static_cast<int>(many.size())), tandem::Error);
  std::vector<float> out;
  sql::text_array("{{1,2.5},{-3,4}}", out, "t", "a");
  EXPECT_EQ(out, (std::vector<float>{1, 2.5f, -3, 4}));
  EXPECT_THROW(sql::text_array("{1,NULL}", out, "t", "a"), tandem::Error);
  EXPECT_THROW(sql::text_number(701, "abc", "t", "x"), tandem::Error);
}

}  // namespace
