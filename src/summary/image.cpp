// Images for summaries: tensor -> 8-bit pixels, batch -> grid, PNG encode/decode (libpng,
// in memory).
#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "tandem/autograd.h"
#include "tandem/error.h"
#include "tandem/summary/writer.h"

namespace tandem::summary {
namespace {

struct PngBuffer {
  std::string* out;
  const std::string* in;
  size_t pos = 0;
};

// libpng reports errors by longjmp to the setjmp in the calling function (set up before any
// local with a destructor that could be skipped); the message is kept for the Error.
struct PngError {
  char msg[256] = {};
};
void png_error_fn(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(e->msg, sizeof(e->msg), "%s", msg);
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

int color_type(int channels) {
  switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 2: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3: return PNG_COLOR_TYPE_RGB;
    case 4: return PNG_COLOR_TYPE_RGBA;
  }
  TANDEM_FAIL("encode_png: {} channels; expected 1 (gray), 2, 3 (RGB) or 4 (RGBA)", channels);
}

}  // namespace

std::string encode_png(const uint8_t* pixels, int width, int height, int channels) {
  TANDEM_CHECK(width > 0 && height > 0, "encode_png: empty image {}x{}", width, height);
  int ct = color_type(channels);
  std::string out;
  PngError err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn,
                                            png_warning_fn);
  TANDEM_CHECK(png != nullptr, "encode_png: out of memory");
  png_infop info = png_create_info_struct(png);
  struct Guard {
    png_structp& p;
    png_infop& i;
    ~Guard() { png_destroy_write_struct(&p, &i); }
  } guard{png, info};
  PngBuffer buf{&out, nullptr};
  if (setjmp(png_jmpbuf(png))) TANDEM_FAIL("encode_png: {}", err.msg);
  png_set_write_fn(
      png, &buf,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<PngBuffer*>(png_get_io_ptr(p))->out->append(reinterpret_cast<char*>(data), n);
      },
      [](png_structp) {});
  png_set_IHDR(png, info, width, height, 8, ct, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels + static_cast<size_t>(y) * width * channels));
  png_write_end(png, nullptr);
  return out;
}

DecodedImage decode_png(const std::string& data) {
  TANDEM_CHECK(data.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(data.data()), 0, 8) == 0,
               "decode_png: not a PNG (bad signature, {} bytes)", data.size());
  PngError err;
  DecodedImage img;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn,
                                           png_warning_fn);
  TANDEM_CHECK(png != nullptr, "decode_png: out of memory");
  png_infop info = png_create_info_struct(png);
  struct Guard {
    png_structp& p;
    png_infop& i;
    ~Guard() { png_destroy_read_struct(&p, &i, nullptr); }
  } guard{png, info};
  PngBuffer buf{nullptr, &data};
  if (setjmp(png_jmpbuf(png))) TANDEM_FAIL("decode_png: {} (corrupt or truncated PNG)", err.msg);
  png_set_read_fn(png, &buf, [](png_structp p, png_bytep out, png_size_t n) {
    auto* b = static_cast<PngBuffer*>(png_get_io_ptr(p));
    if (n > b->in->size() - b->pos) png_error(p, "truncated data");
    std::memcpy(out, b->in->data() + b->pos, n);
    b->pos += n;
  });
  png_read_info(png, info);
  // Normalize to 8-bit gray/gray+alpha/RGB/RGBA.
  png_set_expand(png);
  png_set_strip_16(png);
  png_read_update_info(png, info);
  img.width = static_cast<int>(png_get_image_width(png, info));
  img.height = static_cast<int>(png_get_image_height(png, info));
  img.channels = png_get_channels(png, info);
  size_t row = png_get_rowbytes(png, info);
  // NOTE: width and height come from the file (libpng allows up to 10^6 each); refuse sizes
  // no summary image has before allocating them, instead of failing the allocation.
  constexpr size_t kMaxPixelBytes = size_t{1} << 26;
  TANDEM_CHECK(img.height > 0 && row <= kMaxPixelBytes / static_cast<size_t>(img.height),
               "decode_png: {} x {} image with {} channels is too large (over {} MiB of pixels)",
               img.width, img.height, img.channels, kMaxPixelBytes >> 20);
  img.pixels.resize(row * img.height);
  for (int y = 0; y < img.height; ++y) png_read_row(png, img.pixels.data() + row * y, nullptr);
  png_read_end(png, nullptr);
  return img;
}

DecodedImage to_pixels(const Tensor& image, const std::string& dataformats) {
  TANDEM_CHECK(image.defined(), "add_image: undefined tensor");
  TANDEM_CHECK(dataformats == "CHW" || dataformats == "HWC" || dataformats == "HW",
               "add_image: dataformats '{}'; expected \"CHW\", \"HWC\" or \"HW\"", dataformats);
  TANDEM_CHECK(image.dim() == static_cast<int64_t>(dataformats.size()),
               "add_image: dataformats '{}' needs a {}-D tensor, got shape {}", dataformats,
               dataformats.size(), shape_str(image.shape()));
  Tensor x;
  {
    NoGradGuard ng;
    if (dataformats == "HW") x = image.unsqueeze(-1);
    else if (dataformats == "CHW") x = image.permute({1, 2, 0});
    else x = image;
    x = x.to(image.dtype() == DType::UInt8 ? DType::UInt8 : DType::Float32).contiguous();
  }
  DecodedImage img;
  img.height = static_cast<int>(x.shape()[0]);
  img.width = static_cast<int>(x.shape()[1]);
  img.channels = static_cast<int>(x.shape()[2]);
  TANDEM_CHECK(img.channels == 1 || img.channels == 3 || img.channels == 4,
               "add_image: {} channels (shape {}, {}); expected 1, 3 or 4", img.channels,
               shape_str(image.shape()), dataformats);
  TANDEM_CHECK(img.height > 0 && img.width > 0, "add_image: empty image, shape {}",
               shape_str(image.shape()));
  size_t n = static_cast<size_t>(x.numel());
  img.pixels.resize(n);
  if (x.dtype() == DType::UInt8) {
    std::memcpy(img.pixels.data(), x.data_ptr(), n);
  } else {
    const float* p = x.data<float>();
    for (size_t i = 0; i < n; ++i) {
      float v = std::isnan(p[i]) ? 0.f : std::clamp(p[i], 0.f, 1.f);
      img.pixels[i] = static_cast<uint8_t>(std::lround(v * 255.f));
    }
  }
  return img;
}

Tensor make_grid(const Tensor& images, int64_t nrow, int64_t padding, double pad_value) {
  TANDEM_CHECK(images.defined() && (images.dim() == 3 || images.dim() == 4),
               "make_grid: expected [N, C, H, W] or [N, H, W], got shape {}",
               images.defined() ? shape_str(images.shape()) : std::string("undefined"));
  TANDEM_CHECK(nrow > 0 && padding >= 0, "make_grid: nrow {} must be > 0 and padding {} >= 0",
               nrow, padding);
  NoGradGuard ng;
  Tensor x = images.dim() == 3 ? images.unsqueeze(1) : images;
  DType dt = x.dtype() == DType::UInt8 ? DType::UInt8 : DType::Float32;
  x = x.to(dt).contiguous();
  int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  TANDEM_CHECK(n > 0, "make_grid: empty batch");
  int64_t cols = std::min(nrow, n), rows = (n + cols - 1) / cols;
  int64_t gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding;
  Tensor grid = full({c, gh, gw}, dt == DType::UInt8 ? std::round(pad_value * 255) : pad_value,
                     TensorOptions{.dtype = dt});
  size_t item = x.itemsize();
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(grid.data_ptr());
  for (int64_t k = 0; k < n; ++k) {
    int64_t y0 = (k / cols) * (h + padding) + padding, x0 = (k % cols) * (w + padding) + padding;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        std::memcpy(dst + ((ch * gh + y0 + y) * gw + x0) * item,
                    src + (((k * c + ch) * h + y) * w) * item, w * item);
  }
  return grid;
}

}  // namespace tandem::summary
