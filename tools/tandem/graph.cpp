// tandem graph: capture a zoo model (its forward, or a whole training step) with
// tandem::compile, run the pass pipeline on the captured graph, and print what each pass did,
// the graph before and after, and the planned memory.
//
//   tandem graph --model cnn                      # inference graph, all passes
//   tandem graph --model mlp --train --passes cse,dce --dot mlp_step.dot
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>

#include <tandem/autograd.h>
#include <tandem/io/atomic_file.h>
#include <tandem/compile.h>
#include <tandem/graph/passes.h>
#include <tandem/graph/plan.h>
#include <tandem/models.h>
#include <tandem/nn.h>
#include <tandem/optim.h>

#include "commands.h"

namespace tandem::cli {

namespace {

std::string mb(size_t bytes) { return fmt::format("{:.2f} MB", bytes / 1e6); }

void print_memory(const graph::Graph& g, const Shape& input_shape, bool train) {
  graph::LowerOptions lo;
  for (const graph::Value* in : g.inputs()) {
    Shape s = graph::is_static(in->shape) ? graph::static_shape(in->shape) : input_shape;
    lo.input_shapes.push_back(s);
  }
  graph::Plan plan = graph::lower(g, lo);
  const graph::MemoryStats& m = plan.memory();
  fmt::print("planned memory{}: arena {} (eager peak {}, every intermediate separate {}), "
             "{} buffers, {} in-place steps, {} steps\n",
             train ? " (training step)" : "", mb(m.arena_bytes), mb(m.eager_peak_bytes),
             mb(m.naive_bytes), m.num_buffers, m.num_inplace, plan.num_steps());
}

}  // namespace

Run add_graph(CLI::App& app) {
  struct Args {
    std::string model;
    bool train = false;
    std::string passes = "all";
    std::string dot;
    std::string dump_dir;
    int64_t batch = 64;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("graph", "Capture a model into a graph and show what the passes do");
  cmd->add_option("--model,-m", a->model, "Model")->required()->check(CLI::IsMember(models::names()));
  cmd->add_flag("--train", a->train, "Capture a whole training step (forward, loss, backward, SGD step)");
  cmd->add_option("--passes", a->passes, "all, none, or a comma list of pass names (all,-cse drops one)")
      ->capture_default_str();
  cmd->add_option("--dot", a->dot, "Write the optimized graph as GraphViz DOT to this file");
  cmd->add_option("--dump-dir", a->dump_dir, "Write the graph before and after each pass here");
  cmd->add_option("--batch-size,-b", a->batch, "Batch size of the example input")
      ->check(positive())->capture_default_str();
  cmd->add_flag("--quiet,-q", a->quiet, "Print the pass table and memory only, not the graphs");
  return [a] {
    manual_seed(0);
    auto model = models::create(a->model);
    Shape shape = models::input_shape(a->model);
    shape.insert(shape.begin(), a->batch);
    Tensor x = randn(shape);
    Tensor y = randint(0, 10, {a->batch});

    CompileOptions co;
    co.modules = {model};
    co.passes = {};  // capture only: the pipeline below runs the passes and reports each one
    graph::Graph captured;
    if (a->train) {
      model->train();
      auto opt = std::make_shared<optim::SGD>(model->parameters(),
                                              optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
      auto step = compile(
          [model, opt](const Tensor& xb, const Tensor& yb) {
            opt->zero_grad();
            Tensor loss = cross_entropy((*model)(xb), yb);
            loss.backward();
            opt->step();
            return loss;
          },
          co);
      step(x, y);
      captured = graph::copy_graph(step.graph());
    } else {
      model->eval();
      NoGradGuard no_grad;
      auto fwd = compile([model](const Tensor& xb) { return (*model)(xb); }, co);
      fwd(x);
      captured = graph::copy_graph(fwd.graph());
    }

    if (!a->quiet) fmt::print("== captured graph ({} nodes)\n{}\n", captured.num_nodes(), captured.str());
    print_memory(captured, shape, a->train);

    graph::Graph optimized = graph::copy_graph(captured);
    graph::PipelineOptions po;
    po.passes = a->passes;
    po.dump_dir = a->dump_dir;
    po.inference = !a->train;
    po.verify_each = true;
    graph::PipelineReport report = graph::run_pipeline(optimized, po);
    fmt::print("\n== passes ({} -> {} nodes)\n{}\n", report.nodes_before, report.nodes_after, report.str());
    if (!a->quiet) fmt::print("== optimized graph ({} nodes)\n{}\n", optimized.num_nodes(), optimized.str());
    print_memory(optimized, shape, a->train);
    if (!a->dot.empty()) {
      io::write_file_atomic(a->dot, [&](std::ostream& f) { f << optimized.dot(); });
      fmt::print("wrote {}\n", a->dot);
    }
    return 0;
  };
}

}  // namespace tandem::cli
