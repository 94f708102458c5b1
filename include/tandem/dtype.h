// Element types, 16-bit float storage types and NumPy/PyTorch type promotion.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>

#include "tandem/error.h"

namespace tandem {

// NOTE: the order is the promotion rank within a kind (promote_types); nothing stores
// these values, so a new dtype goes where its rank is.
enum class DType : uint8_t {
  Bool, UInt8, Int8, Int16, UInt16, Int32, Int64, Float16, BFloat16, Float32, Float64
};
inline constexpr int kNumDTypes = 11;

inline constexpr DType kBool = DType::Bool, kUInt8 = DType::UInt8, kInt8 = DType::Int8,
                       kInt16 = DType::Int16, kUInt16 = DType::UInt16, kInt32 = DType::Int32,
                       kInt64 = DType::Int64, kFloat16 = DType::Float16,
                       kBFloat16 = DType::BFloat16, kFloat32 = DType::Float32,
                       kFloat64 = DType::Float64;

size_t itemsize(DType t);
std::string_view dtype_name(DType t);  // "float32", "int64", ...
DType dtype_from_name(std::string_view name);  // throws Error on unknown names
inline bool is_floating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}
inline bool is_integral(DType t, bool include_bool = false) {
  return (t == DType::Bool) ? include_bool : !is_floating(t);
}
// Promotion of two dtypes, as torch.promote_types. PyTorch has no uint16: it promotes as
// NumPy does (with uint8 -> uint16; with int8 or int16 -> int32; with wider types -> those).
DType promote_types(DType a, DType b);

// IEEE half precision, storage only: arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f);  // NOLINT: implicit like a numeric type
  operator float() const;
};

// bfloat16: the upper 16 bits of a float32, round-to-nearest-even on conversion.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) {  // NOLINT
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = 0x7fc0;  // NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  operator float() const {  // NOLINT
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

template <typename T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::Int16; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = DType::UInt16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <typename T> inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace tandem

template <>
struct fmt::formatter<tandem::DType> : fmt::formatter<std::string_view> {
  auto format(tandem::DType t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tandem::dtype_name(t), ctx);
  }
};

// Runs the body with `scalar_t` bound to the C++ type of `dtype`.
//   TANDEM_DISPATCH_ALL(t.dtype(), "fill", [&] { fill<scalar_t>(t, v); });
#define TANDEM_DTYPE_CASE(DT, T, ...) \
  case ::tandem::DType::DT: {         \
    using scalar_t = T;               \
    return __VA_ARGS__();             \
  }
#define TANDEM_DISPATCH_FLOAT(dtype, opname, ...)                                      \
  [&] {                                                                                \
    switch (dtype) {                                                                   \
      TANDEM_DTYPE_CASE(Float32, float, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Float64, double, __VA_ARGS__)                                  \
      default:                                                                         \
        TANDEM_FAIL("{}: dtype {} is not supported (expected float32 or float64)", opname, \
                    dtype);                                                            \
    }                                                                                  \
  }()
#define TANDEM_DISPATCH_NUMERIC(dtype, opname, ...)                                    \
  [&] {                                                                                \
    switch (dtype) {                                                                   \
      TANDEM_DTYPE_CASE(Float32, float, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Float64, double, __VA_ARGS__)                                  \
      TANDEM_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Int8, int8_t, __VA_ARGS__)                                     \
      TANDEM_DTYPE_CASE(Int16, int16_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(UInt16, uint16_t, __VA_ARGS__)                                 \
      default:                                                                         \
        TANDEM_FAIL("{}: dtype {} is not supported", opname, dtype);                   \
    }                                                                                  \
  }()
#define TANDEM_DISPATCH_ALL(dtype, opname, ...)                                        \
  [&] {                                                                                \
    switch (dtype) {                                                                   \
      TANDEM_DTYPE_CASE(Float32, float, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Float64, double, __VA_ARGS__)                                  \
      TANDEM_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(Int8, int8_t, __VA_ARGS__)                                     \
      TANDEM_DTYPE_CASE(Int16, int16_t, __VA_ARGS__)                                   \
      TANDEM_DTYPE_CASE(UInt16, uint16_t, __VA_ARGS__)                                 \
      TANDEM_DTYPE_CASE(Bool, bool, __VA_ARGS__)                                       \
      TANDEM_DTYPE_CASE(Float16, ::tandem::Half, __VA_ARGS__)                          \
      TANDEM_DTYPE_CASE(BFloat16, ::tandem::BFloat16, __VA_ARGS__)                     \
    }                                                                                  \
    TANDEM_FAIL("{}: unknown dtype", opname);                                          \
  }()
