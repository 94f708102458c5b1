// TANDEM_OMP_PASSIVE_WAIT (tandem/omp_wait.h) in a program of its own: this test program uses
// it as the CLI does, so libgomp starts with idle threads that sleep rather than spin.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "tandem/omp_wait.h"

TANDEM_OMP_PASSIVE_WAIT();

namespace {

double cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

// `make test` runs every test with OMP_WAIT_POLICY=passive, which would leave nothing for the
// macro to do: each test runs again in a child with both variables unset and checks there.
bool in_clean_child() { return std::getenv("TANDEM_OMP_WAIT_TEST_CHILD") != nullptr; }

void expect_passes_in_clean_child(const std::string& test) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT TANDEM_OMP_WAIT_TEST_CHILD=1 '" +
                          self + "' --gtest_filter=" + test + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "failed in a clean environment: " << cmd;
}

TEST(OmpWait, PolicyIsSetBeforeLibgompStarts) {
  if (!in_clean_child()) return expect_passes_in_clean_child("OmpWait.PolicyIsSetBeforeLibgompStarts");
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (std::getenv("GOMP_SPINCOUNT") == nullptr) {
    ASSERT_NE(policy, nullptr);
    EXPECT_EQ(std::string(policy), "PASSIVE");
  }
}

// The effect, not the variable: between parallel regions the worker threads use no CPU while
// the main thread sleeps. libgomp's default spins ~300,000 rounds (milliseconds) after each
// region, which here would add up to about the 30 sleeps' 60 ms.
TEST(OmpWait, IdleWorkersSleepBetweenParallelRegions) {
  if (!in_clean_child())
    return expect_passes_in_clean_child("OmpWait.IdleWorkersSleepBetweenParallelRegions");
  if (std::getenv("OMP_WAIT_POLICY") == nullptr || std::string(std::getenv("OMP_WAIT_POLICY")) != "PASSIVE")
    GTEST_FAIL() << "OMP_WAIT_POLICY is not PASSIVE; the environment chose otherwise";
  volatile int sink = 0;
#pragma omp parallel num_threads(2)
  sink = sink + 1;  // start the pool before measuring
  double start = cpu_seconds();
  for (int i = 0; i < 30; ++i) {
#pragma omp parallel num_threads(2)
    sink = sink + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double used = cpu_seconds() - start;
  EXPECT_LT(used, 0.02) << "CPU seconds used by idle OpenMP workers in 30 x 2 ms of sleep";
}

}  // namespace
