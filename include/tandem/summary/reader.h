// Reading event files back: every record's framing and both CRCs are checked.
//
//   for (const summary::Record& r : summary::read("runs/mlp"))   // a file or a run directory
//     if (r.kind == summary::Kind::Scalar) fmt::print("{} {} {}\n", r.tag, r.step, r.value);
//   auto last = summary::last_scalars("runs/mlp");              // tag -> last Record
//
// A corrupt record (bad length CRC, bad data CRC, unparsable Event) is an Error naming the file
// and the byte offset. A truncated last record is what a writer that is still running (or was
// killed mid-write) leaves; like TensorBoard, the reader stops there and keeps what came before
// (ReadOptions::warnings receives a note).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tandem::summary {

enum class Kind { FileVersion, Scalar, Histogram, Image, Text, HParams, Tensor, Other };
std::string_view kind_name(Kind k);  // "scalar", "histogram", ...

struct HistogramValue {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;  // bucket[i] counts values below bucket_limit[i]
};

struct ImageValue {
  int height = 0, width = 0, colorspace = 0;
  std::string png;  // encoded bytes
};

// One summary value (an Event holding several values gives several Records).
struct Record {
  double wall_time = 0;
  int64_t step = 0;
  std::string tag;  // for Text without the "/text_summary" suffix; for FileVersion empty
  Kind kind = Kind::Other;
  double value = 0;          // Scalar
  HistogramValue histogram;  // Histogram
  ImageValue image;          // Image
  std::string text;          // Text; FileVersion: "brain.Event:2"; HParams: plugin content bytes
  std::string plugin;        // plugin name from the summary metadata, if any
  std::map<std::string, std::string> hparams;  // HParams session_start_info: name -> value
  std::string file;          // the event file it came from
};

struct ReadOptions {
  std::vector<std::string>* warnings = nullptr;  // receives notes on truncated tails
};

// `path`: an event file, or a directory whose events.out.tfevents.* files (not those in
// subdirectories) are read in name order (= creation time).
std::vector<Record> read(const std::string& path, const ReadOptions& options = {});

// Raw TFRecord payloads of one file (the serialized Events), framing and CRCs checked.
std::vector<std::string> read_tfrecords(const std::string& file, const ReadOptions& options = {});

// The event files read(path) would read, in order.
std::vector<std::string> event_files(const std::string& path);

// Last scalar value of each tag (highest step, later record wins ties).
std::map<std::string, Record> last_scalars(const std::string& path);

}  // namespace tandem::summary
