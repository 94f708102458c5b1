// all_reduce bandwidth: tandem's MPI process group vs Open MPI's MPI_Allreduce called
// directly, same sizes, same job shape (bench/distributed_run.sh runs both under mpirun).
//   bench_distributed tandem|mpi    -> rank 0 prints one JSON line per size
// float32 sum, in place; per size: warm-up, then iterations totalling ~32 MB (at least 5),
// repeated 5 times; the median time per call (the slowest rank's) is reported.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tandem/distributed/mpi.h"

using namespace tandem;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <class Call, class Barrier, class MaxOver>
void sweep(int rank, const char* impl, Call call, Barrier barrier, MaxOver max_over) {
  for (int64_t bytes = 1024; bytes <= (int64_t{64} << 20); bytes *= 4) {
    const int64_t n = bytes / 4;
    const int iters = static_cast<int>(std::clamp<int64_t>((int64_t{32} << 20) / bytes, 5, 1000));
    call(n, 3);  // warm-up (and buffer allocation)
    std::vector<double> reps;
    for (int r = 0; r < 5; ++r) {
      barrier();
      const double t0 = now();
      call(n, iters);
      reps.push_back(max_over((now() - t0) / iters));
    }
    std::sort(reps.begin(), reps.end());
    const double t = reps[2];
    if (rank == 0)
      std::printf("{\"impl\": \"%s\", \"bytes\": %lld, \"seconds\": %.9g, \"gb_per_s\": %.6g}\n", impl,
                  static_cast<long long>(bytes), t, static_cast<double>(bytes) / t / 1e9);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "tandem") != 0 && std::strcmp(argv[1], "mpi") != 0)) {
    std::fprintf(stderr, "usage: bench_distributed tandem|mpi (under mpirun)\n");
    return 2;
  }
  if (std::strcmp(argv[1], "mpi") == 0) {
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::vector<float> buf;
    sweep(
        rank, "mpi",
        [&](int64_t n, int iters) {
          buf.assign(static_cast<size_t>(n), 1.0f);
          for (int i = 0; i < iters; ++i)
            MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        },
        [] { MPI_Barrier(MPI_COMM_WORLD); },
        [](double t) {
          double m = 0;
          MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
          return m;
        });
    MPI_Finalize();
    return 0;
  }
  auto pg = distributed::init_mpi_process_group();
  Tensor buf;
  sweep(
      pg->rank(), "tandem",
      [&](int64_t n, int iters) {
        buf = full({n}, 1.0);
        for (int i = 0; i < iters; ++i) pg->all_reduce(buf);
      },
      [&] { pg->barrier(); },
      [&](double t) {
        Tensor m = full({1}, t, {.dtype = kFloat64});
        pg->all_reduce(m, distributed::ReduceOp::kMax);
        return m.item<double>();
      });
  return 0;
}
