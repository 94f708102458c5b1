// Optimizer + scheduler state through a checkpoint file (io::save_checkpoint) resumes bit for
// bit; the fused loops give the same numbers at any thread count and agree with the generic path.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "optim_cases.h"
#include "tandem/io/checkpoint.h"

namespace tandem::testing {
namespace {

// A parameter large enough that the fused loops split it across threads.
constexpr int64_t kBig = 3 * 40000 + 17;

struct Training {
  std::vector<Tensor> params;
  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LRScheduler> sched;
};

Training make_run(const std::string& kind, bool non_contiguous = false) {
  Generator gen(7);
  Training r;
  for (Shape s : {Shape{kBig}, Shape{33, 5}}) {
    Tensor v = randn(s, {}, &gen);
    Tensor p = v;
    if (non_contiguous) {
      Shape wide = s;
      wide.back() *= 2;
      p = zeros(wide).slice(-1, 0, wide.back(), 2);
      p.copy_(v);
    }
    r.params.push_back(p.requires_grad_());
  }
  if (kind == "adamw") {
    r.opt = std::make_unique<optim::AdamW>(r.params, optim::AdamWOptions{.lr = 1e-2, .amsgrad = true});
    r.sched = std::make_unique<optim::OneCycleLR>(*r.opt, 0.05, 12);
  } else if (kind == "sgd") {
    r.opt = std::make_unique<optim::SGD>(r.params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    r.sched = std::make_unique<optim::CosineAnnealingLR>(*r.opt, 10, 1e-3);
  } else if (kind == "rmsprop") {
    // No weight decay here: with a steady decay term centered RMSprop takes sqrt(E[g²] - E[g]²)
    // of a nearly constant gradient, where float32 rounding differences get amplified.
    r.opt = std::make_unique<optim::RMSprop>(r.params, optim::RMSpropOptions{.momentum = 0.5, .centered = true});
    r.sched = std::make_unique<optim::StepLR>(*r.opt, 3, 0.5);
  } else {
    r.opt = std::make_unique<optim::Adagrad>(r.params, optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.01});
    r.sched = std::make_unique<optim::LinearLR>(*r.opt, 0.5, 1.0, 4);
  }
  return r;
}

void train(Training& r, int from, int to) {
  for (int s = from; s < to; ++s) {
    Generator gen(100 + s);  // the gradient of step s, whatever happened before
    for (auto& p : r.params) p.set_grad(randn(p.shape(), {}, &gen));
    nn::utils::clip_grad_norm_(r.params, 50.0);
    r.opt->step();
    r.sched->step();
  }
}

const char* kKinds[] = {"adamw", "sgd", "rmsprop", "adagrad"};

TEST(OptimResume, ThroughACheckpointFileIsBitExact) {
  // Two kinds only: each save fsyncs, which is slow on a busy disk (the in-memory round trip
  // of every optimizer is in test_optimizers.cpp).
  for (const char* kind : {"adamw", "rmsprop"}) {
    SCOPED_TRACE(kind);
    Training a = make_run(kind);
    train(a, 0, 10);

    std::string path = (std::filesystem::temp_directory_path() /
                        fmt::format("tandem_optim_resume_{}_{}.safetensors", kind, ::getpid()))
                           .string();
    {
      Training b = make_run(kind);
      train(b, 0, 4);
      io::Checkpoint ck;
      for (size_t i = 0; i < b.params.size(); ++i) ck.model[fmt::format("p{}", i)] = b.params[i];
      ck.optimizer = b.opt->state_dict();
      ck.scheduler = b.sched->state_dict();
      io::save_checkpoint(path, ck);
    }
    Training c = make_run(kind);
    {
      io::Checkpoint ck = io::load_checkpoint(path);
      NoGradGuard guard;
      for (size_t i = 0; i < c.params.size(); ++i) c.params[i].copy_(ck.model.at(fmt::format("p{}", i)));
      c.opt->load_state_dict(ck.optimizer);
      c.sched->load_state_dict(ck.scheduler);
    }
    std::filesystem::remove(path);
    train(c, 4, 10);
    for (size_t i = 0; i < a.params.size(); ++i) EXPECT_TRUE(all_close(c.params[i], a.params[i], 0, 0)) << "param " << i;
    EXPECT_EQ(c.sched->get_last_lr(), a.sched->get_last_lr());
  }
}

TEST(OptimThreads, SameNumbersAtAnyThreadCountAndOnTheGenericPath) {
  const int saved = get_num_threads();
  for (const char* kind : kKinds) {
    SCOPED_TRACE(kind);
    set_num_threads(1);
    Training one = make_run(kind);
    train(one, 0, 5);
    set_num_threads(3);
    Training three = make_run(kind);
    train(three, 0, 5);
    Training generic = make_run(kind, /*non_contiguous=*/true);
    train(generic, 0, 5);
    for (size_t i = 0; i < one.params.size(); ++i) {
      EXPECT_TRUE(all_close(three.params[i], one.params[i], 0, 0)) << "param " << i;
      EXPECT_TRUE(all_close(generic.params[i], one.params[i], 1e-6, 1e-5)) << "param " << i;
    }
  }
  set_num_threads(saved);
}

}  // namespace
}  // namespace tandem::testing
