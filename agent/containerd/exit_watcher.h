#ifndef FSB_AGENT_CONTAINERD_EXIT_WATCHER_H_
#define FSB_AGENT_CONTAINERD_EXIT_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "grpcpp/client_context.h"

namespace fsb::agent {

// Follows containerd's event stream (Events.Subscribe, topic /tasks/exit, this agent's
// namespace) and calls `on_exit(container_id, exit_status)` for every exit of a
// container's init process (exec'd processes are ignored), on its own thread, as soon as
// containerd publishes it. When the stream breaks (containerd restarting), it
// subscribes again with backoff. Exits published while no stream was live are lost to
// it, so after every subscription it publishes a marker event of its own until one comes
// back on the new stream, then calls `on_live()`: every exit from then on is delivered,
// and one read of the tasks' states after `on_live` sees every exit before. Start()
// once; Stop() (also the destructor) cancels the stream and joins. Thread-safe.
class ExitWatcher {
 public:
  using Callback = std::function<void(const std::string& container_id, uint32_t exit_status)>;

  ExitWatcher(Containerd* containerd, Callback on_exit, std::function<void()> on_live);
  ~ExitWatcher();

  void Start();
  void Stop();

 private:
  void Run();
  // One subscription, until the stream ends; returns whether it went live (to reset the
  // backoff).
  bool Follow();
  // Publishes `token` as a marker event every kMarkerInterval until the subscription
  // is live or has ended (or kMaxMarkers were sent: then it declares it live itself).
  void PublishMarkers(const std::string& token);
  // Marks the current subscription live (once) and calls on_live_.
  void GoLive(std::string_view why);

  Containerd* const containerd_;
  const Callback on_exit_;
  const std::function<void()> on_live_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;  // the stream to cancel
  // State of the current subscription (the watcher thread runs one at a time).
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t subscriptions_ = 0;  // watcher thread only; makes marker tokens unique
  std::thread thread_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_EXIT_WATCHER_H_
