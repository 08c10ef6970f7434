#ifndef FSB_AGENT_REGISTRATION_LOOP_H_
#define FSB_AGENT_REGISTRATION_LOOP_H_

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/runtime.h"
#include "agent/sandbox_manager.h"
#include "fsb/agent/v1/agent.grpc.pb.h"

namespace fsb::agent {

// Keeps this agent registered with the controller: registers, then heartbeats every
// `interval` with the node's images and the sandboxes' states (refreshed from the
// runtime first). A heartbeat answered NOT_FOUND (the controller restarted) or failing
// triggers a fresh registration on the next tick. Runs on its own thread between
// Start() and Stop(); Stop() is idempotent and joins.
class RegistrationLoop {
 public:
  struct Options {
    fsb::agent::v1::AgentInfo agent;  // images are filled in by the loop
    absl::Duration interval = absl::Seconds(2);
    absl::Duration rpc_timeout = absl::Seconds(5);
  };

  RegistrationLoop(std::shared_ptr<grpc::ChannelInterface> controller, SandboxManager* manager,
                   Runtime* runtime, Options options);
  ~RegistrationLoop();

  void Start();
  void Stop();

 private:
  void Run();
  // One register-or-heartbeat round; returns whether the agent is registered after it.
  bool Tick(bool registered);

  std::unique_ptr<fsb::agent::v1::Registration::Stub> stub_;
  SandboxManager* const manager_;
  Runtime* const runtime_;
  const Options options_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_REGISTRATION_LOOP_H_
