// Per-sample transforms: plain loops over contiguous float data, new output tensors.
#include "tandem/data/transforms.h"

#include <algorithm>
#include <cstring>

namespace tandem::data {

namespace {

// Height and width of an image [C, H, W] or [H, W] (C = 1 for the latter).
struct ImageDims {
  int64_t c, h, w;
};

ImageDims image_dims(const Tensor& x, const char* op) {
  TANDEM_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3),
               "{}: expected an image [C, H, W] or [H, W], got shape {}", op,
               x.defined() ? shape_str(x.shape()) : "undefined");
  if (x.dim() == 2) return {1, x.size(0), x.size(1)};
  return {x.size(0), x.size(1), x.size(2)};
}

}  // namespace

Transform normalize(std::vector<double> mean, std::vector<double> stddev) {
  TANDEM_CHECK(!mean.empty() && mean.size() == stddev.size(),
               "normalize: mean ({} values) and std ({} values) must be non-empty and the same "
               "length",
               mean.size(), stddev.size());
  for (double s : stddev) TANDEM_CHECK(s != 0.0, "normalize: std contains 0 (division by zero)");
  return [mean = std::move(mean), stddev = std::move(stddev)](Example ex, Generator&) {
    const Tensor& x = ex.data;
    TANDEM_CHECK(x.defined() && x.dim() >= 1 && x.is_floating_point(),
                 "normalize: expected a floating-point tensor [C, ...], got {} {}",
                 x.defined() ? fmt::format("{}", x.dtype()) : "undefined",
                 x.defined() ? shape_str(x.shape()) : "");
    const int64_t c = x.size(0);
    TANDEM_CHECK(mean.size() == 1 || static_cast<int64_t>(mean.size()) == c,
                 "normalize: {} mean/std values for an input with {} channels (shape {})",
                 mean.size(), c, shape_str(x.shape()));
    const int64_t inner = c ? x.numel() / c : 0;
    Tensor in = x.contiguous();
    Tensor out = empty(x.shape(), {.dtype = x.dtype()});
    TANDEM_DISPATCH_FLOAT(x.dtype(), "normalize", [&] {
      const scalar_t* s = in.data<scalar_t>();
      scalar_t* d = out.data<scalar_t>();
      for (int64_t ch = 0; ch < c; ++ch) {
        const size_t k = mean.size() == 1 ? 0 : static_cast<size_t>(ch);
        // NOTE: (x - m) / s as torchvision computes it (sub then div), not x * (1/s) - m/s,
        // so results match it to the last bit in float32.
        const scalar_t m = static_cast<scalar_t>(mean[k]), sd = static_cast<scalar_t>(stddev[k]);
        for (int64_t i = 0; i < inner; ++i) d[ch * inner + i] = (s[ch * inner + i] - m) / sd;
      }
    });
    ex.data = out;
    return ex;
  };
}

Transform random_crop(int64_t height, int64_t width, int64_t padding) {
  TANDEM_CHECK(height >= 1 && width >= 1 && padding >= 0,
               "random_crop: size must be >= 1 and padding >= 0, got size {}x{}, padding {}",
               height, width, padding);
  return [=](Example ex, Generator& gen) {
    const ImageDims d = image_dims(ex.data, "random_crop");
    const int64_t ph = d.h + 2 * padding, pw = d.w + 2 * padding;
    TANDEM_CHECK(height <= ph && width <= pw,
                 "random_crop: crop {}x{} is larger than the padded image {}x{}", height, width,
                 ph, pw);
    // Top-left corner in padded coordinates, uniform like torch.randint(0, ph - height + 1).
    const int64_t top = static_cast<int64_t>(gen.next_double() * double(ph - height + 1));
    const int64_t left = static_cast<int64_t>(gen.next_double() * double(pw - width + 1));
    Tensor in = ex.data.contiguous();
    Shape out_shape = ex.data.dim() == 3 ? Shape{d.c, height, width} : Shape{height, width};
    Tensor out = zeros(out_shape, {.dtype = in.dtype()});
    const size_t item = in.itemsize();
    const auto* s = static_cast<const char*>(in.data_ptr());
    auto* o = static_cast<char*>(out.data_ptr());
    // Rows/columns of the crop that fall inside the original image; the rest stays zero.
    const int64_t x0 = std::max<int64_t>(0, padding - left);
    const int64_t x1 = std::min<int64_t>(width, padding + d.w - left);
    for (int64_t ch = 0; ch < d.c; ++ch)
      for (int64_t y = 0; y < height; ++y) {
        const int64_t sy = top + y - padding;
        if (sy < 0 || sy >= d.h || x1 <= x0) continue;
        const int64_t sx = left + x0 - padding;
        std::memcpy(o + ((ch * height + y) * width + x0) * item,
                    s + ((ch * d.h + sy) * d.w + sx) * item, static_cast<size_t>(x1 - x0) * item);
      }
    ex.data = out;
    return ex;
  };
}

Transform random_horizontal_flip(double p) {
  TANDEM_CHECK(p >= 0.0 && p <= 1.0, "random_horizontal_flip: p must be in [0, 1], got {}", p);
  return [p](Example ex, Generator& gen) {
    TANDEM_CHECK(ex.data.defined() && ex.data.dim() >= 1,
                 "random_horizontal_flip: expected a tensor with at least 1 dimension");
    // Always draw, so the generator advances the same way whether or not we flip.
    if (!(gen.next_double() < p)) return ex;
    Tensor in = ex.data.contiguous();
    Tensor out = empty(in.shape(), {.dtype = in.dtype()});
    const int64_t w = in.size(-1);
    const int64_t rows = w ? in.numel() / w : 0;
    auto mirror = [&](auto word) {  // reversed copy of each row, as words of the item size
      using W = decltype(word);
      const W* s = static_cast<const W*>(in.data_ptr());
      W* o = static_cast<W*>(out.data_ptr());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t x = 0; x < w; ++x) o[r * w + x] = s[r * w + (w - 1 - x)];
    };
    switch (in.itemsize()) {
      case 1: mirror(uint8_t{}); break;
      case 2: mirror(uint16_t{}); break;
      case 4: mirror(uint32_t{}); break;
      default: mirror(uint64_t{}); break;
    }
    ex.data = out;
    return ex;
  };
}

Transform one_hot(int64_t num_classes) {
  TANDEM_CHECK(num_classes >= 1, "one_hot: num_classes must be >= 1, got {}", num_classes);
  return [num_classes](Example ex, Generator&) {
    TANDEM_CHECK(ex.target.defined() && ex.target.numel() == 1 &&
                     is_integral(ex.target.dtype(), /*include_bool=*/false),
                 "one_hot: expected a single integer class target, got {}",
                 ex.target.defined()
                     ? fmt::format("{} {}", ex.target.dtype(), shape_str(ex.target.shape()))
                     : std::string("none"));
    const int64_t k = ex.target.item<int64_t>();
    TANDEM_CHECK(k >= 0 && k < num_classes, "one_hot: class {} is outside [0, {})", k,
                 num_classes);
    Tensor out = zeros({num_classes}, {.dtype = DType::Float32});
    out.data<float>()[k] = 1.0f;
    ex.target = out;
    return ex;
  };
}

Transform compose(std::vector<Transform> transforms) {
  for (size_t i = 0; i < transforms.size(); ++i)
    TANDEM_CHECK(static_cast<bool>(transforms[i]), "compose: transform {} is empty", i);
  return [ts = std::move(transforms)](Example ex, Generator& gen) {
    for (const Transform& t : ts) ex = t(std::move(ex), gen);
    return ex;
  };
}

}  // namespace tandem::data
