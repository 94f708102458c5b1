// tandem::models — the model zoo: plain nn::Module subclasses for 28×28 grey images
// (Fashion-MNIST / MNIST), by name, as `tandem train --model NAME` uses them.
//
//   #include <tandem/models.h>
//   auto model = tandem::models::create("cnn");      // std::shared_ptr<nn::Module>
//   Tensor logits = (*model)(x);                     // x: [N, 1, 28, 28] -> [N, 10]
//   std::cout << model->summary({1, 1, 28, 28});
//
// Parameters are initialized from the default generator (tandem::manual_seed(s) first
// for a reproducible model), with PyTorch's default initialization per layer, so each
// model starts like its PyTorch twin in bench/train_torch.py.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tandem/nn.h"

namespace tandem::models {

// 784-512-256-10 with ReLU (input flattened).
class MLP : public nn::Module {
 public:
  explicit MLP(int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Flatten> flatten;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
  std::shared_ptr<nn::ReLU> relu;
};

// conv(1→32, 3×3, pad 1)-ReLU-maxpool 2-conv(32→64, 3×3, pad 1)-ReLU-maxpool 2-flatten-
// linear(3136→128)-ReLU-linear(128→10).
class CNN : public nn::Module {
 public:
  explicit CNN(int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::MaxPool2d> pool;
  std::shared_ptr<nn::Flatten> flatten;
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::ReLU> relu;
};

// ResNet's basic block: conv3×3-BN-ReLU-conv3×3-BN plus the input (through a 1×1 conv + BN
// when the shape changes), then ReLU.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride = 1);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;  // null when the input is added as it is
  std::shared_ptr<nn::ReLU> relu;
};

// A small ResNet for 28×28: stem conv3×3(1→32)+BN+ReLU, blocks 32 (28×28), 64 (14×14),
// 128 (7×7), global average pool, linear(128→10). ~0.7 M parameters.
class ResNet : public nn::Module {
 public:
  explicit ResNet(int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Conv2d> stem;
  std::shared_ptr<nn::BatchNorm2d> stem_bn;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> layers;
  std::shared_ptr<nn::AdaptiveAvgPool2d> pool;
  std::shared_ptr<nn::Flatten> flatten;
  std::shared_ptr<nn::Linear> fc;
};

// "mlp", "cnn" or "resnet" (Error listing the names otherwise).
std::shared_ptr<nn::Module> create(const std::string& name, int64_t num_classes = 10);
// The names create() knows, in the order help texts list them.
std::vector<std::string> names();
// The input shape of one example for the zoo's models: {1, 28, 28}.
Shape input_shape(const std::string& name);

}  // namespace tandem::models
