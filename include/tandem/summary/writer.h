// TensorBoard event files written natively: `tensorboard --logdir runs` opens them as is.
//
//   summary::Writer w("runs/mlp");                       // runs/mlp/events.out.tfevents.<time>.<host>
//   for (int64_t step = 0; step < n; ++step) w.add_scalar("loss", loss, step);
//   w.add_histogram("fc1.weight", model->parameters()[0], step);
//   w.add_images("inputs", batch.data, step);            // [N,C,H,W] float in [0,1] -> one grid
//   w.add_hparams({{"lr", 0.1}, {"model", std::string("mlp")}}, {{"hparam/accuracy", 0.91}});
//   w.close();                                           // also done by the destructor
//
// Records are buffered and written whole (TFRecord framing: length, masked CRC32C of the
// length, an Event protobuf, masked CRC32C of the data) on flush(): every `flush_secs` by a
// background thread, when `max_queue` records are waiting, and at close(). A process that
// dies leaves a file whose records up to the last flush all read back. A Writer may be
// used from several threads.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::summary {

struct WriterOptions {
  double flush_secs = 10.0;     // background flush period; <= 0: only explicit / queue flushes
  std::string filename_suffix;  // appended to the file name, e.g. ".train"
  int max_queue = 10;           // flush when this many records are waiting
};

// A hyper-parameter value: number, string or bool (the three kinds the HPARAMS tab shows).
using HParamValue = std::variant<double, std::string, bool>;

class Writer {
 public:
  // Creates `logdir` (and parents) if needed and opens a new event file in it.
  explicit Writer(const std::string& logdir, WriterOptions options = {});
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // `wall_time`: seconds since the UNIX epoch; now when not given.
  void add_scalar(const std::string& tag, double value, int64_t step,
                  std::optional<double> wall_time = std::nullopt);
  // Histogram of all elements of `values` (any real dtype) over TensorBoard's default
  // bucket edges (0, ±1e-12·1.1^k up to 1e20, ±DBL_MAX); empty buckets at either end are
  // dropped and interior runs of empty buckets merged, as TensorFlow does.
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step,
                     std::optional<double> wall_time = std::nullopt);
  // One image: `dataformats` "CHW" (C = 1, 3 or 4), "HWC" or "HW"; float values in [0, 1]
  // (clamped) or uint8. Stored as PNG.
  void add_image(const std::string& tag, const Tensor& image, int64_t step,
                 const std::string& dataformats = "CHW",
                 std::optional<double> wall_time = std::nullopt);
  // A batch [N, C, H, W] (or [N, H, W]) tiled into one grid image (see make_grid).
  void add_images(const std::string& tag, const Tensor& images, int64_t step, int64_t nrow = 8,
                  std::optional<double> wall_time = std::nullopt);
  // Markdown text, shown in the TEXT tab (tag gets "/text_summary" appended, like PyTorch).
  void add_text(const std::string& tag, const std::string& text, int64_t step,
                std::optional<double> wall_time = std::nullopt);
  // The run's hyper-parameters and final metrics for the HPARAMS tab: writes the hparams
  // plugin's experiment, session_start_info and session_end_info summaries, and each
  // metric as a scalar with its tag at `step` (the tab reads metric values from scalars).
  void add_hparams(const std::map<std::string, HParamValue>& hparams,
                   const std::map<std::string, double>& metrics, int64_t step = 0);

  void flush();  // writes waiting records, then fflush + fsync
  void close();  // flush, stop the background thread, close the file; later adds are errors

  const std::string& path() const;    // the event file
  const std::string& logdir() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
  void enqueue(std::string serialized_event);
};

// Tiles a batch [N, C, H, W] (or [N, H, W]) into one image [C, H', W'] with `nrow` images per
// row and `padding` pixels of `pad_value` between them (torchvision's make_grid).
Tensor make_grid(const Tensor& images, int64_t nrow = 8, int64_t padding = 2,
                 double pad_value = 0.0);

// PNG bytes of an 8-bit image stored row-major with `channels` (1, 2, 3 or 4) interleaved.
std::string encode_png(const uint8_t* pixels, int width, int height, int channels);
struct DecodedImage {
  int width = 0, height = 0, channels = 0;  // channels: 1, 2, 3 or 4
  std::vector<uint8_t> pixels;              // row-major, interleaved, 8-bit
};
DecodedImage decode_png(const std::string& png);

// Converts an image tensor ("CHW", "HWC" or "HW"; float [0,1] or uint8) to interleaved
// 8-bit pixels; returns {width, height, channels, pixels}.
DecodedImage to_pixels(const Tensor& image, const std::string& dataformats = "CHW");

// The path an event file gets in `logdir`: events.out.tfevents.<unix time>.<host><suffix>.
std::string event_file_name(double unix_time, const std::string& suffix = "");

}  // namespace tandem::summary
