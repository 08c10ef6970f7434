#ifndef FSB_INTERNAL_DAEMON_H_
#define FSB_INTERNAL_DAEMON_H_

#include <signal.h>

#include <string_view>

#include "absl/functional/function_ref.h"

namespace fsb {

// The start and the end of a long-running fsb program (fsb-controller, fsb-agent).
//
// Construct it first thing in main(), before any thread starts: it blocks SIGTERM,
// SIGINT and SIGHUP in the calling thread, so every thread started later inherits the
// mask and WaitForShutdown() is the only place those signals are received. The constructor also
// parses the command-line flags (gflags; exits on unknown ones, and after printing the
// release on --version, internal/version.h), sets up glog (to stderr
// unless --log_dir is given) and turns off Abseil's debug-build lock-cycle detection,
// which Debian's Abseil (built without NDEBUG) runs on every mutex acquisition — about a
// third of a scheduler Allocate (bench/README.md); the unit tests keep the check.
// Not thread-safe; one per process.
class Daemon {
 public:
  Daemon(std::string_view usage, int* argc, char*** argv);

  // Blocks until SIGTERM or SIGINT arrives; returns the signal. Each SIGHUP meanwhile
  // calls `on_hangup` (on the calling thread), when given; otherwise it is ignored.
  int WaitForShutdown(absl::FunctionRef<void()> on_hangup = [] {});

 private:
  sigset_t signals_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_DAEMON_H_
