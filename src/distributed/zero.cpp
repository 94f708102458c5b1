// ZeroRedundancyOptimizer (tandem/distributed/zero.h).
#include "tandem/distributed/zero.h"

#include "tandem/autograd.h"
#include "tandem/error.h"

namespace tandem::distributed {

ZeroRedundancyOptimizer::ZeroRedundancyOptimizer(std::vector<Tensor> params,
                                                 std::shared_ptr<ProcessGroup> pg, Factory make_inner)
    : Optimizer("ZeroRedundancyOptimizer", {{"lr", 0.0}}), pg_(std::move(pg)), params_(params) {
  TANDEM_CHECK(pg_ != nullptr && make_inner, "ZeroRedundancyOptimizer: needs a process group and "
               "a factory for the inner optimizer");
  int64_t n = 0;
  for (const Tensor& p : params_) {
    TANDEM_CHECK(p.dtype() == kFloat32, "ZeroRedundancyOptimizer: parameters must be float32, got {}",
                 p.dtype());
    offsets_.push_back(n);
    n += p.numel();
  }
  const int64_t r = pg_->size();
  shard_ = (n + r - 1) / r;
  flat_grad_ = zeros({shard_ * r});
  flat_param_ = zeros({shard_ * r});
  shard_grad_ = zeros({shard_});
  {
    NoGradGuard ng;
    for (size_t i = 0; i < params_.size(); ++i)
      flat_param_.narrow(0, offsets_[i], params_[i].numel()).copy_(params_[i].detach().reshape({-1}));
  }
  shard_param_ = flat_param_.narrow(0, pg_->rank() * shard_, shard_).clone();
  shard_param_.requires_grad_(true);
  shard_param_.set_grad(shard_grad_);
  inner_ = make_inner({shard_param_});
  TANDEM_CHECK(inner_ != nullptr, "ZeroRedundancyOptimizer: the factory returned no optimizer");
  init_groups({{.params = params_, .options = {{"lr", inner_->lr()}}}});
}

void ZeroRedundancyOptimizer::validate_options(const std::map<std::string, double>& o) const {
  TANDEM_CHECK(o.at("lr") >= 0, "ZeroRedundancyOptimizer: invalid learning rate {}", o.at("lr"));
}

std::vector<std::string> ZeroRedundancyOptimizer::state_names(const std::map<std::string, double>&) const {
  return {};
}

void ZeroRedundancyOptimizer::step() {
  NoGradGuard ng;
  flat_grad_.zero_();
  for (size_t i = 0; i < params_.size(); ++i)
    if (Tensor g = params_[i].grad(); g.defined())
      flat_grad_.narrow(0, offsets_[i], params_[i].numel()).copy_(g.reshape({-1}));
  pg_->reduce_scatter(shard_grad_, flat_grad_, ReduceOp::kAvg);
  shard_grad_.storage()->bump_version();
  inner_->set_lr(lr());
  inner_->step();
  pg_->all_gather(flat_param_, shard_param_);
  flat_param_.storage()->bump_version();
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].detach();
    p.copy_(flat_param_.narrow(0, offsets_[i], p.numel()).view(p.shape()));
  }
}

int64_t ZeroRedundancyOptimizer::state_bytes() const {
  int64_t bytes = 0;
  if (const ParamState* s = inner_->state(shard_param_))
    for (const auto& [name, t] : s->tensors) bytes += static_cast<int64_t>(t.nbytes());
  return bytes;
}

StateDict ZeroRedundancyOptimizer::state_dict() const {
  StateDict sd = inner_->state_dict();
  sd.metadata["zero_rank"] = std::to_string(pg_->rank());
  sd.metadata["zero_world_size"] = std::to_string(pg_->size());
  return sd;
}

void ZeroRedundancyOptimizer::load_state_dict(const StateDict& sd) {
  auto it = sd.metadata.find("zero_world_size");
  TANDEM_CHECK(it != sd.metadata.end() && it->second == std::to_string(pg_->size()),
               "ZeroRedundancyOptimizer: the state was saved with world size {}, this run has {}; "
               "a sharded optimizer resumes only with the same world size",
               it == sd.metadata.end() ? "?" : it->second, pg_->size());
  StateDict inner = sd;
  inner.metadata.erase("zero_rank");
  inner.metadata.erase("zero_world_size");
  inner_->load_state_dict(inner);
}

}  // namespace tandem::distributed
