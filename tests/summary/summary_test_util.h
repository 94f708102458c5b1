// Helpers shared by the summary tests: a scratch directory per test, raw file access.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace tandem::summary::testing {

// A fresh directory named after the running test, removed at the end.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           (std::string("tandem_summary_") + info->test_suite_name() + "_" + info->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_bytes(const std::string& file, const std::string& data) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

struct PythonCheck {
  int rc = -1;  // 0 ok, 77 python3-protobuf/protoc missing (skip), else mismatch
  std::string output;
};

// Runs tests/reference/check_events.py on `event_file` with the expectations in
// `expect_json` (see the script's docstring).
inline PythonCheck run_check_events(const std::string& event_file, const std::string& expect_json,
                                    bool subsequence = false) {
  PythonCheck r;
  if (!std::filesystem::exists("/usr/bin/python3")) {
    r.rc = 77;
    r.output = "/usr/bin/python3 missing";
    return r;
  }
  std::string root = std::string(TANDEM_TEST_DATA_DIR) + "/../..";
  std::string cmd = "/usr/bin/python3 " + root + "/tests/reference/check_events.py --proto-dir " +
                    root + "/proto --expect " + expect_json + (subsequence ? " --subsequence " : " ") +
                    event_file + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe)) r.output += buf;
  int status = pclose(pipe);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace tandem::summary::testing
