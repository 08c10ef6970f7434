#ifndef FSB_CONTROLLER_SANDBOX_AGENT_REPORT_H_
#define FSB_CONTROLLER_SANDBOX_AGENT_REPORT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "controller/scheduler/scheduler.h"
#include "fsb/agent/v1/agent.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace fsb::controller {

// What agents tell the controller, in the sandbox domain's terms: the registration and
// heartbeat adapters decode the wire messages into these, and the create answers of the
// AgentClient seam are read through the same decoders. Plain values; thread-compatible.

// One sandbox as its agent reports it (a heartbeat, a registration, a create's answer).
struct ReportedSandbox {
  // kUnknown: the agent cannot tell the container's state (its task is paused or in a
  // state it does not know, or the container is gone from containerd); kOther: no
  // verdict yet (being created).
  enum class Phase { kOther, kRunning, kExited, kUnknown };
  // The id the agent runs it under: the proposed id of a cold create, the claimed
  // instance's for a warm one.
  std::string container_id;
  // For a claimed warm instance, the id the controller proposed for it; else empty.
  std::string requested_id;
  Phase phase = Phase::kOther;
  int32_t exit_code = 0;  // kExited
  std::string message;
  // The sandbox's address on its node's sandbox network; empty when the agent runs
  // sandboxes in the node's network (or, for an exited one, may no longer say).
  std::string ip;
};

// An agent's registration: its description for the Scheduler (pool empty for the
// default pool; warm counts as reported) and every sandbox it holds.
struct AgentRegistration {
  AgentDescriptor agent;  // reported_sandboxes is filled from `sandboxes`
  std::vector<ReportedSandbox> sandboxes;
};

// An agent's heartbeat: its images (any spelling), warm counts, runtime state and every
// sandbox it holds.
struct AgentHeartbeat {
  std::string agent_id;
  std::vector<std::string> images;
  std::vector<NamedWarmImage> warm;
  bool runtime_down = false;  // its containerd does not answer
  std::vector<ReportedSandbox> sandboxes;
};

// Decoders of the agent API's messages (fsb.agent.v1). Negative counts read as 0.
ReportedSandbox ReportedSandboxOf(const fsb::agent::v1::SandboxStatus& state);
std::vector<ReportedSandbox> ReportedSandboxesOf(
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states);
std::vector<NamedWarmImage> WarmCountsOf(
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::WarmCount>& counts);

// Warm counts as the Scheduler takes them: images interned (malformed ones dropped).
// Inline storage: no allocation for a typical agent.
using InternedWarm = absl::InlinedVector<WarmImage, 8>;
InternedWarm InternWarm(Scheduler& scheduler, std::span<const NamedWarmImage> counts);

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_AGENT_REPORT_H_
