#ifndef FSB_TESTS_TESTING_STACK_H_
#define FSB_TESTS_TESTING_STACK_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::testing {

// Why a test that needs root and containerd cannot run here, or "" when it can.
std::string MissingPrerequisite();

// A loopback TCP port that was free when asked, below the kernel's ephemeral range and
// never returned twice in one process; -1 when none is found. Thread-safe.
int FreePort();

// A child process with stdout and stderr appended to `log_path`. Stop() (also run
// by the destructor) sends SIGTERM, waits up to 10 s, then SIGKILLs; Kill() SIGKILLs
// at once (a crash). Not thread-safe.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& log_path);
  ~ChildProcess();
  void Stop();
  void Kill();
  pid_t pid() const { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  void Signal(int signal, absl::Duration wait);
  pid_t pid_;
};

// Runs `argv`, returning its exit code and appending its stdout to `out` (if given) and
// its stderr to `err` (if given).
int RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr,
               std::string* err = nullptr);

// A private containerd (own root, state and socket under a temp folder, started by
// scripts/containerd.sh) with the busybox test image imported into namespace "fsb".
// Stops containerd and removes the folder on destruction.
class PrivateContainerd {
 public:
  static constexpr char kTestImage[] = "docker.io/fsb/busybox:latest";
  static absl::StatusOr<std::unique_ptr<PrivateContainerd>> Start();
  ~PrivateContainerd();

  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/containerd/containerd.sock"; }
  // Imports the test image into another containerd namespace.
  absl::Status ImportTestImage(const std::string& ns) const;
  // Stops only the daemon (shims and containers keep running), as a crash does, and
  // starts it again.
  absl::Status KillDaemon() const;
  absl::Status StartDaemon() const;

 private:
  explicit PrivateContainerd(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Path of a repository script or a built binary.
std::string SourcePath(const std::string& relative);

// The file's content as far as it could be read; empty when it cannot be opened. Never
// throws (a /proc file of a process that exits meanwhile fails its read with ESRCH).
std::string ReadFile(const std::string& path);

// Polls `condition` every 20 ms until it is true or `timeout` passes; returns its last
// value.
template <typename F>
bool WaitFor(F condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

}  // namespace fsb::testing

#endif  // FSB_TESTS_TESTING_STACK_H_
