#include "tandem/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <streambuf>
#include <vector>

#include "tandem/error.h"

namespace tandem::io {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Writes a whole buffer, retrying short writes and EINTR. Returns 0 or the errno.
int write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// A std::streambuf over a file descriptor that remembers the first write error, so the
// caller can report the system's reason (a std::ostream only knows "badbit").
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buf_(1 << 20) { setp(buf_.data(), buf_.data() + buf_.size()); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (flush_buffer() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Big blocks (tensor data) go straight to the file instead of through the buffer.
    if (n >= static_cast<std::streamsize>(buf_.size() / 2)) {
      if (flush_buffer() != 0) return 0;
      if (error_ == 0) error_ = write_all(fd_, s, static_cast<size_t>(n));
      return error_ == 0 ? n : 0;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() == 0 ? 0 : -1; }

 private:
  int flush_buffer() {
    if (error_ == 0 && pptr() > pbase()) error_ = write_all(fd_, pbase(), pptr() - pbase());
    setp(buf_.data(), buf_.data() + buf_.size());
    return error_;
  }
  int fd_;
  std::vector<char> buf_;
  int error_ = 0;
};

// Removes the temporary file and closes its descriptor unless the save got to the rename.
struct TempFile {
  std::string path;
  int fd = -1;
  bool renamed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!renamed && !path.empty()) ::unlink(path.c_str());
  }
};

// Removes what killed saves of `name` left in `dir`: ".<name>.tmp.<pid>.<n>" files whose
// process is gone. A live process's files stay (another save of the same file may be under
// way); so do this process's own (another thread may be saving) and every other name.
void remove_stale_temps(const std::filesystem::path& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string prefix = "." + name + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string f = it->path().filename().string();
    if (f.size() <= prefix.size() || f.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rest = f.substr(prefix.size());  // "<pid>.<n>"
    size_t dot = rest.find('.');
    auto digits = [](const std::string& s) {
      return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (dot == std::string::npos || !digits(rest.substr(0, dot)) || !digits(rest.substr(dot + 1))) continue;
    pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dot)));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM: alive, not ours)
    std::error_code rm;
    fs::remove(it->path(), rm);  // best effort: a failure here must not fail the save
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  namespace fs = std::filesystem;
  TANDEM_CHECK(!path.empty(), "write_file_atomic: empty path");
  fs::path target(path);
  TANDEM_CHECK(target.has_filename(), "write_file_atomic: '{}' names a directory, not a file", path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";

  remove_stale_temps(dir, target.filename().string());
  // A unique name in the same directory (rename is only atomic within one file system).
  static std::atomic<uint64_t> counter{0};
  TempFile tmp;
  for (int attempt = 0; tmp.fd < 0; ++attempt) {
    tmp.path = (dir / fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(),
                                  counter.fetch_add(1)))
                   .string();
    tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (tmp.fd < 0) {
      int err = errno;
      if (err == EEXIST && attempt < 100) continue;  // a leftover of a killed process with our pid
      tmp.path.clear();  // nothing was created: nothing to remove
      TANDEM_FAIL("write_file_atomic: cannot create a temporary file in '{}' to save '{}': {}",
                  dir.string(), path, errno_text(err));
    }
  }

  FdStreamBuf buf(tmp.fd);
  std::ostream os(&buf);
  write(os);  // an exception leaves through ~TempFile, which removes the temporary file
  os.flush();
  TANDEM_CHECK(buf.error() == 0 && !os.bad(), "write_file_atomic: writing '{}' failed: {}", path,
               buf.error() != 0 ? errno_text(buf.error()) : std::string("the stream went bad"));
  if (::fsync(tmp.fd) != 0) {
    TANDEM_FAIL("write_file_atomic: fsync of the new '{}' failed: {}", path, errno_text(errno));
  }
  int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) {
    TANDEM_FAIL("write_file_atomic: closing the new '{}' failed: {}", path, errno_text(errno));
  }
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    TANDEM_FAIL("write_file_atomic: cannot rename the new file over '{}': {}", path,
                errno_text(errno));
  }
  tmp.renamed = true;

  // NOTE: without this the rename may still be lost on a power cut (the new name lives in
  // the directory's data). Some file systems refuse fsync on directories (EINVAL): the
  // rename is then as durable as that file system makes it.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    TANDEM_FAIL("write_file_atomic: '{}' was replaced but its directory cannot be opened to sync: {}",
                path, errno_text(errno));
  }
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  TANDEM_CHECK(rc == 0 || err == EINVAL, "write_file_atomic: '{}' was replaced but syncing its directory failed: {}",
               path, errno_text(err));
}

}  // namespace tandem::io
