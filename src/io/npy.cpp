// .npy (NumPy's array format, versions 1-3) and .npz (a zip of .npy members, stored or
// deflated) reading and writing.
#include "tandem/io/npy.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <vector>

#include "tandem/io/atomic_file.h"

namespace tandem::io {

namespace {

struct NpyHeader {
  DType dtype = DType::Float32;
  Shape shape;
  bool fortran_order = false;
  bool big_endian = false;
  size_t data_offset = 0;  // bytes from the start of the .npy data
  size_t data_bytes = 0;
};

// 'descr' → dtype; sets big_endian. Error for anything tandem has no type for.
DType parse_descr(const std::string& descr, bool* big_endian, const std::string& name) {
  TANDEM_CHECK(descr.size() >= 3,
               "load_npy: {}: dtype '{}' is not a simple NumPy type (structured or object "
               "arrays are not supported)",
               name, descr);
  const char order = descr[0];
  const std::string kind = descr.substr(1);
  TANDEM_CHECK(order == '<' || order == '>' || order == '|' || order == '=',
               "load_npy: {}: dtype '{}' has an unknown byte order", name, descr);
  *big_endian = order == '>';
  if (kind == "f4") return DType::Float32;
  if (kind == "f8") return DType::Float64;
  if (kind == "f2") return DType::Float16;
  if (kind == "i8") return DType::Int64;
  if (kind == "i4") return DType::Int32;
  if (kind == "i2") return DType::Int16;
  if (kind == "u2") return DType::UInt16;
  if (kind == "i1") return DType::Int8;
  if (kind == "u1") return DType::UInt8;
  if (kind == "b1") return DType::Bool;
  TANDEM_FAIL("load_npy: {}: dtype '{}' is not supported (supported: float16/32/64, "
              "int8/16/32/64, uint8/16, bool); convert it in NumPy first, e.g. a.astype(np.int64)",
              name, descr);
}

std::string descr_of(DType dt) {
  switch (dt) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Float16: return "<f2";
    case DType::Int64: return "<i8";
    case DType::Int32: return "<i4";
    case DType::Int16: return "<i2";
    case DType::UInt16: return "<u2";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Bool: return "|b1";
    default:
      TANDEM_FAIL("save_npy: dtype {} has no NumPy equivalent; convert it first (e.g. "
                  "t.to(kFloat32))",
                  dt);
  }
}

// The value after 'key': in the header dict (Python literal syntax).
std::string dict_value(const std::string& h, const std::string& key, const std::string& name) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos) p = h.find("\"" + key + "\"");
  TANDEM_CHECK(p != std::string::npos, "load_npy: {}: header has no '{}' entry: {}", name, key, h);
  p = h.find(':', p);
  TANDEM_CHECK(p != std::string::npos, "load_npy: {}: malformed header: {}", name, h);
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  TANDEM_CHECK(p < h.size(), "load_npy: {}: malformed header: {}", name, h);
  size_t end;
  if (h[p] == '\'' || h[p] == '"') {
    end = h.find(h[p], p + 1);
    TANDEM_CHECK(end != std::string::npos, "load_npy: {}: malformed header: {}", name, h);
    return h.substr(p + 1, end - p - 1);
  }
  if (h[p] == '(') {
    end = h.find(')', p);
    TANDEM_CHECK(end != std::string::npos, "load_npy: {}: malformed shape in header: {}", name, h);
    return h.substr(p, end - p + 1);
  }
  end = h.find_first_of(",}", p);
  TANDEM_CHECK(end != std::string::npos, "load_npy: {}: malformed header: {}", name, h);
  std::string v = h.substr(p, end - p);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

Shape parse_shape(const std::string& tuple, const std::string& name) {
  Shape shape;
  size_t i = 1;  // after '('
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
    if (i >= tuple.size() || tuple[i] == ')') break;
    size_t j = i;
    while (j < tuple.size() && tuple[j] >= '0' && tuple[j] <= '9') ++j;
    TANDEM_CHECK(j > i && j - i <= 18, "load_npy: {}: malformed shape {}", name, tuple);
    shape.push_back(std::stoll(tuple.substr(i, j - i)));
    i = j;
    if (i < tuple.size() && tuple[i] == 'L') ++i;  // Python 2 longs
  }
  return shape;
}

// Parses the magic, version and header dict from the first `avail` bytes.
NpyHeader parse_header(const char* p, size_t avail, const std::string& name) {
  TANDEM_CHECK(avail >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0,
               "load_npy: {} is not a .npy file (it does not start with \\x93NUMPY)", name);
  const uint8_t major = static_cast<uint8_t>(p[6]);
  size_t hlen, prefix;
  if (major == 1) {
    hlen = static_cast<uint8_t>(p[8]) | (size_t(static_cast<uint8_t>(p[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    TANDEM_CHECK(avail >= 12, "load_npy: {}: file ends inside the header", name);
    hlen = 0;
    for (int k = 3; k >= 0; --k) hlen = (hlen << 8) | static_cast<uint8_t>(p[8 + k]);
    prefix = 12;
  } else {
    TANDEM_FAIL("load_npy: {}: .npy format version {}.{} is not supported (1.0 to 3.0 are)", name,
                major, static_cast<int>(static_cast<uint8_t>(p[7])));
  }
  TANDEM_CHECK(hlen <= avail - prefix,
               "load_npy: {}: header says {} bytes but only {} follow; the file is truncated",
               name, hlen, avail - prefix);
  const std::string h(p + prefix, hlen);
  NpyHeader out;
  out.data_offset = prefix + hlen;
  out.dtype = parse_descr(dict_value(h, "descr", name), &out.big_endian, name);
  const std::string fo = dict_value(h, "fortran_order", name);
  TANDEM_CHECK(fo == "True" || fo == "False", "load_npy: {}: fortran_order is '{}'", name, fo);
  out.fortran_order = fo == "True";
  out.shape = parse_shape(dict_value(h, "shape", name), name);
  uint64_t n = 1;
  bool overflow = false;
  for (int64_t s : out.shape) overflow |= __builtin_mul_overflow(n, static_cast<uint64_t>(s), &n);
  uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(n, static_cast<uint64_t>(itemsize(out.dtype)), &bytes);
  TANDEM_CHECK(!overflow && bytes < (uint64_t{1} << 48), "load_npy: {}: shape {} is too large",
               name, shape_str(out.shape));
  out.data_bytes = bytes;
  return out;
}

// Turns raw bytes already copied into `t` (laid out as the file had them) into a C-order,
// host-endian tensor of the header's shape.
Tensor finish(Tensor t, const NpyHeader& h) {
  const size_t w = itemsize(h.dtype);
  if (h.big_endian && w > 1) {
    auto* p = static_cast<char*>(t.data_ptr());
    for (int64_t i = 0; i < t.numel(); ++i) std::reverse(p + i * w, p + (i + 1) * w);
  }
  if (h.dtype == DType::Bool) {  // NumPy bools are 0/1 bytes; make sure no other value leaks in
    auto* p = static_cast<uint8_t*>(t.data_ptr());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
  }
  if (h.fortran_order && h.shape.size() > 1) {
    // Column-major data of shape S is row-major data of reversed(S), transposed.
    IntArray dims(h.shape.size());
    for (size_t i = 0; i < dims.size(); ++i) dims[i] = static_cast<int64_t>(dims.size() - 1 - i);
    t = t.permute(dims).contiguous();
  }
  return t;
}

Shape storage_shape(const NpyHeader& h) {
  if (!h.fortran_order) return h.shape;
  return Shape(h.shape.rbegin(), h.shape.rend());
}

Tensor parse_npy_bytes(const char* p, size_t size, const std::string& name) {
  NpyHeader h = parse_header(p, size, name);
  const size_t avail = size - h.data_offset;
  TANDEM_CHECK(avail == h.data_bytes,
               "load_npy: {}: expected {} bytes of {} data for shape {}, found {}{}", name,
               h.data_bytes, h.dtype, shape_str(h.shape), avail,
               avail < h.data_bytes ? "; the file is truncated" : "");
  Tensor t = empty(storage_shape(h), {.dtype = h.dtype});
  if (h.data_bytes) std::memcpy(t.data_ptr(), p + h.data_offset, h.data_bytes);
  return finish(std::move(t), h);
}

// ---- little-endian helpers for the zip records

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t le64(const unsigned char* p) { return le32(p) | (uint64_t(le32(p + 4)) << 32); }

// NOTE: offsets and sizes in a zip come from the file and may be anything up to 2^64 - 1, so
// `off + len <= n` could wrap around and pass; this form cannot.
bool fits(uint64_t off, uint64_t len, uint64_t n) { return off <= n && len <= n - off; }
void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v & 0xffff));
  put16(s, static_cast<uint16_t>(v >> 16));
}

std::string read_file(const std::string& path, const char* op) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  TANDEM_CHECK(f.good(), "{}: cannot open {}: {}", op, path, std::strerror(errno));
  const std::streamoff size = f.tellg();
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  f.read(bytes.data(), size);
  TANDEM_CHECK(f.good() || size == 0, "{}: reading {} failed", op, path);
  return bytes;
}

std::string inflate_raw(const unsigned char* src, size_t csize, size_t usize,
                        const std::string& name) {
  std::string out(usize, '\0');
  z_stream zs{};
  TANDEM_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, "load_npz: {}: zlib init failed", name);
  zs.next_in = const_cast<unsigned char*>(src);
  zs.avail_in = static_cast<uInt>(csize);
  zs.next_out = reinterpret_cast<unsigned char*>(out.data());
  zs.avail_out = static_cast<uInt>(usize);
  const int rc = inflate(&zs, Z_FINISH);
  const size_t produced = usize - zs.avail_out;
  inflateEnd(&zs);
  TANDEM_CHECK(rc == Z_STREAM_END && produced == usize,
               "load_npz: {}: deflate data is corrupt or does not match its size ({} of {} "
               "bytes, zlib code {})",
               name, produced, usize, rc);
  return out;
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& name) {
  return parse_npy_bytes(bytes.data(), bytes.size(), name);
}

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  TANDEM_CHECK(f.good(), "load_npy: cannot open {}: {}", path, std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  // The header is small: read a prefix, parse it, then read the data straight into the tensor.
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 1 << 16)), '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  NpyHeader h = parse_header(head.data(), head.size(), path);
  const uint64_t avail = size - h.data_offset;
  TANDEM_CHECK(avail == h.data_bytes,
               "load_npy: {}: expected {} bytes of {} data for shape {}, file has {}{}", path,
               h.data_bytes, h.dtype, shape_str(h.shape), avail,
               avail < h.data_bytes ? "; the file is truncated" : "");
  Tensor t = empty(storage_shape(h), {.dtype = h.dtype});
  f.clear();
  f.seekg(static_cast<std::streamoff>(h.data_offset));
  f.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(h.data_bytes));
  TANDEM_CHECK(f.good() || h.data_bytes == 0, "load_npy: reading {} failed", path);
  return finish(std::move(t), h);
}

std::string npy_bytes(const Tensor& t) {
  TANDEM_CHECK(t.defined(), "save_npy: the tensor is undefined");
  const std::string descr = descr_of(t.dtype());
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  shape += t.dim() == 1 ? ",)" : ")";
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  // NumPy pads with spaces and ends with '\n' so that the data starts 64-byte aligned.
  const size_t total = ((10 + dict.size() + 1 + 63) / 64) * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict.push_back('\n');
  TANDEM_CHECK(dict.size() <= 0xffff, "save_npy: header too long for shape {}",
               shape_str(t.shape()));
  std::string out = "\x93NUMPY";
  out.push_back(1);
  out.push_back(0);
  put16(out, static_cast<uint16_t>(dict.size()));
  out += dict;
  Tensor c = t.detach().contiguous();
  const size_t off = out.size();
  out.resize(off + c.nbytes());
  if (c.nbytes()) std::memcpy(out.data() + off, c.data_ptr(), c.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  const std::string bytes = npy_bytes(t);
  write_file_atomic(path, [&](std::ostream& os) {
    os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

// ---- .npz

std::map<std::string, Tensor> load_npz(const std::string& path) {
  const std::string file = read_file(path, "load_npz");
  const auto* b = reinterpret_cast<const unsigned char*>(file.data());
  const size_t n = file.size();
  // End of central directory: the last 22+ bytes (a comment of up to 64 KiB may follow it).
  size_t eocd = std::string::npos;
  if (n >= 22) {
    const size_t lowest = n - 22 > 0xffff ? n - 22 - 0xffff : 0;
    for (size_t i = n - 22 + 1; i-- > lowest;) {
      if (le32(b + i) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
  }
  TANDEM_CHECK(eocd != std::string::npos,
               "load_npz: {} is not a zip archive (no end-of-central-directory record); .npz "
               "files come from np.savez / np.savez_compressed",
               path);
  uint64_t entries = le16(b + eocd + 10);
  uint64_t cd_size = le32(b + eocd + 12);
  uint64_t cd_offset = le32(b + eocd + 16);
  if ((entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && eocd >= 20 &&
      le32(b + eocd - 20) == 0x07064b50) {  // zip64 end-of-central-directory locator
    const uint64_t z = le64(b + eocd - 20 + 8);
    TANDEM_CHECK(fits(z, 56, n) && le32(b + z) == 0x06064b50,
                 "load_npz: {}: broken zip64 end-of-central-directory record", path);
    entries = le64(b + z + 32);
    cd_size = le64(b + z + 40);
    cd_offset = le64(b + z + 48);
  }
  TANDEM_CHECK(fits(cd_offset, cd_size, n),
               "load_npz: {}: central directory ({} bytes at {}) lies outside the {}-byte file; "
               "the file is truncated or corrupt",
               path, cd_size, cd_offset, n);
  std::map<std::string, Tensor> out;
  size_t p = cd_offset;
  const size_t cd_end = cd_offset + cd_size;
  for (uint64_t e = 0; e < entries; ++e) {
    TANDEM_CHECK(p + 46 <= cd_end && le32(b + p) == 0x02014b50,
                 "load_npz: {}: central directory entry {} is corrupt", path, e);
    const uint16_t flags = le16(b + p + 8), method = le16(b + p + 10);
    const uint32_t crc = le32(b + p + 16);
    uint64_t csize = le32(b + p + 20), usize = le32(b + p + 24);
    const size_t name_len = le16(b + p + 28), extra_len = le16(b + p + 30),
                 comment_len = le16(b + p + 32);
    uint64_t local = le32(b + p + 42);
    TANDEM_CHECK(p + 46 + name_len + extra_len + comment_len <= cd_end,
                 "load_npz: {}: central directory entry {} is corrupt", path, e);
    const std::string name(file.data() + p + 46, name_len);
    // zip64 extended information: 8-byte values for the fields stored as 0xffffffff.
    for (size_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
      const uint16_t id = le16(b + x), len = le16(b + x + 2);
      size_t q = x + 4;
      const size_t qend = std::min(q + len, p + 46 + name_len + extra_len);
      if (id == 0x0001) {
        if (usize == 0xffffffff && q + 8 <= qend) usize = le64(b + q), q += 8;
        if (csize == 0xffffffff && q + 8 <= qend) csize = le64(b + q), q += 8;
        if (local == 0xffffffff && q + 8 <= qend) local = le64(b + q), q += 8;
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    const std::string where = path + ":" + name;
    TANDEM_CHECK(!(flags & 1), "load_npz: {} is encrypted", where);
    TANDEM_CHECK(fits(local, 30, n) && le32(b + local) == 0x04034b50,
                 "load_npz: {}: local header at {} is missing; the file is corrupt", where, local);
    const uint64_t data = local + 30 + le16(b + local + 26) + le16(b + local + 28);
    TANDEM_CHECK(fits(data, csize, n),
                 "load_npz: {}: member data ({} bytes at {}) runs past the end of the {}-byte "
                 "file; the file is truncated",
                 where, csize, data, n);
    TANDEM_CHECK(usize < 0xffffffffu && csize < 0xffffffffu,
                 "load_npz: {}: members over 4 GiB are not supported", where);
    std::string inflated;
    const char* member;
    if (method == 0) {
      TANDEM_CHECK(csize == usize, "load_npz: {}: stored member sizes differ ({} vs {})", where,
                   csize, usize);
      member = file.data() + data;
    } else if (method == 8) {
      TANDEM_CHECK(usize <= csize * 1032 + 1024,
                   "load_npz: {}: claims {} bytes from {} compressed bytes; the file is corrupt",
                   where, usize, csize);
      inflated = inflate_raw(b + data, csize, usize, where);
      member = inflated.data();
    } else {
      TANDEM_FAIL("load_npz: {}: zip compression method {} is not supported (stored and deflate "
                  "are)",
                  where, method);
    }
    const uLong got_crc = crc32(0L, reinterpret_cast<const Bytef*>(member), static_cast<uInt>(usize));
    TANDEM_CHECK(got_crc == crc, "load_npz: {}: CRC-32 mismatch (stored {:08x}, data {:08x}); "
                 "the file is corrupt", where, crc, got_crc);
    std::string key = name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    out[key] = parse_npy_bytes(member, usize, where);
  }
  return out;
}

void save_npz(const std::string& path, const std::map<std::string, Tensor>& tensors,
              bool compress) {
  std::string zip, cd;
  for (const auto& [key, t] : tensors) {
    TANDEM_CHECK(!key.empty(), "save_npz: empty key");
    const std::string name = key + ".npy";
    const std::string raw = npy_bytes(t);
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uInt>(raw.size())));
    std::string stored;
    uint16_t method = 0;
    if (compress) {
      z_stream zs{};
      TANDEM_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                                Z_DEFAULT_STRATEGY) == Z_OK,
                   "save_npz: zlib init failed");
      stored.resize(deflateBound(&zs, static_cast<uLong>(raw.size())));
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
      zs.avail_in = static_cast<uInt>(raw.size());
      zs.next_out = reinterpret_cast<Bytef*>(stored.data());
      zs.avail_out = static_cast<uInt>(stored.size());
      const int rc = deflate(&zs, Z_FINISH);
      stored.resize(zs.total_out);
      deflateEnd(&zs);
      TANDEM_CHECK(rc == Z_STREAM_END, "save_npz: deflate failed for {}", key);
      method = 8;
    }
    const std::string& body = compress ? stored : raw;
    TANDEM_CHECK(raw.size() < 0xffffffffu && zip.size() < 0xffffffffu,
                 "save_npz: {} is over 4 GiB (zip64 output is not implemented); use save_npy "
                 "or safetensors for arrays this large",
                 key);
    const uint32_t offset = static_cast<uint32_t>(zip.size());
    // Fixed DOS date 1980-01-01 00:00: the same tensors give the same bytes.
    auto common = [&](std::string& s) {
      put16(s, 20);  // version needed: 2.0
      put16(s, 0);   // flags
      put16(s, method);
      put16(s, 0);       // time
      put16(s, 0x0021);  // date
      put32(s, crc);
      put32(s, static_cast<uint32_t>(body.size()));
      put32(s, static_cast<uint32_t>(raw.size()));
      put16(s, static_cast<uint16_t>(name.size()));
      put16(s, 0);  // extra length
    };
    put32(zip, 0x04034b50);
    common(zip);
    zip += name;
    zip += body;
    put32(cd, 0x02014b50);
    put16(cd, 20);  // version made by
    common(cd);
    put16(cd, 0);  // comment length
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, offset);
    cd += name;
  }
  TANDEM_CHECK(tensors.size() < 0xffff, "save_npz: too many members ({})", tensors.size());
  const uint32_t cd_offset = static_cast<uint32_t>(zip.size());
  zip += cd;
  put32(zip, 0x06054b50);
  put16(zip, 0);
  put16(zip, 0);
  put16(zip, static_cast<uint16_t>(tensors.size()));
  put16(zip, static_cast<uint16_t>(tensors.size()));
  put32(zip, static_cast<uint32_t>(cd.size()));
  put32(zip, cd_offset);
  put16(zip, 0);
  write_file_atomic(path, [&](std::ostream& os) {
    os.write(zip.data(), static_cast<std::streamsize>(zip.size()));
  });
}

}  // namespace tandem::io
