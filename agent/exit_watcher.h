#ifndef FSB_AGENT_EXIT_WATCHER_H_
#define FSB_AGENT_EXIT_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd.h"
#include "grpcpp/client_context.h"

namespace fsb::agent {

// Follows containerd's event stream (Events.Subscribe, topic /tasks/exit, this agent's
// namespace) and calls `on_exit(container_id, exit_status)` for every exit of a
// container's init process (exec'd processes are ignored), on its own thread, as soon as
// containerd publishes it. When the stream breaks (containerd restarting), it
// subscribes again with backoff; exits that happen while it is disconnected are caught
// by the sandbox manager's periodic Refresh. Start() once; Stop() (also the destructor)
// cancels the stream and joins. Thread-safe.
class ExitWatcher {
 public:
  using Callback = std::function<void(const std::string& container_id, uint32_t exit_status)>;

  ExitWatcher(Containerd* containerd, Callback on_exit);
  ~ExitWatcher();

  void Start();
  void Stop();

 private:
  void Run();
  // One subscription, until the stream ends; returns whether it ever delivered an event
  // or stayed up (to reset the backoff).
  bool Follow();

  Containerd* const containerd_;
  const Callback on_exit_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;  // the stream to cancel
  std::thread thread_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_EXIT_WATCHER_H_
