// Profiler: a process-wide session that Spans, and dispatch through the op observer
// (src/ops/observer.h), record into.
#include "tandem/summary/profiler.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "../ops/observer.h"
#include "tandem/io/atomic_file.h"
#include "tandem/error.h"
#include "tandem/memory.h"

namespace tandem::profiler {
namespace detail {

std::atomic<bool> g_enabled{false};

namespace {
std::mutex g_mu;                 // guards g_active and its events
Profiler* g_active = nullptr;    // the recording Profiler
int64_t g_origin_ns = 0;         // its start()

uint64_t this_tid() {
  thread_local uint64_t tid = static_cast<uint64_t>(::syscall(SYS_gettid));
  return tid;
}
}  // namespace

// The op observer's clock, so that ops and Spans share one time line.
int64_t now_ns() { return tandem::detail::op_clock_ns(); }

}  // namespace detail

// Appends to the active profiler; friend of Profiler.
struct Session {
  static void add(Event&& ev, int64_t start_abs) {
    std::lock_guard<std::mutex> g(detail::g_mu);
    if (!detail::g_active) return;  // stopped while the op ran
    ev.start_ns = start_abs - detail::g_origin_ns;
    if (!detail::g_active->options_.record_shapes) ev.input_shapes.clear();
    detail::g_active->events_.push_back(std::move(ev));
  }
};

namespace detail {

void record_op(const OpDef& def, const std::vector<Tensor>& inputs,
               const std::vector<Tensor>* outs, int64_t start_ns, bool inplace) {
  try {
    int64_t end = now_ns();
    Event ev;
    ev.name = inplace ? def.name + "_" : def.name;
    ev.tid = this_tid();
    ev.dur_ns = end - start_ns;
    ev.input_shapes.reserve(inputs.size());
    for (const Tensor& t : inputs) ev.input_shapes.push_back(t.defined() ? t.shape() : Shape{});
    if (outs && !def.view)
      for (const Tensor& t : *outs)
        if (t.defined()) ev.bytes += static_cast<int64_t>(t.nbytes());
    MemoryStats m = memory_stats();
    ev.allocated_bytes = m.allocated_bytes;
    ev.reserved_bytes = m.reserved_bytes;
    Session::add(std::move(ev), start_ns);
  } catch (...) {
    // NOTE: runs in a destructor, possibly during unwinding: never throw from here.
  }
}

}  // namespace detail

bool is_enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }

Profiler::Profiler(ProfilerOptions options) : options_(options) {}

Profiler::~Profiler() {
  if (running_) stop();
}

void Profiler::start() {
  std::lock_guard<std::mutex> g(detail::g_mu);
  TANDEM_CHECK(detail::g_active == nullptr || detail::g_active == this,
               "profiler: another Profiler is already recording; stop() it first (one records "
               "at a time)");
  events_.clear();
  detail::g_active = this;
  detail::g_origin_ns = detail::now_ns();
  running_ = true;
  detail::g_enabled.store(true, std::memory_order_release);
  tandem::detail::set_op_observer(&detail::record_op);
}

void Profiler::stop() {
  std::lock_guard<std::mutex> g(detail::g_mu);
  if (detail::g_active != this) return;
  detail::g_enabled.store(false, std::memory_order_release);
  tandem::detail::set_op_observer(nullptr);
  detail::g_active = nullptr;
  running_ = false;
}

Span::Span(std::string name) : name_(std::move(name)) {
  if (detail::g_enabled.load(std::memory_order_relaxed)) start_ = detail::now_ns();
}

Span::~Span() {
  if (start_ < 0) return;
  try {
    Event ev;
    ev.name = std::move(name_);
    ev.user = true;
    ev.tid = detail::this_tid();
    ev.dur_ns = detail::now_ns() - start_;
    Session::add(std::move(ev), start_);
  } catch (...) {
  }
}

std::vector<Stat> Profiler::stats() const {
  // Self time: per thread, walk events by start time with a stack of enclosing spans and
  // subtract each event's duration from its direct parent.
  std::vector<int64_t> self(events_.size());
  std::map<uint64_t, std::vector<size_t>> by_thread;
  for (size_t i = 0; i < events_.size(); ++i) {
    self[i] = events_[i].dur_ns;
    by_thread[events_[i].tid].push_back(i);
  }
  for (auto& [tid, idx] : by_thread) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      const Event &x = events_[a], &y = events_[b];
      return x.start_ns != y.start_ns ? x.start_ns < y.start_ns : x.dur_ns > y.dur_ns;
    });
    std::vector<size_t> stack;
    for (size_t i : idx) {
      const Event& e = events_[i];
      while (!stack.empty()) {
        const Event& top = events_[stack.back()];
        if (top.start_ns + top.dur_ns > e.start_ns) break;
        stack.pop_back();
      }
      if (!stack.empty()) self[stack.back()] -= e.dur_ns;
      stack.push_back(i);
    }
  }
  std::map<std::string, Stat> agg;
  for (size_t i = 0; i < events_.size(); ++i) {
    Stat& s = agg[events_[i].name];
    s.name = events_[i].name;
    s.calls += 1;
    s.total_ns += events_[i].dur_ns;
    s.self_ns += std::max<int64_t>(0, self[i]);
    s.bytes += events_[i].bytes;
  }
  std::vector<Stat> out;
  for (auto& [name, s] : agg) out.push_back(std::move(s));
  std::stable_sort(out.begin(), out.end(),
                   [](const Stat& a, const Stat& b) { return a.total_ns > b.total_ns; });
  return out;
}

namespace {
std::string fmt_time(int64_t ns) {
  if (ns >= 1'000'000'000) return fmt::format("{:.3f}s", ns * 1e-9);
  if (ns >= 1'000'000) return fmt::format("{:.3f}ms", ns * 1e-6);
  return fmt::format("{:.3f}us", ns * 1e-3);
}
std::string fmt_bytes(int64_t b) {
  if (b >= (1 << 30)) return fmt::format("{:.2f} GB", b / double(1 << 30));
  if (b >= (1 << 20)) return fmt::format("{:.2f} MB", b / double(1 << 20));
  if (b >= (1 << 10)) return fmt::format("{:.2f} KB", b / double(1 << 10));
  return fmt::format("{} B", b);
}
}  // namespace

std::string Profiler::key_averages(size_t top_n) const {
  std::vector<Stat> stats = this->stats();
  int64_t all_self = 0;
  for (const Stat& s : stats) all_self += s.self_ns;
  size_t width = 4;
  for (size_t i = 0; i < std::min(top_n, stats.size()); ++i)
    width = std::max(width, std::min<size_t>(stats[i].name.size(), 40));
  std::string out = fmt::format("{:<{}}  {:>8}  {:>12}  {:>7}  {:>12}  {:>12}  {:>10}\n", "Name",
                                width, "Calls", "Self", "Self %", "Total", "Avg", "Alloc");
  out += std::string(out.size() - 1, '-') + "\n";
  for (size_t i = 0; i < std::min(top_n, stats.size()); ++i) {
    const Stat& s = stats[i];
    std::string name = s.name.size() > 40 ? s.name.substr(0, 37) + "..." : s.name;
    out += fmt::format("{:<{}}  {:>8}  {:>12}  {:>6.2f}%  {:>12}  {:>12}  {:>10}\n", name, width,
                       s.calls, fmt_time(s.self_ns),
                       all_self ? 100.0 * s.self_ns / all_self : 0.0, fmt_time(s.total_ns),
                       fmt_time(s.total_ns / std::max<int64_t>(1, s.calls)), fmt_bytes(s.bytes));
  }
  out += fmt::format("Self time total: {} over {} events\n", fmt_time(all_self), events_.size());
  return out;
}

std::string Profiler::chrome_trace_json() const {
  using nlohmann::json;
  json events = json::array();
  int64_t pid = ::getpid();
  for (const Event& e : events_) {
    json args = json::object();
    if (!e.user) {
      json shapes = json::array();
      for (const Shape& s : e.input_shapes) shapes.push_back(s);
      args["input_shapes"] = std::move(shapes);
      args["bytes"] = e.bytes;
    }
    events.push_back({{"name", e.name},
                      {"cat", e.user ? "user_annotation" : "op"},
                      {"ph", "X"},
                      {"ts", e.start_ns / 1000.0},
                      {"dur", e.dur_ns / 1000.0},
                      {"pid", pid},
                      {"tid", e.tid},
                      {"args", std::move(args)}});
    // A counter track (Perfetto and chrome://tracing draw it as a graph under the process).
    if (e.allocated_bytes >= 0)
      events.push_back({{"name", "memory"},
                        {"ph", "C"},
                        {"ts", (e.start_ns + e.dur_ns) / 1000.0},
                        {"pid", pid},
                        {"args", {{"allocated MB", e.allocated_bytes / 1048576.0},
                                  {"reserved MB", e.reserved_bytes / 1048576.0}}}});
  }
  json trace = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
  return trace.dump();
}

void Profiler::write_chrome_trace(const std::string& path) const {
  // Atomic: a trace viewer (or a killed run) never sees half a file.
  std::string text = chrome_trace_json();
  io::write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

}  // namespace tandem::profiler
