// Elementwise ops: values against PyTorch 1.13, special values, the accuracy of
// the vectorized math (against long double), agreement between ISA levels,
// broadcasting, strides, threads, in-place writes, integer dtypes and errors.
// Gradient cases are in test_elementwise_grad.cpp; type promotion in test_promotion.cpp.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>

#include "../../src/backend/cpu/elementwise.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<double> kX = {-4.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 3.7, 12.0};
const std::vector<double> kY = {0.5, -1.5, 2.0, 0.0, -0.25, 3.0, 1.0, -2.0, 0.125};

using UnaryFn = std::function<Tensor(const Tensor&)>;
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

struct UnaryCase {
  UnaryFn fn;
  std::vector<double> expected;  // PyTorch 1.13, float64, on kX
};

// The comment on each line is the PyTorch expression (x = kX as float64,
// F = torch.nn.functional) that produced the values.
const std::map<std::string, UnaryCase>& unary_cases() {
  static const std::map<std::string, UnaryCase> cases = {
      // torch.neg(x)
      {"neg", {[](const Tensor& x) { return neg(x); }, {4.0, 2.5, 1.0, 0.3, -0.0, -0.4, -1.0, -3.7, -12.0}}},
      // torch.exp(x)
      {"exp", {[](const Tensor& x) { return exp(x); },
               {0.01831563888873418, 0.0820849986238988, 0.36787944117144233, 0.7408182206817179, 1.0,
                1.4918246976412703, 2.718281828459045, 40.4473043600674, 162754.79141900392}}},
      // torch.log(x.abs() + 0.5)
      {"log", {[](const Tensor& x) { return log(abs(x) + 0.5); },
               {1.5040773967762742, 1.0986122886681098, 0.4054651081081644, -0.2231435513142097,
                -0.6931471805599453, -0.10536051565782628, 0.4054651081081644, 1.4350845252893227,
                2.5257286443082556}}},
      // torch.log1p(x.abs() * 0.1)
      {"log1p", {[](const Tensor& x) { return log1p(abs(x) * 0.1); },
                 {0.33647223662121295, 0.22314355131420976, 0.09531017980432487, 0.0295588022415444, 0.0,
                  0.0392207131532813, 0.09531017980432487, 0.3148107398400336, 0.7884573603642703}}},
      // torch.sqrt(x.abs())
      {"sqrt", {[](const Tensor& x) { return sqrt(abs(x)); },
                {2.0, 1.5811388300841898, 1.0, 0.5477225575051661, 0.0, 0.6324555320336759, 1.0,
                 1.9235384061671346, 3.4641016151377544}}},
      // torch.rsqrt(x.abs() + 0.5)
      {"rsqrt", {[](const Tensor& x) { return rsqrt(abs(x) + 0.5); },
                 {0.47140452079103173, 0.5773502691896258, 0.8164965809277261, 1.118033988749895,
                  1.414213562373095, 1.0540925533894598, 0.8164965809277261, 0.48795003647426655,
                  0.282842712474619}}},
      // torch.abs(x)
      {"abs", {[](const Tensor& x) { return abs(x); }, {4.0, 2.5, 1.0, 0.3, 0.0, 0.4, 1.0, 3.7, 12.0}}},
      // torch.sign(x)
      {"sign", {[](const Tensor& x) { return sign(x); }, {-1.0, -1.0, -1.0, -1.0, 0.0, 1.0, 1.0, 1.0, 1.0}}},
      // torch.sin(x)
      {"sin", {[](const Tensor& x) { return sin(x); },
               {0.7568024953079282, -0.5984721441039564, -0.8414709848078965, -0.29552020666133955, 0.0,
                0.3894183423086505, 0.8414709848078965, -0.5298361409084934, -0.5365729180004349}}},
      // torch.cos(x)
      {"cos", {[](const Tensor& x) { return cos(x); },
               {-0.6536436208636119, -0.8011436155469337, 0.5403023058681398, 0.955336489125606, 1.0,
                0.9210609940028851, 0.5403023058681398, -0.848100031710408, 0.8438539587324921}}},
      // torch.tanh(x)
      {"tanh", {[](const Tensor& x) { return tanh(x); },
                {-0.999329299739067, -0.9866142981514303, -0.7615941559557649, -0.2913126124515909, 0.0,
                 0.3799489622552249, 0.7615941559557649, 0.9987782412811312, 0.9999999999244973}}},
      // torch.sigmoid(x)
      {"sigmoid", {[](const Tensor& x) { return sigmoid(x); },
                   {0.01798620996209156, 0.07585818002124355, 0.2689414213699951, 0.425557483188341, 0.5,
                    0.5986876601124521, 0.7310585786300049, 0.9758729785823308, 0.9999938558253978}}},
      // torch.relu(x)
      {"relu", {[](const Tensor& x) { return relu(x); }, {0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 1.0, 3.7, 12.0}}},
      // F.leaky_relu(x, 0.2)
      {"leaky_relu", {[](const Tensor& x) { return leaky_relu(x, 0.2); },
                      {-0.8, -0.5, -0.2, -0.06, 0.0, 0.4, 1.0, 3.7, 12.0}}},
      // F.gelu(x)
      {"gelu", {[](const Tensor& x) { return gelu(x); },
                {-0.00012668496733247991, -0.015524163314440398, -0.15865525393145702, -0.1146265733433142,
                 0.0, 0.2621686966441297, 0.841344746068543, 3.699601140986134, 12.0}}},
      // F.gelu(x, approximate='tanh')
      {"gelu_tanh", {[](const Tensor& x) { return gelu(x, "tanh"); },
                     {-7.024594819227126e-05, -0.015084266089998577, -0.1588080093917233,
                      -0.11462907645724074, 0.0, 0.2621611694273562, 0.8411919906082768, 3.699728193978608,
                      12.0}}},
      // F.silu(x)
      {"silu", {[](const Tensor& x) { return silu(x); },
                {-0.07194483984836623, -0.18964545005310887, -0.2689414213699951, -0.1276672449565023, 0.0,
                 0.23947506404498084, 0.7310585786300049, 3.610730020754624, 11.999926269904773}}},
      // F.softplus(x, beta=2, threshold=5)
      {"softplus", {[](const Tensor& x) { return softplus(x, 2.0, 5.0); },
                    {0.00016770318644788442, 0.003357674244559034, 0.06346400552148625, 0.21874397524294284,
                     0.34657359027997264, 0.5855503329738889, 1.0634640055214863, 3.7, 12.0}}},
      // torch.clamp(x, -1.5, 2.0)
      {"clamp", {[](const Tensor& x) { return clamp(x, -1.5, 2.0); },
                 {-1.5, -1.5, -1.0, -0.3, 0.0, 0.4, 1.0, 2.0, 2.0}}},
      // torch.pow(x.abs() + 0.5, 1.7)
      {"pow_scalar", {[](const Tensor& x) { return pow(abs(x) + 0.5, 1.7); },
                      {12.896185558724529, 6.473007839923779, 1.9923018599150013, 0.6843101439943604,
                       0.3077861033362291, 0.836011527916834, 1.9923018599150013, 11.46895354616501,
                       73.2397784872531}}},
  };
  return cases;
}

struct BinaryCase {
  BinaryFn fn;
  std::vector<double> expected;  // PyTorch 1.13, float64, on (kX, kY)
};
const std::map<std::string, BinaryCase>& binary_cases() {
  static const std::map<std::string, BinaryCase> cases = {
      // torch.add(x, y, alpha=2.5)
      {"add", {[](const Tensor& a, const Tensor& b) { return add(a, b, 2.5); },
               {-2.75, -6.25, 4.0, -0.3, -0.625, 7.9, 3.5, -1.2999999999999998, 12.3125}}},
      // torch.sub(x, y, alpha=0.5)
      {"sub", {[](const Tensor& a, const Tensor& b) { return sub(a, b, 0.5); },
               {-4.25, -1.75, -2.0, -0.3, 0.125, -1.1, 0.5, 4.7, 11.9375}}},
      // x * y
      {"mul", {[](const Tensor& a, const Tensor& b) { return a * b; },
               {-2.0, 3.75, -2.0, -0.0, -0.0, 1.2000000000000002, 1.0, -7.4, 1.5}}},
      // x / y
      {"div", {[](const Tensor& a, const Tensor& b) { return a / b; },
               {-8.0, 1.6666666666666667, -0.5, -kInf, -0.0, 0.13333333333333333, 1.0, -1.85, 96.0}}},
      // torch.pow(x.abs() + 0.5, y)
      {"pow", {[](const Tensor& a, const Tensor& b) { return pow(abs(a) + 0.5, b); },
               {2.1213203435596424, 0.19245008972987526, 2.25, 1.0, 1.189207115002721, 0.7290000000000001,
                1.5, 0.056689342403628114, 1.3712408783810366}}},
      // torch.minimum(x, y)
      {"minimum", {[](const Tensor& a, const Tensor& b) { return minimum(a, b); },
                   {-4.0, -2.5, -1.0, -0.3, -0.25, 0.4, 1.0, -2.0, 0.125}}},
      // torch.maximum(x, y)
      {"maximum", {[](const Tensor& a, const Tensor& b) { return maximum(a, b); },
                   {0.5, -1.5, 2.0, 0.0, 0.0, 3.0, 1.0, 3.7, 12.0}}},
  };
  return cases;
}

// The ISA levels this CPU runs, best last; restores the automatic choice on exit.
struct IsaLevels {
  std::vector<std::string> names;
  IsaLevels() {
    for (const char* l : {"baseline", "avx2", "avx512"}) {
      try {
        cpu::set_isa(l);
        names.push_back(l);
      } catch (const Error&) {
      }
    }
    cpu::set_isa("");
  }
  ~IsaLevels() { cpu::set_isa(""); }
};

Tensor vec(const std::vector<double>& v, DType dt = kFloat64) {
  return tensor(v, std::nullopt, {.dtype = dt});
}

}  // namespace

TEST(Elementwise, UnaryOpsMatchPyTorchAtEveryIsaLevel) {
  IsaLevels levels;
  for (const std::string& isa : levels.names) {
    cpu::set_isa(isa);
    for (const auto& [name, c] : unary_cases()) {
      SCOPED_TRACE(name + " at " + isa);
      EXPECT_ALL_CLOSE(c.fn(vec(kX)), vec(c.expected), 1e-15, 1e-14);
      Tensor y32 = c.fn(vec(kX, kFloat32));
      EXPECT_EQ(y32.dtype(), kFloat32);
      EXPECT_ALL_CLOSE(y32.to(kFloat64), vec(c.expected), 1e-6, 2e-6);
    }
  }
}

TEST(Elementwise, BinaryOpsMatchPyTorchAtEveryIsaLevel) {
  IsaLevels levels;
  for (const std::string& isa : levels.names) {
    cpu::set_isa(isa);
    for (const auto& [name, c] : binary_cases()) {
      SCOPED_TRACE(name + " at " + isa);
      EXPECT_ALL_CLOSE(c.fn(vec(kX), vec(kY)), vec(c.expected), 1e-15, 1e-14);
      Tensor y32 = c.fn(vec(kX, kFloat32), vec(kY, kFloat32));
      EXPECT_ALL_CLOSE(y32.to(kFloat64), vec(c.expected), 1e-6, 2e-6);
    }
  }
}

TEST(Elementwise, SpecialValuesFollowPyTorch) {
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor s = vec({-kInf, kInf, kNaN, -0.0}, dt);
    // torch.sigmoid / tanh / F.silu / F.gelu / F.softplus of [-inf, inf, nan, -0.]
    EXPECT_ALL_CLOSE(exp(s), vec({0.0, kInf, kNaN, 1.0}, dt));
    EXPECT_ALL_CLOSE(sigmoid(s), vec({0.0, 1.0, kNaN, 0.5}, dt));
    EXPECT_ALL_CLOSE(tanh(s), vec({-1.0, 1.0, kNaN, 0.0}, dt));
    EXPECT_ALL_CLOSE(silu(s), vec({kNaN, kInf, kNaN, 0.0}, dt));
    EXPECT_ALL_CLOSE(gelu(s), vec({kNaN, kInf, kNaN, 0.0}, dt));
    EXPECT_ALL_CLOSE(gelu(s, "tanh"), vec({kNaN, kInf, kNaN, 0.0}, dt));
    EXPECT_ALL_CLOSE(softplus(s), vec({0.0, kInf, kNaN, std::log(2.0)}, dt));
    EXPECT_ALL_CLOSE(relu(s), vec({0.0, kInf, kNaN, 0.0}, dt));
    EXPECT_ALL_CLOSE(sign(s), vec({-1.0, 1.0, 0.0, 0.0}, dt));
    EXPECT_ALL_CLOSE(sin(s), vec({kNaN, kNaN, kNaN, 0.0}, dt));
    // torch.log / log1p / sqrt / rsqrt of [-1, 0, inf, nan]
    Tensor p = vec({-1.0, 0.0, kInf, kNaN}, dt);
    EXPECT_ALL_CLOSE(log(p), vec({kNaN, -kInf, kInf, kNaN}, dt));
    EXPECT_ALL_CLOSE(log1p(p), vec({-kInf, 0.0, kInf, kNaN}, dt));
    EXPECT_ALL_CLOSE(sqrt(p), vec({kNaN, 0.0, kInf, kNaN}, dt));
    EXPECT_ALL_CLOSE(rsqrt(p), vec({kNaN, kInf, 0.0, kNaN}, dt));
    // torch.maximum / minimum propagate NaN from either side; clamp keeps NaN.
    Tensor a = vec({1.0, kNaN, 3.0}, dt), b = vec({kNaN, 2.0, 1.0}, dt);
    EXPECT_ALL_CLOSE(maximum(a, b), vec({kNaN, kNaN, 3.0}, dt));
    EXPECT_ALL_CLOSE(minimum(a, b), vec({kNaN, kNaN, 1.0}, dt));
    EXPECT_ALL_CLOSE(clamp(a, 2.0, 2.5), vec({2.0, kNaN, 2.5}, dt));
    // torch.clamp(x, min=3, max=2) gives max everywhere.
    EXPECT_ALL_CLOSE(clamp(vec({1.0, 2.5, 4.0}, dt), 3.0, 2.0), vec({2.0, 2.0, 2.0}, dt));
    // torch.div([1, -1, 0], 0)
    EXPECT_ALL_CLOSE(vec({1.0, -1.0, 0.0}, dt) / 0.0, vec({kInf, -kInf, kNaN}, dt));
    // exp over- and underflow, subnormal results
    EXPECT_ALL_CLOSE(exp(vec({89.0, 710.0, -104.0, -746.0}, dt)),
                     dt == kFloat32 ? vec({kInf, kInf, 0.0, 0.0}, dt) : vec({std::exp(89.0), kInf, std::exp(-104.0), 0.0}, dt));
  }
}

TEST(Elementwise, PowSpecialCasesFollowPyTorch) {
  Tensor x = vec({-2.0, 2.0, -1.0, 0.0, kNaN}, kFloat32);
  // torch.pow(x, e) for the exponents PyTorch special-cases, and a general one.
  EXPECT_ALL_CLOSE(pow(x, 2.0), vec({4.0, 4.0, 1.0, 0.0, kNaN}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, 3.0), vec({-8.0, 8.0, -1.0, 0.0, kNaN}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, 0.5), vec({kNaN, std::sqrt(2.0), kNaN, 0.0, kNaN}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, -1.0), vec({-0.5, 0.5, -1.0, kInf, kNaN}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, -2.0), vec({0.25, 0.25, 1.0, kInf, kNaN}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, 0.0), vec({1.0, 1.0, 1.0, 1.0, 1.0}, kFloat32));
  EXPECT_ALL_CLOSE(pow(x, 1.5), vec({kNaN, std::pow(2.0, 1.5), kNaN, 0.0, kNaN}, kFloat32));
  // torch.pow(tensor([-2., 2, -1, 1, nan, 0]), tensor([3., .5, inf, nan, 0, -2]))
  EXPECT_ALL_CLOSE(pow(vec({-2.0, 2.0, -1.0, 1.0, kNaN, 0.0}), vec({3.0, 0.5, kInf, kNaN, 0.0, -2.0})),
                   vec({-8.0, std::sqrt(2.0), 1.0, 1.0, 1.0, kInf}));
  // torch.pow(2.0, tensor([-8., 2, 0, -inf]))
  EXPECT_ALL_CLOSE(pow(wrap_scalar(2.0), vec({-8.0, 2.0, 0.0, -kInf}, kFloat32)),
                   vec({0.00390625, 4.0, 1.0, 0.0}, kFloat32));
}

TEST(Elementwise, IntegerArithmeticWrapsLikePyTorch) {
  auto i8 = [](std::vector<int8_t> v) { return tensor(v); };
  auto u8 = [](std::vector<uint8_t> v) { return tensor(v); };
  auto i64 = [](std::vector<int64_t> v) { return tensor(v); };
  // torch.tensor([200], dtype=torch.uint8) * 2 -> 144; tensor([1], uint8) - 2 -> 255
  EXPECT_EQ((u8({200}) * wrap_scalar(int64_t{2})).to_vector<int64_t>(), std::vector<int64_t>{144});
  EXPECT_EQ((u8({1}) - wrap_scalar(int64_t{2})).to_vector<int64_t>(), std::vector<int64_t>{255});
  // torch.abs / neg of int8 -128 stay -128
  EXPECT_EQ(abs(i8({-128, -3})).to_vector<int64_t>(), (std::vector<int64_t>{-128, 3}));
  EXPECT_EQ(neg(i8({-128, 5})).to_vector<int64_t>(), (std::vector<int64_t>{-128, -5}));
  Tensor big = i64({int64_t{1} << 62});
  EXPECT_EQ((big + big).to_vector<int64_t>(), std::vector<int64_t>{INT64_MIN});
  // torch.pow(tensor([1, 2, -1, 0]), tensor([-1, -1, -1, -1])) -> [1, 0, -1, 0]
  EXPECT_EQ(pow(i64({1, 2, -1, 0}), i64({-1, -1, -1, -1})).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 0, -1, 0}));
  // torch.pow(tensor([-3], int8), tensor([3], int8)) -> -27; pow(tensor([2, 3]), tensor([40, 0]))
  EXPECT_EQ(pow(i8({-3}), i8({3})).to_vector<int64_t>(), std::vector<int64_t>{-27});
  EXPECT_EQ(pow(i64({2, 3}), i64({40, 0})).to_vector<int64_t>(),
            (std::vector<int64_t>{1099511627776, 1}));
  EXPECT_EQ(sign(i64({3, -2, 0})).to_vector<int64_t>(), (std::vector<int64_t>{1, -1, 0}));
  EXPECT_EQ(relu(i64({3, -2})).to_vector<int64_t>(), (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(minimum(i64({1, 5}), i64({3, 2})).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(maximum(i64({1, 5}), i64({3, 2})).to_vector<int64_t>(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(add(i64({1, 2}), i64({10, 20}), 3).to_vector<int64_t>(), (std::vector<int64_t>{31, 62}));
}

TEST(Elementwise, DivisionIsTrueDivision) {
  Tensor a = tensor(std::vector<int64_t>{5, -5, 1}), b = tensor(std::vector<int64_t>{2, 2, 0});
  Tensor q = a / b;  // torch: tensor([2.5, -2.5, inf]), float32
  EXPECT_EQ(q.dtype(), kFloat32);
  EXPECT_ALL_CLOSE(q, vec({2.5, -2.5, kInf}, kFloat32));
  Tensor h = tensor(std::vector<int32_t>{5}) / 2.0;  // torch: float32 2.5
  EXPECT_EQ(h.dtype(), kFloat32);
  EXPECT_DOUBLE_EQ(h.item(), 2.5);
}

TEST(Elementwise, BoolArithmeticAndUnaryDtypes) {
  Tensor t = tensor({1.0, 0.0, 1.0}, {.dtype = kBool}), f = tensor({1.0, 1.0, 0.0}, {.dtype = kBool});
  // torch: bool + bool -> bool (or), bool * bool -> bool (and), bool / bool -> float32
  EXPECT_EQ((t + f).dtype(), kBool);
  EXPECT_EQ((t + f).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ((t * f).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ((t / f).dtype(), kFloat32);
  EXPECT_EQ(sign(t).dtype(), kBool);
  EXPECT_EQ(maximum(t, f).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  // Unary float math of integers gives float32 (torch.exp(tensor([1, 2])))
  Tensor e = exp(tensor(std::vector<int64_t>{1, 2}));
  EXPECT_EQ(e.dtype(), kFloat32);
  EXPECT_ALL_CLOSE(e, vec({std::exp(1.0), std::exp(2.0)}, kFloat32));
  EXPECT_EQ(log(t).dtype(), kFloat32);
  EXPECT_EQ(abs(tensor(std::vector<int32_t>{-3})).dtype(), kInt32);
}

TEST(Elementwise, ClampDtypeFollowsTheBounds) {
  Tensor i = tensor(std::vector<int64_t>{1, 5, 9});
  // torch.clamp(tensor([1, 5, 9]), min=2, max=7) -> int64 [2, 5, 7]
  Tensor c = clamp(i, 2.0, 7.0);
  EXPECT_EQ(c.dtype(), kInt64);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{2, 5, 7}));
  // torch.clamp(tensor([1, 5, 9], int32), min=2.5, max=7) -> float32 [2.5, 5, 7]
  Tensor f = clamp(tensor(std::vector<int32_t>{1, 5, 9}), 2.5, 7.0);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_ALL_CLOSE(f, vec({2.5, 5.0, 7.0}, kFloat32));
  EXPECT_EQ(clamp(i, std::nullopt, 4.0).to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 4}));
  // torch.clamp(tensor([True, False]), min=0) -> int64
  EXPECT_EQ(clamp(tensor({1.0, 0.0}, {.dtype = kBool}), 0.0, std::nullopt).dtype(), kInt64);
  Tensor x = vec({1.0, 2.0, 3.0}, kFloat32);
  x.clamp_(1.5, 2.5);
  EXPECT_ALL_CLOSE(x, vec({1.5, 2.0, 2.5}, kFloat32));
}

TEST(Elementwise, ComparisonsAndLogicalOpsGiveBool) {
  Tensor a = vec({1.0, 2.0, kNaN}), b = vec({2.0, 2.0, kNaN});
  auto v = [](const Tensor& t) {
    EXPECT_EQ(t.dtype(), kBool);
    return t.to_vector<int64_t>();
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(v(a == b), (V{0, 1, 0}));  // NaN == NaN is false (torch.eq)
  EXPECT_EQ(v(a != b), (V{1, 0, 1}));
  EXPECT_EQ(v(a < b), (V{1, 0, 0}));
  EXPECT_EQ(v(a <= b), (V{1, 1, 0}));
  EXPECT_EQ(v(a > b), (V{0, 0, 0}));
  EXPECT_EQ(v(a >= b), (V{0, 1, 0}));
  // torch.eq(tensor([1, 2]), 1.5): compared in float32
  EXPECT_EQ(v(eq(tensor(std::vector<int64_t>{1, 2}), wrap_scalar(1.5))), (V{0, 0}));
  EXPECT_EQ(v(lt(tensor(std::vector<int64_t>{1, 2}), wrap_scalar(1.5))), (V{1, 0}));
  // torch.logical_and(tensor([1, 0]), tensor([2., nan])) -> [True, False]; NaN is true
  EXPECT_EQ(v(logical_and(tensor(std::vector<int64_t>{1, 0}), vec({2.0, kNaN}))), (V{1, 0}));
  EXPECT_EQ(v(logical_or(tensor(std::vector<int64_t>{1, 0}), vec({0.0, kNaN}))), (V{1, 1}));
  // torch.logical_xor(tensor([1, 0, 2]), tensor([1, 1, 0])) -> [False, True, True]
  EXPECT_EQ(v(logical_xor(tensor(std::vector<int64_t>{1, 0, 2}), tensor(std::vector<int64_t>{1, 1, 0}))),
            (V{0, 1, 1}));
  EXPECT_EQ(v(!vec({1.0, 0.0})), (V{0, 1}));
  EXPECT_EQ(v((a < b) && (a <= b)), (V{1, 0, 0}));
  EXPECT_EQ(v((a < b) || (a == b)), (V{1, 1, 0}));
  Tensor h = vec({1.0, 3.0}, kFloat16);
  EXPECT_EQ(v(h > vec({2.0, 2.0}, kFloat16)), (V{0, 1}));
  EXPECT_FALSE((a < b).requires_grad());
}

TEST(Elementwise, WhereSelectsAndPromotes) {
  Tensor c = tensor({1.0, 0.0}, {.dtype = kBool});
  // torch.where(tensor([True, False]), tensor([1, 2]), tensor([1.5, 2.5])) -> float32 [1, 2.5]
  Tensor w = where(c, tensor(std::vector<int64_t>{1, 2}), vec({1.5, 2.5}, kFloat32));
  EXPECT_EQ(w.dtype(), kFloat32);
  EXPECT_ALL_CLOSE(w, vec({1.0, 2.5}, kFloat32));
  // A uint8 condition still works (deprecated in PyTorch); broadcasting of all three.
  Tensor cu = tensor(std::vector<uint8_t>{1, 0, 3}).reshape({3, 1});
  Tensor r = where(cu, vec({1.0, 2.0}), wrap_scalar(-1.0));
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_ALL_CLOSE(r, vec({1.0, 2.0, -1.0, -1.0, 1.0, 2.0}).reshape({3, 2}));
  Tensor h = where(c, vec({1.0, 2.0}, kFloat16), vec({3.0, 4.0}, kFloat16));
  EXPECT_EQ(h.dtype(), kFloat16);
  EXPECT_ALL_CLOSE(h.to(kFloat64), vec({1.0, 4.0}));
}

// A naive reference: one element at a time through to_vector.
Tensor reference_binary(const Tensor& a, const Tensor& b, double (*f)(double, double)) {
  Shape s = broadcast_shapes(a.shape(), b.shape());
  Tensor ae = a.expand(s).contiguous(), be = b.expand(s).contiguous();
  std::vector<double> va = ae.to_vector<double>(), vb = be.to_vector<double>(), r(va.size());
  for (size_t i = 0; i < va.size(); ++i) r[i] = f(va[i], vb[i]);
  return tensor(r, s, {.dtype = kFloat64});
}

TEST(Elementwise, BroadcastingStridesAndThreadsAgreeWithNaiveLoops) {
  int prev = get_num_threads();
  Generator g(7);
  // Big enough to split over two threads; every layout the drivers distinguish.
  Tensor a = randn({257, 300}, {.dtype = kFloat32}, &g);
  Tensor col = randn({257, 1}, {.dtype = kFloat32}, &g);
  Tensor row = randn({300}, {.dtype = kFloat32}, &g);
  Tensor t = randn({300, 257}, {.dtype = kFloat32}, &g).t();                         // transposed
  Tensor s = randn({257, 600}, {.dtype = kFloat32}, &g).slice(1, 0, std::nullopt, 2);  // strided
  Tensor ints = arange(300.0, {.dtype = kInt32});
  auto mul_f = [](double x, double y) { return static_cast<double>(static_cast<float>(x) * static_cast<float>(y)); };
  auto add_f = [](double x, double y) { return static_cast<double>(static_cast<float>(x) + static_cast<float>(y)); };
  std::vector<Tensor> one_thread;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<Tensor> r;
    for (const Tensor* rhs : {&col, &row, &t, &s, &a}) {
      r.push_back(a * *rhs);
      EXPECT_ALL_CLOSE(*rhs * a, r.back(), 0, 0);  // the scalar/contiguous side swapped
    }
    r.push_back(t * s);
    r.push_back(tanh(s));
    r.push_back(exp(t));
    r.push_back(gelu(col.expand({257, 300})));
    r.push_back(a + 2.0);
    r.push_back(a + ints);  // mixed dtypes: the int tensor is converted, not reinterpreted
    if (threads == 1) {
      one_thread = r;
      continue;
    }
    for (size_t i = 0; i < r.size(); ++i) EXPECT_ALL_CLOSE(r[i], one_thread[i], 0, 0) << "result " << i;
    const Tensor* rhs[] = {&col, &row, &t, &s, &a};
    for (int i = 0; i < 5; ++i) EXPECT_ALL_CLOSE(r[i].to(kFloat64), reference_binary(a, *rhs[i], mul_f), 0, 0);
    EXPECT_ALL_CLOSE(r[5].to(kFloat64), reference_binary(t, s, mul_f), 0, 0);
    // Unary over a strided view equals unary over its contiguous copy.
    EXPECT_ALL_CLOSE(r[6], tanh(s.contiguous()), 0, 0);
    EXPECT_ALL_CLOSE(r[7], exp(t.contiguous()), 0, 0);
    EXPECT_ALL_CLOSE(r[8], gelu(col).expand({257, 300}), 0, 0);
    // A wrapped number and a float64 0-dim tensor broadcast the same way.
    EXPECT_ALL_CLOSE(r[9], a + full({}, 2.0, {.dtype = kFloat64}), 0, 0);
    EXPECT_ALL_CLOSE(r[10].to(kFloat64), reference_binary(a, ints, add_f), 0, 0);
  }
  set_num_threads(prev);
}

// A row repeated over middle dims ([N, C/16, H, W, 16] * [N, C/16, 1, 1, 16], a channel scale on
// blocked activations) runs over a buffer of copied rows: either operand order, sub / div (not
// commutative), in place, one and two threads, against the naive loops.
TEST(Elementwise, RepeatedRowBroadcastsAgreeWithNaiveLoops) {
  int prev = get_num_threads();
  Generator g(8);
  Tensor x = randn({2, 3, 40, 41, 16}, {.dtype = kFloat32}, &g), s = randn({2, 3, 1, 1, 16}, {.dtype = kFloat32}, &g);
  Tensor small = randn({2, 5, 3, 8}, {.dtype = kFloat32}, &g), srow = randn({2, 1, 1, 8}, {.dtype = kFloat32}, &g);
  // One outer row: the threads split its middle rows.
  Tensor tall = randn({1, 3000, 16}, {.dtype = kFloat32}, &g), trow = randn({1, 1, 16}, {.dtype = kFloat32}, &g);
  auto mul_f = [](double a, double b) { return static_cast<double>(static_cast<float>(a) * static_cast<float>(b)); };
  auto sub_f = [](double a, double b) { return static_cast<double>(static_cast<float>(a) - static_cast<float>(b)); };
  auto div_f = [](double a, double b) { return static_cast<double>(static_cast<float>(a) / static_cast<float>(b)); };
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    set_num_threads(threads);
    EXPECT_ALL_CLOSE((x * s).to(kFloat64), reference_binary(x, s, mul_f), 0, 0);
    EXPECT_ALL_CLOSE((s * x).to(kFloat64), reference_binary(s, x, mul_f), 0, 0);
    EXPECT_ALL_CLOSE((s - x).to(kFloat64), reference_binary(s, x, sub_f), 0, 0);
    EXPECT_ALL_CLOSE((x / s).to(kFloat64), reference_binary(x, s, div_f), 0, 0);
    EXPECT_ALL_CLOSE((small - srow).to(kFloat64), reference_binary(small, srow, sub_f), 0, 0);
    EXPECT_ALL_CLOSE((tall * trow).to(kFloat64), reference_binary(tall, trow, mul_f), 0, 0);
    Tensor y = x.clone();
    y.mul_(s);
    EXPECT_ALL_CLOSE(y.to(kFloat64), reference_binary(x, s, mul_f), 0, 0);
  }
  set_num_threads(prev);
}

TEST(Elementwise, EmptyAndZeroDimTensors) {
  Tensor e = empty({0, 3});
  EXPECT_EQ((e + 1.0).shape(), (Shape{0, 3}));
  EXPECT_EQ(exp(e).shape(), (Shape{0, 3}));
  EXPECT_EQ((e + ones({3})).shape(), (Shape{0, 3}));
  Tensor z = full({}, 2.0);
  EXPECT_EQ((z * z).dim(), 0);
  EXPECT_DOUBLE_EQ((z * z).item(), 4.0);
}

TEST(Elementwise, InPlaceOpsWriteIntoSelf) {
  Tensor x = vec({1.0, 2.0, 3.0, 4.0}, kFloat32).reshape({2, 2});
  const void* p = x.data_ptr();
  uint64_t v0 = x.version();
  x.add_(vec({10.0, 20.0}, kFloat32));  // broadcast row
  x.mul_(2.0);
  x.sub_(vec({1.0, 1.0, 1.0, 1.0}, kFloat32).reshape({2, 2}), 0.5);
  x.div_(vec({2.0}, kFloat32));
  EXPECT_EQ(x.data_ptr(), p);
  EXPECT_GT(x.version(), v0);
  EXPECT_ALL_CLOSE(x, vec({10.75, 21.75, 12.75, 23.75}, kFloat32).reshape({2, 2}));
  // Aliasing: the same tensor on both sides, and a transposed view of itself.
  Tensor y = vec({1.0, 2.0, 3.0, 4.0}).reshape({2, 2});
  y.add_(y);
  EXPECT_ALL_CLOSE(y, vec({2.0, 4.0, 6.0, 8.0}).reshape({2, 2}));
  y.add_(y.t());
  EXPECT_ALL_CLOSE(y, vec({4.0, 10.0, 10.0, 16.0}).reshape({2, 2}));
  y.mul_(y[0]);  // a broadcast row of y itself
  EXPECT_ALL_CLOSE(y, vec({16.0, 100.0, 40.0, 160.0}).reshape({2, 2}));
  // Integer in-place, and a float result that is cast into an int target is an error.
  Tensor k = tensor(std::vector<int64_t>{1, 2});
  k.add_(tensor(std::vector<int64_t>{3, 4}));
  EXPECT_EQ(k.to_vector<int64_t>(), (std::vector<int64_t>{4, 6}));
  EXPECT_TRUE(throws_error([&] { k.div_(k); }, {"div_", "float32", "int64"}));
  // A non-contiguous target goes through the copy path.
  Tensor base = zeros({3, 3});
  Tensor col = base.select(1, 1);
  col.add_(vec({1.0, 2.0, 3.0}, kFloat32));
  EXPECT_ALL_CLOSE(base.select(1, 1), vec({1.0, 2.0, 3.0}, kFloat32));
  EXPECT_DOUBLE_EQ(base.sum().item(), 6.0);
}

TEST(Elementwise, HalfInputsComputeInFloat32AndRoundOnce) {
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor a = vec({1.0, 2.0, -3.0}, dt), b = vec({0.5, 0.25, 2.0}, dt);
    Tensor s = a + b;
    EXPECT_EQ(s.dtype(), dt);
    EXPECT_ALL_CLOSE(s.to(kFloat64), vec({1.5, 2.25, -1.0}));
    EXPECT_EQ(exp(a).dtype(), dt);
    EXPECT_ALL_CLOSE(exp(a).to(kFloat64), exp(vec({1.0, 2.0, -3.0})), 1e-3, 1e-2);
    EXPECT_EQ((a * 2.5).dtype(), dt);  // a C++ number does not widen
    a.add_(b);  // in place: computed in float32, rounded into the 16-bit target
    a.mul_(2.0);
    EXPECT_ALL_CLOSE(a.to(kFloat64), vec({3.0, 4.5, -2.0}));
    Tensor c = vec({1.0, 2.0, 3.0});
    c.add_(b);  // a 16-bit operand into a float64 target
    EXPECT_ALL_CLOSE(c, vec({1.5, 2.25, 5.0}));
  }
}

TEST(Elementwise, ErrorsNameTheOpAndShapes) {
  Tensor a = ones({2, 3}), b = ones({4});
  EXPECT_TRUE(throws_error([&] { add(a, b); }, {"add", "[2, 3]", "[4]", "broadcast"}));
  EXPECT_TRUE(throws_error([&] { mul(a, b); }, {"mul", "[2, 3]", "[4]"}));
  EXPECT_TRUE(throws_error([&] { where(ones({3}, {.dtype = kBool}), a, b); }, {"where", "[4]"}));
  EXPECT_TRUE(throws_error([&] { where(ones({3}), a, a); }, {"where", "condition", "bool", "float32"}));
  Tensor t = ones({2}, {.dtype = kBool});
  EXPECT_TRUE(throws_error([&] { sub(t, t); }, {"sub", "bool", "logical_xor"}));
  EXPECT_TRUE(throws_error([&] { neg(t); }, {"neg", "bool", "logical_not"}));
  EXPECT_TRUE(throws_error([&] { abs(t); }, {"abs", "bool"}));
  EXPECT_TRUE(throws_error([&] { relu(t); }, {"relu", "bool"}));
  Tensor i = ones({2}, {.dtype = kInt64});
  EXPECT_TRUE(throws_error([&] { leaky_relu(i); }, {"leaky_relu", "floating-point", "int64"}));
  EXPECT_TRUE(throws_error([&] { gelu(i); }, {"gelu", "int64"}));
  EXPECT_TRUE(throws_error([&] { silu(i); }, {"silu", "int64"}));
  EXPECT_TRUE(throws_error([&] { softplus(i); }, {"softplus", "int64"}));
  EXPECT_TRUE(throws_error([&] { gelu(a, "erf"); }, {"gelu", "approximate", "'erf'"}));
  EXPECT_TRUE(throws_error([&] { clamp(a, std::nullopt, std::nullopt); }, {"clamp", "min", "max"}));
  EXPECT_TRUE(throws_error([&] { clamp(ones({2}, {.dtype = kUInt8}), 300.0, std::nullopt); },
                           {"clamp", "300", "uint8"}));
  EXPECT_TRUE(throws_error([&] { add(i, i, 2.5); }, {"add", "alpha", "integer", "2.5"}));
  EXPECT_TRUE(throws_error([&] { ones({2}).add_(ones({2, 2})); }, {"add_", "[2, 2]", "[2]"}));
}

// ---- accuracy of the vectorized math, at every ISA level

namespace {

// Largest error of fn (run on float type T) in units of T's last place, against
// ref computed in long double, over n points spread evenly on [lo, hi].
template <typename T>
double max_ulp_error(const UnaryFn& fn, long double (*ref)(long double), double lo, double hi,
                     int n = 4001) {
  std::vector<T> xs(n);
  for (int i = 0; i < n; ++i) xs[i] = static_cast<T>(lo + (hi - lo) * i / (n - 1));
  Tensor y = fn(tensor(xs));
  std::vector<double> ys = y.to_vector<double>();
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    long double r = ref(static_cast<long double>(xs[i]));
    if (!std::isfinite(static_cast<double>(r))) {
      if (!(ys[i] == static_cast<double>(r) || (std::isnan(ys[i]) && std::isnan(static_cast<double>(r)))))
        return 1e30;
      continue;
    }
    // One unit in the last place of T at r (subnormals: the smallest normal's).
    int e = r == 0 ? 0 : std::ilogb(std::fabs(r));
    e = std::max(e, std::numeric_limits<T>::min_exponent - 1);
    long double ulp = std::ldexp(1.0L, e - std::numeric_limits<T>::digits + 1);
    worst = std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(ys[i]) - r) / ulp));
  }
  return worst;
}

long double ref_gelu(long double x) { return 0.5L * x * std::erfc(-x / std::sqrt(2.0L)); }
long double ref_gelu_tanh(long double x) {
  long double y = std::sqrt(2.0L / 3.14159265358979323846264338327950288L) * (x + 0.044715L * x * x * x);
  return x / (1.0L + std::exp(-2.0L * y));
}
long double ref_sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double ref_silu(long double x) { return x / (1.0L + std::exp(-x)); }
long double ref_softplus(long double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

struct Accuracy {
  const char* name;
  UnaryFn fn;
  long double (*ref)(long double);
  double lo, hi;
  double f32_ulps, f64_ulps;
};

}  // namespace

TEST(Elementwise, VectorizedMathIsAccurateToAFewUlps) {
  const std::vector<Accuracy> cases = {
      {"exp", [](const Tensor& x) { return exp(x); }, [](long double x) { return std::exp(x); }, -87, 88, 1, 1},
      {"exp(small)", [](const Tensor& x) { return exp(x); }, [](long double x) { return std::exp(x); }, -1, 1, 1, 1},
      {"log", [](const Tensor& x) { return log(x); }, [](long double x) { return std::log(x); }, 1e-6, 1e6, 1, 1},
      {"log(near 1)", [](const Tensor& x) { return log(x); }, [](long double x) { return std::log(x); }, 0.5, 2, 1, 1},
      {"log1p", [](const Tensor& x) { return log1p(x); }, [](long double x) { return std::log1p(x); }, -0.9, 10, 3, 3},
      {"log1p(small)", [](const Tensor& x) { return log1p(x); }, [](long double x) { return std::log1p(x); }, -1e-3, 1e-3, 3, 3},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](long double x) { return std::tanh(x); }, -10, 10, 3, 3},
      {"tanh(small)", [](const Tensor& x) { return tanh(x); }, [](long double x) { return std::tanh(x); }, -0.1, 0.1, 3, 3},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, ref_sigmoid, -80, 20, 3, 3},
      {"silu", [](const Tensor& x) { return silu(x); }, ref_silu, -80, 20, 3, 3},
      {"softplus", [](const Tensor& x) { return softplus(x); }, ref_softplus, -80, 30, 3, 3},
      {"sin", [](const Tensor& x) { return sin(x); }, [](long double x) { return std::sin(x); }, -100, 100, 2, 2},
      {"cos", [](const Tensor& x) { return cos(x); }, [](long double x) { return std::cos(x); }, -100, 100, 2, 2},
      {"sin(large)", [](const Tensor& x) { return sin(x); }, [](long double x) { return std::sin(x); }, -3e5, 3e5, 3, 3},
      // NOTE: in the left tail gelu is ill-conditioned (d log gelu / d log x ~ x^2):
      // float32 takes x^2 exactly and stays within a few ulps down to -10; float64
      // (libm erfc of a rounded x/sqrt2) and the tanh form (rounded polynomial
      // inside exp) lose about x^2 ulps, so they are checked where |x| <= 3.
      // PyTorch's 0.5 x (1 + erf(..)) loses everything there to cancellation.
      {"gelu", [](const Tensor& x) { return gelu(x); }, ref_gelu, -10, 10, 8, 1e30},
      {"gelu", [](const Tensor& x) { return gelu(x); }, ref_gelu, -3, 10, 8, 16},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, ref_gelu_tanh, -3, 10, 16, 16},
  };
  IsaLevels levels;
  for (const std::string& isa : levels.names) {
    cpu::set_isa(isa);
    for (const Accuracy& c : cases) {
      SCOPED_TRACE(std::string(c.name) + " at " + isa);
      EXPECT_LE(max_ulp_error<float>(c.fn, c.ref, c.lo, c.hi), c.f32_ulps);
      EXPECT_LE(max_ulp_error<double>(c.fn, c.ref, c.lo, c.hi), c.f64_ulps);
    }
  }
}

TEST(Elementwise, EveryIsaLevelGivesTheSameResults) {
  IsaLevels levels;
  Generator g(11);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({1000}, {.dtype = dt}, &g) * 4.0, y = randn({1000}, {.dtype = dt}, &g);
    Tensor xp = abs(x) + 0.01;
    for (int op = 0; op < static_cast<int>(cpu::Unary::Count); ++op) {
      bool positive = op == static_cast<int>(cpu::Unary::Log) || op == static_cast<int>(cpu::Unary::Sqrt) ||
                      op == static_cast<int>(cpu::Unary::Rsqrt);
      cpu::EwParams p{.alpha = 1.0, .p0 = op == static_cast<int>(cpu::Unary::Softplus) ? 1.0 : -0.5, .p1 = 2.0};
      Tensor ref;
      for (const std::string& isa : levels.names) {
        cpu::set_isa(isa);
        Tensor out = empty_like(x);
        cpu::ew_unary(static_cast<cpu::Unary>(op), positive ? xp : x, out, p);
        if (!ref.defined()) ref = out;
        else EXPECT_TRUE(all_close(out, ref, 1e-6, dt == kFloat32 ? 4e-7 : 1e-15)) << "unary op " << op << " at " << isa;
      }
    }
    for (int op = 0; op < static_cast<int>(cpu::Binary::Count); ++op) {
      Tensor ref;
      for (const std::string& isa : levels.names) {
        cpu::set_isa(isa);
        Tensor out = empty_like(x);
        cpu::ew_binary(static_cast<cpu::Binary>(op), op == static_cast<int>(cpu::Binary::Pow) ? xp : x, y, out,
                       {.alpha = 0.5});
        if (!ref.defined()) ref = out;
        else EXPECT_TRUE(all_close(out, ref, 1e-6, dt == kFloat32 ? 4e-7 : 1e-15)) << "binary op " << op << " at " << isa;
      }
    }
  }
}

TEST(Elementwise, IsaLevelCanBeForcedAndUnknownNamesAreErrors) {
  const char* outer = std::getenv("TANDEM_ISA");
  std::string saved = outer ? outer : "";
  ::unsetenv("TANDEM_ISA");
  IsaLevels levels;
  EXPECT_EQ(cpu::set_isa("baseline"), "baseline");
  EXPECT_EQ(cpu::isa_name(), "baseline");
  EXPECT_TRUE(throws_error([] { cpu::set_isa("sse9"); }, {"TANDEM_ISA=sse9", "baseline, avx2 or avx512"}));
  EXPECT_EQ(cpu::set_isa(""), levels.names.back());
  // The environment variable picks the default level.
  ::setenv("TANDEM_ISA", "baseline", 1);
  EXPECT_EQ(cpu::set_isa(""), "baseline");
  ::setenv("TANDEM_ISA", "sse9", 1);
  EXPECT_TRUE(throws_error([] { cpu::set_isa(""); }, {"TANDEM_ISA=sse9"}));
  ::unsetenv("TANDEM_ISA");
  EXPECT_EQ(cpu::set_isa(""), levels.names.back());
  if (!saved.empty()) ::setenv("TANDEM_ISA", saved.c_str(), 1);
}
