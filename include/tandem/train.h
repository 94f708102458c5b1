// tandem::train — the fit/evaluate loop, progress bar and run directory behind the
// `tandem` command line, for use from C++ too.
//
//   #include <tandem/train.h>
//   tandem::train::TrainOptions o;  o.model = "mlp";  o.epochs = 2;
//   auto result = tandem::train::fit(o);   // result.test_accuracy, result.run_dir, ...
#pragma once
#include "tandem/train/fit.h"
#include "tandem/train/progress.h"
