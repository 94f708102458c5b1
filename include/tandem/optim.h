// tandem::optim — optimizers, learning-rate schedulers and gradient clipping, as torch.optim.
//
//   #include <tandem/optim.h>
//   optim::AdamW opt(model->parameters(), {.lr = 3e-3});
//   optim::OneCycleLR sched(opt, /*max_lr=*/3e-3, /*total_steps=*/epochs * steps_per_epoch);
//   for (...) {
//     opt.zero_grad();
//     loss.backward();
//     nn::utils::clip_grad_norm_(model->parameters(), 1.0);
//     opt.step();
//     sched.step();
//   }
#pragma once
#include "tandem/optim/adagrad.h"
#include "tandem/optim/adam.h"
#include "tandem/optim/clip.h"
#include "tandem/optim/lr_scheduler.h"
#include "tandem/optim/optimizer.h"
#include "tandem/optim/rmsprop.h"
#include "tandem/optim/sgd.h"
