#include "tandem/dtype.h"

#include <array>
#include <cmath>

namespace tandem {

size_t itemsize(DType t) {
  switch (t) {
    case DType::Bool: case DType::UInt8: case DType::Int8: return 1;
    case DType::Int16: case DType::UInt16: case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int32: case DType::Float32: return 4;
    case DType::Int64: case DType::Float64: return 8;
  }
  return 0;
}

static constexpr std::array<std::string_view, kNumDTypes> kNames = {
    "bool", "uint8", "int8", "int16", "uint16", "int32", "int64", "float16", "bfloat16", "float32", "float64"};

std::string_view dtype_name(DType t) { return kNames[static_cast<int>(t)]; }

DType dtype_from_name(std::string_view name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (kNames[i] == name) return static_cast<DType>(i);
  TANDEM_FAIL("unknown dtype name '{}' (expected one of {})", name, fmt::join(kNames, ", "));
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // NOTE: torch.promote_types table. Mixed float16/bfloat16 goes to float32; a signed
  // and an unsigned integer go to the smallest signed type that holds both (uint8 with
  // int8 -> int16 as PyTorch; uint16, which PyTorch lacks, with int8/int16 -> int32 as
  // NumPy). Otherwise the higher rank (the enum order) wins.
  auto rank = [](DType t) { return static_cast<int>(t); };
  if (is_floating(a) || is_floating(b)) {
    if (is_floating(a) && is_floating(b)) {
      if ((a == DType::Float16 && b == DType::BFloat16) ||
          (a == DType::BFloat16 && b == DType::Float16))
        return DType::Float32;
      return rank(a) > rank(b) ? a : b;
    }
    return is_floating(a) ? a : b;
  }
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  auto is_unsigned = [](DType t) { return t == DType::UInt8 || t == DType::UInt16; };
  if (is_unsigned(a) != is_unsigned(b)) {
    DType u = is_unsigned(a) ? a : b, s = is_unsigned(a) ? b : a;
    if (itemsize(s) > itemsize(u)) return s;
    return u == DType::UInt8 ? DType::Int16 : DType::Int32;
  }
  return rank(a) > rank(b) ? a : b;
}

// IEEE 754 binary16 <-> binary32, round to nearest even.
Half::Half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or NaN
    bits = static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
    return;
  }
  if (absx >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    bits = static_cast<uint16_t>(sign | 0x7c00u);
    return;
  }
  if (absx < 0x38800000u) {  // subnormal half (or zero)
    float a;
    std::memcpy(&a, &absx, 4);
    // scale so that the half subnormal unit (2^-24) becomes 1, then round to even
    float scaled = a * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    bits = static_cast<uint16_t>(sign | m);
    return;
  }
  uint32_t mant = absx & 0x7fffffu;
  int32_t exp = static_cast<int32_t>(absx >> 23) - 127 + 15;
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  bits = static_cast<uint16_t>(sign | h);
}

Half::operator float() const {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exp = (bits >> 10) & 0x1fu;
  uint32_t mant = bits & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    float f = std::ldexp(static_cast<float>(mant), -24);
    std::memcpy(&out, &f, 4);
    out |= sign;
  } else if (exp == 31) {
    out = sign | 0x7f800000u | (mant << 13);
  } else {
    out = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

}  // namespace tandem
