#include "tandem/generator.h"
#include "tandem/generator_scope.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "tandem/error.h"

namespace tandem {

double Generator::next_normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 0.0;
  while (u1 <= 0.0) u1 = next_double();
  double u2 = next_double();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

std::string Generator::get_state() const {
  std::ostringstream os;
  uint64_t spare_bits;
  std::memcpy(&spare_bits, &spare_, 8);  // exact, unlike text
  os << seed_ << ' ' << has_spare_ << ' ' << spare_bits << ' ' << engine_;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  uint64_t seed;
  bool has_spare;
  uint64_t spare_bits;
  std::mt19937_64 engine;
  is >> seed >> has_spare >> spare_bits >> engine;
  double spare;
  std::memcpy(&spare, &spare_bits, 8);
  TANDEM_CHECK(!is.fail(), "Generator::set_state: malformed state string");
  seed_ = seed;
  has_spare_ = has_spare;
  spare_ = spare;
  engine_ = engine;
}

namespace {
thread_local Generator* t_scoped = nullptr;  // the innermost GeneratorScope of this thread
}  // namespace

Generator& default_generator() {
  if (t_scoped != nullptr) return *t_scoped;
  static Generator g(0x5eed);
  return g;
}

GeneratorScope::GeneratorScope(Generator& g) : previous_(t_scoped) { t_scoped = &g; }
GeneratorScope::~GeneratorScope() { t_scoped = previous_; }

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tandem
