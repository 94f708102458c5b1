#include "metrics.h"

#include <fmt/format.h>

namespace tandem::serve {
namespace {
std::string le(double b) { return fmt::format("{}", b); }
}  // namespace

void Metrics::LatencyHistogram::add(double v) {
  for (size_t i = 0; i < kLatencyBucketsUs.size(); ++i)
    if (v <= kLatencyBucketsUs[i]) ++counts[i];
  ++count;
  sum += v;
}

void Metrics::BatchHistogram::add(double v) {
  for (size_t i = 0; i < kBatchBuckets.size(); ++i)
    if (v <= kBatchBuckets[i]) ++counts[i];
  ++count;
  sum += v;
}

void Metrics::record_request(const std::string& model, const std::string& api, const std::string& status, double us) {
  std::lock_guard lock(mu_);
  ++request_count_[{model, status}];
  request_latency_[{model, api}].add(us);
}

void Metrics::record_inference(const std::string& model, int64_t version, bool ok, int64_t rows, double request_us,
                               double queue_us, double compute_us) {
  std::lock_guard lock(mu_);
  auto& v = versions_[{model, version}];
  (ok ? v.success : v.failure) += 1;
  if (ok) v.inference_count += rows;
  v.request_us += request_us;
  v.queue_us += queue_us;
  v.compute_us += compute_us;
}

void Metrics::record_execution(const std::string& model, int64_t version, const std::string& api, int64_t rows,
                               double runtime_us) {
  std::lock_guard lock(mu_);
  runtime_latency_[{model, api}].add(runtime_us);
  versions_[{model, version}].exec_count += 1;
}

void Metrics::record_batch(const std::string& model, int64_t rows, int64_t padded_rows) {
  std::lock_guard lock(mu_);
  batch_size_[model].add(static_cast<double>(padded_rows));
  padding_[model].add(static_cast<double>(padded_rows - rows));
}

std::string Metrics::prometheus_tfs() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto hist = [&](const std::string& name, const std::string& labels, const auto& h, const auto& buckets) {
    for (size_t i = 0; i < buckets.size(); ++i)
      out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le(buckets[i]), h.counts[i]);
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count);
    out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, h.sum, name, labels, h.count);
  };
  out += "# TYPE :tensorflow:serving:request_count counter\n";
  for (const auto& [k, n] : request_count_)
    out += fmt::format(":tensorflow:serving:request_count{{model_name=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, n);
  out += "# TYPE :tensorflow:serving:request_latency histogram\n";
  for (const auto& [k, h] : request_latency_)
    hist(":tensorflow:serving:request_latency", fmt::format("model_name=\"{}\",API=\"{}\",entrypoint=\"REST\"", k.first, k.second),
         h, kLatencyBucketsUs);
  out += "# TYPE :tensorflow:serving:runtime_latency histogram\n";
  for (const auto& [k, h] : runtime_latency_)
    hist(":tensorflow:serving:runtime_latency", fmt::format("model_name=\"{}\",API=\"{}\",runtime=\"tandem\"", k.first, k.second),
         h, kLatencyBucketsUs);
  out += "# TYPE :tensorflow:serving:batching_session:processed_batch_size histogram\n";
  for (const auto& [m, h] : batch_size_)
    hist(":tensorflow:serving:batching_session:processed_batch_size", fmt::format("model_name=\"{}\"", m), h, kBatchBuckets);
  out += "# TYPE :tensorflow:serving:batching_session:padding_size histogram\n";
  for (const auto& [m, h] : padding_)
    hist(":tensorflow:serving:batching_session:padding_size", fmt::format("model_name=\"{}\"", m), h, kBatchBuckets);
  return out;
}

std::string Metrics::prometheus_triton() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto family = [&](const char* name, const char* help, auto field) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [k, v] : versions_)
      out += fmt::format("{}{{model=\"{}\",version=\"{}\"}} {}\n", name, k.first, k.second, field(v));
  };
  family("nv_inference_request_success", "Number of successful inference requests", [](const PerVersion& v) { return v.success; });
  family("nv_inference_request_failure", "Number of failed inference requests", [](const PerVersion& v) { return v.failure; });
  family("nv_inference_count", "Number of inferences performed (batch rows)", [](const PerVersion& v) { return v.inference_count; });
  family("nv_inference_exec_count", "Number of model executions performed", [](const PerVersion& v) { return v.exec_count; });
  family("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
         [](const PerVersion& v) { return static_cast<uint64_t>(v.request_us); });
  family("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
         [](const PerVersion& v) { return static_cast<uint64_t>(v.queue_us); });
  family("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds",
         [](const PerVersion& v) { return static_cast<uint64_t>(v.compute_us); });
  return out;
}

}  // namespace tandem::serve
