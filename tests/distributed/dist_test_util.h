// Helpers of the distributed tests: the process group of the mpirun job this program runs in,
// small models, and the single-process reference they are compared with.
#pragma once
#include <gtest/gtest.h>

#include <memory>

#include "tandem/distributed.h"
#include "tandem/distributed/mpi.h"
#include "tandem/tandem.h"
#include "test_util.h"

namespace tandem::testing {

// The job's group (one per process); collectives time out after 30 s so a broken test
// fails instead of hanging.
inline std::shared_ptr<distributed::ProcessGroup> world() {
  return distributed::init_mpi_process_group({.timeout = std::chrono::seconds(30)});
}

// Largest |a - b| over two tensors of the same shape.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>();
  auto y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

inline std::shared_ptr<nn::Module> make_mlp(uint64_t seed, int64_t hidden = 32) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(8, hidden), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(hidden, hidden), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(hidden, 4));
}

// A CNN with BatchNorm (running statistics are buffers). The conv has no bias, as usual
// before BatchNorm: that bias's true gradient is zero, and Adam would turn its rounding
// noise into full-size steps of either sign.
inline std::shared_ptr<nn::Module> make_cnn(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = 1, .bias = false}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(4 * 4 * 4, 4));
}

}  // namespace tandem::testing
