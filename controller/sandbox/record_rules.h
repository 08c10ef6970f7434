#ifndef FSB_CONTROLLER_SANDBOX_RECORD_RULES_H_
#define FSB_CONTROLLER_SANDBOX_RECORD_RULES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "controller/sandbox/agent_report.h"
#include "controller/sandbox_spec.h"
#include "controller/scheduler/scheduler.h"
#include "fsb/v1alpha1/resources.pb.h"

namespace fsb::controller {

// Pure rules on a Sandbox record's status, shared by the record table, placement, the
// agent reports and the reconciler. No I/O, no clock reads. Thread-safe.

// "<namespace>/<name>", for messages.
std::string Qualified(std::string_view ns, std::string_view name);
std::string Qualified(const v1alpha1::Sandbox& sandbox);

std::string Rfc3339(absl::Time t);

// The host part of a host:port address, brackets of an IPv6 literal kept, so that
// host + ":" + port is again an address.
std::string_view HostOf(std::string_view address);

// When an agent counts as lost, i.e. gone as far as the controller can tell: registered
// with its last heartbeat older than `timeout`, or not registered although it had
// `timeout` since the controller started (`started`) to register again. A lost agent is
// asked for nothing; should it come back, the containers no record owns are orphans.
struct AgentLossRule {
  absl::Duration timeout;
  absl::Time started;
  // `last_heartbeat` unset: the agent is not registered.
  bool Lost(std::optional<absl::Time> last_heartbeat, absl::Time now) const {
    return now - last_heartbeat.value_or(started) > timeout;
  }
};

// Whether the sandbox has an agent (status.agent set).
inline bool Placed(const v1alpha1::Sandbox& sandbox) { return !sandbox.status().agent().empty(); }

// Clears status.agent, node, ip and endpoints.
void ClearPlacement(v1alpha1::SandboxStatus* status);

// Sets status.endpoints, where the sandbox's ports are reached, in spec order:
// "<status.ip>:<port>" per exposed port, or "<agent_host>:<port>" while status.ip is
// empty (not known yet, or an agent that runs sandboxes in the node's network, which
// reports none); then "<agent_host>:<hostPort>" per published port. An IPv6 ip is
// bracketed. `agent_host` is the host of the sandbox's agent's address (HostOf).
void SetEndpoints(std::string_view agent_host, v1alpha1::Sandbox* sandbox);

// Takes in the sandbox ip an agent reports for the record's container: a non-empty ip
// other than status.ip becomes status.ip, and the endpoints follow (SetEndpoints). An
// empty one changes nothing: the address of a live container never goes away, and an
// exited one's may. Returns whether anything changed.
bool ApplyReportedIp(const ReportedSandbox& state, std::string_view agent_host,
                     v1alpha1::Sandbox* sandbox);
// Clears status.lostAt and recoveryDeadline.
void ClearLoss(v1alpha1::SandboxStatus* status);
// Phase Lost since `now`, recoverable until now + the spec's recovery timeout.
void MarkLost(const v1alpha1::SandboxSpec& spec, absl::Time now, std::string message,
              v1alpha1::SandboxStatus* status);

// Moves `status` to the phase the agent reports: Running from Pending, Scheduled or
// Lost; Succeeded or Failed (with the exit code and message) on an exit; nothing for a
// report without a verdict (kOther, kUnknown). Returns whether anything changed.
bool ApplyAgentState(const ReportedSandbox& state, v1alpha1::SandboxStatus* status);

// Records a create's answer `state` in `sandbox`'s status: Running (or what the state
// says), under the container id the agent used (the claimed instance's on a warm
// create), with the ip the agent gave the new container (possibly none) and the
// endpoints that follow (SetEndpoints with `agent_host`, the host of that agent's
// address).
void ApplyCreated(const ReportedSandbox& state, std::string_view agent_host,
                  v1alpha1::Sandbox* sandbox);

// Whether the sandbox's agent has confirmed its container since it was placed: any phase
// past Pending and Scheduled. Until then a warm claim's answer or report may still give
// it another container id.
bool StartConfirmed(const v1alpha1::Sandbox& sandbox);

// Whether an agent's `state` describes the container `container_id`: by its id, or, for
// a claimed warm instance, by the id the controller proposed for it.
bool Describes(const ReportedSandbox& state, const std::string& container_id);

// Whether spec.resetRevision asks for a reset that status.acceptedResetRevision has not
// seen. Unparseable revisions (validated on input) never trigger.
bool ResetRequested(const v1alpha1::Sandbox& sandbox);

// A sandbox's published host ports (spec.publish) in the scheduler's form, without
// allocating: the ports that conflict between sandboxes of one agent. Exposed ports do
// not: each sandbox listens in its own network namespace.
class Ports {
 public:
  explicit Ports(const v1alpha1::Sandbox& sandbox);
  std::span<const HostPort> span() const { return {ports_.data(), size_}; }

 private:
  std::array<HostPort, kMaxPorts> ports_{};
  size_t size_ = 0;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_RECORD_RULES_H_
