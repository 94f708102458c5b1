// Running the `tandem` executable from a test: its exit status, stdout and stderr, and a
// scratch folder per test program (removed and recreated at start).
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../train/train_test_util.h"

#ifndef TANDEM_CLI_PATH
#error "TANDEM_CLI_PATH (the tandem executable) is set by tools/CMakeLists.txt"
#endif

namespace tandem::testing::cli {

struct CliResult {
  int code = -1;  // exit status; 128 + signal when killed
  std::string out, err;
  std::string all() const { return out + err; }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string quote(const std::string& s) { return "'" + s + "'"; }

// Runs `tandem ARGS` (a shell-quoted argument string) with stdout and stderr in files under
// `scratch`. A timeout bounds a hang: coreutils' timeout exits 124.
inline CliResult run_tandem(const std::string& scratch, const std::string& args, int timeout_s = 120) {
  std::string out = scratch + "/cli_stdout", err = scratch + "/cli_stderr";
  std::string cmd = "timeout " + std::to_string(timeout_s) + " " + quote(TANDEM_CLI_PATH) + " " + args + " >" +
                    quote(out) + " 2>" + quote(err);
  int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// The failure every bad input must give: a non-zero status that is not a crash, a hang or a
// usage-less abort, and a message that names the problem.
inline ::testing::AssertionResult fails_with(const CliResult& r, const std::string& needle, int code = 1) {
  if (r.code != code)
    return ::testing::AssertionFailure() << "exit status " << r.code << " (expected " << code << ")\nstdout: " << r.out
                                         << "\nstderr: " << r.err;
  if (r.all().find(needle) == std::string::npos)
    return ::testing::AssertionFailure() << "the message lacks '" << needle << "'\nstdout: " << r.out
                                         << "\nstderr: " << r.err;
  return ::testing::AssertionSuccess();
}

// tandem::Error from a subcommand: exit status 1 and one "error: ..." line on stderr.
inline ::testing::AssertionResult error_naming(const CliResult& r, const std::string& needle) {
  auto res = fails_with(r, needle, 1);
  if (!res) return res;
  if (r.err.rfind("error: ", 0) != 0)
    return ::testing::AssertionFailure() << "stderr does not start with 'error: ': " << r.err;
  return ::testing::AssertionSuccess();
}

}  // namespace tandem::testing::cli
