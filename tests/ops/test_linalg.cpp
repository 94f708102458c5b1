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


// Deterministic inputs that are exact in float32: arange(n) * scale - shift, reshaped.
Tensor A(const Shape& shape, double scale = 0.5, double shift = 1.0, DType dt = kFloat32) {
  std::vector<double> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * scale - shift;
  return tensor<double>(v, shape).to(dt);
}
Tensor T(const Shape& shape, std::vector<double> v) { return tensor<double>(v, shape); }

class MatmulVsTorch : public ::testing::TestWithParam<DType> {};

// Expected values: torch.matmul(...) on torch.arange(n, dtype=torch.float64)*scale - shift.
TEST_P(MatmulVsTorch, MatchesPyTorch) {
  DType dt = GetParam();
  auto a = [dt](const Shape& s, double scale = 0.5) { return A(s, scale, 1.0, dt); };
  // torch.matmul(A(2,3), A(3,4))
  EXPECT_ALL_CLOSE(matmul(a({2, 3}), a({3, 4})), T({2, 4}, {0.5, -0.25, -1.0, -1.75, 5.0, 6.5, 8.0, 9.5}));
  // torch.matmul(A(2,1,2,3), A(3,3,2, scale=0.25)): batch dims [2,1] x [3] broadcast to [2,3]
  EXPECT_ALL_CLOSE(matmul(a({2, 1, 2, 3}), a({3, 3, 2}, 0.25)),
                   T({2, 3, 2, 2}, {1.25, 0.875, -1.0, -0.25, -1.0, -1.375, 3.5, 4.25, -3.25, -3.625, 8.0, 8.75,
                                    -3.25, -1.375, -5.5, -2.5, 8.0, 9.875, 12.5, 15.5, 19.25, 21.125, 30.5, 33.5}));
  // torch.matmul(A(3), A(3,2)) — 1-D on the left is a row vector, removed afterwards
  EXPECT_ALL_CLOSE(matmul(a({3}), a({3, 2})), T({2}, {1.0, 0.25}));
  // torch.matmul(A(2,3), A(3))
  EXPECT_ALL_CLOSE(matmul(a({2, 3}), a({3})), T({2}, {1.25, -1.0}));
  // torch.matmul(A(3), A(3, scale=2.0)) — a dot product, 0-dim result
  EXPECT_ALL_CLOSE(matmul(a({3}), a({3}, 2.0)), T({}, {0.5}));
  // torch.matmul(A(3), A(2,3,2))
  EXPECT_ALL_CLOSE(matmul(a({3}), a({2, 3, 2})), T({2, 2}, {1.0, 0.25, -3.5, -4.25}));
  // torch.matmul(A(2,2,3), A(3))
  EXPECT_ALL_CLOSE(matmul(a({2, 2, 3}), a({3})), T({2, 2}, {1.25, -1.0, -3.25, -5.5}));
  // torch.bmm(A(2,2,3), A(2,3,2, scale=0.25))
  EXPECT_ALL_CLOSE(bmm(a({2, 2, 3}), a({2, 3, 2}, 0.25)), T({2, 2, 2}, {1.25, 0.875, -1.0, -0.25, 8.0, 9.875, 12.5, 15.5}));
  // torch.outer(A(3), A(2, scale=2.0))
  EXPECT_ALL_CLOSE(outer(a({3}), a({2}, 2.0)), T({3, 2}, {1.0, -1.0, 0.5, -0.5, 0.0, 0.0}));
  for (const Tensor& r : {matmul(a({2, 3}), a({3, 4})), bmm(a({2, 2, 3}), a({2, 3, 2}))}) EXPECT_EQ(r.dtype(), dt);
}

TEST_P(MatmulVsTorch, LinearMatchesPyTorch) {
  DType dt = GetParam();
  // torch.nn.functional.linear(A(2,2,3), A(4,3, scale=0.25), A(4, scale=1.0))
  Tensor y = linear(A({2, 2, 3}, 0.5, 1.0, dt), A({4, 3}, 0.25, 1.0, dt), A({4}, 1.0, 1.0, dt));
  EXPECT_EQ(y.dtype(), dt);
  EXPECT_ALL_CLOSE(y, T({2, 2, 4}, {0.375, 0.25, 0.125, 0.0, -3.0, 0.25, 3.5, 6.75, -6.375, 0.25, 6.875,
                                    13.5, -9.75, 0.25, 10.25, 20.25}));
  // torch.nn.functional.linear(A(3), A(4,3, scale=0.25))
  EXPECT_ALL_CLOSE(linear(A({3}, 0.5, 1.0, dt), A({4, 3}, 0.25, 1.0, dt)), T({4}, {1.375, 0.25, -0.875, -2.0}));
}

INSTANTIATE_TEST_SUITE_P(DTypes, MatmulVsTorch, ::testing::Values(kFloat32, kFloat64));

// float32 runs through oneDNN and float64 through the reference loop: every layout
// the float32 path rewrites (transposes via strides, broadcast batch dims, folding
// a batch into rows, copies of unusable layouts) must agree with the loop.
TEST(Matmul, Float32AgreesWithTheFloat64ReferenceForEveryLayout) {
  // float32 inputs with the layout under test; the reference gets contiguous float64 copies.
  Generator g(11);
  auto r = [&](const Shape& s) { return randn(s, {}, &g); };
  struct Case {
    const char* name;
    Tensor a, b;
  };
  Tensor big = r({6, 8, 10});
  std::vector<Case> cases = {
      {"2d", r({33, 17}), r({17, 29})},
      {"a transposed", r({17, 33}).t(), r({17, 29})},
      {"b transposed", r({33, 17}), r({29, 17}).t()},
      {"both transposed", r({17, 33}).t(), r({29, 17}).t()},
      {"batch x shared matrix (folded)", r({4, 5, 6, 7}), r({7, 3})},
      {"batch x shared transposed matrix", r({4, 5, 7}), r({3, 7}).t()},
      {"shared matrix x batch", r({5, 7}), r({4, 7, 3})},
      {"broadcast both", r({2, 1, 5, 7}), r({3, 7, 2})},
      {"expanded (stride 0) batch", r({1, 5, 7}).expand({4, 5, 7}), r({4, 7, 3})},
      {"batch-transposed view", big.permute({1, 0, 2}), r({8, 10, 3})},
      {"no unit stride (copied)", big.slice(2, 0, std::nullopt, 2), r({6, 5, 4})},
      {"rows padded (sliced columns)", r({9, 12}).slice(1, 0, 7), r({7, 5})},
      {"vector x matrix", r({7}), r({7, 5})},
      {"strided vector x matrix", r({14}).slice(0, 0, std::nullopt, 2), r({7, 5})},
      {"matrix x strided vector", r({5, 7}), r({14}).slice(0, 0, std::nullopt, 2)},
      {"vector x batch", r({7}), r({3, 7, 5})},
      {"batch x vector", r({3, 5, 7}), r({7})},
      {"dot", r({300}), r({300})},
      {"square 96", r({96, 96}), r({96, 96})},
  };
  for (const Case& c : cases) {
    Tensor expected = matmul(c.a.to(kFloat64), c.b.to(kFloat64));
    Tensor actual = matmul(c.a, c.b);
    EXPECT_EQ(actual.dtype(), kFloat32) << c.name;
    EXPECT_TRUE(all_close(actual.to(kFloat64), expected, 1e-4, 1e-4)) << c.name;
  }
}

// Large plain matrices go to dnnl_sgemm instead of the matmul primitive: compare the
// two on the same data (an expanded batch keeps the primitive path).
TEST(Matmul, LargeMatricesAgreeBetweenSgemmAndThePrimitive) {
  Generator g(13);
  Tensor a = randn({1024, 512}, {}, &g), w = randn({1024, 512}, {}, &g), bias = randn({1024}, {}, &g);
  Tensor b = w.t().contiguous();
  Tensor batched = matmul(a.unsqueeze(0).expand({2, 1024, 512}), b.unsqueeze(0).expand({2, 512, 1024}));
  EXPECT_ALL_CLOSE(matmul(a, b), batched.select(0, 1), 1e-4, 1e-4);                  // B as is
  EXPECT_ALL_CLOSE(linear(a, w, bias), batched.select(0, 0) + bias, 1e-4, 1e-4);  // B transposed
}

TEST(Matmul, LinearAgreesWithMatmulForEveryLayout) {
  Generator g(12);
  for (DType dt : {kFloat32, kFloat64}) {
    auto r = [&](const Shape& s) { return randn(s, {.dtype = dt}, &g); };
    Tensor w = r({6, 5}), b = r({6}), w_t = r({5, 6}).t(), b_strided = r({12}).slice(0, 0, std::nullopt, 2);
    for (const Tensor& x : {r({4, 5}), r({2, 3, 5}), r({5, 4}).t(), r({3, 2, 5}).permute({1, 0, 2}), r({5}),
                            r({4, 10}).slice(1, 0, std::nullopt, 2)}) {
      Tensor x64 = x.to(kFloat64);
      EXPECT_TRUE(all_close(linear(x, w, b).to(kFloat64), matmul(x64, w.to(kFloat64).t()) + b.to(kFloat64), 1e-4, 1e-4));
      EXPECT_TRUE(all_close(linear(x, w_t, b_strided).to(kFloat64),
                            matmul(x64, w_t.to(kFloat64).t()) + b_strided.to(kFloat64), 1e-4, 1e-4));
      EXPECT_TRUE(all_close(linear(x, w_t).to(kFloat64), matmul(x64, w_t.to(kFloat64).t()), 1e-4, 1e-4));
    }
  }
}

// A few rows times a weight stored [N, K] (linear at batch 1..4) takes cpu::gemm's
// dot-product path: every row count, column count (the 4-row blocks and their remainder) and
// K (the vector loop and its tail) against float64.
TEST(Matmul, SmallBatchLinearAgreesWithTheFloat64Reference) {
  Generator g(14);
  auto r = [&](const Shape& s) { return randn(s, {}, &g); };
  for (int64_t m : {1, 2, 3, 4, 5})
    for (int64_t k : {16, 17, 33, 100, 784})
      for (int64_t n : {1, 3, 4, 5, 130}) {
        Tensor x = r({m, k}), w = r({n, k}), b = r({n});
        Tensor want = matmul(x.to(kFloat64), w.to(kFloat64).t()) + b.to(kFloat64);
        EXPECT_TRUE(all_close(linear(x, w, b).to(kFloat64), want, 1e-4, 1e-4)) << m << "x" << k << "x" << n;
        // Rows of x padded (a sliced view): lda != K.
        Tensor xp = r({m, k + 3}).slice(1, 0, k);
        want = matmul(xp.to(kFloat64), w.to(kFloat64).t());
        EXPECT_TRUE(all_close(linear(xp, w).to(kFloat64), want, 1e-4, 1e-4)) << "padded " << m << "x" << k;
      }
}

TEST(Matmul, IntegerAndHalfDtypes) {
  Tensor a = A({2, 3}, 1.0, 2.0, kInt64), b = A({3, 2}, 1.0, 0.0, kInt64);
  // torch.matmul(torch.arange(6).reshape(2,3)-2, torch.arange(6).reshape(3,2))
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), kInt64);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{-2, -5, 16, 22}));
  Tensor h = matmul(A({2, 3}, 0.5, 1.0, kBFloat16), A({3, 4}, 0.5, 1.0, kBFloat16));
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_ALL_CLOSE(h.to(kFloat64), T({2, 4}, {0.5, -0.25, -1.0, -1.75, 5.0, 6.5, 8.0, 9.5}));
  // Mixed dtypes promote, as elementwise ops do.
  EXPECT_EQ(matmul(A({2, 3}), A({3, 4}, 0.5, 1.0, kFloat64)).dtype(), kFloat64);
}

TEST(Matmul, EmptyOperands) {
  for (DType dt : {kFloat32, kFloat64}) {
    EXPECT_EQ(matmul(zeros({0, 3}, {.dtype = dt}), zeros({3, 4}, {.dtype = dt})).shape(), (Shape{0, 4}));
    // K = 0: a sum over nothing is zero (plus the bias for linear).
    EXPECT_ALL_CLOSE(matmul(ones({2, 0}, {.dtype = dt}), ones({0, 3}, {.dtype = dt})).to(kFloat64), zeros({2, 3}, kF64));
    EXPECT_ALL_CLOSE(linear(ones({2, 0}, {.dtype = dt}), ones({3, 0}, {.dtype = dt}), ones({3}, {.dtype = dt})).to(kFloat64),
                     ones({2, 3}, kF64));
  }
}

TEST(Matmul, SameResultAtOneAndTwoThreads) {
  int before = get_num_threads();
  Generator g(5);
  Tensor a = randn({64, 100}, {}, &g), b = randn({100, 80}, {}, &g);
  set_num_threads(1);
  Tensor one = matmul(a, b), one64 = matmul(a.to(kFloat64), b.to(kFloat64));
  set_num_threads(2);
  Tensor two = matmul(a, b), two64 = matmul(a.to(kFloat64), b.to(kFloat64));
  set_num_threads(before);
  EXPECT_ALL_CLOSE(one, two, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(one64, two64, 1e-12, 1e-12);
}

TEST(Matmul, ReusesPrimitivesForARepeatedShape) {
  Tensor a = randn({8, 12}), b = randn({12, 4});
  matmul(a, b);
  auto before = onednn::cache_stats();
  for (int i = 0; i < 5; ++i) matmul(a, b);
  EXPECT_EQ(onednn::cache_stats().misses, before.misses);
}

TEST(Matmul, ErrorsNameTheShapes) {
  EXPECT_TRUE(throws_error([] { matmul(zeros({}), zeros({3})); }, {"matmul", "at least 1 dimension", "[]", "[3]"}));
  EXPECT_TRUE(throws_error([] { matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]", "3 != 4"}));
  EXPECT_TRUE(throws_error([] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"}));
  EXPECT_TRUE(throws_error([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 4})); }, {"matmul", "[2]", "[3]"}));
  EXPECT_TRUE(throws_error([] { matmul(zeros({2, 3}, {.dtype = kBool}), zeros({3, 2}, {.dtype = kBool})); },
                           {"matmul", "bool"}));
  EXPECT_TRUE(throws_error([] { bmm(zeros({2, 3}), zeros({2, 3, 4})); }, {"bmm", "3-D", "[2, 3]"}));
  EXPECT_TRUE(throws_error([] { bmm(zeros({2, 2, 3}), zeros({3, 3, 4})); }, {"bmm", "[2, 2, 3]", "[3, 3, 4]"}));
  EXPECT_TRUE(throws_error([] { linear(zeros({2, 3}), zeros({4, 5})); }, {"linear", "[2, 3]", "[4, 5]", "in_features = 5"}));
  EXPECT_TRUE(throws_error([] { linear(zeros({2, 3}), zeros({3})); }, {"linear", "2-D", "[3]"}));
  EXPECT_TRUE(throws_error([] { linear(zeros({2, 3}), zeros({4, 3}), zeros({3})); }, {"linear", "bias", "[3]", "[4]"}));
  EXPECT_TRUE(throws_error([] { outer(zeros({2, 3}), zeros({3})); }, {"outer", "1-D", "[2, 3]"}));
}

// outer is a composite (mul of a column and a row): checked here, not in the op table.
TEST(Matmul, OuterGradcheck) {
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return outer(x[0], x[1]); },
                        {randn({3}, kF64g), randn({4}, kF64g)}));
}

}  // namespace

// ---- the gradcheck table (float64: the reference loop; float32 agrees with it above)
TANDEM_GRAD_CASE(matmul, two_d, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({3, 4}, kF64g), randn({4, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, batched_broadcast, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({2, 1, 3, 4}, kF64g), randn({3, 4, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, batch_times_shared_matrix, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), randn({4, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, vector_matrix, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({4}, kF64g), randn({4, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, matrix_vector, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({3, 4}, kF64g), randn({4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, dot, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({5}, kF64g), randn({5}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(matmul, vector_batch, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({4}, kF64g), randn({2, 4, 3}, kF64g)}; });
TANDEM_GRAD_CASE(matmul, batch_vector, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), randn({4}, kF64g)}; });
TANDEM_GRAD_CASE(matmul, noncontiguous, [](const Tensors& x) { return matmul(x[0], x[1]); },
                 [] { return Tensors{noncontiguous({3, 4}), noncontiguous({2, 4, 5}, 4)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(bmm, basic, [](const Tensors& x) { return bmm(x[0], x[1]); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), noncontiguous({2, 4, 2})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(linear, bias_leading_dims, [](const Tensors& x) { return linear(x[0], x[1], x[2]); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), randn({5, 4}, kF64g), randn({5}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(linear, no_bias_noncontiguous, [](const Tensors& x) { return linear(x[0], x[1]); },
                 [] { return Tensors{noncontiguous({3, 4}), noncontiguous({2, 4}, 5)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(linear, vector_input, [](const Tensors& x) { return linear(x[0], x[1], x[2]); },
                 [] { return Tensors{randn({4}, kF64g), randn({3, 4}, kF64g), randn({3}, kF64g)}; });

}  // namespace tandem::testing
