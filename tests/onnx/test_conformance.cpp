// ONNX's backend test suite (Debian's libonnx-testdata): every case in tests/onnx/passing.txt
// must keep passing, and the pass rate over whole suites must not drop below what was reached.
// Skipped (with a message) when the test data is not installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tandem/onnx.h"

using namespace tandem;

namespace {
const std::string kRoot = "/usr/share/libonnx-testdata/data";
const std::string kList = std::string(TANDEM_TEST_DATA_DIR) + "/../onnx/passing.txt";

bool have_data() { return std::filesystem::exists(kRoot + "/node"); }
}  // namespace

TEST(OnnxConformance, EveryListedCasePasses) {
  if (!have_data()) GTEST_SKIP() << "libonnx-testdata is not installed (" << kRoot << ")";
  std::ifstream f(kList);
  ASSERT_TRUE(f.good()) << kList;
  std::vector<std::string> dirs;
  for (std::string line; std::getline(f, line);)
    if (!line.empty() && line[0] != '#') dirs.push_back(kRoot + "/" + line);
  ASSERT_GT(dirs.size(), 850u);
  auto rep = onnx::run_conformance(dirs);
  for (const auto& c : rep.cases)
    EXPECT_EQ(c.status, onnx::CaseResult::Status::Passed) << c.dir << ": " << c.message;
  std::cout << rep.summary() << "\n";
}

TEST(OnnxConformance, SuiteRatesDoNotDrop) {
  if (!have_data()) GTEST_SKIP() << "libonnx-testdata is not installed (" << kRoot << ")";
  // Minimum passes per suite (what the importer reached when this was written).
  const std::pair<const char*, int> floors[] = {{"node", 844}, {"simple", 15}, {"pytorch-converted", 82}, {"pytorch-operator", 35}};
  for (auto [suite, floor] : floors) {
    auto rep = onnx::run_conformance({kRoot + "/" + suite});
    std::cout << suite << ": " << rep.summary() << "\n";
    EXPECT_GE(rep.passed(), floor) << suite;
    for (const auto& c : rep.cases)  // a failure (wrong numbers or an error) is never expected
      if (c.status == onnx::CaseResult::Status::Failed) ADD_FAILURE() << c.dir << ": " << c.message;
  }
}
