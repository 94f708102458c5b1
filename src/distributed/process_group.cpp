// The backend-independent half of process groups: Work, the registry, tensor checks.
#include "tandem/distributed/process_group.h"

#include <atomic>
#include <map>

#include "tandem/error.h"

namespace tandem::distributed {

namespace {
const auto kStart = std::chrono::steady_clock::now();
// NOTE: leaked on purpose: a group held in a static is destroyed at exit, possibly after
// these would have been, and still unregisters itself.
std::mutex& registry_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::map<int64_t, std::weak_ptr<ProcessGroup>>& registry() {
  static auto* r = new std::map<int64_t, std::weak_ptr<ProcessGroup>>;
  return *r;
}
std::atomic<int64_t> g_next_id{1};
}  // namespace

double seconds_since_start() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
}

void Work::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  if (!error_.empty()) throw Error(error_);
}

bool Work::is_completed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

double Work::started_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

double Work::finished_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

void Work::mark_started() {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = seconds_since_start();
}

void Work::finish(std::string error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    error_ = std::move(error);
    finished_ = seconds_since_start();
  }
  cv_.notify_all();
}

ProcessGroup::ProcessGroup() : id_(g_next_id++) {}

ProcessGroup::~ProcessGroup() {
  std::lock_guard<std::mutex> lock(registry_mu());
  registry().erase(id_);
}

void ProcessGroup::add_to_registry(const std::shared_ptr<ProcessGroup>& pg) {
  std::lock_guard<std::mutex> lock(registry_mu());
  registry()[pg->id()] = pg;
}

std::shared_ptr<ProcessGroup> ProcessGroup::find(int64_t id) {
  std::lock_guard<std::mutex> lock(registry_mu());
  auto it = registry().find(id);
  return it == registry().end() ? nullptr : it->second.lock();
}

void check_collective_tensor(const Tensor& t, const char* what) {
  TANDEM_CHECK(t.defined(), "{}: the tensor is undefined", what);
  TANDEM_CHECK(t.device() == Device::CPU, "{}: tensors must be on the CPU", what);
  TANDEM_CHECK(t.is_contiguous(), "{}: the tensor (shape {}) must be contiguous; call .contiguous()",
               what, shape_str(t.shape()));
  TANDEM_CHECK(t.dtype() == kFloat32 || t.dtype() == kFloat64 || t.dtype() == kInt64,
               "{}: dtype {} is not supported (float32, float64, int64)", what, t.dtype());
}

}  // namespace tandem::distributed
