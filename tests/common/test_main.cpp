// main() of every test program: GoogleTest, plus the rule that CI runs skip nothing silently.
//
// With CI=true in the environment a test that skips (GTEST_SKIP) fails instead, unless its
// name is on the allow-list tests/ci_skip_allowlist.txt (TANDEM_CI_SKIP_ALLOWLIST overrides
// the path). CI installs everything the comparison tests need, so a skip there means a check
// that silently stopped running. Outside CI a skip stays a skip (a developer machine may lack
// PyTorch or ONNX Runtime).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

bool ci_mode() {
  const char* v = std::getenv("CI");
  return v && (std::string(v) == "true" || std::string(v) == "1");
}

// One entry per line: "Suite.Name  reason..."; a trailing '*' in the name matches a prefix.
std::vector<std::string> read_allowlist(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    names.push_back(line.substr(b, line.find_first_of(" \t", b) - b));
  }
  return names;
}

bool listed(const std::vector<std::string>& names, const std::string& test) {
  for (const auto& n : names) {
    if (!n.empty() && n.back() == '*' ? test.compare(0, n.size() - 1, n, 0, n.size() - 1) == 0 : test == n)
      return true;
  }
  return false;
}

class FailSkipsInCi : public ::testing::EmptyTestEventListener {
 public:
  explicit FailSkipsInCi(std::string path) : path_(std::move(path)), allowed_(read_allowlist(path_)) {}

  // NOTE: GoogleTest calls OnTestEnd in reverse order of the listeners, so this one, appended
  // after the result printer, runs before it, while the test is still current: the failure
  // added here makes the result FAILED and the printer reports it so (CTest would otherwise
  // read "[  SKIPPED ]" and count the test as skipped).
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult& r = *info.result();
    if (!r.Skipped()) return;
    std::string name = std::string(info.test_suite_name()) + "." + info.name();
    if (listed(allowed_, name)) return;
    std::string why;
    for (int i = 0; i < r.total_part_count(); ++i)
      if (r.GetTestPartResult(i).skipped()) why = r.GetTestPartResult(i).message();
    ADD_FAILURE() << name << " skipped with CI=true (\"" << why << "\"). Install what it needs in "
                  << "scripts/setup.sh, or list it with a reason in " << path_;
  }

 private:
  std::string path_;
  std::vector<std::string> allowed_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (ci_mode()) {
    const char* over = std::getenv("TANDEM_CI_SKIP_ALLOWLIST");
    ::testing::UnitTest::GetInstance()->listeners().Append(
        new FailSkipsInCi(over ? over : TANDEM_CI_SKIP_ALLOWLIST));
  }
  return RUN_ALL_TESTS();
}
