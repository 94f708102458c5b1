// tandem::nn — modules, layers, containers, initializers and the functional forms.
//
//   #include <tandem/nn.h>
//   using namespace tandem;
//   auto model = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 128),
//       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10));
//   Tensor logits = (*model)(x);                      // x: [N, 1, 28, 28]
//   std::cout << model->summary({1, 1, 28, 28});
#pragma once
#include "tandem/nn/container.h"
#include "tandem/nn/functional.h"
#include "tandem/nn/init.h"
#include "tandem/nn/layers.h"
#include "tandem/nn/module.h"
#if __has_include("tandem/nn/rnn.h")
#include "tandem/nn/rnn.h"
#endif
#if __has_include("tandem/nn/attention.h")
#include "tandem/nn/attention.h"
#endif
#if __has_include("tandem/nn/transformer.h")
#include "tandem/nn/transformer.h"
#endif
