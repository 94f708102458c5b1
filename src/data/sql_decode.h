// PostgreSQL values as they arrive on the wire (COPY rows in binary or text format, binary
// result values), decoded without a connection: sql_postgres.cpp reads its rows through
// these, and fuzz/targets/fuzz_sql_copy.cpp feeds them arbitrary bytes. Every length comes
// from the stream, so every read is checked against the message's end and a malformed
// message is an Error naming `what` (the source) and, where known, the column.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/sql_source.h"

namespace tandem::data::sql {

// pg_type OID -> what the value holds (src/include/catalog/pg_type.dat; stable across server
// versions).
Type pg_type_of(uint32_t oid);

// One row of a COPY stream, field by field. A field is NULL (length -1), a binary value
// (pointer into the message, valid until the next row) or an unescaped text value.
class CopyRow {
 public:
  CopyRow(std::string what, size_t columns);
  // One binary COPY message (the first carries the file header); false for the trailer.
  bool binary(const char* p, int n);
  // One text COPY message (tab-separated, \N for NULL, backslash escapes).
  void text(const char* p, int n);

  bool is_null(size_t c) const { return len_[c] < 0; }
  int length(size_t c) const { return len_[c]; }
  const char* data(size_t c) const { return ptr_[c]; }      // binary rows
  const std::string& str(size_t c) const { return text_[c]; }  // text rows

 private:
  std::string what_;
  std::vector<const char*> ptr_;
  std::vector<int> len_;
  std::vector<std::string> text_;
  bool header_seen_ = false;
};

// A binary value of type `oid` (bool, int2/4/8, oid, float4/8, numeric) as a double.
double binary_number(uint32_t oid, const char* p, int len, std::string_view what);
// A text value of a number column (`t`/`f` for bool) as a double.
double text_number(uint32_t oid, const std::string& s, std::string_view what,
                   std::string_view column);
// A binary one-dimensional or multi-dimensional array of numbers, flattened.
void binary_array(const char* p, int len, std::vector<float>& out, std::string_view what,
                  std::string_view column);
// An array in text form ({1,2.5,{3}}), flattened.
void text_array(const std::string& s, std::vector<float>& out, std::string_view what,
                std::string_view column);
// bytea's text form (\x and hex digits) as bytes.
void bytea_hex(const std::string& s, std::string& out, std::string_view what,
               std::string_view column);

}  // namespace tandem::data::sql
