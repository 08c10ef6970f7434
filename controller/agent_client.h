#ifndef FSB_CONTROLLER_AGENT_CLIENT_H_
#define FSB_CONTROLLER_AGENT_CLIENT_H_

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsb/agent/v1/agent.pb.h"

namespace fsb::controller {

// The controller's seam to the agents' AgentService. `address` is the agent's host:port.
// Errors are the agent's own status codes (NOT_FOUND for an unknown image or sandbox,
// RESOURCE_EXHAUSTED when the agent is full, ...) or the transport's (UNAVAILABLE,
// DEADLINE_EXCEEDED). Implementations are thread-safe and bound every call with a
// deadline.
// Payload marking an error as "the agent was not reached", as opposed to an error the
// agent returned (which may have the same code, e.g. UNAVAILABLE for a registry it
// cannot reach).
inline constexpr char kAgentUnreachable[] = "fsb.io/agent-unreachable";
inline bool IsAgentUnreachable(const absl::Status& status) {
  return status.GetPayload(kAgentUnreachable).has_value();
}

class AgentClient {
 public:
  virtual ~AgentClient() = default;

  // Creates and starts the sandbox described by `spec`; returns the agent's answer once
  // its process runs: its status (whose sandbox_id is the container id the agent used:
  // spec.sandbox_id for a cold create, the claimed instance's for a warm one), whether a
  // warm instance was claimed, and the agent's warm counts after it. `may_pull`: the
  // agent does not report the image, so the create may include a registry pull;
  // implementations give such a call a longer deadline. When the agent could not be
  // reached (nothing was created), the error carries the kAgentUnreachable payload (see
  // IsAgentUnreachable).
  virtual absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> CreateSandbox(
      std::string_view address, const fsb::agent::v1::SandboxSpec& spec, bool may_pull) = 0;

  // Stops (SIGTERM, `grace`, SIGKILL) and removes the sandbox. An unset `grace` leaves
  // the grace period to the agent's default.
  virtual absl::Status DeleteSandbox(std::string_view address, std::string_view sandbox_id,
                                     std::optional<absl::Duration> grace) = 0;

  // Agent `agent_id` has just registered at `address`, so it is up: calls to it must not
  // fail fast on a reconnect backoff left from while it was down (a restarted agent). With
  // TLS, calls to `address` verify that the server's certificate names `agent_id`.
  virtual void AgentUp(std::string_view agent_id, std::string_view address) = 0;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_AGENT_CLIENT_H_
