// Optimizer steps as ops (sgd_step, adam_step, rmsprop_step, adagrad_step): what
// tandem::compile records for an optimizer's step(). Their kernels are the optimizers' fused
// loops, defined next to them in src/optim (eager step() calls the loops directly, without
// dispatch).
#include "../../optim/step_ops.h"
#include "defs.h"

namespace tandem::defs {

void register_optim() {
  optim::detail::register_sgd_step_op();
  optim::detail::register_adam_step_op();
  optim::detail::register_rmsprop_step_op();
  optim::detail::register_adagrad_step_op();
}

}  // namespace tandem::defs
