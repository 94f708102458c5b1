// einsum against PyTorch 1.13: outputs and gradients from tests/data/einsum/<case>/, written
// by tests/reference/gen_einsum.py (diagonals, "..." in every position, broadcasting, the
// implicit form), on contiguous and non-contiguous inputs; finite-difference gradchecks to
// second order; errors for malformed equations.
#include <map>
#include <string>

#include "tandem/einsum.h"
#include "reference_case.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

// The same table as gen_einsum.py's CASES.
const std::map<std::string, std::string>& einsum_cases() {
  static const std::map<std::string, std::string> m = {
      {"diagonal", "ii->i"},
      {"trace", "ii->"},
      {"trace_implicit", "ii"},
      {"diag_keep_j", "iij->ij"},
      {"batch_diagonal", "bii->bi"},
      {"triple_diagonal", "iii->i"},
      {"diag_then_matmul", "iij,jk->ik"},
      {"diag_both_operands", "ii,jj->ij"},
      {"diag_outer_order", "jii->ij"},
      {"ellipsis_front", "...ij->...ji"},
      {"ellipsis_middle", "i...j,j...k->i...k"},
      {"ellipsis_end", "ij...->ji..."},
      {"ellipsis_diagonal", "...ii->...i"},
      {"ellipsis_trace_implicit", "...ii"},
      {"ellipsis_broadcast", "...ij,...jk->...ik"},
      {"ellipsis_empty", "...ij,jk->...ik"},
      {"implicit_transpose", "ba"},
      {"bilinear", "bn,anm,bm->ba"},
  };
  return m;
}

class EinsumReference : public ::testing::TestWithParam<std::string> {};

TEST_P(EinsumReference, OutputAndGradientsMatchPyTorch) {
  const std::string& eq = einsum_cases().at(GetParam());
  check_reference_case(
      "einsum", GetParam(), [&](const Tensors& x) { return Tensors{einsum(eq, x)}; },
      [](const Tensor& actual, const Tensor& expected) { return all_close(actual, expected, 1e-12, 1e-10); });
}

std::vector<std::string> einsum_case_names() {
  std::vector<std::string> v;
  for (const auto& [k, e] : einsum_cases()) v.push_back(k);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Einsum, EinsumReference, ::testing::ValuesIn(einsum_case_names()));

}  // namespace

TEST(Einsum, DiagonalsPassGradcheckToSecondOrder) {
  Generator g(7);
  const GradcheckOptions second{.second_order = true};
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return einsum("bii->bi", {x[0]}); },
                        {randn({2, 3, 3}, {.dtype = DType::Float64, .requires_grad = true}, &g)}, second));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return einsum("iij,jk->ik", {x[0], x[1]}); },
                        {randn({3, 3, 2}, {.dtype = DType::Float64, .requires_grad = true}, &g),
                         randn({2, 4}, {.dtype = DType::Float64, .requires_grad = true}, &g)},
                        second));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return einsum("...ii,...i->...", {x[0], x[1]}); },
                        {randn({2, 3, 3}, {.dtype = DType::Float64, .requires_grad = true}, &g),
                         randn({3}, {.dtype = DType::Float64, .requires_grad = true}, &g)},
                        second));
}

TEST(Einsum, IntegerOperandsKeepTheirType) {
  Tensor m = arange(9.0).reshape({3, 3}).to(DType::Int32);
  Tensor t = einsum("ii->", {m});
  EXPECT_EQ(t.dtype(), DType::Int32);
  EXPECT_EQ(t.item<int64_t>(), 0 + 4 + 8);
}

TEST(Einsum, MalformedEquationsAreErrors) {
  Tensor m = zeros({3, 4});
  EXPECT_TRUE(throws_error([&] { einsum("ii->i", {m}); }, {"sizes 3 and 4", "diagonal"}));
  EXPECT_TRUE(throws_error([&] { einsum("ij,jk->ik", {m}); }, {"2 operands", "1 tensors"}));
  EXPECT_TRUE(throws_error([&] { einsum("ijk->i", {m}); }, {"operand 0 has 2 dims", "'ijk'"}));
  EXPECT_TRUE(throws_error([&] { einsum("ij->iz", {m}); }, {"appears in no operand"}));
  EXPECT_TRUE(throws_error([&] { einsum("ij->ii", {m}); }, {"repeats a label"}));
  EXPECT_TRUE(throws_error([&] { einsum("i1->i", {m}); }, {"'1'", "not a letter"}));
  EXPECT_TRUE(throws_error([&] { einsum("...i...->i", {m}); }, {"outside its one '...'"}));
}
