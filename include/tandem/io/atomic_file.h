// Atomic file replacement: readers of `path` see the old file or the new one, never a mix.
//
//   tandem::io::write_file_atomic("run/model.safetensors", [&](std::ostream& os) {
//     os.write(bytes.data(), bytes.size());
//   });
//
// The bytes go to a temporary file in the same directory (".<name>.tmp.<pid>.<n>"), which is
// flushed, fsync'ed and renamed over `path`; then the directory is fsync'ed so the rename
// itself survives a power cut. rename() within one file system is atomic on POSIX, so a
// process killed at any moment leaves either the previous file or the complete new one at
// `path` (at worst a stray temporary file next to it, which nothing reads, and which the next
// save of `path` removes once no process with that pid is alive). If `path` is a
// symbolic link, the link itself is replaced by the new file. The new file's permissions
// are 0666 minus the umask, whatever the old file's were.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>

namespace tandem::io {

// Calls `write` with a stream into the temporary file, then replaces `path` with it.
// On any failure (the writer throws, a write/fsync/rename fails, the stream goes bad)
// the temporary file is removed, `path` is left as it was, and tandem::Error is thrown
// naming the path and the system's reason (an exception from `write` is rethrown as is).
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace tandem::io
