// The pass registry and pipeline: spec parsing, order, dumps, verification, and the whole
// default pipeline on random graphs.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "random_graph.h"

namespace tandem::graph {
namespace {

using tandem::testing::throws_error;

std::string read(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(PassPipeline, AllRunsRegisteredPassesInTheDefaultOrder) {
  std::vector<std::string> names = PassPipeline::from_spec("all", false).names();
  std::vector<std::string> expect;
  for (const std::string& n : default_pass_order()) {
    const Pass* p = find_pass(n);
    if (p && !p->inference_only && (expect.empty() || expect.back() != n)) expect.push_back(n);
  }
  for (size_t i = 1; i < names.size(); ++i) EXPECT_NE(names[i], names[i - 1]);
  EXPECT_EQ(names, expect);
  ASSERT_GE(names.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5),
            (std::vector<std::string>{"shape_infer", "const_fold", "simplify", "cse", "dce"}));
  EXPECT_TRUE(PassPipeline::from_spec("none", false).names().empty());
  EXPECT_TRUE(PassPipeline::from_spec("", false).names().empty());
  EXPECT_EQ(PassPipeline::from_spec(" dce, cse ,dce", false).names(), (std::vector<std::string>{"dce", "cse", "dce"}));
  std::vector<std::string> without = PassPipeline::from_spec("all,-cse,-dce", false).names();
  EXPECT_EQ(std::count(without.begin(), without.end(), "cse"), 0);
  EXPECT_EQ(std::count(without.begin(), without.end(), "dce"), 0);
  EXPECT_EQ(without.size() + std::count(names.begin(), names.end(), "dce") + 1, names.size());
}

TEST(PassPipeline, SpecErrorsSayWhatIsKnown) {
  EXPECT_TRUE(throws_error([] { PassPipeline::from_spec("cse,frobnicate", false); },
                           {"unknown pass 'frobnicate'", "cse", "dce", "simplify"}));
  EXPECT_TRUE(throws_error([] { PassPipeline::from_spec("all,cse", false); }, {"mixes 'all'"}));
  EXPECT_TRUE(throws_error([] { PassPipeline::from_spec("-cse", false); }, {"after 'all'"}));
}

TEST(PassPipeline, InferenceOnlyPassesNeedInferenceMode) {
  register_pass({"test_inference_only", [](Graph&) { return PassResult{}; }, true, "test"});
  EXPECT_TRUE(throws_error([] { PassPipeline::from_spec("test_inference_only", false); }, {"inference-only"}));
  EXPECT_EQ(PassPipeline::from_spec("test_inference_only", true).names().size(), 1u);
}

TEST(PassPipeline, RegisterPassAddsAndReplaces) {
  int calls = 0;
  register_pass({"test_counting", [&](Graph&) { ++calls; PassResult r; r.add("calls"); return r; }});
  Graph g;
  g.set_outputs({g.add_input("x", DType::Float32, {1})});
  PipelineReport rep = run_pipeline(g, {.passes = "test_counting,test_counting"});
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(rep.passes.size(), 2u);
  EXPECT_EQ(rep.passes[0].result.counts.at("calls"), 1);
  register_pass({"test_counting", [&](Graph&) { calls += 10; return PassResult{}; }});
  run_pipeline(g, {.passes = "test_counting"});
  EXPECT_EQ(calls, 12);
  EXPECT_NE(find_pass("test_counting"), nullptr);
  EXPECT_EQ(find_pass("no_such_pass"), nullptr);
  EXPECT_TRUE(throws_error([] { register_pass({"a,b", [](Graph&) { return PassResult{}; }}); }, {"','"}));
}

// y = relu(x * (2 * 0.5)) + relu(x * (2 * 0.5)), with a dead branch.
void build_example(Graph& g) {
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 3});
  Value* half = g.add_node(op("mul"), {g.add_constant(full({3}, 2.0)), g.add_constant(wrap_scalar(0.5))})->output();
  Value* a = g.add_node(op("relu"), {g.add_node(op("mul"), {x, half})->output()})->output();
  Value* b = g.add_node(op("relu"), {g.add_node(op("mul"), {x, half})->output()})->output();
  g.add_node(op("exp"), {a});
  g.set_outputs({g.add_node(op("add"), {a, b})->output()});
}

TEST(PassPipeline, DefaultPipelineCleansUpTheExample) {
  Graph g;
  build_example(g);
  EXPECT_EQ(g.num_nodes(), 7u);
  // Without fusion, which would turn the remaining relu + add into one fused_elementwise.
  PipelineReport rep = run_pipeline(g, {.passes = "all,-fuse_elementwise", .verify_each = true, .bind = {{"batch", 4}}});
  // const_fold: 2*0.5 -> ones; simplify: x*1 -> x (twice); cse: relu twice -> once; dce: exp.
  std::vector<std::string> ops;
  for (const Node* n : g.nodes()) ops.push_back(n->op->name);
  EXPECT_EQ(ops, (std::vector<std::string>{"relu", "add"})) << g.str();
  EXPECT_EQ(g.inputs()[0]->shape, (SymShape{4, 3}));
  EXPECT_EQ(rep.nodes_before, 7u);
  EXPECT_EQ(rep.nodes_after, 2u);
  std::string table = rep.str();
  for (const char* want : {"const_fold", "folded_nodes=1", "simplify", "mul_by_one=2", "cse",
                           "merged_nodes=1", "dce", "removed_nodes=1", "7->2"})
    EXPECT_NE(table.find(want), std::string::npos) << want << "\n" << table;
}

TEST(PassPipeline, DumpsEachPassBeforeAndAfter) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("tandem_pass_dump_{}", ::getpid());
  fs::remove_all(dir);
  Graph g;
  build_example(g);
  std::string original = g.str();
  PipelineReport rep = run_pipeline(g, {.passes = "simplify,cse", .dump_dir = dir.string()});
  EXPECT_EQ(rep.dump_dir, dir.string());
  for (const char* f : {"00-simplify-before.txt", "00-simplify-after.txt", "00-simplify-before.dot",
                        "00-simplify-after.dot", "01-cse-before.txt", "01-cse-after.txt"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  EXPECT_EQ(read(dir / "00-simplify-before.txt"), original);
  EXPECT_EQ(read(dir / "01-cse-before.txt"), read(dir / "00-simplify-after.txt"));
  EXPECT_EQ(read(dir / "01-cse-after.txt"), g.str());
  EXPECT_EQ(read(dir / "00-simplify-before.dot").rfind("digraph", 0), 0u);
  fs::remove_all(dir);

  // The environment variable does the same when no directory is given.
  ::setenv("TANDEM_GRAPH_DUMP", dir.string().c_str(), 1);
  Graph h;
  build_example(h);
  run_pipeline(h, {.passes = "dce"});
  ::unsetenv("TANDEM_GRAPH_DUMP");
  EXPECT_TRUE(fs::exists(dir / "00-dce-after.txt"));
  fs::remove_all(dir);
}

TEST(PassPipeline, VerifyEachNamesTheBrokenPass) {
  register_pass({"test_breaks_order", [](Graph& g) {
                   g.move_before(g.nodes().back(), g.nodes().front());
                   PassResult r;
                   r.add("moved");
                   return r;
                 }});
  Graph g;
  build_example(g);
  EXPECT_TRUE(throws_error([&] { run_pipeline(g, {.passes = "test_breaks_order", .verify_each = true}); },
                           {"pass 'test_breaks_order'", "before it is defined"}));
}

TEST(PassPipeline, RandomGraphsComputeTheSameThroughTheWholePipeline) {
  int changed = testing::differential(
      [](Graph& g) {
        PipelineReport rep = run_pipeline(g, {.verify_each = true});
        PassResult r;
        for (auto& p : rep.passes) r.changed = r.changed || p.result.changed;
        return r;
      },
      300, 6000);
  EXPECT_GT(changed, 150);
}

TEST(PassPipeline, RandomGraphsWithoutDropoutShrink) {
  // Graphs built with identities, repeats and dead nodes lose nodes, and pipelines are
  // idempotent: a second run changes nothing.
  size_t before = 0, after = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    testing::RandomGraph r = testing::random_graph(7000 + seed, {.dropout = false});
    before += r.g.num_nodes();
    run_pipeline(r.g);
    after += r.g.num_nodes();
    std::string once = r.g.str();
    PipelineReport again = run_pipeline(r.g);
    for (auto& p : again.passes) EXPECT_FALSE(p.result.changed) << p.name << " seed " << seed << "\n" << once;
  }
  EXPECT_LT(after, before * 8 / 10);
}

}  // namespace
}  // namespace tandem::graph
