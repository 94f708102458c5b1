// Request, runtime and batch metrics, exposed as Prometheus text under two sets of names:
//   /monitoring/prometheus/metrics  TF Serving's (:tensorflow:serving:request_count, ...)
//   /metrics                        Triton's (nv_inference_request_success, ...)
// Counters and histograms are plain integers under one mutex: recording is a handful of
// additions per request, far below the cost of parsing its body.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace tandem::serve {

class Metrics {
 public:
  // One REST request to a model endpoint (predict, classify, regress, infer) and its outcome;
  // `status` is the canonical code name ("OK", "INVALID_ARGUMENT", ...).
  void record_request(const std::string& model, const std::string& api, const std::string& status, double latency_us);
  // One request that ran on a version (for Triton's per-version counters).
  void record_inference(const std::string& model, int64_t version, bool ok, int64_t rows, double request_us,
                        double queue_us, double compute_us);
  // One execution of a model: `rows` rows (a batch, or one request without batching).
  void record_execution(const std::string& model, int64_t version, const std::string& api, int64_t rows,
                        double runtime_us);
  // Batches that the batching queue ran (padded size included).
  void record_batch(const std::string& model, int64_t rows, int64_t padded_rows);

  std::string prometheus_tfs() const;
  std::string prometheus_triton() const;

 private:
  static constexpr std::array<double, 20> kLatencyBucketsUs = {10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4,
                                                               2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 3e7};
  static constexpr std::array<double, 12> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  struct LatencyHistogram {
    std::array<uint64_t, kLatencyBucketsUs.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
    void add(double v);
  };
  struct BatchHistogram {
    std::array<uint64_t, kBatchBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
    void add(double v);
  };
  struct PerVersion {
    uint64_t success = 0, failure = 0, inference_count = 0, exec_count = 0;
    double request_us = 0, queue_us = 0, compute_us = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> request_count_;          // model, status
  std::map<std::pair<std::string, std::string>, LatencyHistogram> request_latency_;  // model, api
  std::map<std::pair<std::string, std::string>, LatencyHistogram> runtime_latency_;  // model, api
  std::map<std::string, BatchHistogram> batch_size_;                                 // model
  std::map<std::string, BatchHistogram> padding_;                                    // model
  std::map<std::pair<std::string, int64_t>, PerVersion> versions_;
};

}  // namespace tandem::serve
