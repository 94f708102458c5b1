// How idle OpenMP threads wait, chosen before the OpenMP runtime starts.
//
//   #include <tandem/omp_wait.h>
//   TANDEM_OMP_PASSIVE_WAIT();   // once, at file scope, in the program's main .cpp
//   int main() { ... }
//
// tandem's threads are GNU OpenMP's (oneDNN shares them). libgomp reads OMP_WAIT_POLICY and
// GOMP_SPINCOUNT once, when it is loaded, before any constructor of the program or of
// libtandem runs, so a library cannot change them afterwards. By default an idle libgomp
// thread spins 300,000 rounds (a few hundred µs) before sleeping. On an idle machine that
// saves a wake-up per parallel region; on a shared one a spinning thread takes the core that
// the thread doing the work needs, and 2-thread training falls below 1-thread speed.
//
// The macro places a function in the executable's .preinit_array, which the dynamic loader
// runs before the initializers of every shared library. Unless the environment already sets
// OMP_WAIT_POLICY or GOMP_SPINCOUNT (the user's choice always wins), it re-executes the
// program (/proc/self/exe, same pid and arguments) with OMP_WAIT_POLICY=PASSIVE added, so
// libgomp reads it at load; if that exec fails the program runs on with libgomp's default.
// `tandem` (the CLI), the benchmark programs and the examples use it. A program linking
// libtandem without it gets libgomp's default (spin first), or whatever its environment sets.
//
// NOTE: setenv() would not do: libc's own initializer, which runs after .preinit_array and
// before libgomp's, resets the environment to the one the kernel passed. Only an executable's
// .preinit_array runs this early. Python's `import tandem` sets the variable in os.environ
// instead, which works when libgomp is not yet loaded (numpy does not load it; torch does).
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tandem::detail {
inline void omp_wait_preinit(int, char** argv, char** envp) {
  if (envp == nullptr || argv == nullptr) return;
  size_t n = 0;
  for (; envp[n] != nullptr; ++n)
    if (std::strncmp(envp[n], "OMP_WAIT_POLICY=", 16) == 0 || std::strncmp(envp[n], "GOMP_SPINCOUNT=", 15) == 0)
      return;
  auto** env = static_cast<char**>(std::malloc((n + 2) * sizeof(char*)));
  if (env == nullptr) return;
  std::memcpy(env, envp, n * sizeof(char*));
  static char passive[] = "OMP_WAIT_POLICY=PASSIVE";
  env[n] = passive;
  env[n + 1] = nullptr;
  execve("/proc/self/exe", argv, env);
  std::free(env);  // exec failed (no /proc): run on with libgomp's default
}
}  // namespace tandem::detail

// NOTE: sanitizer runtimes initialize from .preinit_array too, and malloc before they are
// up would run their interceptors uninitialized: under ASan/TSan the macro does nothing.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TANDEM_OMP_WAIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TANDEM_OMP_WAIT_SANITIZED 1
#endif
#endif

#ifdef TANDEM_OMP_WAIT_SANITIZED
#define TANDEM_OMP_PASSIVE_WAIT() static_assert(true)
#else
#define TANDEM_OMP_PASSIVE_WAIT()                                                        \
  __attribute__((section(".preinit_array"), used)) static void (*tandem_omp_wait_entry)( \
      int, char**, char**) = ::tandem::detail::omp_wait_preinit
#endif
