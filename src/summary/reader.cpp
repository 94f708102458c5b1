// Event file reader: TFRecord framing with CRC checks, Event protobufs -> Records.
#include "tandem/summary/reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tandem_event.pb.h"
#include "tandem_hparams.pb.h"
#include "tandem_summary.pb.h"
#include "tandem/error.h"
#include "tandem/summary/crc32c.h"
#include "tandem_tensor.pb.h"

namespace tandem::summary {
namespace {

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string read_all(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  TANDEM_CHECK(in.good(), "summary::read: cannot open '{}'", file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void to_records(const tensorflow::Event& ev, const std::string& file, std::vector<Record>& out) {
  Record base;
  base.wall_time = ev.wall_time();
  base.step = ev.step();
  base.file = file;
  if (ev.has_file_version()) {
    base.kind = Kind::FileVersion;
    base.text = ev.file_version();
    out.push_back(std::move(base));
    return;
  }
  if (!ev.has_summary()) return;
  for (const tensorflow::Summary::Value& v : ev.summary().value()) {
    Record r = base;
    r.tag = v.tag();
    if (v.has_metadata()) r.plugin = v.metadata().plugin_data().plugin_name();
    if (v.has_simple_value()) {
      r.kind = Kind::Scalar;
      r.value = v.simple_value();
    } else if (v.has_histo()) {
      r.kind = Kind::Histogram;
      const tensorflow::HistogramProto& h = v.histo();
      r.histogram = {h.min(), h.max(), h.num(), h.sum(), h.sum_squares(),
                     {h.bucket_limit().begin(), h.bucket_limit().end()},
                     {h.bucket().begin(), h.bucket().end()}};
    } else if (v.has_image()) {
      r.kind = Kind::Image;
      r.image = {v.image().height(), v.image().width(), v.image().colorspace(),
                 v.image().encoded_image_string()};
    } else if (r.plugin == "hparams") {
      r.kind = Kind::HParams;
      r.text = v.metadata().plugin_data().content();
      tensorboard::hparams::HParamsPluginData data;
      if (data.ParseFromString(r.text) && data.has_session_start_info())
        for (const auto& [name, value] : data.session_start_info().hparams()) {
          if (value.has_number_value()) r.hparams[name] = fmt::format("{:g}", value.number_value());
          else if (value.has_bool_value()) r.hparams[name] = value.bool_value() ? "true" : "false";
          else if (value.has_string_value()) r.hparams[name] = value.string_value();
        }
    } else if (r.plugin == "text" && v.has_tensor() && v.tensor().string_val_size() > 0) {
      r.kind = Kind::Text;
      r.text = v.tensor().string_val(0);
      const std::string suffix = "/text_summary";
      if (r.tag.size() > suffix.size() && r.tag.ends_with(suffix))
        r.tag.resize(r.tag.size() - suffix.size());
    } else if (v.has_tensor()) {
      // A scalar written as a rank-0 tensor (TensorBoard's newer scalar summaries).
      const tensorflow::TensorProto& t = v.tensor();
      r.kind = Kind::Tensor;
      if (t.tensor_shape().dim_size() == 0) {
        if (t.float_val_size() == 1) r.kind = Kind::Scalar, r.value = t.float_val(0);
        else if (t.double_val_size() == 1) r.kind = Kind::Scalar, r.value = t.double_val(0);
        else if (t.dtype() == tensorflow::DT_FLOAT && t.tensor_content().size() == 4) {
          float f;
          std::memcpy(&f, t.tensor_content().data(), 4);
          r.kind = Kind::Scalar, r.value = f;
        } else if (t.dtype() == tensorflow::DT_DOUBLE && t.tensor_content().size() == 8) {
          double d;
          std::memcpy(&d, t.tensor_content().data(), 8);
          r.kind = Kind::Scalar, r.value = d;
        }
      }
    }
    out.push_back(std::move(r));
  }
}

}  // namespace

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::FileVersion: return "file_version";
    case Kind::Scalar: return "scalar";
    case Kind::Histogram: return "histogram";
    case Kind::Image: return "image";
    case Kind::Text: return "text";
    case Kind::HParams: return "hparams";
    case Kind::Tensor: return "tensor";
    case Kind::Other: return "other";
  }
  return "other";
}

std::vector<std::string> read_tfrecords(const std::string& file, const ReadOptions& options) {
  std::string data = read_all(file);
  std::vector<std::string> out;
  size_t pos = 0;
  auto truncated = [&](const char* what) {
    if (options.warnings)
      options.warnings->push_back(fmt::format(
          "{}: truncated record at offset {} ({}; {} bytes left): ignored (a writer still "
          "running, or killed mid-write)", file, pos, what, data.size() - pos));
  };
  while (pos < data.size()) {
    if (data.size() - pos < 12) {
      truncated("incomplete header");
      break;
    }
    const char* p = data.data() + pos;
    uint32_t len_crc = get_u32(p + 8), want = masked_crc32c(p, 8);
    TANDEM_CHECK(len_crc == want,
                 "summary::read: {}: record at offset {}: length CRC mismatch (stored 0x{:08x}, "
                 "computed 0x{:08x}); the file is corrupt", file, pos, len_crc, want);
    uint64_t len = get_u64(p);
    if (data.size() - pos - 12 < len + 4 || len > data.size()) {
      truncated("incomplete data");
      break;
    }
    const char* d = p + 12;
    uint32_t data_crc = get_u32(d + len), want_d = masked_crc32c(d, len);
    TANDEM_CHECK(data_crc == want_d,
                 "summary::read: {}: record at offset {} ({} bytes): data CRC mismatch (stored "
                 "0x{:08x}, computed 0x{:08x}); the file is corrupt", file, pos, len, data_crc,
                 want_d);
    out.emplace_back(d, len);
    pos += 12 + len + 4;
  }
  return out;
}

std::vector<std::string> event_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  TANDEM_CHECK(fs::is_directory(path, ec), "summary::read: '{}' is neither an event file nor a "
               "directory", path);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file() && e.path().filename().string().find("tfevents") != std::string::npos)
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Record> read(const std::string& path, const ReadOptions& options) {
  std::vector<Record> out;
  for (const std::string& file : event_files(path)) {
    size_t index = 0;
    for (const std::string& payload : read_tfrecords(file, options)) {
      tensorflow::Event ev;
      TANDEM_CHECK(ev.ParseFromString(payload),
                   "summary::read: {}: record {} is not an Event protobuf; the file is corrupt",
                   file, index);
      to_records(ev, file, out);
      ++index;
    }
  }
  return out;
}

std::map<std::string, Record> last_scalars(const std::string& path) {
  std::map<std::string, Record> last;
  for (Record& r : read(path)) {
    if (r.kind != Kind::Scalar) continue;
    auto it = last.find(r.tag);
    if (it == last.end() || r.step >= it->second.step) last[r.tag] = std::move(r);
  }
  return last;
}

}  // namespace tandem::summary
