// Per-sample transforms for DataLoaderOptions::transform.
//
//   auto t = data::compose({data::random_crop(28, 4), data::random_horizontal_flip(0.5),
//                           data::normalize({0.2860}, {0.3530})});
//   data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .transform = t});
//
// Images are [C, H, W] (or [H, W]) float32/float64. Random transforms draw from the
// Generator the loader seeds per (seed, epoch, sample index), so they give the same result
// for any worker count. Every transform returns new tensors: the input may be a view of the
// dataset.
#pragma once
#include <cstdint>
#include <vector>

#include "tandem/data/dataloader.h"

namespace tandem::data {

// (x - mean[c]) / stddev[c] per channel (dim 0 of a [C, ...] image); one value applies to
// every channel.
Transform normalize(std::vector<double> mean, std::vector<double> stddev);
// Pads H and W by `padding` zeros on every side, then crops a random height x width window
// (torchvision's RandomCrop(size, padding) with fill 0). random_crop(28, 4): 28x28 crops.
Transform random_crop(int64_t height, int64_t width, int64_t padding);
inline Transform random_crop(int64_t size, int64_t padding = 0) {
  return random_crop(size, size, padding);
}
// Mirrors the last dimension with probability p.
Transform random_horizontal_flip(double p = 0.5);
// Turns an integer class target (0-dim) into a float32 [num_classes] one-hot vector.
Transform one_hot(int64_t num_classes);
// Applies the transforms in order, sharing one Generator.
Transform compose(std::vector<Transform> transforms);

}  // namespace tandem::data
