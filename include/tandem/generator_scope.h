// Which generator rand, randn, randint, dropout and the initializers draw from when they are
// given none: the calling thread's innermost GeneratorScope if it has one, else the
// process-wide generator that manual_seed seeds (default_generator()).
//
//   Generator g(7);
//   { GeneratorScope scope(g); Tensor x = randn({3}); }  // draws from g, on this thread only
//
// NOTE: the process-wide generator has no lock: a thread that draws from it while another
// thread does must install its own generator with a GeneratorScope. DataLoader does so: get()
// and the transform of sample i run with that sample's generator (seeded from (seed, epoch, i))
// as the default, so a plain randn() there gives the same numbers for any num_workers and never
// draws from the training thread's generator.
#pragma once
#include "tandem/generator.h"

namespace tandem {

class GeneratorScope {
 public:
  explicit GeneratorScope(Generator& g);  // `g` must outlive the scope
  ~GeneratorScope();
  GeneratorScope(const GeneratorScope&) = delete;
  GeneratorScope& operator=(const GeneratorScope&) = delete;

 private:
  Generator* previous_;
};

}  // namespace tandem
