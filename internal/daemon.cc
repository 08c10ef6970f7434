#include "internal/daemon.h"

#include <pthread.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "internal/version.h"

namespace fsb {

Daemon::Daemon(std::string_view usage, int* argc, char*** argv) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);

  gflags::SetUsageMessage(std::string(usage));
  gflags::SetVersionString(std::string(kVersion));
  gflags::ParseCommandLineFlags(argc, argv, true);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  google::InitGoogleLogging((*argv)[0]);
  FLAGS_logtostderr = FLAGS_logtostderr || FLAGS_log_dir.empty();
}

int Daemon::WaitForShutdown(absl::FunctionRef<void()> on_hangup) {
  for (;;) {
    int signal = 0;
    sigwait(&signals_, &signal);
    if (signal != SIGHUP) return signal;
    on_hangup();
  }
}

}  // namespace fsb
