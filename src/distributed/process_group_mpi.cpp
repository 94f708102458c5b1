// ProcessGroup over MPI: one communication thread owns every MPI call (tandem/distributed/mpi.h).
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tandem/distributed/mpi.h"
#include "tandem/error.h"

namespace tandem::distributed {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTagQuery = 7001;  // "which collective are you at?"
constexpr int kTagReply = 7002;  // the number of collectives the answering rank has issued

enum class Kind { kAllReduce, kBroadcast, kAllGather, kReduceScatter, kBarrier, kAbort };

struct Op {
  Kind kind;
  Tensor a, b;  // all_reduce/broadcast: a; all_gather/reduce_scatter: a = out, b = in
  ReduceOp red = ReduceOp::kSum;
  int root = 0;
  std::shared_ptr<Work> work;
  int64_t seq = 0;
  MPI_Request req = MPI_REQUEST_NULL;
  Clock::time_point deadline;
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kAllReduce: return "all_reduce";
    case Kind::kBroadcast: return "broadcast";
    case Kind::kAllGather: return "all_gather";
    case Kind::kReduceScatter: return "reduce_scatter";
    case Kind::kBarrier: return "barrier";
    case Kind::kAbort: return "abort";
  }
  return "?";
}

MPI_Datatype mpi_type(DType d) {
  if (d == kFloat32) return MPI_FLOAT;
  if (d == kFloat64) return MPI_DOUBLE;
  return MPI_INT64_T;
}

MPI_Op mpi_op(ReduceOp r) { return r == ReduceOp::kMax ? MPI_MAX : MPI_SUM; }

std::string mpi_error(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  return std::string(buf, static_cast<size_t>(len));
}

int count_of(const Tensor& t, const char* what) {
  TANDEM_CHECK(t.numel() <= INT_MAX, "{}: {} elements is more than one MPI call takes ({})", what,
               t.numel(), INT_MAX);
  return static_cast<int>(t.numel());
}

void scale(const Tensor& t, double by) {
  if (t.dtype() == kFloat32) {
    float* p = t.data<float>();
    const float f = static_cast<float>(by);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= f;
  } else {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= by;
  }
}

class MpiProcessGroup final : public ProcessGroup {
 public:
  explicit MpiProcessGroup(ProcessGroupOptions options) : timeout_ms_(options.timeout.count()) {
    thread_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_; });
    if (!init_error_.empty()) {
      lock.unlock();
      thread_.join();
      throw Error(init_error_);
    }
  }

  ~MpiProcessGroup() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  std::shared_ptr<Work> all_reduce_async(Tensor t, ReduceOp op) override {
    check_collective_tensor(t, "all_reduce");
    TANDEM_CHECK(op != ReduceOp::kAvg || t.is_floating_point(),
                 "all_reduce: ReduceOp::kAvg needs a floating-point tensor, got {}", t.dtype());
    count_of(t, "all_reduce");
    return enqueue({.kind = Kind::kAllReduce, .a = std::move(t), .red = op});
  }
  std::shared_ptr<Work> broadcast_async(Tensor t, int root) override {
    check_collective_tensor(t, "broadcast");
    TANDEM_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank (world size {})",
                 root, size_);
    count_of(t, "broadcast");
    return enqueue({.kind = Kind::kBroadcast, .a = std::move(t), .root = root});
  }
  std::shared_ptr<Work> all_gather_async(Tensor out, Tensor in) override {
    check_collective_tensor(out, "all_gather");
    check_collective_tensor(in, "all_gather");
    TANDEM_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * size_,
                 "all_gather: out must have {} x {} elements of {} (got {} of {})", size_,
                 in.numel(), in.dtype(), out.numel(), out.dtype());
    count_of(out, "all_gather");
    return enqueue({.kind = Kind::kAllGather, .a = std::move(out), .b = std::move(in)});
  }
  std::shared_ptr<Work> reduce_scatter_async(Tensor out, Tensor in, ReduceOp op) override {
    check_collective_tensor(out, "reduce_scatter");
    check_collective_tensor(in, "reduce_scatter");
    TANDEM_CHECK(out.dtype() == in.dtype() && out.numel() * size_ == in.numel(),
                 "reduce_scatter: in must have {} x {} elements of {} (got {} of {})", size_,
                 out.numel(), out.dtype(), in.numel(), in.dtype());
    TANDEM_CHECK(op != ReduceOp::kAvg || out.is_floating_point(),
                 "reduce_scatter: ReduceOp::kAvg needs a floating-point tensor");
    count_of(in, "reduce_scatter");
    return enqueue({.kind = Kind::kReduceScatter, .a = std::move(out), .b = std::move(in), .red = op});
  }
  std::shared_ptr<Work> barrier_async() override { return enqueue({.kind = Kind::kBarrier}); }

  CommStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

  void set_timeout(std::chrono::milliseconds timeout) override {
    TANDEM_CHECK(timeout.count() > 0, "set_timeout: the timeout must be positive");
    timeout_ms_ = timeout.count();
  }

  [[noreturn]] void abort(int code) override {
    abort_code_ = code;
    enqueue({.kind = Kind::kAbort});
    // MPI_Abort, issued by the communication thread, ends this process; should MPI not
    // manage it, leave anyway.
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::_Exit(code);
  }

  void set_self(const std::shared_ptr<ProcessGroup>& self) { add_to_registry(self); }

 private:
  std::shared_ptr<Work> enqueue(Op op) {
    std::string what = kind_name(op.kind);
    op.work = std::make_shared<Work>(what);
    std::shared_ptr<Work> w = op.work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!broken_.empty() && op.kind != Kind::kAbort) {
        w->finish(fmt::format("{} on rank {}: the process group failed earlier: {}", what, rank_,
                              broken_));
        return w;
      }
      {
        std::lock_guard<std::mutex> slock(stats_mu_);
        stats_.collectives++;
        stats_.bytes += static_cast<int64_t>(op.kind == Kind::kAllGather ? op.b.nbytes()
                                             : op.a.defined()            ? op.a.nbytes()
                                                                         : 0);
      }
      queue_.push_back(std::move(op));
    }
    cv_.notify_all();
    return w;
  }

  std::string describe(const Op& op) const {
    const Tensor& t = op.kind == Kind::kReduceScatter ? op.b : op.a;
    if (!t.defined()) return fmt::format("{} #{}", kind_name(op.kind), op.seq);
    return fmt::format("{} #{} ({} x {})", kind_name(op.kind), op.seq, t.numel(), t.dtype());
  }

  int issue(Op& op) {
    op.seq = issued_++;
    op.deadline = Clock::now() + timeout();
    op.work->mark_started();
    switch (op.kind) {
      case Kind::kAllReduce:
        return MPI_Iallreduce(MPI_IN_PLACE, op.a.data_ptr(), static_cast<int>(op.a.numel()),
                              mpi_type(op.a.dtype()), mpi_op(op.red), comm_, &op.req);
      case Kind::kBroadcast:
        return MPI_Ibcast(op.a.data_ptr(), static_cast<int>(op.a.numel()), mpi_type(op.a.dtype()),
                          op.root, comm_, &op.req);
      case Kind::kAllGather:
        return MPI_Iallgather(op.b.data_ptr(), static_cast<int>(op.b.numel()),
                              mpi_type(op.b.dtype()), op.a.data_ptr(),
                              static_cast<int>(op.b.numel()), mpi_type(op.b.dtype()), comm_, &op.req);
      case Kind::kReduceScatter:
        return MPI_Ireduce_scatter_block(op.b.data_ptr(), op.a.data_ptr(),
                                         static_cast<int>(op.a.numel()), mpi_type(op.a.dtype()),
                                         mpi_op(op.red), comm_, &op.req);
      case Kind::kBarrier:
        return MPI_Ibarrier(comm_, &op.req);
      case Kind::kAbort:
        MPI_Abort(MPI_COMM_WORLD, abort_code_);
        std::_Exit(abort_code_);
    }
    return MPI_SUCCESS;
  }

  // Answers other ranks that ask how far this one got (they are diagnosing a timeout).
  void service_queries() {
    if (size_ == 1 || query_req_ == MPI_REQUEST_NULL) return;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Test(&query_req_, &flag, &st) != MPI_SUCCESS || !flag) return;
      reply_ = issued_;
      MPI_Send(&reply_, 1, MPI_INT64_T, st.MPI_SOURCE, kTagReply, ctrl_);
      MPI_Irecv(&query_, 1, MPI_INT64_T, MPI_ANY_SOURCE, kTagQuery, ctrl_, &query_req_);
    }
  }

  // Which ranks have not joined `op`: asks every other rank how many collectives it has
  // issued; a rank that does not answer within a grace period is named as gone.
  std::string diagnose(const Op& op) {
    if (size_ == 1) return "";
    std::vector<int64_t> replies(static_cast<size_t>(size_), -1);
    std::vector<MPI_Request> rreq(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    std::vector<MPI_Request> sreq(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    int64_t q = op.seq;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      MPI_Irecv(&replies[static_cast<size_t>(r)], 1, MPI_INT64_T, r, kTagReply, ctrl_,
                &rreq[static_cast<size_t>(r)]);
      MPI_Isend(&q, 1, MPI_INT64_T, r, kTagQuery, ctrl_, &sreq[static_cast<size_t>(r)]);
    }
    auto grace = std::clamp<Clock::duration>(timeout() / 2, std::chrono::milliseconds(200),
                                             std::chrono::seconds(3));
    auto until = Clock::now() + grace;
    std::vector<bool> answered(static_cast<size_t>(size_), false);
    answered[static_cast<size_t>(rank_)] = true;
    while (Clock::now() < until) {
      bool all = true;
      for (int r = 0; r < size_; ++r) {
        if (answered[static_cast<size_t>(r)]) continue;
        int flag = 0;
        if (MPI_Test(&rreq[static_cast<size_t>(r)], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag)
          answered[static_cast<size_t>(r)] = true;
        else
          all = false;
      }
      if (all) break;
      service_queries();  // others may be diagnosing too
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // NOTE: requests to ranks that never answered stay pending: the group is broken and the
    // process is expected to exit; freeing them could block on a dead peer.
    std::string out;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const size_t i = static_cast<size_t>(r);
      if (!answered[i])
        out += fmt::format("; rank {} did not answer (it exited, was killed, or its "
                           "communication thread is stuck)", r);
      else if (replies[i] <= op.seq)
        out += fmt::format("; rank {} has not joined it (it has issued {} collectives: stalled "
                           "or slower than the timeout)", r, replies[i]);
    }
    if (out.empty()) out = "; every rank has issued it (MPI or the network is stuck)";
    return out;
  }

  void fail_all(std::vector<Op>& active, const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = message;
      for (Op& op : queue_) active.push_back(std::move(op));
      queue_.clear();
    }
    for (Op& op : active) op.work->finish(message);
    active.clear();
  }

  void run() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      int initialized = 0;
      MPI_Initialized(&initialized);
      int provided = 0;
      if (!initialized && MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        init_error_ = "init_mpi_process_group: MPI_Init_thread failed";
      if (init_error_.empty()) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
        MPI_Comm_dup(MPI_COMM_WORLD, &ctrl_);
        MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        MPI_Comm_set_errhandler(ctrl_, MPI_ERRORS_RETURN);
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
        MPI_Comm local;
        MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
        MPI_Comm_rank(local, &local_rank_);
        MPI_Comm_free(&local);
        if (size_ > 1) MPI_Irecv(&query_, 1, MPI_INT64_T, MPI_ANY_SOURCE, kTagQuery, ctrl_, &query_req_);
      }
      ready_ = true;
    }
    cv_.notify_all();
    if (!init_error_.empty()) return;

    std::vector<Op> active;
    auto last_progress = Clock::now();
    for (;;) {
      std::vector<Op> fresh;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (active.empty() && queue_.empty()) {
          if (stop_) break;
          // Idle: wake for new work, and now and then to answer other ranks' questions.
          cv_.wait_for(lock, std::chrono::milliseconds(2), [&] { return stop_ || !queue_.empty(); });
        }
        for (Op& op : queue_) fresh.push_back(std::move(op));
        queue_.clear();
      }
      const auto loop_start = Clock::now();
      for (Op& op : fresh) {
        const int rc = issue(op);
        if (rc != MPI_SUCCESS) {
          active.push_back(std::move(op));
          fail_all(active, fmt::format("{} failed on rank {}: {}", describe(active.back()), rank_,
                                       mpi_error(rc)));
          continue;
        }
        active.push_back(std::move(op));
        last_progress = Clock::now();
      }
      bool progressed = false;
      for (size_t i = 0; i < active.size();) {
        Op& op = active[i];
        int flag = 0;
        const int rc = MPI_Test(&op.req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
          std::string msg = fmt::format("{} failed on rank {}: {}{}", describe(op), rank_,
                                        mpi_error(rc), diagnose(op));
          fail_all(active, msg);
          break;
        }
        if (flag) {
          if (op.red == ReduceOp::kAvg && (op.kind == Kind::kAllReduce || op.kind == Kind::kReduceScatter))
            scale(op.a, 1.0 / size_);
          op.work->finish();
          active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
          progressed = true;
          continue;
        }
        if (Clock::now() > op.deadline) {
          std::string msg = fmt::format(
              "{} timed out after {:.1f} s on rank {}{}", describe(op),
              std::chrono::duration<double>(timeout()).count(), rank_, diagnose(op));
          fail_all(active, msg);
          break;
        }
        ++i;
      }
      service_queries();
      if (!active.empty() || progressed) {
        std::lock_guard<std::mutex> lock(stats_mu_);
        stats_.busy_seconds += std::chrono::duration<double>(Clock::now() - loop_start).count();
      }
      if (progressed) last_progress = Clock::now();
      if (!active.empty() && !progressed) {
        // Spin while a collective is moving quickly (latency of small messages); back off
        // once it has been quiet a while, so that a waiting rank leaves the cores to compute.
        if (Clock::now() - last_progress < std::chrono::milliseconds(2))
          std::this_thread::yield();
        else
          std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    bool broken;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken = !broken_.empty();
    }
    // A broken group has requests that may never complete: leave MPI as it is, the process
    // is about to exit non-zero.
    if (broken) return;
    if (query_req_ != MPI_REQUEST_NULL) {
      MPI_Cancel(&query_req_);
      MPI_Wait(&query_req_, MPI_STATUS_IGNORE);
    }
    MPI_Comm_free(&ctrl_);
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms_.load()); }

  std::atomic<int64_t> timeout_ms_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  bool stop_ = false, ready_ = false;
  std::string init_error_, broken_;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  int abort_code_ = 1;
  // Communication thread only.
  int64_t issued_ = 0;
  MPI_Comm comm_ = MPI_COMM_NULL, ctrl_ = MPI_COMM_NULL;
  MPI_Request query_req_ = MPI_REQUEST_NULL;
  int64_t query_ = 0, reply_ = 0;
  mutable std::mutex stats_mu_;
  CommStats stats_;
};

std::mutex g_init_mu;
std::shared_ptr<MpiProcessGroup> g_group;  // MPI initializes once per process

}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

std::shared_ptr<ProcessGroup> init_mpi_process_group(const ProcessGroupOptions& options) {
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (!g_group) {
    g_group = std::make_shared<MpiProcessGroup>(options);
    g_group->set_self(g_group);
  }
  return g_group;
}

}  // namespace tandem::distributed
