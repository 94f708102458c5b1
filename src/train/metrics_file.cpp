#include "metrics_file.h"

#include <nlohmann/json.hpp>
#include <sstream>

namespace tandem::train {

std::vector<std::string> metrics_lines_to_keep(const std::string& text, int64_t last_kept_epoch) {
  std::vector<std::string> kept;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    const auto e = j.find("epoch");
    // NOTE: is_number_integer, not get<int64_t>(): a hand-edited or corrupt file may hold a
    // string, float or object there, and get<> would throw a json exception.
    if (e != j.end() && e->is_number_integer() && e->get<int64_t>() <= last_kept_epoch)
      kept.push_back(line);
  }
  return kept;
}

}  // namespace tandem::train
