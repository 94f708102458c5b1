// The model zoo (include/tandem/models.h).
#include "tandem/models.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tandem/error.h"
#include "tandem/ops.h"

namespace tandem::models {

MLP::MLP(int64_t num_classes) : Module("MLP") {
  flatten = register_module("flatten", std::make_shared<nn::Flatten>());
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 512));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(512, 256));
  fc3 = register_module("fc3", std::make_shared<nn::Linear>(256, num_classes));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
}

Tensor MLP::forward(const Tensor& x) {
  Tensor h = (*relu)((*fc1)((*flatten)(x)));
  h = (*relu)((*fc2)(h));
  return (*fc3)(h);
}

CNN::CNN(int64_t num_classes) : Module("CNN") {
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(1, 32, 3, nn::Conv2dOptions{.padding = 1}));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(32, 64, 3, nn::Conv2dOptions{.padding = 1}));
  pool = register_module("pool", std::make_shared<nn::MaxPool2d>(2));
  flatten = register_module("flatten", std::make_shared<nn::Flatten>());
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(64 * 7 * 7, 128));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, num_classes));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
}

Tensor CNN::forward(const Tensor& x) {
  Tensor h = (*pool)((*relu)((*conv1)(x)));     // [N, 32, 14, 14]
  h = (*pool)((*relu)((*conv2)(h)));            // [N, 64, 7, 7]
  h = (*relu)((*fc1)((*flatten)(h)));           // [N, 128]
  return (*fc2)(h);
}

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride)
    : Module("BasicBlock") {
  // No conv bias: the BatchNorm that follows has its own shift.
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(
      in_channels, out_channels, 3, nn::Conv2dOptions{.stride = stride, .padding = 1, .bias = false}));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(
      out_channels, out_channels, 3, nn::Conv2dOptions{.padding = 1, .bias = false}));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample", std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(in_channels, out_channels, 1,
                                     nn::Conv2dOptions{.stride = stride, .bias = false}),
        std::make_shared<nn::BatchNorm2d>(out_channels)));
  }
  relu = register_module("relu", std::make_shared<nn::ReLU>());
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = (*relu)((*bn1)((*conv1)(x)));
  h = (*bn2)((*conv2)(h));
  Tensor skip = downsample ? (*downsample)(x) : x;
  return (*relu)(h + skip);
}

ResNet::ResNet(int64_t num_classes) : Module("ResNet") {
  stem = register_module("stem", std::make_shared<nn::Conv2d>(
      1, 32, 3, nn::Conv2dOptions{.padding = 1, .bias = false}));
  stem_bn = register_module("stem_bn", std::make_shared<nn::BatchNorm2d>(32));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  layers = register_module("layers", std::make_shared<nn::Sequential>(
      std::make_shared<BasicBlock>(32, 32),         // 28×28
      std::make_shared<BasicBlock>(32, 64, 2),      // 14×14
      std::make_shared<BasicBlock>(64, 128, 2)));   // 7×7
  pool = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  flatten = register_module("flatten", std::make_shared<nn::Flatten>());
  fc = register_module("fc", std::make_shared<nn::Linear>(128, num_classes));
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor h = (*relu)((*stem_bn)((*stem)(x)));
  h = (*layers)(h);
  return (*fc)((*flatten)((*pool)(h)));
}

std::vector<std::string> names() { return {"mlp", "cnn", "resnet"}; }

std::shared_ptr<nn::Module> create(const std::string& name, int64_t num_classes) {
  TANDEM_CHECK(num_classes > 0, "models::create: num_classes must be positive, got {}",
               num_classes);
  if (name == "mlp") return std::make_shared<MLP>(num_classes);
  if (name == "cnn") return std::make_shared<CNN>(num_classes);
  if (name == "resnet") return std::make_shared<ResNet>(num_classes);
  TANDEM_FAIL("models::create: unknown model '{}'; choose one of {}", name,
              fmt::join(names(), ", "));
}

Shape input_shape(const std::string& name) {
  // Every zoo model takes one grey 28×28 image.
  TANDEM_CHECK(name == "mlp" || name == "cnn" || name == "resnet",
               "models::input_shape: unknown model '{}'; choose one of {}", name,
               fmt::join(names(), ", "));
  return {1, 28, 28};
}

}  // namespace tandem::models
