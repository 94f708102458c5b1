// Indexing ops: index_select, gather, scatter_add, masked_fill, cat, stack, split, chunk,
// pad, one_hot, topk, sort. PyTorch agreement on regular inputs (values, gradients, second
// derivatives) lives in test_reference.cpp; here: the gradcheck table, composites'
// gradchecks, edge cases with hard-coded PyTorch 1.13 values (expression in the comment),
// views, dtypes, large inputs against naive loops, and every error path.
#include <cmath>
#include <limits>

#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor f64(std::vector<double> v, Shape s) { return tensor(v, s); }
Tensor i64(std::vector<int64_t> v, Shape s) { return tensor(v, s); }
Tensor i64(std::vector<int64_t> v) { return tensor(v, Shape{static_cast<int64_t>(v.size())}); }
Tensor b8(std::vector<bool> v, Shape s) {
  std::vector<uint8_t> u(v.begin(), v.end());
  return tensor(u, s).to(kBool);
}
Tensor arange_f64(int64_t n, Shape s) { return arange(0, static_cast<double>(n), 1, {.dtype = kFloat64}).reshape(s); }
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
std::vector<double> doubles(const Tensor& t) { return t.to_vector<double>(); }

// d/dx of sum(y * g), recorded (create_graph) so it can be differentiated again.
Tensor grad_of(const Tensor& y, const Tensor& g, const Tensor& x) {
  return tandem::grad({(y * g).sum()}, {x}, {}, true, true)[0];
}

}  // namespace

// ---- gradcheck table ------------------------------------------------------------

TANDEM_GRAD_CASE(index_select, noncontiguous_neg_dim_repeats,
                 [](const Tensors& x) { return index_select(x[0], -1, i64({2, 0, 2, 3})); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(index_select, dim0_int32_index,
                 [](const Tensors& x) { return index_select(x[0], 0, i64({1, 1, 0}).to(kInt32)); },
                 [] { return Tensors{randn({2, 3, 2}, kF64g)}; });
TANDEM_GRAD_CASE(index_select_backward, grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(index_select(x[0], 1, i64({0, 2, 0})), x[1], x[0]); },
                 [] { return Tensors{randn({2, 3, 2}, kF64g), randn({2, 3, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(gather, noncontiguous_neg_dim_smaller_index,
                 [](const Tensors& x) { return gather(x[0], -1, i64({3, 0, 0, 1, 2, 2}, {2, 3})); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(gather, dim0_3d,
                 [](const Tensors& x) { return gather(x[0], 0, i64({1, 0, 1, 1, 0, 0}, {3, 2, 1})); },
                 [] { return Tensors{randn({2, 2, 2}, kF64g)}; });
TANDEM_GRAD_CASE(scatter_add, self_and_src_src_larger,
                 [](const Tensors& x) {
                   return scatter_add(x[0], -1, i64({0, 0, 3, 1, 1, 1}, {2, 3}), x[1]);
                 },
                 [] { return Tensors{noncontiguous({3, 4}), noncontiguous({3, 5})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(scatter_add, dim0,
                 [](const Tensors& x) { return scatter_add(x[0], 0, i64({2, 0, 0, 0}, {2, 2}), x[1]); },
                 [] { return Tensors{randn({3, 2}, kF64g), randn({2, 2}, kF64g)}; });
TANDEM_GRAD_CASE(masked_fill, broadcast_mask_noncontiguous,
                 [](const Tensors& x) { return masked_fill(x[0], b8({true, false, true}, {3, 1}), -2.0); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(masked_fill, mask_larger_than_input,
                 [](const Tensors& x) { return masked_fill(x[0], b8({true, false, false, true}, {2, 2}), 1.0); },
                 [] { return Tensors{randn({2}, kF64g)}; });
TANDEM_GRAD_CASE(cat, noncontiguous_neg_dim,
                 [](const Tensors& x) { return cat({x[0], x[1], x[0]}, -1) * cat({x[0], x[1], x[0]}, 1); },
                 [] { return Tensors{noncontiguous({3, 2}), noncontiguous({3, 4})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(cat, dim0_with_legacy_empty,
                 [](const Tensors& x) { return cat({x[0], zeros({0}, kF64), x[1]}, 0); },
                 [] { return Tensors{randn({1, 3}, kF64g), randn({2, 3}, kF64g)}; });
TANDEM_GRAD_CASE(unbind, dim1_some_slices_unused,
                 [](const Tensors& x) {
                   auto p = unbind(x[0], 1);
                   return stack({p[2] * 2.0, p[0] * p[0]}, 0);
                 },
                 [] { return Tensors{noncontiguous({2, 4, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(pad, constant_negative_noncontiguous,
                 [](const Tensors& x) { return pad(x[0], {2, -1, -1, 2}, "constant", 0.5); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(pad, reflect_2d,
                 [](const Tensors& x) { return pad(x[0], {1, 2, 2, 1}, "reflect"); },
                 [] { return Tensors{noncontiguous({1, 2, 3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(pad, replicate_3d_negative,
                 [](const Tensors& x) { return pad(x[0], {1, -1, 2, 0, 0, 1}, "replicate"); },
                 [] { return Tensors{randn({1, 2, 2, 3, 3}, kF64g)}; });
TANDEM_GRAD_CASE(pad, circular_negative,
                 [](const Tensors& x) { return pad(x[0], {2, -3, -1, 2}, "circular"); },
                 [] { return Tensors{randn({2, 1, 3, 6}, kF64g)}; });
TANDEM_GRAD_CASE(pad_backward, reflect_grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(pad(x[0], {2, 1}, "reflect"), x[1], x[0]); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), randn({2, 3, 7}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(pad_backward, circular_grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(pad(x[0], {1, 2, 2, 2}, "circular"), x[1], x[0]); },
                 [] { return Tensors{randn({1, 1, 3, 4}, kF64g), randn({1, 1, 7, 7}, kF64g)}; });
TANDEM_GRAD_CASE(sort, noncontiguous_dim0_descending,
                 [](const Tensors& x) { return sort(x[0], 0, true).first; },
                 [] { return Tensors{noncontiguous({4, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(sort, last_dim_3d, [](const Tensors& x) { return sort(x[0], -1).first; },
                 [] { return Tensors{randn({2, 3, 5}, kF64g)}; });
TANDEM_GRAD_CASE(topk, noncontiguous_smallest,
                 [](const Tensors& x) { return topk(x[0], 2, 0, false).first; },
                 [] { return Tensors{noncontiguous({5, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(topk, largest_neg_dim, [](const Tensors& x) { return topk(x[0], 3, -1).first; },
                 [] { return Tensors{randn({2, 2, 6}, kF64g)}; });

// ---- composites ----------------------------------------------------------------

TEST(IndexComposite, StackGradcheck) {
  auto fn = [](const Tensors& x) { return stack({x[0], x[1], x[0]}, -2); };
  EXPECT_TRUE(gradcheck(fn, {noncontiguous({2, 3}), randn({2, 3}, kF64g)}, {.second_order = true}));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return stack({x[0], x[1]}); },
                        {randn({}, kF64g), randn({}, kF64g)}));
}

TEST(IndexComposite, SplitAndChunkGradcheck) {
  auto split_fn = [](const Tensors& x) {
    auto p = split(x[0], 2, 1);  // [3,2] [3,2] [3,1]
    return cat({p[2] * 2.0, p[0] * p[1]}, 1);
  };
  EXPECT_TRUE(gradcheck(split_fn, {noncontiguous({3, 5})}, {.second_order = true}));
  auto sizes_fn = [](const Tensors& x) {
    auto p = split(x[0], IntArray{1, 0, 3}, -1);
    return p[0] * p[2].sum({1}, true) + p[1].sum();
  };
  EXPECT_TRUE(gradcheck(sizes_fn, {randn({2, 4}, kF64g)}));
  auto chunk_fn = [](const Tensors& x) {
    auto p = chunk(x[0], 3, 0);  // sizes 2, 2, 1
    return p[0] - p[1] + p[2];
  };
  EXPECT_TRUE(gradcheck(chunk_fn, {noncontiguous({5, 2})}));
}

TEST(IndexComposite, SplitAndChunkReturnViews) {
  Tensor x = arange_f64(10, {5, 2});
  auto p = split(x, 2);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].shape(), (Shape{1, 2}));
  for (const Tensor& t : p) EXPECT_TRUE(t.shares_storage(x));
  p[1].fill_(-1.0);  // writes through to x
  EXPECT_EQ(doubles(x), (std::vector<double>{0, 1, 2, 3, -1, -1, -1, -1, 8, 9}));
  auto c = chunk(x, 2, -1);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(c[1].shares_storage(x));
  EXPECT_EQ(doubles(c[1]), (std::vector<double>{1, 3, -1, -1, 9}));
}

TEST(IndexComposite, UnbindGivesTheSelectedSlicesAsCopies) {
  Tensor x = arange_f64(12, {2, 3, 2}).transpose(0, 2);  // [2, 3, 2], not contiguous
  auto p = unbind(x, 1);
  ASSERT_EQ(p.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p[i].shape(), (Shape{2, 2}));
    EXPECT_EQ(doubles(p[i]), doubles(x.select(1, i)));
    EXPECT_FALSE(p[i].shares_storage(x));
  }
  EXPECT_EQ(unbind(zeros({0, 3})).size(), 0u);
  EXPECT_TRUE(throws_error([] { unbind(scalar_tensor(1.0)); }, {"unbind", "1-dimensional"}));
}

TEST(IndexComposite, SplitChunkEdgeSizesAsPyTorch) {
  // torch.split(ones(5,2), 7) -> one piece [5,2]; torch.split(ones(0,2), 0) -> [[0,2]]
  EXPECT_EQ(split(ones({5, 2}), 7).size(), 1u);
  auto e = split(ones({0, 2}), 0);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].shape(), (Shape{0, 2}));
  // torch.chunk(ones(5,2), 6) -> 5 pieces of 1; torch.chunk(ones(4,2), 3) -> 2 pieces of 2
  EXPECT_EQ(chunk(ones({5, 2}), 6).size(), 5u);
  EXPECT_EQ(chunk(ones({4, 2}), 3).size(), 2u);
  // torch.chunk(ones(0,2), 3) -> 3 pieces [0,2]
  auto z = chunk(ones({0, 2}), 3);
  ASSERT_EQ(z.size(), 3u);
  EXPECT_EQ(z[2].shape(), (Shape{0, 2}));
  // torch.split(ones(5,2), [0,5,0])
  auto s = split(ones({5, 2}), IntArray{0, 5, 0});
  EXPECT_EQ(s[0].shape(), (Shape{0, 2}));
  EXPECT_EQ(s[1].shape(), (Shape{5, 2}));
}

TEST(IndexComposite, StackShapes) {
  // torch.stack([ones(2,3), ones(2,3)], -3).shape == [2, 2, 3]; stack of scalars -> [2]
  EXPECT_EQ(stack({ones({2, 3}), ones({2, 3})}, -3).shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(stack({ones({2, 3}), ones({2, 3})}, 2).shape(), (Shape{2, 3, 2}));
  Tensor s = stack({scalar_tensor(1.0), scalar_tensor(2.0)});
  EXPECT_EQ(doubles(s), (std::vector<double>{1, 2}));
  // torch.stack([ones(2,3), ones(2,3,dtype=int64)]).dtype == float32
  EXPECT_EQ(stack({ones({2, 3}), ones({2, 3}, {.dtype = kInt64})}).dtype(), kFloat32);
}

// ---- values ---------------------------------------------------------------------

TEST(Index, IndexSelectScalarAndIndexForms) {
  Tensor x = arange_f64(12, {3, 4});
  // torch.index_select(x, 0, torch.tensor(1)) -> [[4, 5, 6, 7]]
  Tensor r = index_select(x, 0, scalar_tensor(1, {.dtype = kInt64}));
  EXPECT_EQ(r.shape(), (Shape{1, 4}));
  EXPECT_EQ(doubles(r), (std::vector<double>{4, 5, 6, 7}));
  // torch.index_select(torch.tensor(5.), 0, torch.tensor([0, 0])) -> tensor(5.)
  Tensor s = index_select(scalar_tensor(5.0), 0, i64({0, 0}));
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item(), 5.0);
  EXPECT_EQ(index_select(ones({2, 0}), 0, i64({1})).shape(), (Shape{1, 0}));
  // Every dtype, including 16-bit floats and bool, is copied exactly.
  for (DType dt : {kFloat16, kBFloat16, kBool, kInt8, kInt32}) {
    Tensor t = index_select(arange_f64(6, {2, 3}).to(dt), 1, i64({2, 1}));
    EXPECT_EQ(t.dtype(), dt);
    EXPECT_EQ(doubles(t), doubles(index_select(arange_f64(6, {2, 3}), 1, i64({2, 1})).to(dt)));
  }
}

TEST(Index, GatherScatterAddEdgeCases) {
  Tensor x = arange_f64(12, {3, 4});
  // torch.gather(x, 1, zeros(3,6)) -> index larger than x along dim
  Tensor g = gather(x, 1, zeros({3, 6}, {.dtype = kInt64}));
  EXPECT_EQ(doubles(g.select(1, 5)), (std::vector<double>{0, 4, 8}));
  // torch.gather(torch.tensor(5.), 0, torch.tensor([0, 0])) -> [5, 5]
  EXPECT_EQ(doubles(gather(scalar_tensor(5.0), 0, i64({0, 0}))), (std::vector<double>{5, 5}));
  // An empty index is not checked (any dtype/shape): torch.gather(x, 1, zeros(2,0,int32)).shape
  EXPECT_EQ(gather(x, 1, zeros({2, 0}, {.dtype = kInt32})).shape(), (Shape{2, 0}));
  // torch.scatter_add(x, 1, zeros(3,6), ones(3,6))[:, 0] -> [6, 10, 14]
  Tensor s = scatter_add(x, 1, zeros({3, 6}, {.dtype = kInt64}), ones({3, 6}, kF64));
  EXPECT_EQ(doubles(s.select(1, 0)), (std::vector<double>{6, 10, 14}));
  // Along dim the index may be longer than self: torch.scatter_add(x, 0, zeros(4,2), ones(4,2))[0]
  Tensor s0 = scatter_add(x, 0, zeros({4, 2}, {.dtype = kInt64}), ones({4, 2}, kF64));
  EXPECT_EQ(doubles(s0.select(0, 0)), (std::vector<double>{4, 5, 2, 3}));
  // torch.scatter_add(torch.tensor(1.), 0, tensor([0, 0]), ones(3)) -> 3.
  EXPECT_EQ(scatter_add(scalar_tensor(1.0), 0, i64({0, 0}), ones({3})).item(), 3.0);
  // Integer and bool dtypes: torch.scatter_add(x.long(), 1, zeros(3,2), ones(3,2).long())[:,0]
  Tensor si = scatter_add(x.to(kInt64), 1, zeros({3, 2}, {.dtype = kInt64}), ones({3, 2}, {.dtype = kInt64}));
  EXPECT_EQ(ints(si.select(1, 0)), (std::vector<int64_t>{2, 6, 10}));
  Tensor sb = scatter_add(zeros({2}, {.dtype = kBool}), 0, i64({1, 1}), ones({2}, {.dtype = kBool}));
  EXPECT_EQ(ints(sb), (std::vector<int64_t>{0, 1}));
  // Half: computed in float32 and rounded once.
  Tensor sh = scatter_add(ones({3}, {.dtype = kFloat16}), 0, i64({2, 2}), full({2}, 0.5, {.dtype = kFloat16}));
  EXPECT_EQ(sh.dtype(), kFloat16);
  EXPECT_EQ(doubles(sh), (std::vector<double>{1, 1, 2}));
}

TEST(Index, MaskedFillAsPyTorch) {
  // torch.masked_fill(torch.ones(3), [[T,F,T],[F,F,T]], 2.) -> broadcast to [2, 3]
  Tensor r = masked_fill(ones({3}), b8({true, false, true, false, false, true}, {2, 3}), 2.0);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(doubles(r), (std::vector<double>{2, 1, 2, 1, 1, 2}));
  // torch.masked_fill(ones(2,3,long), [T,F,T], 2.7) -> 2 (truncated)
  Tensor l = masked_fill(ones({2, 3}, {.dtype = kInt64}), b8({true, false, true}, {3}), 2.7);
  EXPECT_EQ(l.dtype(), kInt64);
  EXPECT_EQ(ints(l), (std::vector<int64_t>{2, 1, 2, 2, 1, 2}));
  // torch.masked_fill(ones(2,3,bool), mask, nan) -> True; half keeps NaN; 0-dim mask
  EXPECT_EQ(ints(masked_fill(zeros({2}, {.dtype = kBool}), b8({true, false}, {2}), kNaN)),
            (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(std::isnan(masked_fill(ones({2}, {.dtype = kFloat16}), b8({true, false}, {2}), kNaN)
                             .to(kFloat64).to_vector<double>()[0]));
  EXPECT_EQ(doubles(masked_fill(ones({2}), b8({true}, {}), -kInf)), (std::vector<double>{-kInf, -kInf}));
  // The method forms.
  Tensor y = ones({2, 2}, kF64);
  y.masked_fill_(b8({false, true}, {2}), 0.0);
  EXPECT_EQ(doubles(y), (std::vector<double>{1, 0, 1, 0}));
  EXPECT_EQ(doubles(y.masked_fill(b8({true, false}, {2}), 3.0)), (std::vector<double>{3, 0, 3, 0}));
}

TEST(Index, CatPromotionAndLegacyEmpty) {
  // torch.cat([ones(2,3,int32), ones(2,3,uint8)]).dtype == int32; bool+int8 -> int8;
  // int64+float16 -> float16; bfloat16+float16 -> float32
  EXPECT_EQ(cat({ones({2, 3}, {.dtype = kInt32}), ones({2, 3}, {.dtype = kUInt8})}).dtype(), kInt32);
  EXPECT_EQ(cat({ones({1}, {.dtype = kBool}), ones({1}, {.dtype = kInt8})}).dtype(), kInt8);
  EXPECT_EQ(cat({ones({1}, {.dtype = kInt64}), ones({1}, {.dtype = kFloat16})}).dtype(), kFloat16);
  Tensor m = cat({full({1}, 1.5, {.dtype = kBFloat16}), full({2}, 2.5, {.dtype = kFloat16})});
  EXPECT_EQ(m.dtype(), kFloat32);
  EXPECT_EQ(doubles(m), (std::vector<double>{1.5, 2.5, 2.5}));
  // torch.cat([ones(0, float64), ones(2,3)], 1) -> [2, 3] float64 (1-D empty skipped, still promotes)
  Tensor e = cat({zeros({0}, kF64), ones({2, 3})}, 1);
  EXPECT_EQ(e.shape(), (Shape{2, 3}));
  EXPECT_EQ(e.dtype(), kFloat64);
  // torch.cat([ones(0), ones(0, int32)], 4) -> [0] float32
  EXPECT_EQ(cat({zeros({0}), zeros({0}, {.dtype = kInt32})}, 4).shape(), (Shape{0}));
  // Mixed-dtype gradients come back in each input's dtype.
  Tensor a = ones({2}, {.dtype = kFloat32, .requires_grad = true});
  Tensor b = ones({1}, {.dtype = kFloat64, .requires_grad = true});
  (cat({a, b}) * f64({1, 2, 3}, {3})).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(doubles(a.grad()), (std::vector<double>{1, 2}));
  EXPECT_EQ(doubles(b.grad()), (std::vector<double>{3}));
}

TEST(Index, PadModesAsPyTorch) {
  Tensor x = arange_f64(6, {1, 1, 6});
  // F.pad(arange(6.).reshape(1,1,6), (-2,4), 'reflect')
  EXPECT_EQ(doubles(pad(x, {-2, 4}, "reflect")), (std::vector<double>{2, 3, 4, 5, 4, 3, 2, 1}));
  // F.pad(..., (2,-3), 'circular') and (-2,3): wraps the kept part
  EXPECT_EQ(doubles(pad(x, {2, -3}, "circular")), (std::vector<double>{1, 2, 0, 1, 2}));
  EXPECT_EQ(doubles(pad(x, {-2, 3}, "circular")), (std::vector<double>{2, 3, 4, 5, 2, 3, 4}));
  // F.pad(..., (3,-2), 'replicate')
  EXPECT_EQ(doubles(pad(x, {3, -2}, "replicate")), (std::vector<double>{0, 0, 0, 0, 1, 2, 3}));
  // F.pad(arange(12.).reshape(3,4), (2,-1,-1,2)) -> [4, 5]
  Tensor c = pad(arange_f64(12, {3, 4}), {2, -1, -1, 2});
  EXPECT_EQ(c.shape(), (Shape{4, 5}));
  EXPECT_EQ(doubles(c), (std::vector<double>{0, 0, 4, 5, 6, 0, 0, 8, 9, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // F.pad(arange(12.).reshape(3,4), (1,2), 'reflect'): unbatched 2-D input
  EXPECT_EQ(doubles(pad(arange_f64(12, {3, 4}), {1, 2}, "reflect")),
            (std::vector<double>{1, 0, 1, 2, 3, 2, 1, 5, 4, 5, 6, 7, 6, 5, 9, 8, 9, 10, 11, 10, 9}));
  // F.pad(arange(24.).reshape(1,2,3,4), (1,2,2,1), 'replicate')[0, 1, :, 0] -> 12,12,12,16,20,20
  Tensor r = pad(arange_f64(24, {1, 2, 3, 4}), {1, 2, 2, 1}, "replicate");
  EXPECT_EQ(r.shape(), (Shape{1, 2, 6, 7}));
  EXPECT_EQ(doubles(r.select(1, 1).select(2, 0)), (std::vector<double>{12, 12, 12, 16, 20, 20}));
  // Gradients: a = arange(12); F.pad(a.reshape(1,3,4), (2,3), 'reflect').backward(arange(27.))
  Tensor a = arange_f64(12, {1, 3, 4}).requires_grad_();
  pad(a, {2, 3}, "reflect").backward(arange_f64(27, {1, 3, 9}));
  EXPECT_EQ(doubles(a.grad()), (std::vector<double>{10, 11, 10, 5, 28, 38, 37, 14, 46, 65, 64, 23}));
  Tensor b = arange_f64(6, {1, 1, 6}).requires_grad_();
  pad(b, {2, -3}, "circular").backward(arange_f64(5, {1, 1, 5}));
  EXPECT_EQ(doubles(b.grad()), (std::vector<double>{2, 3, 5, 0, 0, 0}));
  // Constant: any dtype, value converted; F.pad(ones(3, long), (1,1), value=2.5) -> [2,1,1,1,2]
  EXPECT_EQ(ints(pad(ones({3}, {.dtype = kInt64}), {1, 1}, "constant", 2.5)),
            (std::vector<int64_t>{2, 1, 1, 1, 2}));
  Tensor h = pad(ones({2}, {.dtype = kBFloat16}), {1, 0}, "constant", kInf);
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_EQ(doubles(h), (std::vector<double>{kInf, 1, 1}));
  // Empty pads copy; F.pad(ones(3), (-2,-1)) -> shape [0]
  EXPECT_EQ(pad(scalar_tensor(3.0), {}).item(), 3.0);
  EXPECT_EQ(pad(ones({3}), {-2, -1}).shape(), (Shape{0}));
  EXPECT_EQ(pad(ones({0, 1, 3}), {1, 1}, "reflect").shape(), (Shape{0, 1, 5}));
}

TEST(Index, OneHotAsPyTorch) {
  // F.one_hot(tensor([0, 2])) -> [[1,0,0],[0,0,1]]
  Tensor o = one_hot(i64({0, 2}));
  EXPECT_EQ(o.dtype(), kInt64);
  EXPECT_EQ(o.shape(), (Shape{2, 3}));
  EXPECT_EQ(ints(o), (std::vector<int64_t>{1, 0, 0, 0, 0, 1}));
  // F.one_hot(tensor(2), 3) -> [0, 0, 1]; F.one_hot(tensor([], long), 3).shape == [0, 3]
  EXPECT_EQ(ints(one_hot(scalar_tensor(2, {.dtype = kInt64}), 3)), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(one_hot(zeros({0}, {.dtype = kInt64}), 3).shape(), (Shape{0, 3}));
  EXPECT_EQ(one_hot(i64({1, 2}, {2, 1}), 5).shape(), (Shape{2, 1, 5}));
}

TEST(Index, SortIsStableAndPutsNaNLast) {
  Tensor x = f64({1, kNaN, 3, kNaN, 2, -kInf, kInf}, {7});
  // torch.sort(x) -> indices [5, 0, 4, 2, 6, 1, 3]; descending -> [1, 3, 6, 2, 4, 0, 5]
  auto [v, i] = sort(x);
  EXPECT_EQ(ints(i), (std::vector<int64_t>{5, 0, 4, 2, 6, 1, 3}));
  EXPECT_EQ(doubles(v)[4], kInf);
  EXPECT_EQ(ints(sort(x, 0, true).second), (std::vector<int64_t>{1, 3, 6, 2, 4, 0, 5}));
  // torch.sort(tensor([1., 0, 1, 0, -0., 0]), descending=True, stable=True) -> [0, 2, 1, 3, 4, 5]
  EXPECT_EQ(ints(sort(f64({1, 0, 1, 0, -0.0, 0}, {6}), 0, true).second), (std::vector<int64_t>{0, 2, 1, 3, 4, 5}));
  // Integers, bool, half; 0-dim; empty
  EXPECT_EQ(ints(sort(tensor(std::vector<uint8_t>{3, 1, 2}), 0, true).second), (std::vector<int64_t>{0, 2, 1}));
  auto [bv, bi] = sort(b8({true, false}, {2}));
  EXPECT_EQ(ints(bi), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(bv.dtype(), kBool);
  EXPECT_EQ(doubles(sort(f64({2, -1, 0.5}, {3}).to(kFloat16)).first), (std::vector<double>{-1, 0.5, 2}));
  auto [sv, si] = sort(scalar_tensor(3.0));
  EXPECT_EQ(sv.item(), 3.0);
  EXPECT_EQ(si.item(), 0.0);
  EXPECT_EQ(sort(ones({2, 0})).first.shape(), (Shape{2, 0}));
}

TEST(Index, TopkTiesNaNAndEdges) {
  // Ties come out as PyTorch's CPU topk gives them (not stable):
  // torch.topk(tensor([1., 3, 3, 2, 1]), 3, largest=False).indices -> [4, 0, 3]
  EXPECT_EQ(ints(topk(f64({1, 3, 3, 2, 1}, {5}), 3, 0, false).second), (std::vector<int64_t>{4, 0, 3}));
  // x = tensor([i % 7 for i in range(200)]): torch.topk(x, 3).indices -> [20, 13, 6] (the heap
  // path); torch.topk(x[:20], 10, largest=False[, sorted=False]).indices
  Tensor r = arange(0, 200, 1, kF64);
  r = r - (r / 7.0).to(kInt64).to(kFloat64) * 7.0;
  EXPECT_EQ(ints(topk(r, 3).second), (std::vector<int64_t>{20, 13, 6}));
  EXPECT_EQ(ints(topk(r.slice(0, 0, 20), 10, 0, false).second),
            (std::vector<int64_t>{0, 7, 14, 15, 8, 1, 2, 9, 16, 10}));
  EXPECT_EQ(ints(topk(r.slice(0, 0, 20), 10, 0, false, false).second),
            (std::vector<int64_t>{15, 0, 8, 7, 14, 2, 1, 9, 16, 10}));
  // torch.topk(tensor([1., 3, 3, 2]), 2) -> values [3, 3], indices [1, 2]
  auto [v, i] = topk(f64({1, 3, 3, 2}, {4}), 2);
  EXPECT_EQ(doubles(v), (std::vector<double>{3, 3}));
  EXPECT_EQ(ints(i), (std::vector<int64_t>{1, 2}));
  // torch.topk(tensor([1., nan, 3, nan, 2]), 3) -> [nan, nan, 3], [1, 3, 2]
  Tensor n = f64({1, kNaN, 3, kNaN, 2}, {5});
  EXPECT_EQ(ints(topk(n, 3).second), (std::vector<int64_t>{1, 3, 2}));
  // torch.topk(..., 4, largest=False) -> [1, 2, 3, nan], [0, 4, 2, 3]
  EXPECT_EQ(ints(topk(n, 4, -1, false).second), (std::vector<int64_t>{0, 4, 2, 3}));
  // k = 0, integer input, 0-dim input: torch.topk(tensor(3.), 1) -> (3., 0)
  EXPECT_EQ(topk(f64({1, 2}, {2}), 0).first.shape(), (Shape{0}));
  EXPECT_EQ(ints(topk(i64({3, 1, 2}), 2).second), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(topk(scalar_tensor(3.0), 1).first.item(), 3.0);
  EXPECT_EQ(topk(ones({2, 0}), 0).first.shape(), (Shape{2, 0}));
}

// ---- large inputs (parallel paths) against naive loops ---------------------------

TEST(Index, LargeInputsMatchNaiveLoops) {
  Generator gen(7);
  const int64_t R = 300, C = 257;
  Tensor x = randn({R, C}, kF64, &gen);
  Tensor xt = randn({C, R}, kF64, &gen).t();  // non-contiguous
  Tensor idx = randint(0, C, {R, 2 * C}, {.dtype = kInt64}, &gen);
  std::vector<double> xv = doubles(xt);
  std::vector<int64_t> iv = ints(idx);
  // gather along dim 1 of a transposed input
  std::vector<double> gv = doubles(gather(xt, 1, idx));
  bool ok = true;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < 2 * C; ++j) ok &= gv[r * 2 * C + j] == xv[r * C + iv[r * 2 * C + j]];
  EXPECT_TRUE(ok) << "gather";
  // scatter_add with many collisions
  Tensor src = randn({R, 2 * C}, kF64, &gen);
  std::vector<double> sv = doubles(src), want(R * C, 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < 2 * C; ++j) want[r * C + iv[r * 2 * C + j]] += sv[r * 2 * C + j];
  EXPECT_ALL_CLOSE(scatter_add(zeros({R, C}, kF64), 1, idx, src), f64(want, {R, C}), 1e-12, 1e-12);
  // index_select_backward accumulates repeated rows
  Tensor rows = randint(0, R, {1000}, {.dtype = kInt64}, &gen);
  Tensor w = x.detach().requires_grad_();
  Tensor g = randn({1000, C}, kF64, &gen);
  index_select(w, 0, rows).backward(g);
  std::vector<double> gw(R * C, 0.0), gg = doubles(g);
  std::vector<int64_t> rv = ints(rows);
  for (int64_t j = 0; j < 1000; ++j)
    for (int64_t c = 0; c < C; ++c) gw[rv[j] * C + c] += gg[j * C + c];
  EXPECT_ALL_CLOSE(w.grad(), f64(gw, {R, C}), 1e-12, 1e-12);
  // sort rows of the transposed input: sorted and a permutation of each row
  auto [sv2, si2] = sort(xt, 1);
  std::vector<double> s = doubles(sv2);
  std::vector<int64_t> si = ints(si2);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      ok &= s[r * C + c] == xv[r * C + si[r * C + c]];
      if (c) ok &= s[r * C + c - 1] <= s[r * C + c];
    }
  EXPECT_TRUE(ok) << "sort";
  // topk along dim 0 agrees with the head of a descending sort
  auto [tv, ti] = topk(x, 5, 0);
  EXPECT_ALL_CLOSE(tv, sort(x, 0, true).first.slice(0, 0, 5), 0, 0);
  EXPECT_EQ(ints(ti), ints(sort(x, 0, true).second.slice(0, 0, 5)));
  // One long contiguous run (split across threads): masked_fill, 1-D gather, cat
  Tensor big = randn({200000}, kF64, &gen);
  Tensor m = big > scalar_tensor(0.3, kF64);
  std::vector<double> bv = doubles(big), mf = doubles(masked_fill(big, m, -7.0));
  for (size_t e = 0; e < bv.size(); ++e) ok &= mf[e] == (bv[e] > 0.3 ? -7.0 : bv[e]);
  EXPECT_TRUE(ok) << "masked_fill";
  Tensor bi = randint(0, 200000, {150000}, {.dtype = kInt64}, &gen);
  std::vector<int64_t> biv = ints(bi);
  std::vector<double> bg = doubles(gather(big, 0, bi));
  for (size_t e = 0; e < biv.size(); ++e) ok &= bg[e] == bv[biv[e]];
  EXPECT_TRUE(ok) << "gather 1-D";
  EXPECT_ALL_CLOSE(cat({big.reshape({1000, 200}), big.reshape({1000, 200})}, 1).slice(1, 200, 400),
                   big.reshape({1000, 200}), 0, 0);
  // reflect pad of a big batch against the composition of slices
  Tensor p = randn({64, 8, 40}, kF64, &gen);
  Tensor want_pad = cat({p.slice(2, 2, 3), p.slice(2, 1, 2), p, p.slice(2, 38, 39)}, 2);
  EXPECT_ALL_CLOSE(pad(p, {2, 1}, "reflect"), want_pad, 0, 0);
}

// ---- errors ---------------------------------------------------------------------

TEST(IndexErrors, IndexSelect) {
  Tensor x = ones({3, 4});
  EXPECT_TRUE(throws_error([&] { index_select(x, 0, i64({3})); }, {"index_select", "index 3", "size 3", "[3, 4]"}));
  EXPECT_TRUE(throws_error([&] { index_select(x, 0, i64({-1})); }, {"index_select", "index -1"}));
  EXPECT_TRUE(throws_error([&] { index_select(x, 2, i64({0})); }, {"index_select", "dimension 2", "[3, 4]"}));
  EXPECT_TRUE(throws_error([&] { index_select(x, 0, i64({1}, {1, 1})); }, {"index_select", "0-D or 1-D", "[1, 1]"}));
  EXPECT_TRUE(throws_error([&] { index_select(x, 0, ones({1})); }, {"index_select", "int64 or int32", "float32"}));
  EXPECT_TRUE(throws_error([&] { index_select(scalar_tensor(1.0), 0, i64({1})); }, {"index_select", "index 1"}));
}

TEST(IndexErrors, GatherScatterAdd) {
  Tensor x = ones({3, 4});
  EXPECT_TRUE(throws_error([&] { gather(x, 1, i64({4}, {1, 1})); },
                           {"gather", "index 4", "dimension 1 with size 4", "[3, 4]", "[1, 1]"}));
  EXPECT_TRUE(throws_error([&] { gather(x, -1, i64({0, -1}, {1, 2})); }, {"gather", "index -1"}));
  EXPECT_TRUE(throws_error([&] { gather(x, 1, i64({1}, {1, 1}).to(kInt32)); }, {"gather", "int64", "int32"}));
  EXPECT_TRUE(throws_error([&] { gather(x, 1, i64({1})); }, {"gather", "as many dimensions", "[1]", "[3, 4]"}));
  EXPECT_TRUE(throws_error([&] { gather(x, 1, zeros({4, 1}, {.dtype = kInt64})); },
                           {"gather", "[4, 1]", "[3, 4]", "dimension 0"}));
  EXPECT_TRUE(throws_error([&] { gather(x, 5, zeros({3, 0}, {.dtype = kInt64})); }, {"gather", "dimension 5"}));
  Tensor i = zeros({3, 2}, {.dtype = kInt64});
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, i64({5}, {1, 1}), ones({1, 1})); },
                           {"scatter_add", "index 5", "size 4"}));
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, i, ones({3, 1})); }, {"scatter_add", "[3, 2]", "src", "[3, 1]"}));
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, zeros({4, 2}, {.dtype = kInt64}), ones({4, 2})); },
                           {"scatter_add", "[4, 2]", "[3, 4]", "dimension 0"}));
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, i, ones({3, 2}, kF64)); }, {"scatter_add", "float64", "float32"}));
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, i.to(kInt32), ones({3, 2})); }, {"scatter_add", "int64"}));
  EXPECT_TRUE(throws_error([&] { scatter_add(x, 1, zeros({2, 1, 1}, {.dtype = kInt64}), ones({2, 1, 1})); },
                           {"scatter_add", "as many dimensions"}));
}

TEST(IndexErrors, MaskedFill) {
  Tensor x = ones({2, 3});
  EXPECT_TRUE(throws_error([&] { masked_fill(x, ones({3}), 1.0); }, {"masked_fill", "bool", "float32"}));
  EXPECT_TRUE(throws_error([&] { masked_fill(x, b8({true, false}, {2}), 1.0); }, {"masked_fill", "[2, 3]", "[2]"}));
  EXPECT_TRUE(throws_error([&] { masked_fill(ones({2}, {.dtype = kInt64}), b8({true, false}, {2}), kInf); },
                           {"masked_fill", "int64", "overflow"}));
  EXPECT_TRUE(throws_error([&] { masked_fill(ones({2}, {.dtype = kInt8}), b8({true, false}, {2}), 200); },
                           {"masked_fill", "200", "int8"}));
  EXPECT_TRUE(throws_error([&] { masked_fill(ones({2}), b8({true, false}, {2}), 1e300); }, {"masked_fill", "float32"}));
  EXPECT_TRUE(throws_error([&] { masked_fill(ones({2}, {.dtype = kFloat16}), b8({true, false}, {2}), 7e4); },
                           {"masked_fill", "float16"}));
}

TEST(IndexErrors, CatStackSplitChunk) {
  EXPECT_TRUE(throws_error([] { cat({}); }, {"cat", "non-empty"}));
  EXPECT_TRUE(throws_error([] { cat({ones({2, 3}), ones({2, 4})}); },
                           {"cat", "except in dimension 0", "Expected size 3 but got size 4", "tensor number 1"}));
  EXPECT_TRUE(throws_error([] { cat({ones({2, 3}), ones({2, 4, 1})}, 1); }, {"cat", "same number of dimensions"}));
  EXPECT_TRUE(throws_error([] { cat({ones({2}), scalar_tensor(1.0)}); }, {"cat", "zero-dimensional", "position 1"}));
  EXPECT_TRUE(throws_error([] { cat({ones({2, 3}), ones({2, 3})}, -3); }, {"cat", "dimension -3", "[2, 3]"}));
  EXPECT_TRUE(throws_error([] { stack({}); }, {"stack", "non-empty"}));
  EXPECT_TRUE(throws_error([] { stack({ones({2, 3}), ones({2, 4})}); }, {"stack", "[2, 3]", "[2, 4]", "entry 1"}));
  EXPECT_TRUE(throws_error([] { stack({ones({2, 3}), ones({2, 3})}, 3); }, {"stack", "dimension 3"}));
  EXPECT_TRUE(throws_error([] { split(ones({5, 2}), 0); }, {"split", "split_size can only be 0", "size 5"}));
  EXPECT_TRUE(throws_error([] { split(ones({5, 2}), -1); }, {"split", "non-negative", "-1"}));
  EXPECT_TRUE(throws_error([] { split(scalar_tensor(1.0), 1); }, {"split", "1-dimensional"}));
  EXPECT_TRUE(throws_error([] { split(ones({5, 2}), IntArray{2, 2}); }, {"split", "[2, 2]", "sum exactly to 5"}));
  EXPECT_TRUE(throws_error([] { split(ones({5, 2}), IntArray{2, 4, -1}); }, {"split", "non-negative", "[2, 4, -1]"}));
  EXPECT_TRUE(throws_error([] { split(ones({5, 2}), IntArray{5}, 2); }, {"split", "dimension 2"}));
  EXPECT_TRUE(throws_error([] { chunk(ones({5, 2}), 0); }, {"chunk", "greater than 0", "0"}));
  EXPECT_TRUE(throws_error([] { chunk(scalar_tensor(1.0), 1); }, {"chunk", "1-dimensional"}));
}

TEST(IndexErrors, Pad) {
  Tensor x = ones({1, 1, 4});
  EXPECT_TRUE(throws_error([&] { pad(x, {1, 0, 1}); }, {"pad", "divisible by 2"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({3}), {1, 0, 1, 1}); }, {"pad", "too long", "[3]"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({3}), {-2, -2}); }, {"pad", "negative output size", "[3]"}));
  EXPECT_TRUE(throws_error([&] { pad(x, {1, 1}, "foo"); }, {"pad", "unknown padding mode 'foo'"}));
  EXPECT_TRUE(throws_error([&] { pad(x, {4, 0}, "reflect"); }, {"pad", "reflect", "(4, 0)", "less than", "[1, 1, 4]"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({1, 1, 6}), {-3, -3}, "reflect"); }, {"pad", "empty output"}));
  EXPECT_TRUE(throws_error([&] { pad(x, {5, 0}, "circular"); }, {"pad", "circular", "more than once"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({1, 1, 6}), {-6, 6}, "circular"); }, {"pad", "nothing to wrap"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({1, 1, 6}), {-7, 1}, "replicate"); }, {"pad", "replicate"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({1, 0, 3}), {1, 0, 1, 0}, "replicate"); }, {"pad", "non-empty"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({4}), {1, 1}, "reflect"); }, {"pad", "needs a 3-D input or a 2-D one", "[4]"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({2, 3}), {1, 1}, "circular"); }, {"pad", "needs a 3-D input,", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({1, 2, 3}), {1, 0, 1, 1, 1, 1}, "reflect"); }, {"pad", "5-D"}));
  EXPECT_TRUE(throws_error([&] { pad(x, {1, 1}, "reflect", 1.0); }, {"pad", "does not take a fill value"}));
  EXPECT_TRUE(throws_error([&] { pad(ones({3}, {.dtype = kUInt8}), {1, 1}, "constant", 300); }, {"pad", "300", "uint8"}));
}

TEST(IndexErrors, OneHotTopkSort) {
  EXPECT_TRUE(throws_error([] { one_hot(i64({0, 2}), 2); }, {"one_hot", "class value 2", "num_classes 2"}));
  EXPECT_TRUE(throws_error([] { one_hot(i64({0, -1}), 3); }, {"one_hot", "non-negative", "-1"}));
  EXPECT_TRUE(throws_error([] { one_hot(i64({0, -1})); }, {"one_hot", "non-negative", "-1"}));
  EXPECT_TRUE(throws_error([] { one_hot(i64({0, 1}).to(kInt32), 3); }, {"one_hot", "int64", "int32"}));
  EXPECT_TRUE(throws_error([] { one_hot(zeros({0}, {.dtype = kInt64})); }, {"one_hot", "empty", "num_classes"}));
  EXPECT_TRUE(throws_error([] { one_hot(i64({1}), -2); }, {"one_hot", "num_classes", "-2"}));
  EXPECT_TRUE(throws_error([] { topk(f64({1, 2, 3, 4}, {4}), 5); }, {"topk", "k = 5", "size 4", "[4]"}));
  EXPECT_TRUE(throws_error([] { topk(f64({1, 2, 3, 4}, {4}), -1); }, {"topk", "k = -1"}));
  EXPECT_TRUE(throws_error([] { topk(scalar_tensor(3.0), 2); }, {"topk", "k = 2"}));
  EXPECT_TRUE(throws_error([] { topk(scalar_tensor(3.0), 1, 1); }, {"topk", "dimension 1"}));
  EXPECT_TRUE(throws_error([] { topk(b8({true, false}, {2}), 1); }, {"topk", "bool"}));
  EXPECT_TRUE(throws_error([] { sort(ones({2, 3}), 2); }, {"sort", "dimension 2", "[2, 3]"}));
}
