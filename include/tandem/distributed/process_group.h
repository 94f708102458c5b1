// Process groups: collectives over the tensors of every process of a job (torch.distributed).
//
//   auto pg = distributed::init_mpi_process_group({.timeout = std::chrono::seconds(60)});
//   Tensor g = ...;                                     // same shape on every rank
//   pg->all_reduce(g, distributed::ReduceOp::kAvg);     // g = mean over the ranks, in place
//   auto work = pg->all_reduce_async(g);                // returns at once
//   ...                                                 // compute while it runs
//   work->wait();                                       // Error on failure or timeout
//
// ProcessGroup is the interface DistributedDataParallel, ZeRO and the Trainer use; a backend
// (MPI today: tandem/distributed/mpi.h; NCCL could follow) implements the asynchronous
// collectives. Every rank must issue the same collectives in the same order.
//
// Tensors: contiguous CPU float32, float64 or int64; a collective writes into them in place
// (they must stay alive and untouched until its Work completes: the Work holds a handle).
//
// Never hang: every collective has a deadline (options.timeout after it was issued). A rank
// that died or stalls makes the others' wait() throw tandem::Error naming that rank; after
// such an error the group is broken (every later collective fails at once) and the process
// should exit non-zero (abort() ends the whole job).
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "tandem/tensor.h"

namespace tandem::distributed {

enum class ReduceOp { kSum, kAvg, kMax };

// One collective in flight. Filled in by the backend's communication thread.
// Thread-safe: any thread may wait(); the backend calls mark_started() and finish().
class Work {
 public:
  explicit Work(std::string what) : what_(std::move(what)) {}
  // Blocks until the collective completes; throws tandem::Error when it failed.
  void wait();
  bool is_completed() const;
  // Seconds on the steady clock (seconds_since_start()) when the communication thread
  // issued the collective and when it saw it complete (0 until then).
  double started_at() const;
  double finished_at() const;
  const std::string& what() const { return what_; }

  // Backend side.
  void mark_started();
  void finish(std::string error = {});

 private:
  std::string what_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
  double started_ = 0, finished_ = 0;
};

// Seconds on the steady clock since the process started using tandem::distributed (the
// time base of Work timestamps).
double seconds_since_start();

struct ProcessGroupOptions {
  // Deadline of every collective, from the moment it is issued.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// Totals since the group was made (for reports: the all-reduce time share).
struct CommStats {
  int64_t collectives = 0;
  int64_t bytes = 0;           // payload bytes handed to collectives on this rank
  double busy_seconds = 0;     // wall time during which at least one collective was in flight
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes on this host (for picking a device or a thread set).
  virtual int local_rank() const = 0;
  virtual std::string backend() const = 0;

  // In place on `t`.
  virtual std::shared_ptr<Work> all_reduce_async(Tensor t, ReduceOp op = ReduceOp::kSum) = 0;
  // `t` on every rank becomes root's `t`.
  virtual std::shared_ptr<Work> broadcast_async(Tensor t, int root = 0) = 0;
  // out (numel = size() * in.numel()) = every rank's `in`, concatenated in rank order.
  virtual std::shared_ptr<Work> all_gather_async(Tensor out, Tensor in) = 0;
  // out (numel = in.numel() / size()) = the reduction of slice rank() of every rank's `in`.
  virtual std::shared_ptr<Work> reduce_scatter_async(Tensor out, Tensor in,
                                                     ReduceOp op = ReduceOp::kSum) = 0;
  virtual std::shared_ptr<Work> barrier_async() = 0;
  virtual CommStats stats() const = 0;
  // The deadline of collectives issued from now on.
  virtual void set_timeout(std::chrono::milliseconds timeout) = 0;
  // Ends every process of the job with `code` (after an unrecoverable error).
  [[noreturn]] virtual void abort(int code) = 0;

  // Blocking forms: issue, then wait().
  void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::kSum) { all_reduce_async(t, op)->wait(); }
  void broadcast(const Tensor& t, int root = 0) { broadcast_async(t, root)->wait(); }
  void all_gather(const Tensor& out, const Tensor& in) { all_gather_async(out, in)->wait(); }
  void reduce_scatter(const Tensor& out, const Tensor& in, ReduceOp op = ReduceOp::kSum) {
    reduce_scatter_async(out, in, op)->wait();
  }
  void barrier() { barrier_async()->wait(); }

  // A number naming this group in the process (graph ops refer to the group by it).
  int64_t id() const { return id_; }
  // The live group with this id, or nullptr.
  static std::shared_ptr<ProcessGroup> find(int64_t id);

 protected:
  ProcessGroup();
  // Backends call this once the group is usable, so that find() sees it.
  static void add_to_registry(const std::shared_ptr<ProcessGroup>& pg);

 private:
  int64_t id_;
};

// The checks every backend applies to a collective's tensor (`what` names the collective).
void check_collective_tensor(const Tensor& t, const char* what);

}  // namespace tandem::distributed
