// Shared by tests/graph/test_fuse_*.cpp: run a graph through the interpreter and a Plan and
// compare with the eager outputs recorded with it (plan_recorder.h), within a tolerance.
#pragma once
#include <string>
#include <vector>

#include "plan_recorder.h"
#include "tandem/graph/compile.h"
#include "tandem/graph/fusion.h"
#include "tandem/graph/plan.h"
#include "test_util.h"

namespace tandem::testing {

inline int count_ops(const graph::Graph& g, const std::string& name) {
  int n = 0;
  for (const graph::Node* node : g.nodes()) n += node->op->name == name;
  return n;
}

inline void expect_graph_matches(const graph::Graph& g, const std::vector<Tensor>& inputs,
                                 const std::vector<Tensor>& eager, double atol, double rtol) {
  g.verify();
  std::vector<Tensor> interp = graph::run(g, inputs);
  graph::Plan plan = graph::lower(g);
  std::vector<Tensor> planned = plan.run(inputs);
  ASSERT_EQ(interp.size(), eager.size());
  ASSERT_EQ(planned.size(), eager.size());
  for (size_t k = 0; k < eager.size(); ++k) {
    EXPECT_EQ(interp[k].shape(), eager[k].shape()) << "output " << k;
    EXPECT_ALL_CLOSE(interp[k], eager[k], atol, rtol) << "output " << k << "\n" << g.str();
    EXPECT_ALL_CLOSE(planned[k], eager[k], atol, rtol) << "output " << k << " (plan)\n" << g.str();
  }
}

}  // namespace tandem::testing
