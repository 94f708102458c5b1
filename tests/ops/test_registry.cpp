// Walks the operator registry: every shipped op has a backward formula or is
// marked non-differentiable, every differentiable op has a gradcheck case
// that really dispatches it, and every op exports to ONNX or says why not.
// Then runs every gradcheck case.
#include <set>

#include "tandem/onnx/export.h"

#include "grad_cases.h"

namespace tandem::testing {

std::vector<GradCase>& grad_cases() {
  static std::vector<GradCase> cases;
  return cases;
}

namespace {

// Names of the ops recorded in the autograd graph behind `t`.
std::set<std::string> recorded_ops(const Tensor& t) {
  std::set<std::string> names;
  std::vector<autograd::Node*> stack;
  std::set<autograd::Node*> seen;
  if (t.grad_fn()) stack.push_back(t.grad_fn().get());
  while (!stack.empty()) {
    autograd::Node* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    names.insert(n->name());
    for (const auto& e : n->next)
      if (e.node) stack.push_back(e.node.get());
  }
  return names;
}

TEST(Registry, EveryOpHasABackwardOrIsMarkedNonDifferentiable) {
  for (const OpDef* d : all_ops())
    EXPECT_TRUE(d->backward != nullptr || d->non_differentiable)
        << "op '" << d->name << "' has no backward formula and is not marked non_differentiable";
}

TEST(Registry, EveryDifferentiableOpHasAGradcheckCase) {
  std::set<std::string> covered;
  for (const GradCase& c : grad_cases()) covered.insert(c.op);
  for (const OpDef* d : all_ops()) {
    if (d->non_differentiable) continue;
    EXPECT_TRUE(covered.count(d->name)) << "op '" << d->name << "' has no TANDEM_GRAD_CASE";
  }
}

TEST(Registry, EveryOpExportsToOnnxOrSaysWhyNot) {
  const std::vector<std::string> names = onnx::supported_ops();
  const std::set<std::string> exportable(names.begin(), names.end());
  for (const OpDef* d : all_ops()) {
    const bool exports = exportable.count(d->name) != 0;
    EXPECT_TRUE(exports || !d->no_onnx_export.empty())
        << "op '" << d->name << "' has no ONNX export (OpDef::onnx_op or an emitter in "
        << "src/onnx/export_ops.cpp) and no no_onnx_export reason";
    EXPECT_FALSE(exports && !d->no_onnx_export.empty())
        << "op '" << d->name << "' exports to ONNX but is marked no_onnx_export: "
        << d->no_onnx_export;
  }
}

TEST(Registry, GradcheckCasesNameRegisteredOps) {
  for (const GradCase& c : grad_cases())
    EXPECT_NE(find_op(c.op), nullptr) << "case " << c.op << "." << c.name << " names an unknown op";
}

class Gradcheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(Gradcheck, MatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  Tensors inputs = c.make_inputs();
  Tensor out = c.fn(inputs);
  std::set<std::string> ops = recorded_ops(out);
  EXPECT_TRUE(ops.count(c.op)) << "the case does not dispatch '" << c.op << "' with gradients; "
                               << "recorded: " << fmt::format("{}", fmt::join(ops, ", "));
  EXPECT_TRUE(gradcheck(c.fn, inputs, c.opts));
}

INSTANTIATE_TEST_SUITE_P(Ops, Gradcheck, ::testing::ValuesIn(grad_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) {
                           return info.param.op + "_" + info.param.name;
                         });

}  // namespace
}  // namespace tandem::testing
