// ONNX resampling ops: Resize (opsets 10-19) and the older Upsample, as tandem's interpolate.
#include <cmath>

#include "importer.h"
#include "tandem/opdef.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

std::vector<double> to_doubles(const Tensor& t) {
  Tensor d = t.to(DType::Float64).contiguous();
  const double* p = static_cast<const double*>(d.data_ptr());
  return std::vector<double>(p, p + d.numel());
}

// Resamples x to `sizes` with the per-dim `scales` (0: derived from the sizes).
Tensor resample(const Ctx& c, const Tensor& x, Shape sizes, std::vector<double> scales,
                const std::string& mode, const std::string& coord) {
  Attrs a;
  a.set("sizes", sizes);
  a.set("scales", scales);
  a.set("mode", mode);
  a.set("coord", coord);
  a.set("nearest_mode", c.s("nearest_mode", c.opset >= 11 ? "round_prefer_floor" : "floor"));
  a.set("cubic_a", c.f("cubic_coeff_a", -0.75));
  a.set("exclude_outside", c.i("exclude_outside", 0) != 0);
  static const OpDef& d = op("interpolate");
  return dispatch1(d, {x}, a);
}

std::string mode_of(const Ctx& c) {
  std::string m = c.s("mode", "nearest");
  if (m == "bilinear" || m == "trilinear") m = "linear";  // Upsample-7's spellings
  if (m != "nearest" && m != "linear" && m != "cubic")
    c.fail(fmt::format("unknown mode '{}' (nearest, linear, cubic)", m));
  if (m == "cubic" && c.node.op_type() == "Upsample") c.fail("Upsample has no cubic mode");
  return m;
}

// The output sizes and coordinate scales from `scales` (one per dim, or per listed axis).
void from_scales(const Ctx& c, const Tensor& x, const std::vector<double>& given,
                 const std::vector<int64_t>& axes, Shape& sizes, std::vector<double>& scales) {
  if (given.size() != axes.size())
    c.fail(fmt::format("scales has {} values for {} axes of an input of shape {}", given.size(),
                       axes.size(), shape_str(x.shape())));
  for (size_t i = 0; i < axes.size(); ++i) {
    const double s = given[i];
    if (!std::isfinite(s) || s <= 0) c.fail(fmt::format("scale {} is not positive", s));
    const size_t d = static_cast<size_t>(axes[i]);
    sizes[d] = static_cast<int64_t>(std::floor(static_cast<double>(x.size(axes[i])) * s));
    scales[d] = s;
  }
}

Ts resize_(Ctx& c) {
  const Tensor& x = c.in(0);
  const int64_t rank = x.dim();
  const bool upsample = c.node.op_type() == "Upsample";
  const std::string mode = mode_of(c);
  std::string coord = (upsample || c.opset < 11)
                          ? "asymmetric"
                          : c.s("coordinate_transformation_mode", "half_pixel");
  if (coord == "tf_crop_and_resize") c.unsupported("Resize with coordinate_transformation_mode tf_crop_and_resize");
  if (c.i("antialias", 0) != 0) c.unsupported("Resize with antialias");
  if (c.s("keep_aspect_ratio_policy", "stretch") != "stretch")
    c.unsupported("Resize with keep_aspect_ratio_policy other than stretch");

  std::vector<int64_t> axes = c.ints("axes");
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  for (int64_t& a : axes) a = norm_axis(a, rank, c);

  Shape sizes = x.shape();
  std::vector<double> scales(static_cast<size_t>(rank), 0.0);
  if (upsample && c.opset < 9) {
    from_scales(c, x, c.floats("scales"), axes, sizes, scales);
  } else {
    // Upsample-9 and Resize-10: (X, scales); Resize-11+: (X, roi, scales, sizes).
    const size_t scales_slot = (upsample || c.opset < 11) ? 1 : 2;
    const bool has_sizes = !upsample && c.opset >= 11 && c.has_input(3) && c.in(3).numel() > 0;
    const bool has_scales = c.has_input(scales_slot) && c.in(scales_slot).numel() > 0;
    if (has_sizes == has_scales) c.fail("give exactly one of the inputs scales and sizes");
    if (has_scales) {
      from_scales(c, x, to_doubles(c.in(scales_slot)), axes, sizes, scales);
    } else {
      std::vector<int64_t> want = to_int64s(c.in(3));
      if (want.size() != axes.size())
        c.fail(fmt::format("sizes has {} values for {} axes", want.size(), axes.size()));
      for (size_t i = 0; i < axes.size(); ++i) {
        if (want[i] < 0) c.fail(fmt::format("size {} is negative", want[i]));
        sizes[static_cast<size_t>(axes[i])] = want[i];
      }
    }
  }
  return {resample(c, x, sizes, scales, mode, coord)};
}

}  // namespace

void register_resize(std::map<std::string, Converter>& t) {
  t["Resize"] = resize_;
  t["Upsample"] = resize_;
}

}  // namespace tandem::onnx::detail
