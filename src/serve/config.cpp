// --model_config_file and --batching_parameters_file: TF Serving's text-format protobufs,
// parsed with protobuf's TextFormat against our subset of its messages (proto/tandem_serving_config.proto).
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <tandem/error.h>
#include <tandem/serve/server.h>

#include "tandem_serving_config.pb.h"

namespace tandem::serve {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "cannot read {}", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Collects TextFormat's errors with line and column.
class Errors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    text += fmt::format("{}line {}, column {}: {}", text.empty() ? "" : "; ", line + 1, column + 1, message);
  }
  std::string text;
};

void parse(const std::string& path, google::protobuf::Message* msg) {
  std::string text = read_file(path);
  google::protobuf::TextFormat::Parser parser;
  Errors errors;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);  // TF Serving fields tandem does not use (logging_config, ...)
  TANDEM_CHECK(parser.ParseFromString(text, msg), "{}: not a valid {} in protobuf text format: {}", path,
               msg->GetDescriptor()->name(), errors.text);
}

}  // namespace

std::vector<ModelConfig> parse_model_config_file(const std::string& path) {
  tensorflow::serving::ModelServerConfig msg;
  parse(path, &msg);
  TANDEM_CHECK(msg.has_model_config_list() && msg.model_config_list().config_size() > 0,
               "{}: no model_config_list {{ config {{ ... }} }}", path);
  std::vector<ModelConfig> out;
  for (const auto& c : msg.model_config_list().config()) {
    TANDEM_CHECK(!c.name().empty() && !c.base_path().empty(), "{}: every config needs a name and a base_path", path);
    ModelConfig m{.name = c.name(), .base_path = c.base_path()};
    const auto& p = c.model_version_policy();
    if (p.has_all()) {
      m.policy.kind = VersionPolicy::Kind::All;
    } else if (p.has_specific()) {
      m.policy.kind = VersionPolicy::Kind::Specific;
      m.policy.versions.assign(p.specific().versions().begin(), p.specific().versions().end());
      TANDEM_CHECK(!m.policy.versions.empty(), "{}: model '{}': specific {{ }} lists no versions", path, c.name());
    } else if (p.has_latest()) {
      m.policy.latest = p.latest().num_versions();
      TANDEM_CHECK(m.policy.latest > 0, "{}: model '{}': latest {{ num_versions }} must be positive", path, c.name());
    }
    for (const auto& [label, version] : c.version_labels()) m.labels[label] = version;
    out.push_back(std::move(m));
  }
  return out;
}

BatchingOptions parse_batching_parameters_file(const std::string& path) {
  tensorflow::serving::BatchingParameters msg;
  parse(path, &msg);
  BatchingOptions o;
  if (msg.has_max_batch_size()) o.max_batch_size = msg.max_batch_size().value();
  if (msg.has_batch_timeout_micros()) o.batch_timeout_micros = msg.batch_timeout_micros().value();
  if (msg.has_num_batch_threads()) o.num_batch_threads = msg.num_batch_threads().value();
  if (msg.has_max_enqueued_batches()) o.max_enqueued_batches = msg.max_enqueued_batches().value();
  o.allowed_batch_sizes.assign(msg.allowed_batch_sizes().begin(), msg.allowed_batch_sizes().end());
  TANDEM_CHECK(o.max_batch_size > 0, "{}: max_batch_size must be positive", path);
  TANDEM_CHECK(o.batch_timeout_micros >= 0, "{}: batch_timeout_micros must be non-negative", path);
  TANDEM_CHECK(o.num_batch_threads > 0, "{}: num_batch_threads must be positive", path);
  TANDEM_CHECK(o.max_enqueued_batches > 0, "{}: max_enqueued_batches must be positive", path);
  for (size_t i = 0; i < o.allowed_batch_sizes.size(); ++i)
    TANDEM_CHECK(o.allowed_batch_sizes[i] > 0 && (i == 0 || o.allowed_batch_sizes[i] > o.allowed_batch_sizes[i - 1]),
                 "{}: allowed_batch_sizes must be positive and increasing", path);
  TANDEM_CHECK(o.allowed_batch_sizes.empty() || o.allowed_batch_sizes.back() == o.max_batch_size,
               "{}: the last of allowed_batch_sizes must equal max_batch_size ({})", path, o.max_batch_size);
  return o;
}

}  // namespace tandem::serve
