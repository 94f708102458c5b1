// scatter, scatter_reduce, index_add/copy/fill, take_along_dim, advanced indexing (index,
// index_put), masked_select and masked_scatter against PyTorch 1.13: outputs and gradients
// from tests/data/scatter/<case>/, written by tests/reference/gen_scatter.py (its header
// describes the files; each case's PyTorch expression is in tests/data/scatter/manifest.json).
// Every case runs on contiguous inputs and on non-contiguous copies. Then finite-difference
// gradchecks and errors for bad indices and shapes.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "grad_cases.h"
#include "reference_case.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

Tensor sc_i64(std::vector<int64_t> v, Shape s) { return tensor<int64_t>(std::move(v), s); }

TANDEM_GRAD_CASE(scatter, noncontiguous_src_larger, [](const Tensors& x) {
                   return scatter(x[0], -1, sc_i64({3, 0, 1, 2, 0, 3}, {2, 3}), x[1]);
                 },
                 [] { return Tensors{noncontiguous({2, 4}), noncontiguous({3, 4}, 5)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(scatter_reduce, prod_noself, [](const Tensors& x) {
                   return scatter_reduce(x[0], 0, sc_i64({2, 0, 2, 2, 1, 0}, {3, 2}), x[1], "prod", false);
                 },
                 [] { return Tensors{noncontiguous({3, 2}), noncontiguous({3, 2}, 7)}; });
TANDEM_GRAD_CASE(scatter_reduce, mean_self, [](const Tensors& x) {
                   return scatter_reduce(x[0], 1, sc_i64({2, 0, 2, 2, 1, 0}, {2, 3}), x[1], "mean", true);
                 },
                 [] { return Tensors{noncontiguous({2, 4}), noncontiguous({2, 3}, 7)}; },
                 GradcheckOptions{.second_order = true});

using CaseFn = std::function<Tensor(const Tensors&)>;

std::map<std::string, CaseFn> make_scatter_cases() {
  std::map<std::string, CaseFn> m;
  m["scatter_src_dim0"] = [](const Tensors& x) { return scatter(x[0], 0, x[1], x[2]); };
  m["scatter_src_neg_dim"] = [](const Tensors& x) { return scatter(x[0], -1, x[1], x[2]); };
  m["scatter_value"] = [](const Tensors& x) { return scatter(x[0], 1, x[1], 2.5); };
  m["scatter_3d_smaller_index"] = [](const Tensors& x) { return scatter(x[0], 1, x[1], x[2]); };
  for (const std::string r : {"sum", "prod", "mean", "amax", "amin"}) {
    m["scatter_reduce_" + r + "_self"] = [r](const Tensors& x) { return scatter_reduce(x[0], -1, x[1], x[2], r, true); };
    m["scatter_reduce_" + r + "_noself"] = [r](const Tensors& x) { return scatter_reduce(x[0], 0, x[1], x[2], r, false); };
  }
  m["scatter_reduce_mean_3d"] = [](const Tensors& x) { return scatter_reduce(x[0], 1, x[1], x[2], "mean", false); };
  m["index_add_dups_alpha"] = [](const Tensors& x) { return index_add(x[0], 0, x[1], x[2], 2.0); };
  m["index_add_neg_dim"] = [](const Tensors& x) { return index_add(x[0], -1, x[1], x[2]); };
  m["index_copy"] = [](const Tensors& x) { return index_copy(x[0], 0, x[1], x[2]); };
  m["index_copy_dim1"] = [](const Tensors& x) { return index_copy(x[0], 1, x[1], x[2]); };
  m["index_fill_neg_index"] = [](const Tensors& x) { return index_fill(x[0], 1, x[1], -3.0); };
  m["take_along_dim"] = [](const Tensors& x) { return take_along_dim(x[0], x[1], 1); };
  m["take_along_dim_broadcast"] = [](const Tensors& x) { return take_along_dim(x[0], x[1], -1); };
  m["take_along_dim_flat"] = [](const Tensors& x) { return take_along_dim(x[0], x[1]); };
  m["index_one_tensor_negative"] = [](const Tensors& x) { return index(x[0], {x[1]}); };
  m["index_gap"] = [](const Tensors& x) { return index(x[0], {x[1], Tensor(), x[2]}); };
  m["index_adjacent"] = [](const Tensors& x) { return index(x[0], {Tensor(), x[1], x[2]}); };
  m["index_bool_mask"] = [](const Tensors& x) { return index(x[0], {x[1]}); };
  m["index_put"] = [](const Tensors& x) { return index_put(x[0], {x[1], x[2]}, x[3]); };
  m["index_put_accumulate_dups"] = [](const Tensors& x) { return index_put(x[0], {x[1]}, x[2], true); };
  m["index_put_gap_broadcast_values"] = [](const Tensors& x) { return index_put(x[0], {x[1], Tensor(), x[2]}, x[3]); };
  m["index_put_adjacent_accumulate"] = [](const Tensors& x) {
    return index_put(x[0], {Tensor(), x[1], x[2]}, x[3], true);
  };
  m["index_put_bool_mask"] = [](const Tensors& x) { return index_put(x[0], {x[1]}, x[2]); };
  m["masked_select"] = [](const Tensors& x) { return masked_select(x[0], x[1]); };
  m["masked_select_broadcast"] = [](const Tensors& x) { return masked_select(x[0], x[1]); };
  m["masked_scatter"] = [](const Tensors& x) { return masked_scatter(x[0], x[1], x[2]); };
  m["masked_scatter_broadcast_mask"] = [](const Tensors& x) { return masked_scatter(x[0], x[1], x[2]); };
  return m;
}

const std::map<std::string, CaseFn>& scatter_cases() {
  static const std::map<std::string, CaseFn> m = make_scatter_cases();
  return m;
}

std::vector<std::string> scatter_case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : scatter_cases()) names.push_back(name);
  return names;
}

class ScatterReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ScatterReference, MatchesPyTorch) {
  const std::string& name = GetParam();
  check_reference_case(
      "scatter", name, [&](const Tensors& x) { return Tensors{scatter_cases().at(name)(x)}; },
      [](const Tensor& actual, const Tensor& expected) { return all_close(actual, expected, 1e-12, 1e-10); });
}

INSTANTIATE_TEST_SUITE_P(Ops, ScatterReference, ::testing::ValuesIn(scatter_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(ScatterReferenceData, EveryGeneratedCaseHasATandemCase) {
  EXPECT_EQ(reference_case_dirs("scatter"), scatter_case_names());
}

TEST(ScatterReduce, GradcheckEveryReductionWithoutTies) {
  for (const std::string r : {"sum", "prod", "mean", "amax", "amin"})
    for (const bool self : {true, false}) {
      SCOPED_TRACE(r + (self ? " include_self" : " without self"));
      EXPECT_TRUE(gradcheck([&](const Tensors& t) {
                    return scatter_reduce(t[0], 1, sc_i64({0, 2, 2, 3, 0, 1, 1, 1}, {2, 4}), t[1], r, self);
                  }, {noncontiguous({2, 4}, 11), noncontiguous({2, 4}, 12)}));
    }
}

TEST(ScatterReduce, IntegerMeanRoundsDownAndNanWinsAmax) {
  // torch.scatter_reduce(tensor([1, 7]), 0, tensor([1, 1]), tensor([-2, 0]), 'mean') -> [1, 1]
  Tensor m = scatter_reduce(sc_i64({1, 7}, {2}), 0, sc_i64({1, 1}, {2}), sc_i64({-2, 0}, {2}), "mean");
  EXPECT_TRUE(all_close(m, sc_i64({1, 1}, {2}), 0, 0));
  // torch.scatter_reduce(tensor([1., 2.]), 0, tensor([0, 0]), tensor([nan, 5.]), 'amax') -> [nan, 2]
  Tensor a = scatter_reduce(tensor<double>({1, 2}, Shape{2}), 0, sc_i64({0, 0}, {2}),
                            tensor<double>({std::nan(""), 5}, Shape{2}), "amax");
  EXPECT_TRUE(std::isnan(a.to(DType::Float64).contiguous().data<double>()[0]));
}

TEST(Scatter, OutOfRangeIndicesAndBadShapesAreErrors) {
  Tensor x = zeros({3, 4}, kF64);
  EXPECT_TRUE(throws_error([&] { scatter(x, 1, sc_i64({4}, {1, 1}), 1.0); }, {"scatter", "index 4", "out of bounds"}));
  EXPECT_TRUE(throws_error([&] { scatter(x, 0, sc_i64({-1}, {1, 1}), ones({1, 1}, kF64)); }, {"scatter", "-1"}));
  EXPECT_TRUE(throws_error([&] { scatter(x, 0, sc_i64({0}, {1}), ones({1}, kF64)); }, {"scatter", "dimensions"}));
  EXPECT_TRUE(throws_error([&] { scatter(x, 0, sc_i64({0, 0}, {1, 2}), ones({1, 1}, kF64)); }, {"scatter", "no larger"}));
  EXPECT_TRUE(throws_error([&] { scatter(x, 0, sc_i64({0}, {1, 1}), ones({1, 1})); }, {"scatter", "dtype"}));
  EXPECT_TRUE(throws_error([&] { scatter(x, 2, sc_i64({0}, {1, 1}), 1.0); }, {"scatter", "dimension 2"}));
  EXPECT_TRUE(throws_error([&] { scatter_reduce(x, 0, sc_i64({0}, {1, 1}), ones({1, 1}, kF64), "max"); },
                           {"scatter_reduce", "'max'"}));
  EXPECT_TRUE(throws_error([&] { scatter_reduce(x, 0, sc_i64({3}, {1, 1}), ones({1, 1}, kF64), "sum"); },
                           {"scatter_reduce", "index 3"}));
  EXPECT_TRUE(throws_error([&] { index_add(x, 0, sc_i64({0, 3}, {2}), ones({2, 4}, kF64)); }, {"index_add", "index 3"}));
  EXPECT_TRUE(throws_error([&] { index_add(x, 0, sc_i64({0, 1}, {2}), ones({2, 3}, kF64)); }, {"index_add", "shape"}));
  EXPECT_TRUE(throws_error([&] { index_copy(x, 1, sc_i64({-1}, {1}), ones({3, 1}, kF64)); }, {"index_copy", "-1"}));
  EXPECT_TRUE(throws_error([&] { index_fill(x, 1, sc_i64({-5}, {1}), 1.0); }, {"index_fill", "-5"}));
  EXPECT_TRUE(throws_error([&] { take_along_dim(x, sc_i64({4}, {1, 1}), 1); }, {"gather", "4"}));
  EXPECT_TRUE(throws_error([&] { take_along_dim(x, sc_i64({0}, {1}), 1); }, {"take_along_dim", "dimensions"}));
}

TEST(AdvancedIndexing, OutOfRangeIndicesAndBadShapesAreErrors) {
  Tensor x = zeros({3, 4}, kF64);
  EXPECT_TRUE(throws_error([&] { index(x, {sc_i64({3}, {1})}); }, {"index", "index 3", "size 3"}));
  EXPECT_TRUE(throws_error([&] { index(x, {Tensor(), sc_i64({-5}, {1})}); }, {"index", "-5"}));
  EXPECT_TRUE(throws_error([&] { index(x, {sc_i64({0, 1}, {2}), sc_i64({0, 1, 2}, {3})}); }, {"index", "broadcast"}));
  EXPECT_TRUE(throws_error([&] { index(x, {Tensor(), Tensor(), sc_i64({0}, {1})}); }, {"index", "too many"}));
  EXPECT_TRUE(throws_error([&] { index(x, {ones({3, 4}, kF64)}); }, {"index", "int64"}));
  EXPECT_TRUE(throws_error([&] { index(x, {ones({4}, {.dtype = DType::Bool})}); }, {"index", "mask"}));
  EXPECT_TRUE(throws_error([&] { index_put(x, {sc_i64({0}, {1})}, ones({5}, kF64)); }, {"index_put", "broadcast"}));
  EXPECT_TRUE(throws_error([&] { index_put(x, {sc_i64({0}, {1})}, ones({4})); }, {"index_put", "dtype"}));
  EXPECT_TRUE(throws_error([&] { masked_select(x, ones({3, 4}, kF64)); }, {"masked_select", "bool"}));
  EXPECT_TRUE(throws_error([&] { masked_select(x, ones({2, 4}, {.dtype = DType::Bool})); }, {"masked_select"}));
  EXPECT_TRUE(throws_error([&] { masked_scatter(x, ones({3, 4}, {.dtype = DType::Bool}), ones({11}, kF64)); },
                           {"masked_scatter", "12", "11"}));
}

}  // namespace
