// tandem::train — train::Trainer (the loop for any model, data, loss and metrics, with
// callbacks: checkpoints, exact resume, early stopping, TensorBoard/JSONL/CSV logs, progress
// bar, profiling) and train::fit, the zoo + Fashion-MNIST recipe behind `tandem train`.
//
//   #include <tandem/train.h>
//   tandem::train::Trainer trainer({.max_epochs = 5, .checkpoint_dir = "runs/a/ckpt"});
//   trainer.fit(module, train_loader, &val_loader);       // see train/trainer.h
//
//   tandem::train::TrainOptions o;  o.model = "mlp";  o.epochs = 2;
//   auto result = tandem::train::fit(o);   // result.test_accuracy, result.run_dir, ...
#pragma once
#include "tandem/train/callbacks.h"
#include "tandem/train/fit.h"
#include "tandem/train/metrics.h"
#include "tandem/train/progress.h"
#include "tandem/train/trainer.h"
