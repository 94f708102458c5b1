#include <tandem/tandem.h>

#include <iostream>

int main() {
  using namespace tandem;
  Tensor x = tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  Tensor y = (x * x).sum();
  y.backward();
  std::vector<float> g = x.grad().to_vector<float>();
  bool ok = g == std::vector<float>{2, 4, 6};
  std::cout << (ok ? "consumer ok" : "consumer WRONG") << "\n";
  return ok ? 0 : 1;
}
