// Reducer (gradient buckets, hooks, all-reduce) and DistributedDataParallel (tandem/distributed/ddp.h).
#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "tandem/autograd.h"
#include "tandem/autograd_callback.h"
#include "tandem/distributed/ddp.h"
#include "tandem/error.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"

namespace tandem::distributed {

namespace {

// The compiled step's bucket ops refer to their reducer by id (a graph holds no pointers).
std::mutex g_reducers_mu;
std::unordered_map<int64_t, Reducer*>& live_reducers() {
  static std::unordered_map<int64_t, Reducer*> m;
  return m;
}
int64_t g_next_reducer_id = 1;

Reducer& reducer_of_bucket_op(const Attrs& attrs, const char* what) {
  const int64_t id = attrs.get<int64_t>("reducer");
  Reducer* r = Reducer::find(id);
  TANDEM_CHECK(r != nullptr, "{}: the DistributedDataParallel this step was compiled with no "
               "longer exists (compile the step again with the live module)", what);
  return *r;
}

// distributed_bucket_start(g_1, ..., g_k; reducer, bucket) -> flat: the bucket's gradients
// concatenated, with its asynchronous all-reduce issued on that buffer (in place).
void bucket_start_kernel(const KernelArgs& a) {
  Tensor& flat = a.outputs[0];
  auto* dst = static_cast<char*>(flat.data_ptr());
  for (const Tensor& g : a.inputs) {
    TANDEM_CHECK(g.is_contiguous() && g.dtype() == flat.dtype(),
                 "distributed_bucket_start: gradients must be contiguous {}", dtype_name(flat.dtype()));
    // NOTE: raw copies: a kernel must not dispatch ops (the tracer would record them).
    std::memcpy(dst, g.data_ptr(), g.nbytes());
    dst += g.nbytes();
  }
  reducer_of_bucket_op(a.attrs, "distributed_bucket_start")
      .compiled_start(static_cast<size_t>(a.attrs.get<int64_t>("bucket")), flat);
}

std::vector<TensorMeta> infer_bucket_start(const std::vector<TensorMeta>& in, const Attrs&) {
  TANDEM_CHECK(!in.empty(), "distributed_bucket_start: no gradient");
  int64_t n = 0;
  for (const TensorMeta& m : in) n += shape_numel(m.shape);
  TensorMeta out;
  out.shape = {n};
  out.dtype = in[0].dtype;
  return {out};
}

// distributed_bucket_wait(flat; reducer, bucket, sizes, ndims) -> g_1, ..., g_k: waits for the
// bucket's all-reduce and splits the mean into the parameters' shapes (sizes: their dims
// concatenated, ndims: how many dims each has).
void bucket_wait_kernel(const KernelArgs& a) {
  reducer_of_bucket_op(a.attrs, "distributed_bucket_wait")
      .compiled_wait(static_cast<size_t>(a.attrs.get<int64_t>("bucket")));
  const auto* src = static_cast<const char*>(a.inputs[0].data_ptr());
  for (Tensor& o : a.outputs) {
    std::memcpy(o.data_ptr(), src, o.nbytes());
    src += o.nbytes();
  }
}

std::vector<TensorMeta> infer_bucket_wait(const std::vector<TensorMeta>& in, const Attrs& attrs) {
  const auto& sizes = attrs.get<std::vector<int64_t>>("sizes");
  const auto& ndims = attrs.get<std::vector<int64_t>>("ndims");
  std::vector<TensorMeta> out;
  size_t at = 0;
  for (int64_t nd : ndims) {
    TANDEM_CHECK(nd >= 0 && at + static_cast<size_t>(nd) <= sizes.size(),
                 "distributed_bucket_wait: attributes sizes and ndims disagree");
    TensorMeta m;
    m.dtype = in.at(0).dtype;
    m.shape.assign(sizes.begin() + static_cast<std::ptrdiff_t>(at),
                   sizes.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(nd)));
    at += static_cast<size_t>(nd);
    out.push_back(std::move(m));
  }
  return out;
}

const OpDef& bucket_start_op() {
  static std::once_flag once;
  std::call_once(once, [] {
    OpDef def;
    def.name = "distributed_bucket_start";
    def.num_inputs = -1;
    def.infer = infer_bucket_start;
    def.cpu = bucket_start_kernel;
    def.non_differentiable = true;
    def.save_inputs = false;
    def.doc = "Concatenates a DDP bucket's gradients and issues their asynchronous all-reduce "
              "(attributes reducer, bucket); distributed_bucket_wait completes it.";
    register_op(std::move(def));
  });
  return op("distributed_bucket_start");
}

const OpDef& bucket_wait_op() {
  static std::once_flag once;
  std::call_once(once, [] {
    OpDef def;
    def.name = "distributed_bucket_wait";
    def.num_inputs = 1;
    def.infer = infer_bucket_wait;
    def.cpu = bucket_wait_kernel;
    def.non_differentiable = true;
    def.save_inputs = false;
    def.doc = "Waits for a DDP bucket's all-reduce and returns the averaged gradients "
              "(attributes reducer, bucket, sizes, ndims).";
    register_op(std::move(def));
  });
  return op("distributed_bucket_wait");
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
  std::lock_guard<std::mutex> lock(g_reducers_mu);
  id_ = g_next_reducer_id++;
  live_reducers()[id_] = this;
}

Reducer::~Reducer() {
  std::lock_guard<std::mutex> lock(g_reducers_mu);
  live_reducers().erase(id_);
}

Reducer* Reducer::find(int64_t id) {
  std::lock_guard<std::mutex> lock(g_reducers_mu);
  auto it = live_reducers().find(id);
  return it == live_reducers().end() ? nullptr : it->second;
}

Tensor Reducer::on_grad(size_t index, const Tensor& grad) {
  if (graph::is_tracing()) return on_traced_grad(index, grad);
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

Tensor Reducer::on_traced_grad(size_t index, const Tensor& grad) {
  TANDEM_CHECK(sync_, "DistributedDataParallel: no_sync() is not supported inside "
               "tandem::compile (accumulate with eager steps instead)");
  if (pg_->size() == 1) return Tensor();
  if (!in_backward_) {
    in_backward_ = true;
    std::fill(got_.begin(), got_.end(), false);
    traced_grad_.assign(params_.size(), Tensor());
    traced_prev_.assign(params_.size(), Tensor());
    traced_flat_.assign(buckets_.size(), Tensor());
    std::weak_ptr<Reducer> weak = weak_from_this();
    autograd::queue_callback([weak] {
      if (auto self = weak.lock()) self->finalize();
    });
  }
  TANDEM_CHECK(!got_[index], "DistributedDataParallel: parameter '{}' got a second gradient in "
               "one backward pass; call backward once per step", params_[index].first);
  got_[index] = true;
  traced_grad_[index] = grad.contiguous();
  traced_prev_[index] = params_[index].second.grad();
  Bucket& bucket = buckets_[where_[index].first];
  if (++bucket.ready == bucket.params.size()) launch_ready_buckets();
  // The local gradient still accumulates into .grad; finalize replaces that with the mean.
  return Tensor();
}

void Reducer::launch_ready_buckets() {
  // Buckets start in index order on every rank: collectives must be issued in one order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    const size_t bi = next_launch_++;
    Bucket& b = buckets_[bi];
    if (graph::is_tracing()) {
      // Recorded as a graph op; running it (the trace runs every op) issues the all-reduce.
      std::vector<Tensor> grads;
      for (size_t i : b.params) grads.push_back(traced_grad_[i]);
      traced_flat_[bi] = dispatch1(bucket_start_op(), std::move(grads),
                                   {{"reducer", id_}, {"bucket", static_cast<int64_t>(bi)}});
    } else {
      b.work = pg_->all_reduce_async(b.flat, ReduceOp::kAvg);
    }
  }
}

void Reducer::compiled_start(size_t b, const Tensor& flat) {
  TANDEM_CHECK(b < buckets_.size(), "distributed_bucket_start: bucket {} of {}", b, buckets_.size());
  if (b == 0) {
    timing_ = {};
    timing_.first_hook = seconds_since_start();
  }
  buckets_[b].work = pg_->all_reduce_async(flat, ReduceOp::kAvg);
}

void Reducer::compiled_wait(size_t b) {
  TANDEM_CHECK(b < buckets_.size() && buckets_[b].work,
               "distributed_bucket_wait: bucket {} was not started", b);
  // The waits follow the whole backward in the graph: the first one marks its end.
  if (b == 0) timing_.backward_end = seconds_since_start();
  std::shared_ptr<Work> work = std::move(buckets_[b].work);
  buckets_[b].work.reset();
  work->wait();
  if (b == 0) timing_.first_allreduce_start = work->started_at();
  timing_.comm_seconds += work->finished_at() - work->started_at();
  if (b + 1 == buckets_.size()) {
    timing_.all_done = seconds_since_start();
    timing_.wait_seconds = timing_.all_done - timing_.backward_end;
    total_wait_ += timing_.wait_seconds;
    total_comm_ += timing_.comm_seconds;
  }
}

void Reducer::finalize_traced() {
  in_backward_ = false;
  auto reset = [&] {
    for (Bucket& b : buckets_) b.ready = 0;
    next_launch_ = 0;
    traced_grad_.clear();
    traced_prev_.clear();
  };
  std::vector<std::string> missing;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!got_[i]) missing.push_back(params_[i].first);
  if (!missing.empty() && !options_.find_unused_parameters) {
    // The started buckets must still complete on this rank (the others wait for it).
    for (size_t bi = 0; bi < next_launch_; ++bi)
      dispatch(bucket_wait_op(), {traced_flat_[bi]},
               {{"reducer", id_}, {"bucket", static_cast<int64_t>(bi)},
                {"sizes", std::vector<int64_t>{}}, {"ndims", std::vector<int64_t>{}}});
    reset();
    std::string names;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) names += (i ? ", " : "") + missing[i];
    TANDEM_FAIL("DistributedDataParallel: these parameters got no gradient in the compiled "
                "backward pass, so their buckets could not be all-reduced: {}. Make every "
                "parameter contribute to the loss, or pass find_unused_parameters = true", names);
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (got_[i]) continue;
    // Unused here: contributes zero (what it accumulated before this step stays in .grad).
    const Tensor& p = params_[i].second;
    traced_grad_[i] = zeros(p.shape(), {.dtype = p.dtype()});
    traced_prev_[i] = p.grad();
    Bucket& bucket = buckets_[where_[i].first];
    bucket.ready++;
  }
  launch_ready_buckets();
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    const Bucket& b = buckets_[bi];
    std::vector<int64_t> sizes, ndims;
    for (size_t i : b.params) {
      const Shape& s = params_[i].second.shape();
      sizes.insert(sizes.end(), s.begin(), s.end());
      ndims.push_back(static_cast<int64_t>(s.size()));
    }
    std::vector<Tensor> mean = dispatch(bucket_wait_op(), {traced_flat_[bi]},
                                        {{"reducer", id_}, {"bucket", static_cast<int64_t>(bi)},
                                         {"sizes", sizes}, {"ndims", ndims}});
    for (size_t k = 0; k < b.params.size(); ++k) {
      const size_t i = b.params[k];
      const Tensor& prev = traced_prev_[i];
      params_[i].second.set_grad(prev.defined() ? add(prev, mean[k]) : mean[k]);
    }
  }
  traced_flat_.assign(buckets_.size(), Tensor());
  reset();
}

void Reducer::finalize() {
  if (graph::is_tracing()) return finalize_traced();
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
