// IDX reader/writer (gzip through zlib) and the Fashion-MNIST / IDX image datasets.
#include "tandem/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace tandem::data {

namespace fs = std::filesystem;

namespace {

struct IdxType {
  uint8_t code;
  const char* name;
  size_t file_size;  // bytes per value in the file
  DType dtype;       // what we load it as
};

constexpr IdxType kIdxTypes[] = {
    {0x08, "uint8", 1, DType::UInt8},   {0x09, "int8", 1, DType::Int8},
    {0x0B, "int16", 2, DType::Int32},   {0x0C, "int32", 4, DType::Int32},
    {0x0D, "float32", 4, DType::Float32}, {0x0E, "float64", 8, DType::Float64},
};

const IdxType* idx_type(uint8_t code) {
  for (const IdxType& t : kIdxTypes)
    if (t.code == code) return &t;
  return nullptr;
}

// A gzFile that closes itself; reads loop over gzread's int-sized chunks.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    std::error_code ec;
    TANDEM_CHECK(fs::exists(path, ec), "read_idx: {} does not exist", path);
    TANDEM_CHECK(!fs::is_directory(path, ec), "read_idx: {} is a directory, expected an IDX file",
                 path);
    file_size_ = static_cast<uint64_t>(fs::file_size(path, ec));
    {
      std::ifstream f(path, std::ios::binary);
      unsigned char m[2] = {0, 0};
      f.read(reinterpret_cast<char*>(m), 2);
      gzip_ = f.gcount() == 2 && m[0] == 0x1f && m[1] == 0x8b;
    }
    gz_ = gzopen(path.c_str(), "rb");
    TANDEM_CHECK(gz_ != nullptr, "read_idx: cannot open {}: {}", path, std::strerror(errno));
    gzbuffer(gz_, 1 << 17);
  }
  ~GzReader() {
    if (gz_) gzclose(gz_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns how many it got (short at end of data).
  uint64_t read(void* dst, uint64_t n) {
    auto* p = static_cast<char*>(dst);
    uint64_t got = 0;
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - got, 1u << 30));
      int r = gzread(gz_, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(gz_, &code);
        error_ = msg ? msg : "read error";
        break;
      }
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    return got;
  }
  bool gzip() const { return gzip_; }
  uint64_t file_size() const { return file_size_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  bool gzip_ = false;
  uint64_t file_size_ = 0;
  std::string error_;
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string dims_str(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out.empty() ? "1" : out;
}

void swap_bytes(char* p, size_t n, size_t width) {
  for (size_t i = 0; i < n; ++i, p += width) std::reverse(p, p + width);
}

}  // namespace

Tensor read_idx(const std::string& path, int64_t limit) {
  GzReader in(path);
  const char* what = in.gzip() ? " after gzip decompression" : "";
  unsigned char head[4];
  uint64_t got = in.read(head, 4);
  TANDEM_CHECK(got == 4, "read_idx: {}: expected at least a 4-byte IDX header, file has {} bytes{}{}",
               path, got, what, in.error().empty() ? "" : " (zlib: " + in.error() + ")");
  TANDEM_CHECK(head[0] == 0 && head[1] == 0,
               "read_idx: {}: bad magic number (first bytes {:02x} {:02x}, expected 00 00): not "
               "an IDX file",
               path, head[0], head[1]);
  const IdxType* type = idx_type(head[2]);
  TANDEM_CHECK(type != nullptr,
               "read_idx: {}: unknown IDX type code 0x{:02x} (expected 0x08 uint8, 0x09 int8, "
               "0x0B int16, 0x0C int32, 0x0D float32 or 0x0E float64)",
               path, head[2]);
  const int rank = head[3];
  TANDEM_CHECK(rank <= 16, "read_idx: {}: rank {} in the header is implausible (at most 16)", path,
               rank);
  std::vector<unsigned char> dims_raw(static_cast<size_t>(rank) * 4);
  got = in.read(dims_raw.data(), dims_raw.size());
  const uint64_t header_bytes = 4 + dims_raw.size();
  TANDEM_CHECK(got == dims_raw.size(),
               "read_idx: {}: expected a {}-byte header for rank {}, file has {} bytes{}", path,
               header_bytes, rank, 4 + got, what);
  Shape shape(static_cast<size_t>(rank));
  uint64_t count = 1;
  bool overflow = false;
  for (int d = 0; d < rank; ++d) {
    shape[d] = be32(&dims_raw[static_cast<size_t>(d) * 4]);
    overflow |= __builtin_mul_overflow(count, static_cast<uint64_t>(shape[d]), &count);
  }
  uint64_t data_bytes = 0;
  overflow |= __builtin_mul_overflow(count, type->file_size, &data_bytes);
  TANDEM_CHECK(!overflow && data_bytes < (uint64_t{1} << 46),
               "read_idx: {}: header dimensions {} are implausibly large", path, dims_str(shape));
  const uint64_t expected = header_bytes + data_bytes;
  auto short_msg = [&](uint64_t have) {
    return fmt::format(
        "read_idx: {}: expected {} bytes ({}-byte header + {} {} values), file has {}{}{}; the "
        "file is truncated or its header is wrong",
        path, expected, header_bytes, dims_str(shape), type->name, have, what,
        in.error().empty() ? "" : " (zlib: " + in.error() + ")");
  };
  // Check what we can before allocating: a raw file's size is known; deflate cannot expand
  // more than ~1032:1.
  if (!in.gzip()) {
    TANDEM_CHECK(in.file_size() >= expected, "{}", short_msg(in.file_size()));
  } else {
    TANDEM_CHECK(data_bytes / 1032 <= in.file_size() + 64,
                 "read_idx: {}: header dimensions {} need {} bytes of {} values, more than a "
                 "{}-byte gzip file can hold; the header is wrong",
                 path, dims_str(shape), data_bytes, type->name, in.file_size());
  }
  // With a limit, only the kept rows are read (the sizes checked above are the whole file's).
  const bool partial = limit > 0 && rank >= 1 && limit < shape[0];
  if (partial) {
    count = count / static_cast<uint64_t>(shape[0]) * static_cast<uint64_t>(limit);
    data_bytes = count * type->file_size;
    shape[0] = limit;
  }
  Tensor out = empty(shape, {.dtype = type->dtype});
  std::vector<char> staging;
  char* dst = static_cast<char*>(out.data_ptr());
  if (type->code == 0x0B) {  // int16 widens to int32: stage the raw values
    staging.resize(data_bytes);
    dst = staging.data();
  }
  got = in.read(dst, data_bytes);
  TANDEM_CHECK(got == data_bytes, "{}", short_msg(header_bytes + got));
  char extra;
  TANDEM_CHECK(partial || in.read(&extra, 1) == 0,
               "read_idx: {}: expected {} bytes ({}-byte header + {} {} values), file is "
               "longer{}; the header does not match the data",
               path, expected, header_bytes, dims_str(shape), type->name, what);
  if (type->file_size > 1) swap_bytes(dst, count, type->file_size);  // big-endian → host
  if (type->code == 0x0B) {
    auto* o = out.data<int32_t>();
    for (uint64_t i = 0; i < count; ++i) {
      int16_t v;
      std::memcpy(&v, staging.data() + 2 * i, 2);
      o[i] = v;
    }
  }
  return out;
}

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
  uint8_t code = 0;
  switch (t.dtype()) {
    case DType::UInt8: code = 0x08; break;
    case DType::Int8: code = 0x09; break;
    case DType::Int32: code = 0x0C; break;
    case DType::Float32: code = 0x0D; break;
    case DType::Float64: code = 0x0E; break;
    default:
      TANDEM_FAIL("write_idx: dtype {} has no IDX type; convert to uint8, int8, int32, float32 "
                  "or float64 first",
                  t.dtype());
  }
  TANDEM_CHECK(t.dim() <= 255, "write_idx: rank {} does not fit the IDX header", t.dim());
  std::string bytes = {0, 0, static_cast<char>(code), static_cast<char>(t.dim())};
  for (int64_t s : t.shape()) {
    TANDEM_CHECK(s <= 0xffffffffll, "write_idx: dimension {} does not fit in 32 bits", s);
    for (int k = 3; k >= 0; --k) bytes.push_back(static_cast<char>((s >> (8 * k)) & 0xff));
  }
  Tensor c = t.detach().contiguous();
  const size_t w = c.itemsize();
  const size_t off = bytes.size();
  bytes.resize(off + c.nbytes());
  std::memcpy(bytes.data() + off, c.data_ptr(), c.nbytes());
  if (w > 1) swap_bytes(bytes.data() + off, static_cast<size_t>(c.numel()), w);
  if (gzip) {
    gzFile gz = gzopen(path.c_str(), "wb");
    TANDEM_CHECK(gz != nullptr, "write_idx: cannot create {}: {}", path, std::strerror(errno));
    size_t done = 0;
    bool ok = true;
    while (ok && done < bytes.size()) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - done, 1u << 30));
      ok = gzwrite(gz, bytes.data() + done, chunk) == static_cast<int>(chunk);
      done += chunk;
    }
    ok = (gzclose(gz) == Z_OK) && ok;
    TANDEM_CHECK(ok, "write_idx: writing {} failed", path);
  } else {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    TANDEM_CHECK(f.good(), "write_idx: cannot create {}: {}", path, std::strerror(errno));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    TANDEM_CHECK(f.good(), "write_idx: writing {} failed", path);
  }
}

std::shared_ptr<TensorDataset> idx_dataset(const std::string& images_path,
                                           const std::string& labels_path) {
  Tensor images = read_idx(images_path);
  Tensor labels = read_idx(labels_path);
  TANDEM_CHECK(images.dtype() == DType::UInt8 && images.dim() == 3,
               "idx_dataset: {} holds {} {}, expected uint8 images [N, H, W]", images_path,
               images.dtype(), shape_str(images.shape()));
  TANDEM_CHECK(labels.dim() == 1 && is_integral(labels.dtype()),
               "idx_dataset: {} holds {} {}, expected integer labels [N]", labels_path,
               labels.dtype(), shape_str(labels.shape()));
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2);
  TANDEM_CHECK(labels.size(0) == n, "idx_dataset: {} has {} images but {} has {} labels",
               images_path, n, labels_path, labels.size(0));
  Tensor data = empty({n, 1, h, w}, {.dtype = DType::Float32});
  const uint8_t* src = images.data<uint8_t>();
  float* dst = data.data<float>();
  const int64_t total = n * h * w;
#pragma omp parallel for schedule(static) if (total > (1 << 20))
  for (int64_t i = 0; i < total; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  return std::make_shared<TensorDataset>(std::move(data), labels.to(DType::Int64));
}

std::shared_ptr<TensorDataset> fashion_mnist(const std::string& dir, bool train) {
  std::error_code ec;
  TANDEM_CHECK(fs::is_directory(dir, ec),
               "fashion_mnist: directory {} does not exist; install Debian's "
               "dataset-fashion-mnist package (scripts/setup.sh does) or pass a directory "
               "holding the IDX files",
               dir);
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& name) {
    const fs::path gz = fs::path(dir) / (name + ".gz");
    const fs::path raw = fs::path(dir) / name;
    if (fs::exists(gz, ec)) return gz.string();
    if (fs::exists(raw, ec)) return raw.string();
    TANDEM_FAIL("fashion_mnist: {} not found (nor {}); the directory must hold the {} split as "
                "{}-images-idx3-ubyte(.gz) and {}-labels-idx1-ubyte(.gz)",
                gz.string(), raw.string(), train ? "training" : "test", prefix, prefix);
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  auto ds = idx_dataset(images, labels);
  // Fashion-MNIST's 10 classes: a label outside them means a wrong or corrupt file.
  const Tensor& y = ds->targets();
  const int64_t* p = y.data<int64_t>();
  for (int64_t i = 0; i < y.numel(); ++i)
    TANDEM_CHECK(p[i] >= 0 && p[i] < 10, "fashion_mnist: {}: label {} at index {} is outside 0..9",
                 labels, p[i], i);
  return ds;
}

}  // namespace tandem::data
