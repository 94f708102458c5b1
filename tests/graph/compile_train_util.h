// Shared by tests/graph/test_compile_train.cpp and test_compile_optim.cpp: random Fashion-MNIST
// shaped batches and the training step every test compiles.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "tandem/nn.h"
#include "tandem/optim.h"
#include "tandem/tandem.h"

namespace tandem::testing {

struct Batch {
  Tensor x, y;
};

// n batches of `size` images [size, 1, 28, 28] and int64 labels in [0, 10), from `seed`.
inline std::vector<Batch> batches(int n, int64_t size, uint64_t seed) {
  Generator g(seed);
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i)
    out.push_back({randn({size, 1, 28, 28}, {}, &g), randint(0, 10, {size}, {.dtype = DType::Int64}, &g)});
  return out;
}

// zero_grad, forward, cross-entropy, backward, step.
inline std::function<Tensor(const Tensor&, const Tensor&)> train_step(nn::Module& m, optim::Optimizer& o) {
  return [&m, &o](const Tensor& x, const Tensor& y) {
    o.zero_grad();
    Tensor loss = nn::functional::cross_entropy(m.forward(x), y);
    loss.backward();
    o.step();
    return loss;
  };
}

}  // namespace tandem::testing
