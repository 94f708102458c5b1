#include "tensor_json.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <rapidjson/error/en.h>

#include "status.h"

namespace tandem::serve {
namespace {

template <class F>
void visit_dtype(DType dt, F&& f) {
  switch (dt) {
    case DType::Bool: return f(bool{});
    case DType::UInt8: return f(uint8_t{});
    case DType::Int8: return f(int8_t{});
    case DType::Int16: return f(int16_t{});
    case DType::UInt16: return f(uint16_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Float16: return f(Half{});
    case DType::BFloat16: return f(BFloat16{});
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
  }
}

[[noreturn]] void bad(const std::string& what, const std::string& msg) {
  throw StatusError(Code::InvalidArgument, fmt::format("{}: {}", what, msg));
}

const char* kind_of(const JsonValue& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsString()) return "a string";
  if (v.IsObject()) return "an object";
  if (v.IsArray()) return "a list";
  return "a number";
}

// {"b64": "..."} (only meaningful for uint8 inputs: the decoded bytes are a row).
const JsonValue* b64_field(const JsonValue& v) {
  if (!v.IsObject() || v.MemberCount() != 1) return nullptr;
  auto it = v.FindMember("b64");
  return it != v.MemberEnd() && it->value.IsString() ? &it->value : nullptr;
}

std::string decode_b64(const JsonValue& s, const std::string& what) {
  std::string bytes;
  if (!base64_decode(std::string_view(s.GetString(), s.GetStringLength()), bytes))
    bad(what, "the \"b64\" value is not valid base64");
  return bytes;
}

template <class T>
T leaf(const JsonValue& v, const std::string& what) {
  DType dt = dtype_v<T>;
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.IsBool()) bad(what, fmt::format("expected true or false (bool), got {}", kind_of(v)));
    return v.GetBool();
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.IsNumber()) bad(what, fmt::format("expected an integer ({}), got {}", dt, kind_of(v)));
    int64_t x;
    if (v.IsInt64()) {
      x = v.GetInt64();
    } else {
      double d = v.GetDouble();
      if (v.IsUint64() || std::floor(d) != d || std::fabs(d) > 9.2e18)
        bad(what, fmt::format("expected an integer ({}), got {}", dt, d));
      x = static_cast<int64_t>(d);
    }
    if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) || x > static_cast<int64_t>(std::numeric_limits<T>::max()))
      bad(what, fmt::format("{} is out of range for {}", x, dt));
    return static_cast<T>(x);
  } else {
    if (!v.IsNumber()) bad(what, fmt::format("expected a number ({}), got {}", dt, kind_of(v)));
    return T(static_cast<std::conditional_t<std::is_same_v<T, double>, double, float>>(v.GetDouble()));
  }
}

void infer_shape(const JsonValue* v, DType dt, Shape& shape) {
  while (true) {
    if (v->IsArray()) {
      shape.push_back(v->Size());
      if (v->Empty()) return;
      v = &(*v)[0];
    } else if (const JsonValue* s = dt == DType::UInt8 ? b64_field(*v) : nullptr) {
      std::string bytes;
      base64_decode(std::string_view(s->GetString(), s->GetStringLength()), bytes);
      shape.push_back(static_cast<int64_t>(bytes.size()));
      return;
    } else {
      return;
    }
  }
}

template <class T>
void fill(const JsonValue& v, size_t depth, const Shape& shape, T*& out, const std::string& what) {
  if (depth == shape.size()) {
    if (v.IsArray()) bad(what, fmt::format("expected a scalar at depth {} (all elements have the same rank), got a list", depth));
    *out++ = leaf<T>(v, what);
    return;
  }
  if (v.IsArray()) {
    if (static_cast<int64_t>(v.Size()) != shape[depth])
      bad(what, fmt::format("expected a list of {} elements at depth {} (every row of a tensor has the same length), got {}",
                            shape[depth], depth, v.Size()));
    for (const auto& e : v.GetArray()) fill<T>(e, depth + 1, shape, out, what);
    return;
  }
  if constexpr (std::is_same_v<T, uint8_t>) {
    if (const JsonValue* s = b64_field(v); s && depth + 1 == shape.size()) {
      std::string bytes = decode_b64(*s, what);
      if (static_cast<int64_t>(bytes.size()) != shape[depth])
        bad(what, fmt::format("\"b64\" values decode to {} and {} bytes; a tensor's rows have one length", shape[depth], bytes.size()));
      std::memcpy(out, bytes.data(), bytes.size());
      out += bytes.size();
      return;
    }
  }
  bad(what, fmt::format("expected a list at depth {} (shape {}), got {}", depth, shape_str(shape), kind_of(v)));
}

template <class T>
void append_scalar(std::string& out, T x) {
  if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(x));
  } else {
    using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
    F f = static_cast<F>(x);
    if (std::isnan(f)) {
      out += "NaN";
    } else if (std::isinf(f)) {
      out += f > 0 ? "Infinity" : "-Infinity";
    } else {
      size_t start = out.size();
      fmt::format_to(std::back_inserter(out), "{}", f);  // shortest round-trip text
      if (out.find_first_of(".e", start) == std::string::npos) out += ".0";
    }
  }
}

template <class T>
void append_nested(std::string& out, const T*& p, const Shape& shape, size_t depth, std::string_view sep) {
  if (depth == shape.size()) {
    append_scalar(out, *p++);
    return;
  }
  out += '[';
  for (int64_t i = 0; i < shape[depth]; ++i) {
    if (i) out += sep;
    append_nested(out, p, shape, depth + 1, sep);
  }
  out += ']';
}

}  // namespace

void parse_json(rapidjson::Document& doc, std::string_view body) {
  doc.Parse<rapidjson::kParseNanAndInfFlag>(body.data(), body.size());
  if (doc.HasParseError())
    throw StatusError(Code::InvalidArgument,
                      fmt::format("JSON Parse error: {} at offset: {}", rapidjson::GetParseError_En(doc.GetParseError()),
                                  doc.GetErrorOffset()));
}

Tensor json_rows_to_tensor(const std::vector<const JsonValue*>& rows, DType dtype, const std::string& what) {
  Shape shape{static_cast<int64_t>(rows.size())};
  if (!rows.empty()) infer_shape(rows[0], dtype, shape);
  Tensor t = empty(shape, {.dtype = dtype});
  Shape inner(shape.begin() + 1, shape.end());
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = t.data<T>();
    for (const JsonValue* r : rows) fill<T>(*r, 0, inner, out, what);
  });
  return t;
}

Tensor json_to_tensor(const JsonValue& v, DType dtype, const std::string& what) {
  Shape shape;
  infer_shape(&v, dtype, shape);
  Tensor t = empty(shape, {.dtype = dtype});
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = t.data<T>();
    fill<T>(v, 0, shape, out, what);
  });
  return t;
}

Tensor json_to_tensor_shaped(const JsonValue& v, DType dtype, const Shape& shape, const std::string& what) {
  if (!v.IsArray()) bad(what, fmt::format("\"data\" must be a list, got {}", kind_of(v)));
  Shape got;
  infer_shape(&v, dtype, got);
  bool flat = got.size() == 1;
  int64_t n = shape_numel(shape);
  if (flat ? got[0] != n : got != shape)
    bad(what, fmt::format("\"data\" has shape {} but \"shape\" is {} ({} elements)", shape_str(got), shape_str(shape), n));
  Tensor t = json_to_tensor(v, dtype, what);
  return t.reshape(shape);
}

void append_tensor(std::string& out, const Tensor& t, std::string_view sep) {
  Tensor c = t.contiguous();
  visit_dtype(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = c.data<T>();
    append_nested(out, p, c.shape(), 0, sep);
  });
}

void append_tensor_row(std::string& out, const Tensor& t, int64_t row, std::string_view sep) {
  append_tensor(out, t.select(0, row), sep);
}

void append_tensor_flat(std::string& out, const Tensor& t, std::string_view sep) {
  Tensor c = t.contiguous();
  visit_dtype(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = c.data<T>();
    out += '[';
    for (int64_t i = 0; i < c.numel(); ++i) {
      if (i) out += sep;
      append_scalar(out, p[i]);
    }
    out += ']';
  });
}

void append_tensor_b64_rows(std::string& out, const Tensor& t, std::string_view sep) {
  Tensor c = t.contiguous();
  int64_t rows = c.dim() == 0 ? 1 : c.size(0);
  int64_t len = rows ? c.numel() / rows : 0;
  const char* p = static_cast<const char*>(c.data_ptr());
  out += '[';
  for (int64_t i = 0; i < rows; ++i) {
    if (i) out += sep;
    out += "{\"b64\": \"" + base64_encode(std::string_view(p + i * len, len)) + "\"}";
  }
  out += ']';
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", ch);
        else
          out += static_cast<char>(ch);
    }
  }
  out += '"';
}

std::string json_quote(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+' || ch == '-') v = 62;  // '-' and '_': the URL-safe alphabet too
    else if (ch == '/' || ch == '_') v = 63;
    else return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

}  // namespace tandem::serve
