// tandem onnx-test: runs ONNX backend test cases (model.onnx + test_data_set_*) and reports
// passed / failed / unsupported, with a per-op table.
//
//   tandem onnx-test /usr/share/libonnx-testdata/data/node --report node.txt
//   tandem onnx-test --list tests/onnx/passing.txt --root /usr/share/libonnx-testdata/data
#include <fstream>
#include <iostream>
#include <memory>

#include <tandem/io/atomic_file.h>
#include <tandem/onnx.h>

#include "commands.h"

namespace tandem::cli {

Run add_onnx_test(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::string report, list, root, write_passing;
    double min_rate = -1;
    bool verbose = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("onnx-test", "Run ONNX backend test cases (folders of cases or single cases)");
  cmd->add_option("dirs", a->dirs, "Case folders, or folders of cases (e.g. .../data/node)");
  cmd->add_option("--report", a->report, "Write the summary and the per-op table to this file");
  cmd->add_option("--list", a->list, "A file of case paths (one a line, relative to --root): each must pass");
  cmd->add_option("--root", a->root, "Folder the --list paths are relative to");
  cmd->add_option("--write-passing", a->write_passing, "Write the passing cases (relative to --root) to this file");
  cmd->add_option("--min-pass-rate", a->min_rate, "Exit 1 when fewer than this percentage of the cases pass")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_flag("--verbose,-v", a->verbose, "Print each case's result");
  return [a] {
    TANDEM_CHECK(a->root.empty() || !a->list.empty() || !a->write_passing.empty(),
                 "onnx-test: --root is the folder of the --list and --write-passing paths; it "
                 "has no effect without one of them");
    std::vector<std::string> dirs = a->dirs;
    bool strict = !a->list.empty();
    if (strict) {
      std::ifstream f(a->list);
      TANDEM_CHECK(f.good(), "cannot open case list '{}'", a->list);
      for (std::string line; std::getline(f, line);)
        if (!line.empty() && line[0] != '#') dirs.push_back(a->root.empty() ? line : a->root + "/" + line);
    }
    TANDEM_CHECK(!dirs.empty(), "no test cases given (folders or --list)");
    auto rep = onnx::run_conformance(dirs);
    for (const auto& c : rep.cases) {
      bool pass = c.status == onnx::CaseResult::Status::Passed;
      if (a->verbose || (strict && !pass))
        std::cout << (pass ? "PASS " : c.status == onnx::CaseResult::Status::Failed ? "FAIL " : "UNSUP ") << c.dir
                  << (pass ? "" : ": " + c.message) << "\n";
    }
    std::cout << rep.summary() << "\n" << rep.listed_summary() << "\n";
    if (!a->report.empty()) {
      io::write_file_atomic(a->report, [&](std::ostream& f) { f << rep.op_table(); });
      std::cout << "report written to " << a->report << "\n";
    }
    if (!a->write_passing.empty()) {
      io::write_file_atomic(a->write_passing, [&](std::ostream& f) {
        for (const auto& c : rep.cases) {
          if (c.status != onnx::CaseResult::Status::Passed) continue;
          std::string p = c.dir;
          if (!a->root.empty() && p.rfind(a->root + "/", 0) == 0) p = p.substr(a->root.size() + 1);
          f << p << "\n";
        }
      });
    }
    if (strict && rep.passed() != static_cast<int>(rep.cases.size())) return 1;
    if (a->min_rate >= 0 && 100.0 * rep.passed() < a->min_rate * static_cast<double>(rep.cases.size())) {
      std::cerr << "pass rate below " << a->min_rate << "%\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace tandem::cli
