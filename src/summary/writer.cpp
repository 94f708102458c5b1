// summary::Writer: Event protobufs in TFRecord framing, buffered and flushed whole.
#include "tandem/summary/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "tandem_event.pb.h"
#include "tandem_hparams.pb.h"
#include "tandem_summary.pb.h"
#include "tandem/autograd.h"
#include "tandem/error.h"
#include "tandem/summary/crc32c.h"
#include "tandem_tensor.pb.h"

namespace tandem::summary {
namespace {

double now_secs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() * 1e-6;
}

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// One TFRecord: u64 LE length, masked CRC32C(length bytes), data, masked CRC32C(data).
std::string frame(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  uint64_t n = data.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  put_u32(out, masked_crc32c(out.data(), 8));
  out += data;
  put_u32(out, masked_crc32c(data.data(), data.size()));
  return out;
}

// TensorFlow's default histogram bucket limits (upper edges), ascending.
const std::vector<double>& default_bucket_limits() {
  static const std::vector<double> limits = [] {
    std::vector<double> pos;
    for (double v = 1e-12; v < 1e20; v *= 1.1) pos.push_back(v);
    pos.push_back(DBL_MAX);
    std::vector<double> all;
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) all.push_back(-*it);
    all.push_back(0.0);
    all.insert(all.end(), pos.begin(), pos.end());
    return all;
  }();
  return limits;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

tensorflow::Event make_event(int64_t step, std::optional<double> wall_time) {
  tensorflow::Event ev;
  ev.set_wall_time(wall_time ? *wall_time : now_secs());
  ev.set_step(step);
  return ev;
}

std::string hparams_content(const tensorboard::hparams::HParamsPluginData& data) {
  std::string s;
  data.SerializeToString(&s);
  return s;
}

void set_plugin(tensorflow::Summary::Value* v, const std::string& plugin, std::string content) {
  auto* pd = v->mutable_metadata()->mutable_plugin_data();
  pd->set_plugin_name(plugin);
  pd->set_content(std::move(content));
}

}  // namespace

std::string event_file_name(double unix_time, const std::string& suffix) {
  // pid and a per-process counter keep two writers started in the same second apart.
  static std::atomic<int> counter{0};
  return fmt::format("events.out.tfevents.{:010d}.{}.{}.{}{}", static_cast<int64_t>(unix_time),
                     hostname(), static_cast<int64_t>(getpid()), counter++, suffix);
}

struct Writer::State {
  WriterOptions opts;
  std::string logdir, path;
  std::FILE* file = nullptr;
  std::mutex mu;               // guards queue, file, closed
  std::vector<std::string> queue;  // framed records waiting for flush()
  bool closed = false;
  std::mutex cv_mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread flusher;

  void write_locked() {
    for (const std::string& rec : queue) {
      // One fwrite per record: a crash between records leaves only whole records.
      size_t n = std::fwrite(rec.data(), 1, rec.size(), file);
      TANDEM_CHECK(n == rec.size(), "summary::Writer: writing {} failed (disk full?)", path);
    }
    queue.clear();
    TANDEM_CHECK(std::fflush(file) == 0, "summary::Writer: flushing {} failed (disk full?)", path);
    ::fsync(fileno(file));
  }
};

Writer::Writer(const std::string& logdir, WriterOptions options) : s_(std::make_unique<State>()) {
  s_->opts = std::move(options);
  s_->logdir = logdir;
  std::error_code ec;
  std::filesystem::create_directories(logdir, ec);
  TANDEM_CHECK(!ec && std::filesystem::is_directory(logdir),
               "summary::Writer: cannot create the log directory '{}': {}", logdir, ec.message());
  double t = now_secs();
  s_->path = (std::filesystem::path(logdir) / event_file_name(t, s_->opts.filename_suffix)).string();
  s_->file = std::fopen(s_->path.c_str(), "wbx");
  TANDEM_CHECK(s_->file != nullptr, "summary::Writer: cannot create '{}': {}", s_->path,
               std::strerror(errno));
  tensorflow::Event ev;
  ev.set_wall_time(t);
  ev.set_file_version("brain.Event:2");
  enqueue(ev.SerializeAsString());
  flush();  // the file announces itself at once, so TensorBoard lists the run right away
  if (s_->opts.flush_secs > 0) {
    State* s = s_.get();
    s_->flusher = std::thread([s] {
      std::unique_lock<std::mutex> lk(s->cv_mu);
      auto period = std::chrono::duration<double>(s->opts.flush_secs);
      while (!s->cv.wait_for(lk, period, [s] { return s->stop; })) {
        std::lock_guard<std::mutex> g(s->mu);
        if (!s->closed && !s->queue.empty()) {
          try {
            s->write_locked();
          } catch (const Error&) {
            // NOTE: no exception may leave the thread; the next flush()/close() reports it.
          }
        }
      }
    });
  }
}

Writer::~Writer() {
  try {
    close();
  } catch (...) {
    // Destructors must not throw; an explicit close() reports write errors.
  }
}

const std::string& Writer::path() const { return s_->path; }
const std::string& Writer::logdir() const { return s_->logdir; }

void Writer::enqueue(std::string serialized_event) {
  std::lock_guard<std::mutex> g(s_->mu);
  TANDEM_CHECK(!s_->closed, "summary::Writer: add_* after close() on {}", s_->path);
  s_->queue.push_back(frame(serialized_event));
  if (static_cast<int>(s_->queue.size()) >= std::max(1, s_->opts.max_queue)) s_->write_locked();
}

void Writer::flush() {
  std::lock_guard<std::mutex> g(s_->mu);
  if (s_->closed) return;
  s_->write_locked();
}

void Writer::close() {
  {
    std::lock_guard<std::mutex> g(s_->cv_mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  if (s_->flusher.joinable()) s_->flusher.join();
  std::lock_guard<std::mutex> g(s_->mu);
  if (s_->closed) return;
  s_->closed = true;
  struct Closer {
    std::FILE*& f;
    ~Closer() { std::fclose(f), f = nullptr; }
  } closer{s_->file};
  s_->write_locked();
}

void Writer::add_scalar(const std::string& tag, double value, int64_t step,
                        std::optional<double> wall_time) {
  tensorflow::Event ev = make_event(step, wall_time);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  enqueue(ev.SerializeAsString());
}

void Writer::add_histogram(const std::string& tag, const Tensor& values, int64_t step,
                           std::optional<double> wall_time) {
  TANDEM_CHECK(values.defined(), "add_histogram('{}'): undefined tensor", tag);
  TANDEM_CHECK(values.dtype() != DType::Bool, "add_histogram('{}'): bool tensor; convert it first",
               tag);
  Tensor x;
  {
    NoGradGuard ng;
    x = values.to(DType::Float64).contiguous();
  }
  const double* p = x.data<double>();
  int64_t n = x.numel();
  const std::vector<double>& limits = default_bucket_limits();
  std::vector<double> counts(limits.size(), 0.0);
  double mn = n ? INFINITY : 0.0, mx = n ? -INFINITY : 0.0, sum = 0, sum_sq = 0;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = p[i];
    if (std::isnan(v)) continue;  // TensorBoard cannot place NaN in a bucket
    size_t b = std::upper_bound(limits.begin(), limits.end(), v) - limits.begin();
    counts[std::min(b, limits.size() - 1)] += 1.0;
    mn = std::min(mn, v), mx = std::max(mx, v);
    sum += v, sum_sq += v * v;
    ++kept;
  }
  if (kept == 0) mn = mx = 0.0;
  tensorflow::Event ev = make_event(step, wall_time);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  tensorflow::HistogramProto* h = v->mutable_histo();
  h->set_min(mn), h->set_max(mx), h->set_num(static_cast<double>(kept));
  h->set_sum(sum), h->set_sum_squares(sum_sq);
  size_t first = 0, last = counts.size();
  while (first < last && counts[first] == 0) ++first;
  while (last > first && counts[last - 1] == 0) --last;
  for (size_t i = first; i < last;) {
    double limit = limits[i], c = counts[i];
    ++i;
    if (c == 0)  // merge a run of empty buckets into one
      while (i < last && counts[i] == 0) limit = limits[i++];
    h->add_bucket_limit(limit);
    h->add_bucket(c);
  }
  enqueue(ev.SerializeAsString());
}

void Writer::add_image(const std::string& tag, const Tensor& image, int64_t step,
                       const std::string& dataformats, std::optional<double> wall_time) {
  DecodedImage img = to_pixels(image, dataformats);
  tensorflow::Event ev = make_event(step, wall_time);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* im = v->mutable_image();
  im->set_height(img.height), im->set_width(img.width), im->set_colorspace(img.channels);
  im->set_encoded_image_string(encode_png(img.pixels.data(), img.width, img.height, img.channels));
  enqueue(ev.SerializeAsString());
}

void Writer::add_images(const std::string& tag, const Tensor& images, int64_t step, int64_t nrow,
                        std::optional<double> wall_time) {
  add_image(tag, make_grid(images, nrow), step, "CHW", wall_time);
}

void Writer::add_text(const std::string& tag, const std::string& text, int64_t step,
                      std::optional<double> wall_time) {
  tensorflow::Event ev = make_event(step, wall_time);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag + "/text_summary");
  set_plugin(v, "text", "");  // TextPluginData{version 0} serializes to no bytes
  tensorflow::TensorProto* t = v->mutable_tensor();
  t->set_dtype(tensorflow::DT_STRING);
  t->mutable_tensor_shape()->add_dim()->set_size(1);
  t->add_string_val(text);
  enqueue(ev.SerializeAsString());
}

void Writer::add_hparams(const std::map<std::string, HParamValue>& hparams,
                         const std::map<std::string, double>& metrics, int64_t step) {
  namespace hp = tensorboard::hparams;
  double t = now_secs();
  auto write = [&](const char* tag, const hp::HParamsPluginData& data) {
    tensorflow::Event ev = make_event(step, t);
    auto* v = ev.mutable_summary()->add_value();
    v->set_tag(tag);
    set_plugin(v, "hparams", hparams_content(data));
    // TensorBoard's own hparams summaries carry a placeholder scalar tensor.
    tensorflow::TensorProto* nt = v->mutable_tensor();
    nt->set_dtype(tensorflow::DT_FLOAT);
    nt->add_float_val(0.0f);
    enqueue(ev.SerializeAsString());
  };

  hp::HParamsPluginData exp_data;
  hp::Experiment* exp = exp_data.mutable_experiment();
  exp->set_time_created_secs(t);
  hp::HParamsPluginData start_data;
  hp::SessionStartInfo* start = start_data.mutable_session_start_info();
  start->set_start_time_secs(t);
  for (const auto& [name, value] : hparams) {
    hp::HParamInfo* info = exp->add_hparam_infos();
    info->set_name(name);
    google::protobuf::Value& pv = (*start->mutable_hparams())[name];
    if (const double* d = std::get_if<double>(&value)) {
      info->set_type(hp::DATA_TYPE_FLOAT64);
      pv.set_number_value(*d);
    } else if (const bool* b = std::get_if<bool>(&value)) {
      info->set_type(hp::DATA_TYPE_BOOL);
      pv.set_bool_value(*b);
    } else {
      info->set_type(hp::DATA_TYPE_STRING);
      pv.set_string_value(std::get<std::string>(value));
    }
  }
  for (const auto& [tag, value] : metrics) {
    hp::MetricInfo* info = exp->add_metric_infos();
    info->mutable_name()->set_tag(tag);
  }
  hp::HParamsPluginData end_data;
  end_data.mutable_session_end_info()->set_status(hp::STATUS_SUCCESS);
  end_data.mutable_session_end_info()->set_end_time_secs(t);

  write("_hparams_/experiment", exp_data);
  write("_hparams_/session_start_info", start_data);
  write("_hparams_/session_end_info", end_data);
  for (const auto& [tag, value] : metrics) add_scalar(tag, value, step, t);
}

}  // namespace tandem::summary
