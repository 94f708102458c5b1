#include "repository.h"

#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "status.h"

namespace tandem::serve {
namespace fs = std::filesystem;

std::string_view state_name(VersionState s) {
  switch (s) {
    case VersionState::Start: return "START";
    case VersionState::Loading: return "LOADING";
    case VersionState::Available: return "AVAILABLE";
    case VersionState::Unloading: return "UNLOADING";
    case VersionState::End: return "END";
  }
  return "UNKNOWN";
}

namespace {
// Version directories: base/<digits>/.
std::map<int64_t, std::string> list_versions(const std::string& base) {
  std::map<int64_t, std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name.size() > 18 || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    if (!it->is_directory(ec)) continue;
    out[std::stoll(name)] = it->path().string();
  }
  return out;
}

// Names, sizes and modification times of the files under a version directory.
std::string fingerprint(const std::string& dir) {
  std::string fp;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    auto t = fs::last_write_time(it->path(), ec).time_since_epoch().count();
    fp += fmt::format("{}:{}:{};", it->path().string(), it->file_size(ec), t);
  }
  return fp;
}

std::set<int64_t> aspired(const VersionPolicy& p, const std::vector<int64_t>& candidates /*ascending*/) {
  std::set<int64_t> out;
  switch (p.kind) {
    case VersionPolicy::Kind::All: out.insert(candidates.begin(), candidates.end()); break;
    case VersionPolicy::Kind::Latest:
      for (auto it = candidates.rbegin(); it != candidates.rend() && static_cast<int64_t>(out.size()) < p.latest; ++it)
        out.insert(*it);
      break;
    case VersionPolicy::Kind::Specific:
      for (int64_t v : p.versions)
        if (std::find(candidates.begin(), candidates.end(), v) != candidates.end()) out.insert(v);
      break;
  }
  return out;
}
}  // namespace

ModelManager::ModelManager(std::vector<ModelConfig> models, double poll_wait_seconds, std::vector<int64_t> warm_batches)
    : poll_wait_(poll_wait_seconds), warm_batches_(std::move(warm_batches)) {
  for (auto& c : models) {
    TANDEM_CHECK(!c.name.empty(), "serve: a model needs a name");
    TANDEM_CHECK(!models_.count(c.name), "serve: model '{}' is configured twice", c.name);
    TANDEM_CHECK(c.policy.kind != VersionPolicy::Kind::Latest || c.policy.latest > 0,
                 "serve: model '{}': latest num_versions must be positive", c.name);
    order_.push_back(c.name);
    models_[c.name].config = std::move(c);
  }
}

ModelManager::~ModelManager() { stop(); }

void ModelManager::start() {
  poll();
  if (poll_wait_ <= 0) return;
  poller_ = std::thread([this] {
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, std::chrono::duration<double>(poll_wait_), [&] { return stopping_; })) {
      lock.unlock();
      poll();
      lock.lock();
    }
  });
}

void ModelManager::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void ModelManager::poll() {
  std::lock_guard one(poll_mu_);
  for (const auto& name : order_) poll_model(name);
}

void ModelManager::poll_model(const std::string& name) {
  ModelConfig config;
  {
    std::lock_guard lock(mu_);
    config = models_.at(name).config;
  }
  std::error_code ec;
  if (!fs::is_directory(config.base_path, ec)) {
    // A base path that is (perhaps briefly) gone unloads nothing: what serves keeps serving.
    std::lock_guard lock(mu_);
    if (!models_.at(name).warned_missing)
      fmt::print(stderr, "tandem serve: model '{}': base path {} is not a directory\n", name, config.base_path);
    models_.at(name).warned_missing = true;
    return;
  }
  auto disk = list_versions(config.base_path);
  std::set<int64_t> want;
  while (true) {  // again after a failed load: the next candidate may take its place
    std::vector<int64_t> candidates;
    std::map<int64_t, std::string> prints;
    {
      std::lock_guard lock(mu_);
      auto& m = models_.at(name);
      for (const auto& [v, dir] : disk) {
        auto it = m.versions.find(v);
        if (it != m.versions.end() && !it->second.fingerprint.empty()) {
          std::string fp = fingerprint(dir);
          if (fp == it->second.fingerprint) continue;  // failed before, unchanged since
          prints[v] = fp;
        }
        candidates.push_back(v);
      }
    }
    want = aspired(config.policy, candidates);
    std::vector<int64_t> to_load;
    {
      std::lock_guard lock(mu_);
      auto& m = models_.at(name);
      for (int64_t v : want) {
        auto it = m.versions.find(v);
        if (it == m.versions.end() || it->second.status.state != VersionState::Available) to_load.push_back(v);
      }
      for (int64_t v : to_load) {
        auto& e = m.versions[v];
        e.status = {.version = v, .state = VersionState::Loading};
        e.fingerprint.clear();
      }
    }
    if (to_load.empty()) break;
    bool failed = false;
    for (auto it = to_load.rbegin(); it != to_load.rend(); ++it) {
      int64_t v = *it;
      std::string fp = fingerprint(disk.at(v));
      std::shared_ptr<const Servable> s;
      std::string code, error;
      try {
        s = Servable::load(disk.at(v), warm_batches_);
      } catch (const onnx::Unsupported& e) {
        code = "UNIMPLEMENTED", error = e.what();
      } catch (const std::exception& e) {
        code = "INVALID_ARGUMENT", error = e.what();
      }
      {
        std::lock_guard lock(mu_);
        auto& e = models_.at(name).versions[v];
        if (s) {
          e.servable = s;
          e.status = {.version = v, .state = VersionState::Available};
        } else {
          e.status = {.version = v, .state = VersionState::End, .error_code = code, .error_message = error};
          e.fingerprint = fp.empty() ? std::string("(empty)") : fp;
        }
      }
      if (s) {
        fmt::print(stderr, "tandem serve: model '{}' version {} is available ({})\n", name, v, s->path());
        if (on_load) on_load(name, v, s);
      } else {
        fmt::print(stderr, "tandem serve: model '{}' version {} failed to load: {}\n", name, v, error);
        failed = true;
      }
    }
    if (!failed) break;
  }
  // Versions that left the policy (or the disk) are unloaded once the new ones serve.
  std::vector<std::pair<int64_t, std::shared_ptr<const Servable>>> dropped;
  {
    std::lock_guard lock(mu_);
    for (auto& [v, e] : models_.at(name).versions) {
      if (e.status.state == VersionState::Available && !want.count(v)) {
        dropped.emplace_back(v, std::move(e.servable));
        e.servable.reset();
        e.status = {.version = v, .state = VersionState::End};
      }
    }
  }
  for (auto& [v, s] : dropped) {
    if (on_unload) on_unload(name, v);
    s.reset();  // the memory goes when the last in-flight request lets go
    fmt::print(stderr, "tandem serve: model '{}' version {} unloaded\n", name, v);
  }
  if (!dropped.empty()) malloc_trim(0);
}

bool ModelManager::has_model(const std::string& name) const {
  std::lock_guard lock(mu_);
  return models_.count(name) != 0;
}

std::vector<std::string> ModelManager::model_names() const { return order_; }

int64_t ModelManager::label_version(const Model& m, const std::string& label) const {
  auto it = m.config.labels.find(label);
  if (it == m.config.labels.end())
    throw StatusError(Code::NotFound, fmt::format("Unrecognized servable version label: {}", label));
  return it->second;
}

Resolved ModelManager::resolve(const std::string& name, std::optional<int64_t> version,
                               const std::optional<std::string>& label) const {
  std::lock_guard lock(mu_);
  auto mit = models_.find(name);
  if (mit != models_.end() && label) version = label_version(mit->second, *label);
  if (mit != models_.end()) {
    const auto& vs = mit->second.versions;
    if (version) {
      auto it = vs.find(*version);
      if (it != vs.end() && it->second.servable) return {it->second.servable, *version};
    } else {
      for (auto it = vs.rbegin(); it != vs.rend(); ++it)
        if (it->second.servable) return {it->second.servable, it->first};
    }
  }
  throw StatusError(Code::NotFound, version ? fmt::format("Servable not found for request: Specific({}, {})", name, *version)
                                            : fmt::format("Servable not found for request: Latest({})", name));
}

std::vector<VersionStatus> ModelManager::status(const std::string& name, std::optional<int64_t> version,
                                                const std::optional<std::string>& label) const {
  std::lock_guard lock(mu_);
  auto mit = models_.find(name);
  if (mit == models_.end())
    throw StatusError(Code::NotFound, fmt::format("Could not find any versions of model {}", name));
  if (label) version = label_version(mit->second, *label);
  std::vector<VersionStatus> out;
  for (auto it = mit->second.versions.rbegin(); it != mit->second.versions.rend(); ++it)
    if (!version || it->first == *version) out.push_back(it->second.status);
  if (out.empty())
    throw StatusError(Code::NotFound, version ? fmt::format("Could not find version {} of model {}", *version, name)
                                              : fmt::format("Could not find any versions of model {}", name));
  return out;
}

std::vector<int64_t> ModelManager::available_versions(const std::string& name) const {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  auto mit = models_.find(name);
  if (mit == models_.end()) return out;
  for (auto it = mit->second.versions.rbegin(); it != mit->second.versions.rend(); ++it)
    if (it->second.servable) out.push_back(it->first);
  return out;
}

bool ModelManager::all_ready() const {
  std::lock_guard lock(mu_);
  for (const auto& [name, m] : models_) {
    bool any = false;
    for (const auto& [v, e] : m.versions) any = any || e.servable != nullptr;
    if (!any) return false;
  }
  return true;
}

}  // namespace tandem::serve
