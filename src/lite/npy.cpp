// .npy (format versions 1 to 3) for tandem-lite: see npy.h.
#include "npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace tlite::npy {

namespace {

// The value of `key` in the header dict ("'descr': '<f4'" -> "'<f4'"), up to the next ',' or
// '}' outside parentheses.
std::string lite_npy_field(const std::string& h, const std::string& key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t c = h.find(':', k);
  if (c == std::string::npos) return "";
  size_t i = c + 1, depth = 0;
  std::string v;
  for (; i < h.size(); ++i) {
    char ch = h[i];
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if (depth == 0 && (ch == ',' || ch == '}')) break;
    v += ch;
  }
  size_t a = v.find_first_not_of(" "), b = v.find_last_not_of(" ");
  return a == std::string::npos ? "" : v.substr(a, b - a + 1);
}

}  // namespace

std::string parse(const std::string& bytes, Array& out) {
  out = Array{};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) return "not a .npy file";
  int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen, start;
  if (major == 1) {
    hlen = size_t(static_cast<unsigned char>(bytes[8])) | size_t(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return "truncated .npy header";
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= size_t(static_cast<unsigned char>(bytes[8 + size_t(i)])) << (8 * i);
    start = 12;
  } else {
    return "unsupported .npy version " + std::to_string(major);
  }
  if (hlen > bytes.size() - start) return "truncated .npy header";
  std::string h = bytes.substr(start, hlen);
  std::string descr = lite_npy_field(h, "descr"), order = lite_npy_field(h, "fortran_order"),
              shape = lite_npy_field(h, "shape");
  if (order != "False") return ".npy: only C-order arrays are supported";
  size_t item;
  if (descr == "'<f4'") item = 4;
  else if (descr == "'<f8'" || descr == "'<i8'") item = 8;
  else return ".npy: dtype " + descr + " not supported (float32, float64, int64)";
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') return ".npy: bad shape " + shape;
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string tok;
  int64_t numel = 1;
  while (std::getline(ss, tok, ',')) {
    if (tok.find_first_not_of(" ") == std::string::npos) continue;
    int64_t d;
    try {
      d = std::stoll(tok);
    } catch (...) {
      return ".npy: bad shape " + shape;
    }
    if (d < 0 || d > (int64_t{1} << 40) || (d && numel > (int64_t{1} << 40) / d)) return ".npy: bad shape " + shape;
    out.shape.push_back(d);
    numel *= d;
  }
  size_t data_start = start + hlen;
  if (uint64_t(numel) * item != bytes.size() - data_start)
    return ".npy: data size does not match the shape " + shape;
  out.data.resize(size_t(numel));
  const char* p = bytes.data() + data_start;
  for (int64_t i = 0; i < numel; ++i) {
    if (item == 4) {
      std::memcpy(&out.data[size_t(i)], p + 4 * i, 4);
    } else if (descr == "'<f8'") {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      out.data[size_t(i)] = float(d);
    } else {
      int64_t d;
      std::memcpy(&d, p + 8 * i, 8);
      out.data[size_t(i)] = float(d);
    }
  }
  return "";
}

std::string read(const std::string& path, Array& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot open '" + path + "'";
  std::stringstream ss;
  ss << f.rdbuf();
  std::string err = parse(ss.str(), out);
  return err.empty() ? "" : "'" + path + "': " + err;
}

std::string write(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string s = "(";
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
    numel *= shape[i];
  }
  s += shape.size() == 1 ? ",)" : ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + s + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return "cannot write '" + path + "'";
  f.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {char(header.size() & 0xff), char(header.size() >> 8)};
  f.write(len, 2);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(reinterpret_cast<const char*>(data), std::streamsize(numel * 4));
  return f ? "" : "writing '" + path + "' failed";
}

}  // namespace tlite::npy
