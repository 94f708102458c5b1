// DistributedDataParallel: data-parallel training with PyTorch DDP's semantics.
//
//   auto pg = distributed::init_mpi_process_group();
//   auto ddp = std::make_shared<distributed::DistributedDataParallel>(model, pg);
//   optim::SGD opt(ddp->parameters(), {.lr = 0.1});
//   for (auto& b : loader) {                     // each rank reads its own slice
//     opt.zero_grad();
//     cross_entropy((*ddp)(b.data), b.target).backward();   // grads all-reduced (averaged)
//     opt.step();                                // every rank takes the same step
//   }
//   { auto guard = ddp->no_sync(); loss1.backward(); }      // accumulate locally
//   loss2.backward();                                       // all-reduces the sum
//
// Reducer (the only object that knows buckets): parameters are grouped into buckets in
// reverse registration order (roughly the order backward produces their gradients): the
// first holds up to first_bucket_cap_mb (1 MB), the others up to bucket_cap_mb (25 MB). A
// hook on each parameter copies its gradient into the bucket's flat buffer; a full bucket
// is all-reduced at once by the process group's communication thread (buckets start in
// index order on every rank), overlapping the rest of backward. At the end of backward()
// the reducer waits for every bucket and writes the averaged gradients into .grad. A
// parameter that got no gradient is an Error naming it, unless find_unused_parameters (its
// share is then zero).
//
// Graph mode: when tandem::compile traces a training step, the same buckets become graph
// ops. When the traced backward has produced a bucket's last gradient, a
// `distributed_bucket_start` op copies the bucket's gradients into its flat buffer and issues
// the asynchronous all-reduce (buckets again start in index order); the rest of the backward
// runs while it is in flight. At the end of backward one `distributed_bucket_wait` op per
// bucket waits for it and hands back the averaged gradients, which become .grad, so the
// optimizer update in the graph reads them. The compiled step keeps the trace's op order, so
// every run overlaps the same way (last_timing() covers compiled runs too). no_sync is not
// available while tracing.
//
// Ownership: DistributedDataParallel holds the module (as submodule "module": state_dict
// keys gain the "module." prefix, as in PyTorch) and the reducer; the reducer holds the
// parameters and the process group, and its hooks hold it weakly.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tandem/distributed/process_group.h"
#include "tandem/nn/module.h"

namespace tandem::distributed {

struct ReducerOptions {
  double bucket_cap_mb = 25.0;
  double first_bucket_cap_mb = 1.0;
  bool find_unused_parameters = false;
};

// Timestamps of the last synchronized backward (seconds_since_start()).
struct ReducerTiming {
  double first_hook = 0;          // first gradient reached the reducer
  double first_allreduce_start = 0;  // the communication thread issued the first bucket
  double backward_end = 0;        // the engine finished (before the reducer waited)
  double all_done = 0;            // every bucket reduced and written back
  double wait_seconds = 0;        // all_done - backward_end: communication not hidden
  double comm_seconds = 0;        // sum over buckets of (finished - started)
};

class Reducer : public std::enable_shared_from_this<Reducer> {
 public:
  struct Bucket {
    std::vector<size_t> params;   // indices into the reducer's parameters
    std::vector<int64_t> offsets; // element offset of each in `flat`
    Tensor flat;
    size_t ready = 0;
    std::shared_ptr<Work> work;
  };

  // Makes the reducer and registers its hooks (use make()).
  static std::shared_ptr<Reducer> make(std::vector<std::pair<std::string, Tensor>> named_params,
                                       std::shared_ptr<ProcessGroup> pg, ReducerOptions options = {});

  // Gradient synchronization on (default) or off (no_sync: gradients accumulate locally).
  void set_sync(bool on) { sync_ = on; }
  bool sync() const { return sync_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  const std::vector<std::pair<std::string, Tensor>>& named_parameters() const { return params_; }
  const ReducerTiming& last_timing() const { return timing_; }
  // Sum over steps of wait_seconds and comm_seconds (for the all-reduce time share).
  double total_wait_seconds() const { return total_wait_; }
  double total_comm_seconds() const { return total_comm_; }
  ProcessGroup& process_group() const { return *pg_; }

  // Internal: called by the hooks and at the end of backward.
  Tensor on_grad(size_t index, const Tensor& grad);
  void finalize();
  // Internal: the kernels of the compiled step's bucket ops. start issues bucket b's
  // all-reduce on `flat` (already filled); wait waits for it (flat then holds the mean).
  void compiled_start(size_t b, const Tensor& flat);
  void compiled_wait(size_t b);
  // The live reducer with this id (the bucket ops refer to their reducer by it), or nullptr.
  static Reducer* find(int64_t id);
  ~Reducer();

 private:
  Reducer(std::vector<std::pair<std::string, Tensor>> named_params,
          std::shared_ptr<ProcessGroup> pg, ReducerOptions options);
  void launch_ready_buckets();
  Tensor on_traced_grad(size_t index, const Tensor& grad);
  void finalize_traced();

  std::vector<std::pair<std::string, Tensor>> params_;
  std::shared_ptr<ProcessGroup> pg_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, position)
  std::vector<bool> got_;
  size_t next_launch_ = 0;
  bool sync_ = true;
  bool in_backward_ = false;
  ReducerTiming timing_;
  double total_wait_ = 0, total_comm_ = 0;
  int64_t id_ = 0;
  // While tracing: each parameter's traced gradient and its .grad before this backward, and
  // each started bucket's flat buffer (the start op's output).
  std::vector<Tensor> traced_grad_, traced_prev_, traced_flat_;
};

// Copies rank 0's values of `tensors` into every rank's (in place).
void broadcast_tensors(ProcessGroup& pg, const std::vector<Tensor>& tensors, int root = 0);

struct DDPOptions {
  double bucket_cap_mb = 25.0;
  double first_bucket_cap_mb = 1.0;
  bool find_unused_parameters = false;
  // Rank 0's buffers (BatchNorm running statistics) are copied to every rank before each
  // forward in training mode, as PyTorch does by default.
  bool broadcast_buffers = true;
};

class DistributedDataParallel : public nn::Module {
 public:
  // Broadcasts the module's parameters and buffers from rank 0, then attaches the reducer.
  DistributedDataParallel(std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> pg,
                          DDPOptions options = {});
  Tensor forward(const Tensor& x) override;

  // While the guard lives, backward() accumulates gradients locally (no communication);
  // the first backward after it all-reduces the accumulated sum.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(Reducer& r) : r_(r), prev_(r.sync()) { r_.set_sync(false); }
    ~NoSyncGuard() { r_.set_sync(prev_); }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    Reducer& r_;
    bool prev_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*reducer_); }

  nn::Module& module() { return *module_; }
  Reducer& reducer() { return *reducer_; }
  ProcessGroup& process_group() { return *pg_; }

 private:
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<ProcessGroup> pg_;
  std::shared_ptr<Reducer> reducer_;
  DDPOptions options_;
};

}  // namespace tandem::distributed
