#include <cmath>
#include <sstream>

#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

TEST(Creation, FilledTensors) {
  EXPECT_EQ(zeros({2, 3}).to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(ones({4}, {.dtype = kInt32}).to_vector<int>(), std::vector<int>(4, 1));
  EXPECT_EQ(full({2}, 2.5, {.dtype = kFloat64}).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(scalar_tensor(3.0).dim(), 0);
  EXPECT_EQ(scalar_tensor(3.0).item<float>(), 3.0f);
}

TEST(Creation, ArangeLinspaceEyeMatchTorch) {
  EXPECT_EQ(arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(5).dtype(), kInt64);
  // torch.arange(0, 1, 0.3) -> [0.0, 0.3, 0.6, 0.9]
  EXPECT_ALL_CLOSE(arange(0, 1, 0.3, {.dtype = kFloat64}), tensor({0.0, 0.3, 0.6, 0.9}, kF64));
  EXPECT_EQ(arange(0, 1, 0.3, {.dtype = kFloat64}).numel(), 4);
  EXPECT_ALL_CLOSE(linspace(0, 1, 5), tensor({0.0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(linspace(-1, 7, 9).to_vector<float>().back(), 7.0f);
  EXPECT_EQ(eye(2, 3).to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 1, 0}));
  EXPECT_TRUE(throws_error([] { arange(0, 5, -1); }, {"arange"}));
  EXPECT_TRUE(throws_error([] { arange(0, 5, 0); }, {"step"}));
  EXPECT_TRUE(throws_error([] { zeros({2, -1}); }, {"negative", "[2, -1]"}));
}

TEST(Random, SameSeedSameNumbersDifferentSeedDifferent) {
  manual_seed(42);
  std::vector<float> a = randn({100}).to_vector<float>();
  manual_seed(42);
  std::vector<float> b = randn({100}).to_vector<float>();
  manual_seed(43);
  std::vector<float> c = randn({100}).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  Generator g1(7), g2(7);
  EXPECT_EQ(rand({10}, {}, &g1).to_vector<float>(), rand({10}, {}, &g2).to_vector<float>());
}

TEST(Random, DistributionsHaveTheRightMoments) {
  Generator g(1);
  std::vector<double> u = rand({100000}, {.dtype = kFloat64}, &g).to_vector<double>();
  double mean = 0, mn = 1, mx = 0;
  for (double v : u) mean += v, mn = std::min(mn, v), mx = std::max(mx, v);
  mean /= u.size();
  EXPECT_NEAR(mean, 0.5, 0.01);
  EXPECT_GE(mn, 0.0);
  EXPECT_LT(mx, 1.0);
  std::vector<double> n = randn({100000}, {.dtype = kFloat64}, &g).to_vector<double>();
  double m = 0, sq = 0;
  for (double v : n) m += v, sq += v * v;
  m /= n.size();
  EXPECT_NEAR(m, 0.0, 0.02);
  EXPECT_NEAR(sq / n.size() - m * m, 1.0, 0.02);
  std::vector<int64_t> r = randint(-3, 4, {10000}, {.dtype = kInt64}, &g).to_vector<int64_t>();
  EXPECT_EQ(*std::min_element(r.begin(), r.end()), -3);
  EXPECT_EQ(*std::max_element(r.begin(), r.end()), 3);
  EXPECT_TRUE(throws_error([&] { randint(3, 3, {2}); }, {"randint", "high"}));
}

TEST(Random, GeneratorStateRoundTrips) {
  Generator g(5);
  g.next_normal();  // leaves a cached spare
  std::string state = g.get_state();
  double a = g.next_normal(), b = g.next_double();
  Generator h;
  h.set_state(state);
  EXPECT_EQ(h.next_normal(), a);
  EXPECT_EQ(h.next_double(), b);
  EXPECT_TRUE(throws_error([&] { h.set_state("garbage"); }, {"set_state"}));
}

TEST(FromBlob, WrapsWithoutCopyAndRunsDeleter) {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  bool deleted = false;
  {
    Tensor t = from_blob(buf.data(), {2, 3}, kFloat32, [&](void*) { deleted = true; });
    EXPECT_EQ(t.data_ptr(), buf.data());
    buf[4] = 50;
    EXPECT_EQ(t.select(0, 1).to_vector<float>(), (std::vector<float>{4, 50, 6}));
    Tensor v = t.t();  // a view keeps the storage alive
    t = Tensor();
    EXPECT_FALSE(deleted);
  }
  EXPECT_TRUE(deleted);
}

TEST(Views, ShareStorageAndSeeWrites) {
  Tensor x = arange(12, {.dtype = kFloat32}).reshape({3, 4});
  Tensor row = x.select(0, 1);
  Tensor col = x.select(1, 2);
  Tensor tr = x.t();
  Tensor sl = x.slice(1, 1, 3);
  for (const Tensor& v : {row, col, tr, sl}) EXPECT_TRUE(v.shares_storage(x));
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{2, 6, 10}));
  EXPECT_EQ(tr.shape(), (Shape{4, 3}));
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(sl.to_vector<float>(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  row.fill_(-1);
  EXPECT_EQ(x.select(0, 1).to_vector<float>(), std::vector<float>(4, -1));
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{2, -1, 10}));
}

TEST(Views, ExpandUsesZeroStridesAndSqueezeUnsqueezeFlatten) {
  Tensor x = tensor({1.0, 2.0, 3.0}).reshape({3, 1});
  Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_TRUE(e.shares_storage(x));
  EXPECT_EQ(e.contiguous().to_vector<float>().size(), 24u);
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(x.squeeze().shape(), (Shape{3}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{3, 1}));
  EXPECT_EQ(zeros({2, 3, 4}).flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(zeros({2, 3, 4}).flatten().shape(), (Shape{24}));
  EXPECT_EQ(zeros({2, 3, 4}).reshape({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(zeros({2, 3, 4}).permute({2, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(zeros({5}).narrow(0, 1, 3).shape(), (Shape{3}));
}

TEST(Views, ReshapeCopiesOnlyWhenNeededAndViewRefuses) {
  Tensor x = arange(6, {.dtype = kFloat32}).reshape({2, 3});
  EXPECT_TRUE(x.reshape({3, 2}).shares_storage(x));
  Tensor t = x.t();
  Tensor r = t.reshape({6});
  EXPECT_FALSE(r.shares_storage(x));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(throws_error([&] { t.view({6}); }, {"view", "reshape"}));
  EXPECT_TRUE(t.contiguous().is_contiguous());
  EXPECT_EQ(t.contiguous().to_vector<float>(), r.to_vector<float>());
}

TEST(Views, BadArgumentsAreErrorsNamingTheOp) {
  Tensor x = zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { x.reshape({4, 2}); }, {"reshape", "[4, 2]", "6"}));
  EXPECT_TRUE(throws_error([&] { x.reshape({-1, -1}); }, {"reshape", "-1"}));
  EXPECT_TRUE(throws_error([&] { x.permute({0, 0}); }, {"permute", "repeats"}));
  EXPECT_TRUE(throws_error([&] { x.permute({0}); }, {"permute", "2-D"}));
  EXPECT_TRUE(throws_error([&] { x.select(0, 2); }, {"select", "index 2", "size 2"}));
  EXPECT_TRUE(throws_error([&] { x.select(2, 0); }, {"select", "out of range"}));
  EXPECT_TRUE(throws_error([&] { x.slice(1, 0, 2, 0); }, {"slice", "step"}));
  EXPECT_TRUE(throws_error([&] { x.narrow(1, 2, 2); }, {"narrow", "size 3"}));
  EXPECT_TRUE(throws_error([&] { x.expand({2, 4}); }, {"expand", "[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { x.transpose(0, 5); }, {"transpose", "out of range"}));
  EXPECT_TRUE(throws_error([&] { zeros({2, 3, 4}).t(); }, {"t:", "[2, 3, 4]"}));
  EXPECT_TRUE(throws_error([&] { x.item(); }, {"item", "6 elements"}));
  EXPECT_TRUE(throws_error([&] { (void)x.data<double>(); }, {"float64", "float32"}));
}

TEST(Broadcasting, ShapesFollowNumPyRules) {
  EXPECT_EQ(broadcast_shapes({3, 1}, {4}), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2, 2}), (Shape{2, 2}));
  EXPECT_EQ(broadcast_shapes({5, 1, 3}, {2, 1}), (Shape{5, 2, 3}));
  EXPECT_EQ(broadcast_shapes({0}, {1}), (Shape{0}));
  EXPECT_TRUE(throws_error([] { broadcast_shapes({2, 3}, {4, 3}, "add"); }, {"add", "[2, 3]", "[4, 3]"}));
  Tensor a = arange(3, {.dtype = kFloat32}).reshape({3, 1});
  Tensor b = arange(4, {.dtype = kFloat32});
  Tensor c = a * 10.0 + b;
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(c.select(0, 2).to_vector<float>(), (std::vector<float>{20, 21, 22, 23}));
  EXPECT_TRUE(throws_error([&] { zeros({2, 3}) + zeros({4, 3}); }, {"[2, 3]", "[4, 3]"}));
}

TEST(InPlace, BumpsTheSharedVersionCounter) {
  Tensor x = zeros({3});
  Tensor v = x.slice(0, 0, 2);
  uint64_t before = x.version();
  v.add_(1.0);
  EXPECT_EQ(x.version(), before + 1);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 1, 0}));
  x.zero_();
  EXPECT_EQ(x.version(), before + 2);
  EXPECT_TRUE(throws_error([&] { x.add_(zeros({2, 3})); }, {"add_", "[2, 3]", "[3]"}));
  Tensor i = zeros({3}, {.dtype = kInt64});
  EXPECT_TRUE(throws_error([&] { i.add_(2.5); }, {"add_", "float32", "int64"}));
}

TEST(Printing, SmallTensorsLikeTorch) {
  EXPECT_EQ(tensor({1.5, 2.0, 3.0, 4.0}).reshape({2, 2}).str(),
            "tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]])");
  EXPECT_EQ(arange(3).str(), "tensor([0, 1, 2])");
  EXPECT_EQ(zeros({2}, {.dtype = kFloat64}).str(), "tensor([0.0000, 0.0000], dtype=float64)");
  EXPECT_EQ(ones({2}, {.dtype = kBool}).str(), "tensor([True, True])");
  EXPECT_NE(randn({2}, {.requires_grad = true}).str().find("requires_grad=True"), std::string::npos);
  std::ostringstream os;
  os << Tensor();
  EXPECT_EQ(os.str(), "tensor(undefined)");
}

TEST(Printing, LargeTensorsAreElided) {
  std::string s = arange(2000, {.dtype = kFloat32}).reshape({40, 50}).str();
  EXPECT_NE(s.find("..."), std::string::npos);
  EXPECT_LT(s.size(), 600u);
  EXPECT_NE(s.find("1999.0000"), std::string::npos);
  EXPECT_EQ(s.find("1000.0000"), std::string::npos);
}

TEST(Threads, SetNumThreadsIsHonouredAndValidated) {
  int old = get_num_threads();
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  set_num_threads(old);
  EXPECT_TRUE(throws_error([] { set_num_threads(0); }, {"set_num_threads"}));
  EXPECT_TRUE(get_flush_denormal());
}

TEST(Numerics, DenormalsFlushToZeroUnlessTurnedOff) {
  Tensor tiny = tensor(std::vector<float>{1e-39f});  // a float32 denormal
  ASSERT_TRUE(get_flush_denormal());
  EXPECT_EQ((tiny * 1.0).item<float>(), 0.0f);
  set_flush_denormal(false);
  EXPECT_EQ((tiny * 1.0).item<float>(), 1e-39f);
  set_flush_denormal(true);
  EXPECT_EQ((tiny * 1.0).item<float>(), 0.0f);
}

TEST(Allocator, FreedBlocksAreReused) {
  void* first;
  {
    Tensor a = empty({1000, 37});
    first = a.data_ptr();
  }
  Tensor b = empty({37, 1000});  // same byte size: served from the cache
  EXPECT_EQ(b.data_ptr(), first);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) % 64, 0u);
}

// int64 values above 2^53 (INT64_MAX is how exporters write an open slice end) stay exact
// through tensor(), to_vector(), item() and printing: none of them goes through double.
TEST(Creation, Int64ValuesStayExact) {
  const int64_t big = (int64_t(1) << 62) + 1, max = INT64_MAX, min = INT64_MIN;
  Tensor t = tensor(std::vector<int64_t>{big, max, min, -big});
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{big, max, min, -big}));
  EXPECT_EQ(t[1].item<int64_t>(), max);
  EXPECT_EQ(t[2].item<int64_t>(), min);
  EXPECT_EQ(t.to(DType::Int32).to_vector<int32_t>()[0], static_cast<int32_t>(big));  // wraps, as a C++ cast
  std::ostringstream os;
  os << t;
  EXPECT_NE(os.str().find("9223372036854775807"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("4611686018427387905"), std::string::npos) << os.str();
}

// Float -> integer conversions outside the target's range saturate and NaN gives 0, in
// to(), to_vector() and item() alike (a plain C++ cast would be undefined).
TEST(Creation, OutOfRangeFloatToIntegerSaturates) {
  Tensor f = tensor({1e30, -1e30, NAN, 2.9, -2.9}, {.dtype = DType::Float64});
  std::vector<int64_t> want{INT64_MAX, INT64_MIN, 0, 2, -2};
  EXPECT_EQ(f.to(DType::Int64).to_vector<int64_t>(), want);
  EXPECT_EQ(f.to_vector<int64_t>(), want);
  EXPECT_EQ(f.to(DType::Float32).to(DType::Int64).to_vector<int64_t>(), want);
  EXPECT_EQ(f[0].item<int64_t>(), INT64_MAX);
}
