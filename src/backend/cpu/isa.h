// The CPU instruction-set levels of tandem's hand-vectorized kernels, and the one in use.
//
// Kernel families with per-level code (the elementwise table, the reduction table: both
// compiled once per level from src/backend/cpu/isa/*.cpp) pick their code by current_isa().
// Tests force each level the machine runs with set_isa() and compare the results.
//
//   for (cpu::Isa l : cpu::supported_isas()) { cpu::set_isa(cpu::isa_name(l)); ... }
//   cpu::set_isa("");   // back to the default
#pragma once
#include <string_view>
#include <vector>

namespace tandem::cpu {

enum class Isa : int { Baseline = 0, Avx2 = 1, Avx512 = 2 };

std::string_view isa_name(Isa level);  // "baseline", "avx2", "avx512"
bool isa_supported(Isa level);         // this CPU (and OS) runs it
std::vector<Isa> supported_isas();     // best last

// The level in use: the one forced by set_isa, else the one named by the environment
// variable TANDEM_ISA (read once), else the best this CPU runs.
Isa current_isa();
std::string_view isa_name();  // current_isa()'s name

// Forces a level ("baseline", "avx2", "avx512"; "" = the default above). Error if the name is
// unknown or the CPU lacks it. Returns the name of the level now in use.
std::string_view set_isa(std::string_view level);

// The table of the level in use, from the three per-level getters of a kernel family
// (baseline::, avx2::, avx512::kernel_table). NOTE: call it from the library's own sources,
// never from a per-ISA unit (an inline function instantiated there is compiled with that
// unit's flags, and the linker may keep that copy for every caller).
template <typename T>
const T& isa_table(const T& (*baseline)(), const T& (*avx2)(), const T& (*avx512)()) {
  switch (current_isa()) {
    case Isa::Avx512: return avx512();
    case Isa::Avx2: return avx2();
    case Isa::Baseline: break;
  }
  return baseline();
}

}  // namespace tandem::cpu
