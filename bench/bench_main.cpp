// main() for the tandem benchmarks: Google Benchmark's flags plus --threads=N, which
// calls tandem::set_num_threads(N) (the OpenMP pool shared by tandem's loops and oneDNN)
// before any case runs. The thread count is echoed in the JSON context as "tandem_threads".
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tandem/tandem.h"
#include "tandem/omp_wait.h"

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

int main(int argc, char** argv) {
  std::vector<char*> args;
  int threads = 0;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      args.push_back(argv[i]);
  }
  if (threads > 0) tandem::set_num_threads(threads);
  benchmark::AddCustomContext("tandem_threads", std::to_string(tandem::get_num_threads()));
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
