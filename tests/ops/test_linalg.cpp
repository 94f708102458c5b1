// Linear algebra: matmul, linear, bmm, outer; and the oneDNN glue they run on.
#include "../../src/backend/cpu/onednn.h"
#include "grad_cases.h"

namespace tandem::testing {
namespace {

namespace onednn = cpu::onednn;

TEST(OneDNN, WrapsTensorsWithoutCopyAndCachesPrimitives) {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}).reshape({2, 3});
  Tensor b = tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}).reshape({3, 2});
  Tensor c = zeros({2, 2});
  auto make_key = [&] { return onednn::Key("test_matmul").add(a.shape()).add(b.shape()); };
  auto create = [&] {
    return dnnl::matmul(dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(onednn::md(a), onednn::md(b), onednn::md(c)), onednn::engine()));
  };
  auto before = onednn::cache_stats();
  auto p1 = onednn::cached<dnnl::matmul>(make_key(), create);
  auto p2 = onednn::cached<dnnl::matmul>(make_key(), create);
  EXPECT_EQ(p1.get(), p2.get());
  auto after = onednn::cache_stats();
  EXPECT_EQ(after.misses - before.misses, 1u);
  EXPECT_EQ(after.hits - before.hits, 1u);
  p1->execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(a)},
                                 {DNNL_ARG_WEIGHTS, onednn::wrap(b)},
                                 {DNNL_ARG_DST, onednn::wrap(c)}});
  onednn::stream().wait();
  // [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
  EXPECT_ALL_CLOSE(c, tensor({4.0, 5.0, 10.0, 11.0}).reshape({2, 2}));
}

TEST(OneDNN, RejectsDtypesItCannotCompute) {
  EXPECT_FALSE(onednn::supported(kFloat64));
  EXPECT_TRUE(throws_error([] { onednn::md(zeros({2}, {.dtype = kFloat64})); }, {"float64"}));
}

}  // namespace
}  // namespace tandem::testing
