#include "isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>

#include "tandem/error.h"

namespace tandem::cpu {
namespace {

bool has_f16c() {
#if defined(__clang__)
  // NOTE: clang 14's __builtin_cpu_supports does not know "f16c" (the sanitizer build uses
  // clang): read CPUID leaf 1, ECX bit 29, directly.
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
#else
  return __builtin_cpu_supports("f16c");
#endif
}

bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
}

bool has_avx512() {
  // The avx512 build uses F, BW, VL and DQ (CMakeLists.txt); libgcc also checks that the OS
  // saves the AVX-512 state.
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

constexpr Isa kIsaLevels[] = {Isa::Baseline, Isa::Avx2, Isa::Avx512};

Isa isa_best() {
  return has_avx512() ? Isa::Avx512 : has_avx2() ? Isa::Avx2 : Isa::Baseline;
}

Isa isa_parse(std::string_view want) {
  for (Isa l : kIsaLevels) {
    if (isa_name(l) != want) continue;
    TANDEM_CHECK(isa_supported(l), "TANDEM_ISA={}: this CPU does not support {}; use {}", want,
                 want, isa_name(isa_best()));
    return l;
  }
  TANDEM_FAIL("TANDEM_ISA={} is not a known level (expected baseline, avx2 or avx512)", want);
}

// The level named by TANDEM_ISA, else the best the CPU runs.
Isa isa_default() {
  const char* env = std::getenv("TANDEM_ISA");
  return env && *env ? isa_parse(env) : isa_best();
}

constexpr int kIsaUnset = -1;
std::atomic<int> g_isa_level{kIsaUnset};

}  // namespace

std::string_view isa_name(Isa level) {
  switch (level) {
    case Isa::Baseline: return "baseline";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa level) {
  switch (level) {
    case Isa::Baseline: return true;
    case Isa::Avx2: return has_avx2();
    case Isa::Avx512: return has_avx512();
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa l : kIsaLevels)
    if (isa_supported(l)) out.push_back(l);
  return out;
}

Isa current_isa() {
  int l = g_isa_level.load(std::memory_order_acquire);
  if (l != kIsaUnset) return static_cast<Isa>(l);
  Isa d = isa_default();
  g_isa_level.store(static_cast<int>(d), std::memory_order_release);
  return d;
}

std::string_view isa_name() { return isa_name(current_isa()); }

std::string_view set_isa(std::string_view level) {
  Isa l = level.empty() ? isa_default() : isa_parse(level);
  g_isa_level.store(static_cast<int>(l), std::memory_order_release);
  return isa_name(l);
}

}  // namespace tandem::cpu
