// The default generator across threads (run under ThreadSanitizer by the tsan preset): a
// DataLoader worker's transform that calls randn() while the training thread draws dropout
// masks. Each must draw from its own generator: the transform from its sample's generator
// (so batches are the same for any worker count), the training thread from the process-wide
// one (so its masks are what the seed alone gives).
#include <thread>

#include "tandem/data.h"
#include "tandem/generator_scope.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::data;

namespace {

constexpr int64_t kSamples = 48;
constexpr uint64_t kLoaderSeed = 5;

std::shared_ptr<TensorDataset> numbered(int64_t n) {
  Tensor d = arange(n, {.dtype = kFloat32}).reshape({n, 1}).expand({n, 4}).contiguous();
  return std::make_shared<TensorDataset>(d, arange(n));
}

// Adds randn() from the default generator: inside a DataLoader, the sample's generator.
Transform default_noise() {
  return [](Example ex, Generator&) {
    ex.data = ex.data + randn(ex.data.shape());
    return ex;
  };
}

struct LoaderRun {
  std::vector<std::vector<float>> batches;
  std::vector<std::vector<float>> masks;  // one dropout output per batch, training thread
};

LoaderRun run(int workers) {
  manual_seed(123);
  DataLoader loader(numbered(kSamples), {.batch_size = 6, .shuffle = true, .seed = kLoaderSeed,
                                         .num_workers = workers, .transform = default_noise()});
  LoaderRun r;
  for (Batch& b : loader) {
    r.batches.push_back(b.data.to_vector<float>());
    r.masks.push_back(dropout(ones({512}), 0.5, true).to_vector<float>());
  }
  return r;
}

}  // namespace

TEST(GeneratorThreads, TransformRandnDrawsFromTheSampleGenerator) {
  LoaderRun r = run(2);
  ASSERT_EQ(r.batches.size(), 8u);
  // Sample i's noise is randn from Generator(sample_seed(seed, epoch, i)), whatever its slot.
  DataLoader order(numbered(kSamples), {.batch_size = 6, .shuffle = true, .seed = kLoaderSeed});
  size_t b = 0;
  for (Batch& batch : order) {
    auto targets = batch.target.to_vector<int64_t>();
    for (size_t k = 0; k < targets.size(); ++k) {
      Generator g(sample_seed(kLoaderSeed, 0, targets[k]));
      std::vector<float> want = (full({4}, static_cast<double>(targets[k])) + randn({4}, {}, &g))
                                    .to_vector<float>();
      std::vector<float> got(r.batches[b].begin() + 4 * k, r.batches[b].begin() + 4 * k + 4);
      EXPECT_EQ(got, want) << "sample " << targets[k];
    }
    ++b;
  }
}

TEST(GeneratorThreads, WorkersLeaveTheTrainingThreadsGeneratorAlone) {
  // The training thread's masks are those of the seed alone, as if no loader ran.
  manual_seed(123);
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 8; ++i) want.push_back(dropout(ones({512}), 0.5, true).to_vector<float>());
  for (int workers : {0, 1, 3}) {
    LoaderRun r = run(workers);
    EXPECT_EQ(r.masks, want) << "workers=" << workers;
    EXPECT_EQ(r.batches, run(0).batches) << "workers=" << workers;
  }
}

TEST(GeneratorThreads, ScopeIsPerThreadAndNests) {
  Generator a(1), b(2);
  Generator ref_a(1), ref_b(2);
  std::vector<float> other;
  {
    GeneratorScope outer(a);
    EXPECT_EQ(&default_generator(), &a);
    {
      GeneratorScope inner(b);
      EXPECT_EQ(randn({3}).to_vector<float>(), randn({3}, {}, &ref_b).to_vector<float>());
      // Another thread does not see this thread's scope.
      std::thread t([&] { EXPECT_NE(&default_generator(), &b); });
      t.join();
    }
    EXPECT_EQ(randn({3}).to_vector<float>(), randn({3}, {}, &ref_a).to_vector<float>());
  }
  EXPECT_NE(&default_generator(), &a);
}
