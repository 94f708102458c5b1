// Which ops autocast changes, and which kernels take bfloat16 as it is (src/ops/autocast_ops.cpp).
#pragma once
#include "tandem/autocast.h"
#include "tandem/opdef.h"

namespace tandem::detail {

struct AutocastOp {
  AutocastPolicy policy = AutocastPolicy::None;
  // The kernel runs bfloat16 itself with float32 accumulation (oneDNN's bf16 primitives where
  // bf16_native(), else widened to float32 inside the kernel); other ops given bfloat16 are
  // computed in float32 by dispatch and rounded.
  bool bf16_kernel = false;
};

const AutocastOp& autocast_op(const OpDef& def);

}  // namespace tandem::detail
