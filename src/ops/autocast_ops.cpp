// The autocast lists, as PyTorch keeps them (aten/src/ATen/autocast_mode.cpp): one table by op
// name, read once into a map by OpDef. An op not listed runs on whatever dtypes it is given.
#include "autocast_ops.h"

#include <unordered_map>

namespace tandem::detail {
namespace {

struct AutocastRow {
  const char* name;
  AutocastOp op;
};

constexpr AutocastPolicy kLower = AutocastPolicy::Lower, kF32 = AutocastPolicy::Float32,
                         kNone = AutocastPolicy::None;

// Lower: the GEMM and convolution family (what bf16 makes faster). Float32: what loses
// accuracy in 8 significant bits (sums over many elements, exp/log in softmax and the losses
// built on it, normalization statistics). The rest run on what they get, as PyTorch's; those
// marked as bf16 kernels take bfloat16 as it is (the backward ops of the lower family, and
// relu, max-pooling and their gradients, which autocast keeps in bfloat16 between
// convolutions: exact on bfloat16, and half the memory traffic of float32).
const AutocastRow kAutocastRows[] = {
    {"matmul", {kLower, true}},        {"bmm", {kLower, true}},
    {"linear", {kLower, true}},        {"conv2d", {kLower, true}},
    {"conv_transpose2d", {kLower, true}}, {"conv2d_weight", {kNone, true}},
    {"sum", {kF32, false}},            {"mean", {kF32, false}},
    {"prod", {kF32, false}},           {"var", {kF32, false}},
    {"std", {kF32, false}},            {"logsumexp", {kF32, false}},
    {"norm", {kF32, false}},           {"cumsum", {kF32, false}},
    {"softmax", {kF32, false}},        {"log_softmax", {kF32, false}},
    {"layer_norm", {kF32, false}},     {"group_norm", {kF32, false}},
    {"batch_norm", {kF32, false}},
    {"relu", {kNone, true}},           {"relu_backward", {kNone, true}},
    {"max_pool2d", {kNone, true}},     {"max_pool2d_backward", {kNone, true}},
    {"conv2d_act", {kNone, true}},  // graph fusion of a bf16 conv2d and relu
};

}  // namespace

const AutocastOp& autocast_op(const OpDef& def) {
  static const auto* table = [] {
    auto* m = new std::unordered_map<const OpDef*, AutocastOp>();  // never destroyed: used at exit
    for (const AutocastRow& r : kAutocastRows)
      if (const OpDef* d = find_op(r.name)) (*m)[d] = r.op;
    return m;
  }();
  static const AutocastOp none;
  auto it = table->find(&def);
  return it == table->end() ? none : it->second;
}

}  // namespace tandem::detail
