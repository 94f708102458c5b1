// PostgreSQL COPY rows (binary and text format) and the values in them -> the decoders that
// SqlDataset reads a PostgreSQL result through (src/data/sql_decode.h), as a server, a proxy
// or a corrupted connection could send them.
//
// Input: byte 0 picks the format (bit 0: text) and the column count (bits 1-3, plus one);
// the next `count` bytes pick each column's type from kOids; the rest is the stream, one COPY
// message per chunk, each chunk prefixed by its length (2 bytes, little-endian).
#include "../fuzz_util.h"
#include "data/sql_decode.h"

namespace {
namespace sql = tandem::data::sql;

constexpr uint32_t kOids[] = {16, 20, 21, 23, 26, 700, 701, 1700, 25, 17, 1021, 1022, 1007, 1016};

void decode_row(const sql::CopyRow& row, const std::vector<uint32_t>& oids, bool text) {
  std::vector<float> array;
  std::string bytes;
  for (size_t c = 0; c < oids.size(); ++c) {
    if (row.is_null(c)) continue;
    switch (sql::pg_type_of(oids[c])) {
      case sql::Type::Array:
        if (text) sql::text_array(row.str(c), array, "fuzz", "a");
        else sql::binary_array(row.data(c), row.length(c), array, "fuzz", "a");
        break;
      case sql::Type::Blob:
        if (text) sql::bytea_hex(row.str(c), bytes, "fuzz", "b");
        break;
      case sql::Type::Text: break;
      default:
        if (text) (void)sql::text_number(oids[c], row.str(c), "fuzz", "n");
        else (void)sql::binary_number(oids[c], row.data(c), row.length(c), "fuzz");
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool text = data[0] & 1;
  const size_t count = ((data[0] >> 1) & 7) + 1;
  if (size < 1 + count) return 0;
  std::vector<uint32_t> oids;
  for (size_t c = 0; c < count; ++c) oids.push_back(kOids[data[1 + c] % std::size(kOids)]);
  size_t at = 1 + count;
  tandem::fuzz::expect_parse_or_error([&] {
    sql::CopyRow row("fuzz", count);
    while (at + 2 <= size) {
      size_t n = std::min<size_t>(data[at] | data[at + 1] << 8, size - at - 2);
      // A copy of exactly the message's bytes, so ASan sees any read past its end.
      std::vector<char> msg(data + at + 2, data + at + 2 + n);
      at += 2 + n;
      if (text) {
        row.text(msg.data(), static_cast<int>(n));
      } else if (!row.binary(msg.data(), static_cast<int>(n))) {
        break;
      }
      decode_row(row, oids, text);
    }
  });
  return 0;
}
