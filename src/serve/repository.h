// The model repository: which versions of which models serve, and their states.
//
//   ModelManager m(configs, /*poll_wait_seconds=*/1);
//   m.start();                                   // first poll now, then a background poller
//   Resolved r = m.resolve("mlp", {}, {});       // the latest available version (or throws)
//   r.servable->run(...);                        // r keeps the version alive while it runs
//
// As TF Serving's Source / Loader / Manager: poll() lists base_path/<int>/ directories
// (the source), Servable::load loads and warms one version (the loader), and the manager
// swaps versions in and out under a short lock while requests hold shared_ptrs to what they
// run, so an unload waits for in-flight requests without a lock on the request path.
// Failed loads are remembered with the version directory's fingerprint (file sizes and
// times) and retried only when the files change: a half-copied model is tried again once
// the copy completes, and never replaces the version that serves.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <tandem/serve/server.h>

#include "servable.h"

namespace tandem::serve {

enum class VersionState { Start, Loading, Available, Unloading, End };
std::string_view state_name(VersionState s);  // "START", "LOADING", "AVAILABLE", ...

struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::Start;
  std::string error_code = "OK";
  std::string error_message;
};

struct Resolved {
  std::shared_ptr<const Servable> servable;
  int64_t version = 0;
};

class ModelManager {
 public:
  // `warm_batches`: batch sizes every new version runs once before it takes traffic.
  ModelManager(std::vector<ModelConfig> models, double poll_wait_seconds, std::vector<int64_t> warm_batches = {});
  ~ModelManager();
  void start();
  void stop();
  // One pass over every base path (start() and the poller call it; tests may too).
  void poll();

  bool has_model(const std::string& name) const;
  std::vector<std::string> model_names() const;
  // The servable for a request: an explicit version, a label, or the highest available
  // version. StatusError(NotFound) with TF Serving's messages otherwise.
  Resolved resolve(const std::string& name, std::optional<int64_t> version, const std::optional<std::string>& label) const;
  // Every version the manager knows of, highest first; NotFound for an unknown model, and for
  // a version or label that it does not know.
  std::vector<VersionStatus> status(const std::string& name, std::optional<int64_t> version,
                                    const std::optional<std::string>& label) const;
  // Versions of `name` that are available, highest first.
  std::vector<int64_t> available_versions(const std::string& name) const;
  // True when every model has at least one available version.
  bool all_ready() const;
  // Called after a version becomes available or is unloaded (the batching queues follow).
  std::function<void(const std::string& model, int64_t version, const std::shared_ptr<const Servable>&)> on_load;
  std::function<void(const std::string& model, int64_t version)> on_unload;

 private:
  struct Version {
    VersionStatus status;
    std::shared_ptr<const Servable> servable;
    std::string fingerprint;  // of a failed load's files
  };
  struct Model {
    ModelConfig config;
    std::map<int64_t, Version> versions;
    bool warned_missing = false;
  };
  void poll_model(const std::string& name);
  int64_t label_version(const Model& m, const std::string& label) const;

  std::vector<std::string> order_;
  mutable std::mutex mu_;
  std::map<std::string, Model> models_;
  double poll_wait_;
  std::vector<int64_t> warm_batches_;
  std::thread poller_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::mutex poll_mu_;  // one poll at a time
};

}  // namespace tandem::serve
