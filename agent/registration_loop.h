#ifndef FSB_AGENT_REGISTRATION_LOOP_H_
#define FSB_AGENT_REGISTRATION_LOOP_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/runtime.h"
#include "agent/sandbox_manager.h"
#include "agent/warm/warm_pool.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "grpcpp/support/channel_arguments.h"
#include "internal/background_loop.h"
#include "internal/message_limits.h"

namespace fsb::agent {

// Arguments for the channel to the controller, added to `base`: a reconnect backoff of
// at most kMaxReconnectBackoff, so that a restarted controller is reached soon after it
// listens again, however long it was down.
inline constexpr absl::Duration kMaxReconnectBackoff = absl::Seconds(1);
grpc::ChannelArguments ControllerChannelArguments(grpc::ChannelArguments base = {});

// Keeps this agent registered with the controller: once the sandbox manager has
// recovered its sandboxes (it retries Recover() until it succeeds; before that it says
// nothing, so that the controller never sees a partial list), registers, then heartbeats
// every `interval` — or at once after PushNow() — with the node's images, the sandboxes'
// states (refreshed from the runtime first), the warm instances and whether the runtime
// answers; each answer's warm targets go to the warm pool.
// A heartbeat answered NOT_FOUND (a controller that does not know the agent: it
// restarted) registers again in the same round; one that fails otherwise registers on
// the next. A controller restart is noticed without waiting for the next heartbeat: a
// second thread watches the channel's connectivity (keeping it connecting while it is
// not READY) and runs a round at once whenever it becomes READY again, so the agent is
// registered one round trip after the channel reconnects (ControllerChannelArguments
// bounds gRPC's reconnect backoff). Both threads run between Start() and Stop(); both
// are idempotent and Stop() joins. PushNow() is thread-safe.
class RegistrationLoop {
 public:
  struct Options {
    fsb::agent::v1::AgentInfo agent;  // images are filled in by the loop
    absl::Duration interval = absl::Seconds(2);
    absl::Duration rpc_timeout = absl::Seconds(5);
    // Reported in every round, and given the controller's warm targets for this
    // agent's pool from each answer; null: no warm pool.
    WarmPool* warm = nullptr;
    // The largest registration or heartbeat sent. Past it the loop drops image names
    // from the end (logged); when the sandboxes alone exceed it nothing is sent and
    // Ready() is RESOURCE_EXHAUSTED saying so.
    size_t max_message_bytes = kMaxAgentMessageBytes;
  };

  RegistrationLoop(std::shared_ptr<grpc::ChannelInterface> controller, SandboxManager* manager,
                   Runtime* runtime, Options options);
  ~RegistrationLoop();

  void Start();
  void Stop();
  // Sends the next heartbeat now (e.g. a sandbox exited).
  void PushNow();
  // OK once the sandboxes are recovered, the agent is registered and its last round
  // found the runtime answering; UNAVAILABLE saying which is missing otherwise (/readyz).
  absl::Status Ready() const;

 private:
  // One round and its bookkeeping; returns the time until the next.
  absl::Duration Round();
  // One register-or-heartbeat round; returns whether the agent is registered after it.
  bool Tick(bool registered);
  // The watcher's thread: wakes the loop on each return of the channel to READY.
  void WatchChannel();
  // Keeps `request` within Options::max_message_bytes by dropping names from the end
  // of `images` (its image list); RESOURCE_EXHAUSTED when even none is too many (the
  // message counts the request's `sandboxes`).
  absl::Status FitLimit(const google::protobuf::Message& request,
                        google::protobuf::RepeatedPtrField<std::string>* images, size_t sandboxes);
  // The controller's answer: its targets, or null when it sent none.
  void ApplyWarmTargets(const fsb::agent::v1::WarmTargets* targets);

  const std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<fsb::agent::v1::Registration::Stub> stub_;
  SandboxManager* const manager_;
  Runtime* const runtime_;
  const Options options_;
  bool registered_ = false;  // the loop's thread only
  int images_dropped_ = 0;   // by the last round's FitLimit; the loop's thread only
  mutable absl::Mutex mu_;
  absl::Status ready_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("not yet registered with the controller");
  bool watch_stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watcher_ ABSL_GUARDED_BY(mu_);
  BackgroundLoop loop_;  // last: stops before the rest goes
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_REGISTRATION_LOOP_H_
