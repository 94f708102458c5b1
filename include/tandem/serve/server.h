// tandem serve: a model server that speaks TensorFlow Serving's REST API and the Open
// Inference Protocol (KServe/Triton v2) on one port.
//
//   serve::ServerOptions o;
//   o.models = {{.name = "mlp", .base_path = "/models/mlp"}};   // /models/mlp/<version>/model.onnx
//   o.http.port = 0;                                            // any free port
//   serve::Server server(o);
//   server.start();                                             // loads the versions, then listens
//   fmt::print("{}\n", server.port());
//   // curl -d '{"instances": [[...]]}' localhost:PORT/v1/models/mlp:predict
//   server.shutdown();                                          // finish in-flight requests
//
// Layout of a model, as TF Serving's: base_path/<integer version>/model.onnx. The version
// policy picks which versions serve (latest N, all, or specific ones); the base path is polled
// and new versions load in the background, are warmed up, then take traffic, while versions
// that leave the policy are unloaded once their in-flight requests are done. A version that
// fails to load is reported in the status API and never replaces one that works.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tandem::serve {

struct VersionPolicy {
  enum class Kind { Latest, All, Specific };
  Kind kind = Kind::Latest;
  int64_t latest = 1;              // Kind::Latest: how many of the highest versions
  std::vector<int64_t> versions;   // Kind::Specific
};

struct ModelConfig {
  std::string name;
  std::string base_path;
  VersionPolicy policy;
  std::map<std::string, int64_t> labels;  // "stable" -> 1, "canary" -> 2
};

// TF Serving's batching parameters (--batching_parameters_file).
struct BatchingOptions {
  int64_t max_batch_size = 32;
  int64_t batch_timeout_micros = 1000;
  int64_t num_batch_threads = 1;
  int64_t max_enqueued_batches = 16;
  std::vector<int64_t> allowed_batch_sizes;  // empty: any size; else the last must be max_batch_size
};

struct HttpSettings {
  std::string host = "0.0.0.0";
  int port = 8501;                     // 0: any free port
  int threads = 2;
  size_t max_body_bytes = 64u << 20;
  int connection_timeout_s = 30;
};

struct ServerOptions {
  std::vector<ModelConfig> models;
  HttpSettings http;
  double poll_wait_seconds = 1;        // <= 0: load once, never poll
  double request_timeout_s = 0;        // per-request deadline; 0: none
  bool access_log = false;             // one line per request on stderr
  bool enable_batching = false;
  BatchingOptions batching;
};

// TF Serving's ModelServerConfig text format (--model_config_file): model_config_list with
// config { name base_path model_version_policy { latest { num_versions } | all {} |
// specific { versions } } version_labels { key value } }. tandem::Error on bad input.
std::vector<ModelConfig> parse_model_config_file(const std::string& path);
// TF Serving's BatchingParameters text format (--batching_parameters_file).
BatchingOptions parse_batching_parameters_file(const std::string& path);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Loads what the policies select (a version that fails is reported, not fatal), starts the
  // poller, binds and listens. tandem::Error when the port cannot be bound.
  void start();
  int port() const;
  // Graceful: stop accepting, answer every request already received, stop the poller.
  void shutdown(double grace_s = 30);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::serve
