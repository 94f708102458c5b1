// Memory planning (a planning-time pass of graph::lower): every arena buffer (an intermediate,
// after in-place sharing) has a live interval [first def, last use] in plan order, where a
// buffer is live while any value or view over it is; graph outputs and update values live to
// the end. The intervals are packed into one arena by plan_arena (greedy by size, best fit),
// and MemoryStats compares the arena with the naive sum and with an estimate of the eager peak.
//
// Leaves alone: graph inputs, variables, constants and graph outputs (not in the arena).
#include <algorithm>
#include <numeric>

#include "../plan_impl.h"

namespace tandem::graph {

namespace {

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

bool overlaps(const BufferLifetime& a, const BufferLifetime& b) {
  return a.first <= b.last && b.first <= a.last;
}

// Most bytes live at one step (sweep over interval ends).
size_t live_peak(const std::vector<BufferLifetime>& buffers, size_t alignment) {
  std::vector<std::pair<int, int64_t>> events;  // (step, +bytes at first / -bytes after last)
  events.reserve(buffers.size() * 2);
  for (const BufferLifetime& b : buffers) {
    int64_t n = static_cast<int64_t>(round_up(b.bytes, alignment));
    events.emplace_back(b.first, n);
    events.emplace_back(b.last + 1, -n);
  }
  // At equal steps, frees (after last) come before allocations.
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (const auto& e : events) {
    live += e.second;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

}  // namespace

ArenaLayout plan_arena(const std::vector<BufferLifetime>& buffers, size_t alignment) {
  TANDEM_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0,
               "plan_arena: alignment must be a power of two, got {}", alignment);
  ArenaLayout out;
  out.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by earlier start, then index (deterministic).
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    size_t sa = round_up(buffers[a].bytes, alignment), sb = round_up(buffers[b].bytes, alignment);
    if (sa != sb) return sa > sb;
    return buffers[a].first < buffers[b].first;
  });
  std::vector<size_t> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of placed buffers overlapping in time
  for (size_t i : order) {
    const BufferLifetime& b = buffers[i];
    size_t size = round_up(b.bytes, alignment);
    busy.clear();
    for (size_t j : placed)
      if (overlaps(b, buffers[j]))
        busy.emplace_back(out.offsets[j], out.offsets[j] + round_up(buffers[j].bytes, alignment));
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo > cursor && lo - cursor >= size && lo - cursor < best_gap) {
        best = cursor;
        best_gap = lo - cursor;
      }
      cursor = std::max(cursor, hi);
    }
    if (best == SIZE_MAX) best = cursor;  // after the highest overlapping buffer
    out.offsets[i] = best;
    out.arena_bytes = std::max(out.arena_bytes, best + size);
    placed.push_back(i);
  }
  out.live_peak_bytes = live_peak(buffers, alignment);
  return out;
}

namespace detail {

void plan_memory(Plan::Impl& p, bool allocate) {
  constexpr size_t kAlign = 64;
  std::vector<int> arena_buffers;
  std::vector<BufferLifetime> lifetimes;
  std::vector<BufferLifetime> eager;  // every intermediate on its own, freed after its last use
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    Buffer& buf = p.buffers[b];
    int root = find(p.buffers, static_cast<int>(b));
    if (buf.from_step && p.buffers[root].where == Where::Arena) {
      eager.push_back({buf.bytes, buf.first, buf.own_last});
      p.stats.naive_bytes += round_up(buf.bytes, kAlign);
    }
    if (buf.alias_of < 0 && buf.where == Where::Arena) {
      arena_buffers.push_back(static_cast<int>(b));
      lifetimes.push_back({buf.bytes, buf.first, buf.last});
    }
  }
  ArenaLayout layout = plan_arena(lifetimes, kAlign);
  p.stats.arena_bytes = layout.arena_bytes;
  p.stats.live_peak_bytes = layout.live_peak_bytes;
  p.stats.eager_peak_bytes = live_peak(eager, kAlign);
  p.stats.num_buffers = static_cast<int>(arena_buffers.size());
  if (!allocate) {
    // NOTE: the reporting passes only read the statistics; allocating the arena there put a
    // second (and third) activation arena on the compile's peak memory.
    p.stats_only = true;
    for (size_t i = 0; i < arena_buffers.size(); ++i) p.buffers[arena_buffers[i]].offset = layout.offsets[i];
    return;
  }
  p.arena = std::make_shared<Storage>(std::max<size_t>(layout.arena_bytes, 1), Device::CPU);
  char* base = static_cast<char*>(p.arena->data());
  for (size_t i = 0; i < arena_buffers.size(); ++i) {
    Buffer& buf = p.buffers[arena_buffers[i]];
    buf.offset = layout.offsets[i];
    // A borrowed slice per buffer: distinct buffers have distinct storages, as in eager mode.
    buf.storage = std::make_shared<Storage>(base + buf.offset, buf.bytes, Device::CPU, std::function<void(void*)>());
  }
}

}  // namespace detail
PassResult run_memory_plan(Graph& g) {
  PassResult r;  // reports only: the graph is unchanged
  if (detail::has_symbolic_inputs(g)) {
    r.counts["symbolic_inputs"] = 1;
    return r;
  }
  LowerOptions stats_only;
  stats_only.allocate = false;
  Plan plan = lower(g, stats_only);
  const MemoryStats& m = plan.memory();
  r.counts["arena_bytes"] = static_cast<int64_t>(m.arena_bytes);
  r.counts["naive_bytes"] = static_cast<int64_t>(m.naive_bytes);
  r.counts["eager_peak_bytes"] = static_cast<int64_t>(m.eager_peak_bytes);
  r.counts["live_peak_bytes"] = static_cast<int64_t>(m.live_peak_bytes);
  r.counts["buffers"] = m.num_buffers;
  r.counts["steps"] = static_cast<int64_t>(plan.num_steps());
  return r;
}

}  // namespace tandem::graph
