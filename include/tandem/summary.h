// Observability: TensorBoard event files (Writer / read), the op profiler, and PNG plots of
// scalar curves.
//
//   summary::Writer w("runs/exp1");
//   w.add_scalar("loss", 0.25, /*step=*/100);
//   { profiler::Profiler prof; prof.start(); model->forward(x); prof.stop();
//     prof.write_chrome_trace("trace.json"); fmt::print("{}", prof.key_averages()); }
//   summary::plot_runs({"runs/exp1", "runs/exp2"}, {"loss"}, "curves.png");
//
// Looking at the results:
//   tensorboard --logdir runs          # SCALARS, HISTOGRAMS, IMAGES, TEXT and HPARAMS tabs
//   tandem logs runs/exp1              # last value of each scalar, no browser
//   tandem plot runs/exp1 runs/exp2 --tag loss --out curves.png
//   trace.json: open https://ui.perfetto.dev (or chrome://tracing) and load the file.
#pragma once
#include "tandem/summary/crc32c.h"
#include "tandem/summary/plot.h"
#include "tandem/summary/profiler.h"
#include "tandem/summary/reader.h"
#include "tandem/summary/writer.h"
