// qlinear_conv2d: oneDNN's int8 convolution and the portable reference kernel agree: at most
// one step apart and in under 1% of the outputs (the int32 sums are exact in both; the
// requantization's float rounding differs), over groups, depthwise, strides, pads, dilation
// and uint8/int8 activations.
#include <gtest/gtest.h>

#include "tandem/quant.h"
#include "test_util.h"

using namespace tandem;

namespace {

struct Geo {
  int64_t N, C, H, W, O, k, stride, pad, dil, groups;
};

Tensor qconv(const std::vector<Tensor>& in, const Geo& g, bool reference, const std::string& act) {
  Attrs a{{"stride", std::vector<int64_t>{g.stride, g.stride}},
          {"padding", std::vector<int64_t>{g.pad, g.pad, g.pad, g.pad}},
          {"dilation", std::vector<int64_t>{g.dil, g.dil}},
          {"groups", g.groups},
          {"act", act},
          {"reference", int64_t{reference}}};
  return dispatch1(op("qlinear_conv2d"), in, a);
}

TEST(QlinearConv2d, OneDnnEqualsTheReferenceKernel) {
  manual_seed(7);
  const Geo geos[] = {{2, 8, 9, 7, 16, 3, 1, 1, 1, 1},   {1, 16, 12, 12, 16, 3, 2, 1, 1, 16},  // depthwise
                      {2, 6, 10, 8, 4, 3, 2, 0, 2, 2},   {1, 32, 7, 7, 64, 1, 1, 0, 1, 1},     // 1x1
                      {1, 3, 15, 15, 8, 5, 2, 2, 1, 1}};
  int checked = 0;
  for (const Geo& g : geos)
    for (DType act : {kUInt8, kInt8}) {
      Tensor x = (act == kUInt8 ? randint(0, 256, {g.N, g.C, g.H, g.W}) : randint(-128, 128, {g.N, g.C, g.H, g.W})).to(act);
      Tensor w = randint(-127, 128, {g.O, g.C / g.groups, g.k, g.k}).to(kInt8);
      Tensor x_zp = full({}, act == kUInt8 ? 131 : -3, {.dtype = act});
      Tensor w_scale = rand({g.O}) * 0.01 + 0.001;
      Tensor y_zp = full({}, act == kUInt8 ? 120 : 4, {.dtype = act});
      Tensor bias = randn({g.O});
      std::vector<Tensor> in = {x, full({}, 0.02), x_zp, w, w_scale, zeros({g.O}, {.dtype = kInt8}), full({}, 0.5), y_zp, bias};
      for (const char* a : {"none", "relu"}) {
        Tensor ref = qconv(in, g, true, a), fast = qconv(in, g, false, a);
        ASSERT_EQ(ref.shape(), fast.shape());
        // The int32 sums are exact in both; oneDNN applies bias and scale as (acc + b') * m,
        // the reference as acc * m + b / y_scale: float rounding may move a value by one step.
        auto rv = ref.to_vector<int64_t>(), fv = fast.to_vector<int64_t>();
        size_t off = 0;
        for (size_t i = 0; i < rv.size(); ++i) {
          EXPECT_LE(std::abs(rv[i] - fv[i]), 1) << "groups " << g.groups << " k " << g.k << " act " << a << " at " << i;
          off += rv[i] != fv[i];
        }
        EXPECT_LE(off, rv.size() / 100) << "groups " << g.groups << " k " << g.k << " act " << a;
        ++checked;
      }
      // The outputs use the range (not saturated or constant): the comparison means something.
      Tensor ref = qconv(in, g, true, "none").to(kFloat32);
      EXPECT_GT((tandem::max(ref) - tandem::min(ref)).item<double>(), 10.0);
    }
  EXPECT_EQ(checked, 20);
}

}  // namespace
