// Op-level profiler: one span per dispatched op (name, input shapes, thread, start, duration,
// bytes of the outputs it allocated) plus user spans; Chrome trace JSON for Perfetto /
// chrome://tracing, and a torch.profiler-like key_averages() table.
//
//   profiler::Profiler prof;
//   {
//     profiler::ProfileGuard on(prof);               // start() ... stop()
//     for (int step = 0; step < 10; ++step) {
//       profiler::Span s("train_step");              // user span around a step
//       loss = model->forward(x).mean(); loss.backward();
//     }
//   }
//   prof.write_chrome_trace("trace.json");           // open in https://ui.perfetto.dev
//   fmt::print("{}", prof.key_averages(10));          // top 10 ops by total time
//
// When no Profiler runs, dispatch pays one relaxed atomic load and a never-taken branch.
// One Profiler records at a time (process-wide); ops on every thread are recorded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::profiler {

struct Event {
  std::string name;
  bool user = false;                // a Span (true) or a dispatched op (false)
  std::vector<Shape> input_shapes;  // ops only (undefined optional inputs: empty shape)
  uint64_t tid = 0;                 // OS thread id
  int64_t start_ns = 0;             // since Profiler::start()
  int64_t dur_ns = 0;
  int64_t bytes = 0;                // bytes of the op's freshly allocated outputs (0 for views)
  // The caching allocator's allocated and reserved bytes when the op ended (ops only; -1 for
  // Spans): the trace's "memory" counter track.
  int64_t allocated_bytes = -1, reserved_bytes = -1;
};

// Aggregate over all events with one name. self = total minus time in nested events.
struct Stat {
  std::string name;
  int64_t calls = 0;
  int64_t total_ns = 0;
  int64_t self_ns = 0;
  int64_t bytes = 0;
};

struct ProfilerOptions {
  bool record_shapes = true;
};

class Profiler {
 public:
  explicit Profiler(ProfilerOptions options = {});
  ~Profiler();  // stops recording if still running
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void start();  // clears earlier events; Error if another Profiler is recording
  void stop();
  bool running() const { return running_; }

  const std::vector<Event>& events() const { return events_; }
  std::vector<Stat> stats() const;  // sorted by total time, descending
  // Table of the top `top_n` names by total time: calls, self, self %, total, avg, bytes.
  std::string key_averages(size_t top_n = 20) const;
  std::string chrome_trace_json() const;  // {"traceEvents": [{"ph": "X", ...}, ...]}
  void write_chrome_trace(const std::string& path) const;

 private:
  ProfilerOptions options_;
  bool running_ = false;
  std::vector<Event> events_;
  friend struct Session;
};

// start() on construction, stop() on destruction.
class ProfileGuard {
 public:
  explicit ProfileGuard(Profiler& p) : p_(p) { p_.start(); }
  ~ProfileGuard() { p_.stop(); }
  ProfileGuard(const ProfileGuard&) = delete;
  ProfileGuard& operator=(const ProfileGuard&) = delete;

 private:
  Profiler& p_;
};

// A named user span (like PyTorch's record_function): recorded only while a Profiler runs.
class Span {
 public:
  explicit Span(std::string name);
  ~Span();
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  std::string name_;
  int64_t start_ = -1;  // -1: profiler was off at construction
};

bool is_enabled();  // a Profiler is recording

}  // namespace tandem::profiler
