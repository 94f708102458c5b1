// train::estimate_training_memory: one training step on random input, measured with the
// allocator's counters, then the model put back as it was.
#include "tandem/train/memory_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "tandem/autograd.h"
#include "tandem/generator.h"
#include "tandem/memory.h"
#include "tandem/ops.h"
#include "optimizer_factory.h"

namespace tandem::train {

MemoryEstimate estimate_training_memory(nn::Module& model, const Shape& input_shape,
                                        const TrainOptions& options) {
  TANDEM_CHECK(!input_shape.empty() && input_shape[0] > 0,
               "memory estimate: the input shape {} needs a batch dimension of at least 1",
               shape_str(input_shape));
  MemoryEstimate m;
  m.input_shape = input_shape;
  m.optimizer = options.optimizer;
  for (const Tensor& p : model.parameters()) {
    m.parameters += static_cast<int64_t>(p.nbytes());
    if (p.requires_grad()) m.gradients += static_cast<int64_t>(p.nbytes());
  }
  for (const Tensor& b : model.buffers()) m.parameters += static_cast<int64_t>(b.nbytes());

  // What the dry run changes, to put back afterwards.
  std::map<std::string, Tensor> saved;
  for (const auto& [name, t] : model.state_dict()) saved[name] = t.clone();
  const Generator rng = default_generator();
  const bool was_training = model.is_training();

  EnableGradGuard grad_on;
  model.train();
  model.zero_grad();
  Tensor x = randn(input_shape);
  m.input = static_cast<int64_t>(x.nbytes());
  const int64_t before = memory_stats().allocated_bytes;
  Tensor out = model(x);
  Tensor loss = out.dim() == 2 ? cross_entropy(out, zeros({out.size(0)}, {.dtype = DType::Int64}))
                               : out.sum();
  m.activations = memory_stats().allocated_bytes - before;
  out = Tensor();
  // Backward's own peak above what the forward left: the gradients it writes and the
  // temporaries (gradients of activations, kernel workspaces) alive at its busiest point.
  const int64_t before_backward = memory_stats().allocated_bytes;
  reset_peak_memory_stats();
  loss.backward();
  m.backward_temporaries =
      std::max<int64_t>(0, memory_stats().peak_allocated_bytes - before_backward - m.gradients);
  loss = Tensor();
  auto opt = make_optimizer(options, model.parameters());
  const int64_t before_step = memory_stats().allocated_bytes;
  opt->step();
  m.optimizer_state = memory_stats().allocated_bytes - before_step;
  opt.reset();

  model.zero_grad();
  model.load_state_dict(saved);
  model.train(was_training);
  default_generator() = rng;
  return m;
}

std::string format_memory_estimate(const MemoryEstimate& m) {
  auto mb = [](int64_t b) { return fmt::format("{:10.2f} MB", static_cast<double>(b) / (1 << 20)); };
  std::string s = fmt::format("Training memory at input {} with {} (one step measured):\n",
                              shape_str(m.input_shape), m.optimizer);
  s += fmt::format("  parameters      {}\n", mb(m.parameters));
  s += fmt::format("  gradients       {}\n", mb(m.gradients));
  s += fmt::format("  optimizer state {}\n", mb(m.optimizer_state));
  s += fmt::format("  activations     {}\n", mb(m.activations));
  s += fmt::format("  backward temps  {}\n", mb(m.backward_temporaries));
  s += fmt::format("  input batch     {}\n", mb(m.input));
  s += fmt::format("  total           {}\n", mb(m.total()));
  return s;
}

}  // namespace tandem::train
