// Seedable random number generator. The same seed gives the same numbers.
//
//   manual_seed(42);                 // the default generator
//   Generator g(7); Tensor x = randn({3}, {}, &g);
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace tandem {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { manual_seed(seed); }
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
  }
  uint64_t initial_seed() const { return seed_; }
  uint64_t next_u64() { return engine_(); }
  double next_double() { return (engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  float next_float() { return static_cast<float>(engine_() >> 40) * 0x1.0p-24f; }  // [0, 1)
  double next_normal();  // Box-Muller, caches the second value
  // Serialized engine state (for checkpoints); set_state restores it exactly.
  std::string get_state() const;
  void set_state(const std::string& state);

 private:
  uint64_t seed_ = 0;
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tandem
