// Reducer (gradient buckets, hooks, all-reduce) and DistributedDataParallel (tandem/distributed/ddp.h).
#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "tandem/autograd.h"
#include "tandem/autograd_callback.h"
#include "tandem/distributed/ddp.h"
#include "tandem/error.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"

namespace tandem::distributed {

namespace {

// distributed_all_reduce(x; group): the mean of x over the ranks of process group `group`.
// What a compiled training step runs for each gradient.
void all_reduce_kernel(const KernelArgs& a) {
  const Tensor& in = a.inputs[0];
  Tensor& out = a.outputs[0];
  // NOTE: a raw copy, not copy_(): a kernel must not dispatch ops (the tracer would record them).
  std::memcpy(out.data_ptr(), in.contiguous().data_ptr(), out.nbytes());
  const int64_t id = a.attrs.get<int64_t>("group");
  std::shared_ptr<ProcessGroup> pg = ProcessGroup::find(id);
  TANDEM_CHECK(pg != nullptr, "distributed_all_reduce: process group {} no longer exists", id);
  pg->all_reduce(out, ReduceOp::kAvg);
}

const OpDef& all_reduce_op() {
  static std::once_flag once;
  std::call_once(once, [] {
    OpDef def;
    def.name = "distributed_all_reduce";
    def.num_inputs = 1;
    def.infer = infer_same_as_input;
    def.cpu = all_reduce_kernel;
    def.non_differentiable = true;
    def.save_inputs = false;
    def.doc = "Mean of the input over the ranks of a process group (attribute group: its id).";
    register_op(std::move(def));
  });
  return op("distributed_all_reduce");
}

}  // namespace

void broadcast_tensors(ProcessGroup& pg, const std::vector<Tensor>& tensors, int root) {
  if (pg.size() == 1) return;
  std::vector<std::shared_ptr<Work>> works;
  for (const Tensor& t : tensors) works.push_back(pg.broadcast_async(t, root));
  for (auto& w : works) w->wait();
  // The writes went through data pointers: tell caches of packed weights they changed.
  for (const Tensor& t : tensors) t.storage()->bump_version();
}

std::shared_ptr<Reducer> Reducer::make(std::vector<std::pair<std::string, Tensor>> named_params,
                                       std::shared_ptr<ProcessGroup> pg, ReducerOptions options) {
  std::shared_ptr<Reducer> r(new Reducer(std::move(named_params), std::move(pg), options));
  std::weak_ptr<Reducer> weak = r;
  for (size_t i = 0; i < r->params_.size(); ++i)
    r->params_[i].second.register_hook([weak, i](const Tensor& g) {
      if (auto self = weak.lock()) return self->on_grad(i, g);
      return Tensor();
    });
  return r;
}

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> named_params,
                 std::shared_ptr<ProcessGroup> pg, ReducerOptions options)
    : pg_(std::move(pg)), options_(options) {
  TANDEM_CHECK(pg_ != nullptr, "Reducer: no process group");
  TANDEM_CHECK(options.bucket_cap_mb > 0 && options.first_bucket_cap_mb > 0,
               "Reducer: bucket caps must be positive (got {} MB and {} MB)",
               options.first_bucket_cap_mb, options.bucket_cap_mb);
  for (auto& [name, p] : named_params)
    if (p.requires_grad()) {
      TANDEM_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64,
                   "DistributedDataParallel: parameter '{}' has dtype {}; float32 and float64 are "
                   "supported", name, p.dtype());
      params_.emplace_back(name, p);
    }
  TANDEM_CHECK(!params_.empty(), "DistributedDataParallel: the module has no parameter that "
               "requires grad");
  // Buckets in reverse registration order: backward produces the last layers' gradients
  // first, so the first bucket fills early and its all-reduce overlaps the rest.
  where_.resize(params_.size());
  Bucket cur;
  int64_t cur_bytes = 0;
  DType cur_dtype = params_.back().second.dtype();
  auto close = [&] {
    if (cur.params.empty()) return;
    int64_t n = 0;
    for (size_t i : cur.params) n += params_[i].second.numel();
    cur.flat = zeros({n}, {.dtype = cur_dtype});
    buckets_.push_back(std::move(cur));
    cur = Bucket();
    cur_bytes = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k].second;
    const double cap = (buckets_.empty() ? options.first_bucket_cap_mb : options.bucket_cap_mb) * 1024 * 1024;
    if (!cur.params.empty() && (p.dtype() != cur_dtype || cur_bytes + static_cast<int64_t>(p.nbytes()) > cap))
      close();
    cur_dtype = p.dtype();
    int64_t off = 0;
    for (size_t i : cur.params) off += params_[i].second.numel();
    where_[k] = {buckets_.size(), cur.params.size()};
    cur.params.push_back(k);
    cur.offsets.push_back(off);
    cur_bytes += static_cast<int64_t>(p.nbytes());
  }
  close();
  got_.assign(params_.size(), false);
}

Tensor Reducer::on_grad(size_t index, const Tensor& grad) {
  if (graph::is_tracing()) {
    TANDEM_CHECK(sync_, "DistributedDataParallel: no_sync() is not supported inside "
                 "tandem::compile (accumulate with eager steps instead)");
    if (pg_->size() == 1) return Tensor();
    return dispatch1(all_reduce_op(), {grad.contiguous()}, {{"group", pg_->id()}});
  }
  if (!sync_) return Tensor();
  if (!in_backward_) {
    in_backward_ = true;
    timing_ = {};
    timing_.first_hook = seconds_since_start();
    std::fill(got_.begin(), got_.end(), false);
    std::weak_ptr<Reducer> weak = weak_from_this();
    autograd::queue_callback([weak] {
      if (auto self = weak.lock()) self->finalize();
    });
  }
  TANDEM_CHECK(!got_[index], "DistributedDataParallel: parameter '{}' got a second gradient in "
               "one backward pass; call backward once per step (or use no_sync)",
               params_[index].first);
  got_[index] = true;
  auto [b, pos] = where_[index];
  Bucket& bucket = buckets_[b];
  const Tensor& p = params_[index].second;
  Tensor slot = bucket.flat.narrow(0, bucket.offsets[pos], p.numel()).view(p.shape());
  slot.copy_(grad);
  // .grad after this pass = what it held (no_sync steps) + this gradient.
  if (Tensor cur = p.grad(); cur.defined()) slot.add_(cur);
  if (++bucket.ready == bucket.params.size()) launch_ready_buckets();
  return Tensor();
}

void Reducer::launch_ready_buckets() {
  // Buckets start in index order on every rank: collectives must be issued in one order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    Bucket& b = buckets_[next_launch_++];
    b.work = pg_->all_reduce_async(b.flat, ReduceOp::kAvg);
  }
}

void Reducer::finalize() {
  in_backward_ = false;
  timing_.backward_end = seconds_since_start();
  std::vector<std::string> missing;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!got_[i]) missing.push_back(params_[i].first);
  auto reset = [&] {
    for (Bucket& b : buckets_) {
      b.ready = 0;
      b.work.reset();
    }
    next_launch_ = 0;
  };
  if (!missing.empty()) {
    if (!options_.find_unused_parameters) {
      for (Bucket& b : buckets_)
        if (b.work) b.work->wait();
      reset();
      std::string names;
      for (size_t i = 0; i < missing.size() && i < 20; ++i) names += (i ? ", " : "") + missing[i];
      if (missing.size() > 20) names += fmt::format(", ... ({} in all)", missing.size());
      TANDEM_FAIL("DistributedDataParallel: these parameters got no gradient in this backward "
                  "pass, so their buckets could not be all-reduced: {}. Make every parameter "
                  "contribute to the loss, or pass find_unused_parameters = true", names);
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      if (got_[i]) continue;
      auto [b, pos] = where_[i];
      Bucket& bucket = buckets_[b];
      Tensor slot = bucket.flat.narrow(0, bucket.offsets[pos], params_[i].second.numel());
      // A parameter this rank did not use contributes what it has accumulated (no_sync) or zero.
      if (Tensor cur = params_[i].second.grad(); cur.defined()) slot.copy_(cur.reshape({-1}));
      else slot.zero_();
      bucket.ready++;
    }
    launch_ready_buckets();
  }
  try {
    for (Bucket& b : buckets_) b.work->wait();
  } catch (...) {
    reset();
    throw;
  }
  timing_.all_done = seconds_since_start();
  timing_.first_allreduce_start = buckets_.front().work->started_at();
  timing_.wait_seconds = timing_.all_done - timing_.backward_end;
  for (Bucket& b : buckets_) timing_.comm_seconds += b.work->finished_at() - b.work->started_at();
  total_wait_ += timing_.wait_seconds;
  total_comm_ += timing_.comm_seconds;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto [b, pos] = where_[i];
    const Tensor& p = params_[i].second;
    Tensor slot = buckets_[b].flat.narrow(0, buckets_[b].offsets[pos], p.numel()).view(p.shape());
    if (Tensor cur = p.grad(); cur.defined()) cur.copy_(slot);
    else p.set_grad(slot.clone());
  }
  reset();
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 std::shared_ptr<ProcessGroup> pg, DDPOptions options)
    : Module("DistributedDataParallel"), module_(std::move(module)), pg_(std::move(pg)), options_(options) {
  TANDEM_CHECK(module_ != nullptr, "DistributedDataParallel: no module");
  register_module("module", module_);
  std::vector<Tensor> state;
  for (auto& [n, p] : module_->named_parameters()) state.push_back(p);
  for (auto& [n, b] : module_->named_buffers()) state.push_back(b);
  {
    NoGradGuard ng;
    broadcast_tensors(*pg_, state);
  }
  reducer_ = Reducer::make(module_->named_parameters(), pg_,
                           {.bucket_cap_mb = options.bucket_cap_mb,
                            .first_bucket_cap_mb = options.first_bucket_cap_mb,
                            .find_unused_parameters = options.find_unused_parameters});
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  if (options_.broadcast_buffers && is_training() && pg_->size() > 1 && !graph::is_tracing()) {
    std::vector<Tensor> bufs;
    for (auto& [n, b] : module_->named_buffers()) bufs.push_back(b);
    if (!bufs.empty()) broadcast_tensors(*pg_, bufs);
  }
  return (*module_)(x);
}

}  // namespace tandem::distributed
