// ZeroRedundancyOptimizer: ZeRO stage 1. Optimizer state sharded over the ranks.
//
//   auto pg = distributed::init_mpi_process_group();
//   distributed::broadcast_tensors(*pg, model->parameters());     // same start everywhere
//   distributed::ZeroRedundancyOptimizer opt(model->parameters(), pg, [](std::vector<Tensor> p) {
//     return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-3});
//   });
//   opt.zero_grad();
//   loss.backward();        // local gradients: no DistributedDataParallel around the model
//   opt.step();             // every rank ends with the same parameters
//
// step(): the parameters' gradients are laid out in one flat buffer (padded to a multiple of
// the world size) and reduce-scattered (averaged): rank r receives slice r. The inner
// optimizer (built by the factory over one flat tensor: slice r of the parameters) updates
// that slice, so it holds state for about 1/R of the elements; the slices are then
// all-gathered and copied back into the parameters. Exact for optimizers whose update is
// elementwise (SGD, Adam, AdamW, RMSprop, Adagrad); a parameter without a gradient counts as
// a zero gradient. The learning rate is read from this optimizer's groups on every step
// (schedulers work). float32 parameters only.
//
// Checkpoints do not depend on the world size: consolidate_state_dict() (a collective, on
// every rank) all-gathers the shards, and state_dict() on the target rank then returns the
// state in the inner optimizer's own format over the original parameters ("state.<i>.<name>"
// shaped like parameter i, param_groups over every parameter), exactly what that optimizer
// would save without ZeRO. load_state_dict() takes that format (from any world size, or from
// a run without ZeRO) and keeps this rank's slice; it needs no communication.
//
// Ownership: holds the parameters (shared handles), the group and the inner optimizer.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tandem/distributed/process_group.h"
#include "tandem/optim/optimizer.h"

namespace tandem::distributed {

class ZeroRedundancyOptimizer : public optim::Optimizer {
 public:
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  ZeroRedundancyOptimizer(std::vector<Tensor> params, std::shared_ptr<ProcessGroup> pg,
                          Factory make_inner);
  void step() override;
  // The inner optimizer (over this rank's slice).
  optim::Optimizer& shard_optimizer() { return *inner_; }
  // Bytes of optimizer state this rank holds.
  int64_t state_bytes() const;
  int64_t shard_numel() const { return shard_; }
  // Collective: gathers every shard's state; rank `to` keeps the full state until the next
  // step() (every rank briefly holds it while gathering).
  void consolidate_state_dict(int to = 0);
  // The full state, as the inner optimizer would save it unsharded. On one rank it is built
  // directly; with more, only on the rank given to consolidate_state_dict(), after it and
  // before the next step() (else an Error).
  StateDict state_dict() const override;
  // Every rank loads the full state (as state_dict() returned it) and keeps its slice.
  void load_state_dict(const StateDict& sd) override;

 protected:
  void validate_options(const std::map<std::string, double>& o) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& o) const override;

 private:
  std::shared_ptr<ProcessGroup> pg_;
  std::vector<Tensor> params_;
  std::vector<int64_t> offsets_;
  int64_t shard_ = 0;
  Tensor flat_grad_, flat_param_, shard_grad_, shard_param_;
  std::unique_ptr<optim::Optimizer> inner_;
  std::optional<StateDict> consolidated_;
  StateDict gather_state(int to) const;  // collective; the full state on `to`, empty elsewhere  // on the target rank, until the next step()
};

}  // namespace tandem::distributed
