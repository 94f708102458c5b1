#include "data/sql_decode.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "tandem/error.h"

namespace tandem::data::sql {
namespace {

uint16_t be16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] << 8 | u[1]);
}
uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | u[3];
}
uint64_t be64(const char* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }

// Text COPY's escapes (COPY docs, "Text Format"): \b \f \n \r \t \v \\, \ooo, \xhh.
void unescape(const char* p, const char* end, std::string& out) {
  out.clear();
  while (p < end) {
    if (*p != '\\' || p + 1 >= end) { out.push_back(*p++); continue; }
    char c = *++p;
    ++p;
    switch (c) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': {
        int v = 0, k = 0;
        for (; k < 2 && p < end && std::isxdigit(static_cast<unsigned char>(*p)); ++k, ++p)
          v = v * 16 + (std::isdigit(static_cast<unsigned char>(*p)) ? *p - '0' : (*p | 32) - 'a' + 10);
        out.push_back(static_cast<char>(v));
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; ++k) v = v * 8 + (*p++ - '0');
          out.push_back(static_cast<char>(v));
        } else {
          out.push_back(c);
        }
    }
  }
}

// The fixed width of a binary number type, or 0 for numeric (variable).
int fixed_width(uint32_t oid) {
  switch (oid) {
    case 16: return 1;
    case 21: return 2;
    case 23: case 26: case 700: return 4;
    case 20: case 701: return 8;
    default: return 0;
  }
}

}  // namespace

Type pg_type_of(uint32_t oid) {
  switch (oid) {
    case 16: return Type::Bool;
    case 20: case 21: case 23: case 26: return Type::Integer;
    case 700: case 701: return Type::Real;
    case 1700: return Type::Numeric;
    case 19: case 25: case 1042: case 1043: return Type::Text;
    case 17: return Type::Blob;
    case 1005: case 1007: case 1016: case 1021: case 1022: return Type::Array;
    default: return Type::Unknown;
  }
}

CopyRow::CopyRow(std::string what, size_t columns)
    : what_(std::move(what)), ptr_(columns), len_(columns), text_(columns) {}

bool CopyRow::binary(const char* p, int n) {
  // Offsets are compared as sizes left (never by forming a pointer past the end).
  const char* const end = p + std::max(n, 0);
  auto left = [&] { return static_cast<size_t>(end - p); };
  if (!header_seen_) {
    static const char sig[] = "PGCOPY\n\377\r\n";
    TANDEM_CHECK(left() >= 19 && std::memcmp(p, sig, 11) == 0, "{}: not a binary COPY stream",
                 what_);
    uint32_t ext = be32(p + 15);
    TANDEM_CHECK(ext <= left() - 19, "{}: a truncated COPY header", what_);
    p += 19 + ext;
    header_seen_ = true;
  }
  TANDEM_CHECK(left() >= 2, "{}: a truncated COPY row", what_);
  auto fields = static_cast<int16_t>(be16(p));
  if (fields == -1) return false;
  TANDEM_CHECK(fields == static_cast<int>(len_.size()), "{}: a COPY row has {} fields, expected {}",
               what_, fields, len_.size());
  p += 2;
  for (size_t i = 0; i < len_.size(); ++i) {
    TANDEM_CHECK(left() >= 4, "{}: a truncated COPY row", what_);
    auto len = static_cast<int32_t>(be32(p));
    p += 4;
    TANDEM_CHECK(len >= -1 && (len < 0 || static_cast<size_t>(len) <= left()),
                 "{}: a truncated COPY row (field {} has length {})", what_, i, len);
    len_[i] = len;
    ptr_[i] = p;
    if (len > 0) p += len;
  }
  return true;
}

void CopyRow::text(const char* p, int n) {
  const char* end = p + std::max(n, 0);
  if (end > p && end[-1] == '\n') --end;
  for (size_t i = 0; i < len_.size(); ++i) {
    const char* f = p;
    while (p < end && *p != '\t') ++p;
    TANDEM_CHECK(i + 1 == len_.size() || p < end, "{}: a COPY row has too few fields", what_);
    if (p - f == 2 && f[0] == '\\' && f[1] == 'N') {
      len_[i] = -1;
    } else {
      unescape(f, p, text_[i]);
      len_[i] = static_cast<int>(text_[i].size());
    }
    ptr_[i] = text_[i].data();
    if (p < end) ++p;
  }
  TANDEM_CHECK(p >= end, "{}: a COPY row has more than {} fields", what_, len_.size());
}

double binary_number(uint32_t oid, const char* p, int len, std::string_view what) {
  if (int w = fixed_width(oid)) {
    TANDEM_CHECK(len == w, "{}: a value of type oid {} has {} bytes, expected {}", what, oid, len, w);
  }
  switch (oid) {
    case 16: return p[0] ? 1.0 : 0.0;
    case 21: return static_cast<int16_t>(be16(p));
    case 23: return static_cast<int32_t>(be32(p));
    case 26: return be32(p);
    case 20: return static_cast<double>(static_cast<int64_t>(be64(p)));
    case 700: { uint32_t u = be32(p); float f; std::memcpy(&f, &u, 4); return f; }
    case 701: { uint64_t u = be64(p); double d; std::memcpy(&d, &u, 8); return d; }
    case 1700: {
      // numeric: ndigits, weight, sign, dscale, then base-10000 digits (numeric.c).
      TANDEM_CHECK(len >= 8, "{}: a numeric value of {} bytes", what, len);
      int nd = static_cast<int16_t>(be16(p)), weight = static_cast<int16_t>(be16(p + 2));
      uint16_t sign = be16(p + 4);
      if (sign == 0xC000) return std::nan("");
      TANDEM_CHECK(nd >= 0 && 8 + 2 * nd <= len, "{}: a numeric value with {} digits in {} bytes",
                   what, nd, len);
      double v = 0;
      for (int i = 0; i < nd; ++i) v += be16(p + 8 + 2 * i) * std::pow(10000.0, weight - i);
      return sign == 0x4000 ? -v : v;
    }
    default: TANDEM_FAIL("{}: a value of PostgreSQL type oid {} is not a number", what, oid);
  }
}

double text_number(uint32_t oid, const std::string& s, std::string_view what,
                   std::string_view column) {
  if (oid == 16) return s == "t" ? 1.0 : 0.0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  TANDEM_CHECK(end != s.c_str(), "{}: column '{}': '{}' is not a number", what, column, s);
  return v;
}

void binary_array(const char* p, int len, std::vector<float>& out, std::string_view what,
                  std::string_view column) {
  // ndim, has-null flag, element oid, (size, lower bound) per dim, then (length, value) each.
  out.clear();
  const char* const end = p + std::max(len, 0);
  auto left = [&] { return static_cast<size_t>(end - p); };
  TANDEM_CHECK(left() >= 12, "{}: array column '{}': a value of {} bytes", what, column, len);
  auto ndim = static_cast<int32_t>(be32(p));
  uint32_t elem = be32(p + 8);
  TANDEM_CHECK(ndim >= 0 && ndim <= 6 && static_cast<size_t>(12 + 8 * ndim) <= left(),
               "{}: array column '{}': a malformed array header", what, column);
  int64_t n = ndim == 0 ? 0 : 1;
  for (int d = 0; d < ndim; ++d) {
    auto size = static_cast<int32_t>(be32(p + 12 + 8 * d));
    TANDEM_CHECK(size >= 0, "{}: array column '{}': a negative dimension", what, column);
    n *= size;
    // Each element takes at least its 4-byte length: more than the bytes left is malformed.
    TANDEM_CHECK(n <= static_cast<int64_t>(left()) / 4, "{}: array column '{}': {} elements "
                 "cannot fit in {} bytes", what, column, n, len);
  }
  p += 12 + 8 * ndim;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    TANDEM_CHECK(left() >= 4, "{}: array column '{}': a truncated array", what, column);
    auto elen = static_cast<int32_t>(be32(p));
    TANDEM_CHECK(elen >= 0, "{}: array column '{}' holds a NULL element", what, column);
    TANDEM_CHECK(static_cast<size_t>(elen) <= left() - 4, "{}: array column '{}': a truncated "
                 "array", what, column);
    out.push_back(static_cast<float>(binary_number(elem, p + 4, elen, what)));
    p += 4 + elen;
  }
}

void text_array(const std::string& s, std::vector<float>& out, std::string_view what,
                std::string_view column) {
  out.clear();
  const char* p = s.c_str();
  while (*p) {
    if (*p == '{' || *p == '}' || *p == ',' || *p == ' ') { ++p; continue; }
    TANDEM_CHECK(std::strncmp(p, "NULL", 4) != 0, "{}: array column '{}' holds a NULL element",
                 what, column);
    char* end = nullptr;
    out.push_back(std::strtof(p, &end));
    TANDEM_CHECK(end != p, "{}: array column '{}': cannot read '{}'", what, column, s);
    p = end;
  }
}

void bytea_hex(const std::string& s, std::string& out, std::string_view what,
               std::string_view column) {
  TANDEM_CHECK(s.rfind("\\x", 0) == 0 && s.size() % 2 == 0,
               "{}: bytea column '{}' is not in hex format", what, column);
  auto hex = [&](char h) {
    TANDEM_CHECK(std::isxdigit(static_cast<unsigned char>(h)),
                 "{}: bytea column '{}' is not in hex format", what, column);
    return h <= '9' ? h - '0' : (h | 32) - 'a' + 10;
  };
  out.resize((s.size() - 2) / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(hex(s[2 + 2 * i]) << 4 | hex(s[3 + 2 * i]));
}

}  // namespace tandem::data::sql
