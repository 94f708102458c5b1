// A first look: tensors, broadcasting and a gradient.
#include <iostream>

#include <tandem/tandem.h>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

int main() {
  using namespace tandem;
  manual_seed(0);
  Tensor w = randn({3, 2}, {.requires_grad = true});
  Tensor x = arange(6, {.dtype = kFloat32}).reshape({2, 3});
  Tensor y = (x.reshape({2, 3, 1}) * w).sum({1});  // [2, 2]
  Tensor loss = (y * y).sum();
  loss.backward();
  std::cout << "x =\n" << x << "\ny =\n" << y << "\nd loss / d w =\n" << w.grad() << "\n";
  return 0;
}
