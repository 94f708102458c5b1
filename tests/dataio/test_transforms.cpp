// Transforms against hand-computed results.
#include <set>

#include "tandem/data.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::data;
using tandem::testing::throws_error;

namespace {

Example image(std::vector<float> values, Shape shape) {
  return {tensor(values, shape), scalar_tensor(3, {.dtype = kInt64})};
}

}  // namespace

TEST(Transforms, NormalizePerChannel) {
  Generator g(0);
  Example ex = image({1, 2, 3, 4}, {2, 1, 2});
  Tensor before = ex.data;
  Example out = normalize({1, 2}, {2, 4})(ex, g);
  EXPECT_EQ(out.data.to_vector<float>(), (std::vector<float>{0.0f, 0.5f, 0.25f, 0.5f}));
  EXPECT_EQ(out.data.shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(before.to_vector<float>(), (std::vector<float>{1, 2, 3, 4})) << "input untouched";
  EXPECT_EQ(out.target.item<int64_t>(), 3);
  // One value applies to every channel; float64 stays float64.
  Example d{tensor(std::vector<double>{1, 3}, Shape{2, 1}), Tensor()};
  EXPECT_EQ(normalize({1}, {2})(d, g).data.to_vector<double>(), (std::vector<double>{0.0, 1.0}));
  EXPECT_TRUE(throws_error([&] { normalize({1, 2, 3}, {1, 1, 1})(ex, g); }, {"normalize", "2 channels"}));
  EXPECT_TRUE(throws_error([&] { normalize({1}, {0}); }, {"std"}));
  EXPECT_TRUE(throws_error([&] { normalize({1, 2}, {1}); }, {"same length"}));
}

TEST(Transforms, RandomCropWithoutPaddingAtFullSizeIsIdentity) {
  Generator g(5);
  Example ex = image({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  EXPECT_EQ(random_crop(2, 3, 0)(ex, g).data.to_vector<float>(), ex.data.to_vector<float>());
}

TEST(Transforms, RandomCropPicksEveryZeroPaddedWindow) {
  // Image [[1,2],[3,4]] padded by 1 with zeros is 4x4; a 2x2 crop has 9 possible windows.
  const float padded[4][4] = {{0, 0, 0, 0}, {0, 1, 2, 0}, {0, 3, 4, 0}, {0, 0, 0, 0}};
  std::set<std::pair<int, int>> seen;
  Transform crop = random_crop(2, 1);
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Generator g(seed);
    auto v = crop(image({1, 2, 3, 4}, {1, 2, 2}), g).data.to_vector<float>();
    ASSERT_EQ(v.size(), 4u);
    int matches = 0;
    for (int top = 0; top < 3; ++top)
      for (int left = 0; left < 3; ++left) {
        std::vector<float> w{padded[top][left], padded[top][left + 1], padded[top + 1][left],
                             padded[top + 1][left + 1]};
        if (w == v) {
          ++matches;
          seen.insert({top, left});
        }
      }
    ASSERT_GE(matches, 1) << "crop is not a window of the padded image (seed " << seed << ")";
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST(Transforms, RandomCropKeepsChannelsAlignedAndChecksSize) {
  // Two channels; the same window in each (channel 1 = channel 0 + 10).
  Transform crop = random_crop(2, 3, 2);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Generator g(seed);
    Example out = crop(image({1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16}, {2, 2, 3}), g);
    ASSERT_EQ(out.data.shape(), (Shape{2, 2, 3}));
    auto v = out.data.to_vector<float>();
    for (int k = 0; k < 6; ++k)
      if (v[k] != 0.0f) EXPECT_EQ(v[k + 6], v[k] + 10.0f);
  }
  Generator g(0);
  EXPECT_TRUE(throws_error([&] { random_crop(5, 0)(image({1, 2, 3, 4}, {1, 2, 2}), g); },
                           {"random_crop", "larger"}));
}

TEST(Transforms, RandomHorizontalFlip) {
  Generator g(1);
  Example ex = image({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  EXPECT_EQ(random_horizontal_flip(1.0)(ex, g).data.to_vector<float>(),
            (std::vector<float>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(random_horizontal_flip(0.0)(ex, g).data.to_vector<float>(),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  int flips = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    Generator gs(seed);
    flips += random_horizontal_flip(0.5)(ex, gs).data.to_vector<float>()[0] == 3.0f;
  }
  EXPECT_GT(flips, 140);
  EXPECT_LT(flips, 260);
  EXPECT_TRUE(throws_error([&] { random_horizontal_flip(1.5); }, {"p must be in [0, 1]"}));
}

TEST(Transforms, OneHotTarget) {
  Generator g(0);
  Example out = one_hot(5)(image({1}, {1, 1, 1}), g);
  EXPECT_EQ(out.target.dtype(), kFloat32);
  EXPECT_EQ(out.target.to_vector<float>(), (std::vector<float>{0, 0, 0, 1, 0}));
  EXPECT_TRUE(throws_error([&] { one_hot(3)(image({1}, {1, 1, 1}), g); }, {"class 3", "[0, 3)"}));
  EXPECT_TRUE(throws_error([&] { one_hot(3)(Example{zeros({1}), Tensor()}, g); }, {"one_hot"}));
}

TEST(Transforms, ComposeAppliesInOrder) {
  Generator g(0);
  Transform t = compose({random_horizontal_flip(1.0), normalize({1}, {2}), one_hot(4)});
  Example out = t(image({1, 3, 5}, {1, 1, 3}), g);
  EXPECT_EQ(out.data.to_vector<float>(), (std::vector<float>{2, 1, 0}));  // (5,3,1) - 1, / 2
  EXPECT_EQ(out.target.to_vector<float>(), (std::vector<float>{0, 0, 0, 1}));
}

TEST(Transforms, LeaveTheDatasetUntouched) {
  auto ds = std::make_shared<TensorDataset>(arange(8).to(kFloat32).reshape({2, 1, 2, 2}), arange(2));
  DataLoader loader(ds, {.batch_size = 2, .transform = compose({random_horizontal_flip(1.0),
                                                               normalize({0.5}, {0.5})})});
  Batch b = *loader.begin();
  EXPECT_EQ(b.data.to_vector<float>(), (std::vector<float>{1, -1, 5, 3, 9, 7, 13, 11}));
  EXPECT_EQ(ds->data().to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Transforms, FlipAndCropWorkForEveryItemSize) {
  Generator g(0);
  for (DType dt : {kUInt8, kFloat16, kFloat32, kFloat64}) {
    Example ex{tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{2, 3}).to(dt), Tensor()};
    Example f = random_horizontal_flip(1.0)(ex, g);
    EXPECT_EQ(f.data.dtype(), dt);
    EXPECT_EQ(f.data.to_vector<double>(), (std::vector<double>{3, 2, 1, 6, 5, 4})) << dtype_name(dt);
    Example c = random_crop(2, 3, 0)(ex, g);
    EXPECT_EQ(c.data.to_vector<double>(), ex.data.to_vector<double>()) << dtype_name(dt);
  }
}
