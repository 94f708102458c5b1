// Atomic saves: the file at the path is always the previous complete version or the new
// complete one — after errors, and after the saving process is killed at random moments.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ostream>
#include <random>
#include <thread>

#include "io_test_util.h"
#include "test_util.h"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;

auto writes(const std::string& text) {
  return [text](std::ostream& os) { os << text; };
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path());
  }
  return out;
}

TEST(AtomicFile, CreatesAndReplacesTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("f.txt");
  io::write_file_atomic(path, writes("first"));
  EXPECT_EQ(read_bytes(path), "first");
  io::write_file_atomic(path, writes("second, longer"));
  EXPECT_EQ(read_bytes(path), "second, longer");
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(AtomicFile, LargeWritesArrive) {
  ScratchDir dir;
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7919 % 251);
  io::write_file_atomic(dir.file("big"), [&](std::ostream& os) {
    os << "head";                       // through the buffer
    os.write(big.data(), big.size());   // around it
    os.put('!');
  });
  EXPECT_EQ(read_bytes(dir.file("big")), "head" + big + "!");
}

TEST(AtomicFile, WriterThatThrowsKeepsTheOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("f.txt");
  io::write_file_atomic(path, writes("old"));
  EXPECT_THROW(io::write_file_atomic(path,
                                     [](std::ostream& os) {
                                       os << std::string(3 << 20, 'x');
                                       throw std::runtime_error("writer failed");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(AtomicFile, FailedRenameRemovesTheTemporaryFile) {
  ScratchDir dir;
  const std::string path = dir.file("a_directory");
  fs::create_directory(path);
  fs::create_directory(path + "/inside");  // rename() of a file over a non-empty directory fails
  EXPECT_TRUE(throws_error([&] { io::write_file_atomic(path, writes("x")); },
                           {"cannot rename", "a_directory", "directory"}));
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(AtomicFile, MissingDirectoryNamesThePathAndTheReason) {
  ScratchDir dir;
  EXPECT_TRUE(throws_error([&] { io::write_file_atomic(dir.file("no/such/f.txt"), writes("x")); },
                           {"no/such", "f.txt", "No such file or directory"}));
}

TEST(AtomicFile, UnwritableDirectoryKeepsTheOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("f.txt");
  io::write_file_atomic(path, writes("old"));
  // Root ignores permission bits: the check then runs in a child that drops to "nobody".
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    } else {
      ::chmod(dir.path().c_str(), 0555);
    }
    try {
      io::write_file_atomic(path, writes("new"));
    } catch (const Error& e) {
      std::string msg = e.what();
      bool ok = msg.find("f.txt") != std::string::npos && msg.find("Permission denied") != std::string::npos;
      ::_exit(ok ? 0 : 2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::chmod(dir.path().c_str(), 0700);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 3) {
    GTEST_SKIP() << "running as root without the right to switch to uid 65534: no way to make a "
                    "directory unwritable here";
  }
  EXPECT_NE(WEXITSTATUS(status), 1) << "the save into a read-only directory did not fail";
  EXPECT_NE(WEXITSTATUS(status), 2) << "the error did not name the path and the reason";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

// ---- killed mid-save

// Two 64 MB versions of a model, built before forking: the child only calls save_checkpoint
// (no tandem kernels, whose thread pool does not survive fork()).
struct Versions {
  std::vector<std::vector<float>> data;
  explicit Versions(size_t n) : data(2, std::vector<float>(n)) {
    for (size_t v = 0; v < 2; ++v) {
      for (size_t i = 0; i < n; ++i) data[v][i] = static_cast<float>(v * 1000003 + i % 65521);
    }
  }
  io::Checkpoint checkpoint(int64_t step) {
    io::Checkpoint ck;
    std::vector<float>& d = data[step % 2];
    ck.model["w"] = from_blob(d.data(), {static_cast<int64_t>(d.size())}, kFloat32);
    ck.step = step;
    ck.rng_state = std::to_string(step);
    ck.extra["version"] = std::to_string(step % 2);
    return ck;
  }
};

// A killed save leaves ".<name>.tmp.<pid>.<n>"; the next save of that file removes it once the
// pid is gone, and leaves alone a live process's temporary file and other files' ones.
TEST(AtomicFile, NextSaveRemovesTemporaryFilesOfKilledSaves) {
  ScratchDir dir;
  std::string path = dir.file("f.txt");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: no process has this pid now
  auto touch = [&](const std::string& name) {
    std::ofstream(dir.file(name)) << "partial";
    return dir.file(name);
  };
  std::string dead = touch(fmt::format(".f.txt.tmp.{}.0", child));
  std::string dead2 = touch(fmt::format(".f.txt.tmp.{}.17", child));
  std::string live = touch(fmt::format(".f.txt.tmp.{}.0", ::getppid()));  // a save in progress
  std::string other = touch(fmt::format(".g.txt.tmp.{}.0", child));       // another file's
  std::string unrelated = touch(".f.txt.tmp.notapid.0");
  io::write_file_atomic(path, writes("new"));
  EXPECT_EQ(read_bytes(path), "new");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(dead2));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(unrelated));
}

TEST(AtomicFile, CheckpointKilledMidSaveLeavesACompleteVersion) {
  ScratchDir dir;
  const std::string path = dir.file("last.ckpt");
  Versions versions(16 << 20);  // 64 MB of float32 per version
  io::save_checkpoint(path, versions.checkpoint(0));

  std::mt19937 rng(2024);
  int killed_mid_write = 0;
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    const size_t temps_before = temp_files(dir.path()).size();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (int64_t step = 1;; ++step) io::save_checkpoint(path, versions.checkpoint(step));
      } catch (...) {
      }
      ::_exit(1);  // never return into the test runner from the child
    }
    // Wait until the child has a temporary file open (a save is under way), then kill it
    // after a random delay: sometimes mid-write, sometimes after a rename or two.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (temp_files(dir.path()).size() == temps_before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 150000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child ended on its own";
    if (temp_files(dir.path()).size() > temps_before) ++killed_mid_write;

    // Whatever moment it died at, the path holds one complete version.
    io::Checkpoint r = io::load_checkpoint(path);
    ASSERT_EQ(r.rng_state, std::to_string(r.step));
    ASSERT_EQ(r.extra.at("version"), std::to_string(r.step % 2));
    const std::vector<float>& expect = versions.data[r.step % 2];
    const Tensor& w = r.model.at("w");
    ASSERT_EQ(w.numel(), static_cast<int64_t>(expect.size()));
    EXPECT_EQ(std::memcmp(w.data_ptr(), expect.data(), expect.size() * sizeof(float)), 0)
        << "round " << round << ": step " << r.step << " has mixed contents";
  }
  // The waits above guarantee the child had a temporary file at the kill in most rounds.
  EXPECT_GT(killed_mid_write, 0);

  // Leftover temporary files (the last kill's, when it hit a save mid-write: each save removes
  // the ones before it, so whether any is left depends on the last kill's moment) do not get in
  // the way of the next save or load.
  io::save_checkpoint(path, versions.checkpoint(41));
  io::Checkpoint r = io::load_checkpoint(path);
  EXPECT_EQ(r.step, 41);
  EXPECT_EQ(std::memcmp(r.model.at("w").data_ptr(), versions.data[1].data(), versions.data[1].size() * 4), 0);
}

}  // namespace
}  // namespace tandem::testing
