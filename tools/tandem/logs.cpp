// tandem logs: the last value of each scalar tag of a run (or of every run under a folder),
// read from its TensorBoard event files.
//
//   tandem logs runs/cnn-20261129-0930          # loss, lr, accuracy ... at their last step
//   tandem logs runs --all --tag loss           # every logged value of "loss", per run
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <tandem/error.h>
#include <tandem/summary.h>

#include "commands.h"

namespace tandem::cli {
namespace {

// RUN_DIR itself when it holds event files, else its subfolders that do (a folder of runs).
std::vector<std::string> runs_in(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec) || !summary::event_files(dir).empty()) return {dir};
  std::vector<std::string> runs;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_directory() && !summary::event_files(e.path().string()).empty())
      runs.push_back(e.path().string());
  std::sort(runs.begin(), runs.end());
  TANDEM_CHECK(!runs.empty(), "logs: no event files (events.out.tfevents.*) in '{}' or below it",
               dir);
  return runs;
}

void print_run(const std::string& run, const std::vector<std::string>& tags, bool all) {
  std::vector<std::string> warnings;
  std::vector<summary::Record> records = summary::read(run, {.warnings = &warnings});
  std::map<std::string, summary::Record> last;
  std::map<std::string, int64_t> count;
  std::map<summary::Kind, std::set<std::string>> other;
  auto wanted = [&](const std::string& tag) {
    return tags.empty() || std::find(tags.begin(), tags.end(), tag) != tags.end();
  };
  std::cout << run << "\n";
  for (const summary::Record& r : records) {
    if (r.kind == summary::Kind::FileVersion) continue;
    if (!r.hparams.empty()) {
      std::vector<std::string> kv;
      for (const auto& [k, v] : r.hparams) kv.push_back(k + "=" + v);
      fmt::print("  hparams: {}\n", fmt::join(kv, "  "));
    }
    if (r.kind != summary::Kind::Scalar) {
      if (r.kind != summary::Kind::HParams) other[r.kind].insert(r.tag);
      continue;
    }
    if (!wanted(r.tag)) continue;
    if (all) fmt::print("  {:<32} step {:>8}  {:.6g}\n", r.tag, r.step, r.value);
    ++count[r.tag];
    auto it = last.find(r.tag);
    if (it == last.end() || r.step >= it->second.step) last[r.tag] = r;
  }
  if (!all)
    for (const auto& [tag, r] : last)
      fmt::print("  {:<32} step {:>8}  {:<14.6g} ({} values)\n", tag, r.step, r.value, count[tag]);
  if (last.empty()) std::cout << "  (no scalars" << (tags.empty() ? "" : " with these tags") << ")\n";
  for (const auto& [kind, names] : other)
    fmt::print("  {} {}: {}\n", names.size(), summary::kind_name(kind), fmt::join(names, ", "));
  for (const std::string& w : warnings) std::cout << "  note: " << w << "\n";
}

}  // namespace

Run add_logs(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::vector<std::string> tags;
    bool all = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("logs", "Print the last value of each scalar of a run's TensorBoard event files");
  cmd->add_option("run_dir", a->dirs, "Run folder(s) (or a folder of runs, or event files)")
      ->required()->check(CLI::ExistingPath);
  cmd->add_option("--tag,-t", a->tags, "Only these scalar tags");
  cmd->add_flag("--all,-a", a->all, "Every logged value, not only the last");
  return [a] {
    for (const std::string& dir : a->dirs)
      for (const std::string& run : runs_in(dir)) print_run(run, a->tags, a->all);
    return 0;
  };
}

}  // namespace tandem::cli
