#ifndef FSB_CONTROLLER_SANDBOX_PLACEMENT_H_
#define FSB_CONTROLLER_SANDBOX_PLACEMENT_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "controller/controller_metrics.h"
#include "controller/sandbox/agent_report.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox/record_table.h"
#include "controller/scheduler/scheduler.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"

namespace fsb::controller {

// Puts sandboxes on agents and takes them off: chooses candidates with the Scheduler,
// reserves a slot (and the published host ports) on the best, calls the agent, and on
// RESOURCE_EXHAUSTED or an unreachable agent gives the slot back and tries the next
// candidate (up to kMaxCandidates). A sandbox holds its slot while its container may
// exist on its agent (SandboxRecord::holds_slot), and gives it back when it is deleted,
// expires, or is recreated elsewhere; after a restart the slots are re-reserved when
// each agent registers again (RestoreSlots).
//
// Warm instances: an agent's create answer may claim a prepared instance, under that
// instance's container id; its warm counts after the create become the Scheduler's.
//
// Locking: Placement has no lock of its own. Methods taking a RecordTable::Locked run
// under the table's lock and call the Scheduler (lock order: table, then scheduler);
// the others take the table's lock only around record changes, never across an agent
// call or a store wait. Thread-safe.
class Placement {
 public:
  // Every pointer must outlive the placement. `loss`: when an agent counts as lost (it is
  // then not asked to stop anything).
  Placement(Scheduler* scheduler, AgentClient* agents, RecordTable* table,
            ControllerMetrics* metrics, const Clock* clock, AgentLossRule loss);

  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;

  // Places the record `key`'s sandbox (`sandbox`, its container id set) on an agent and
  // starts it there. Returns the sandbox with its placement, phase, ip and endpoints (as
  // the agent's answer gives them, see ApplyCreated); the slot is held iff it succeeded
  // (the caller records that in the record). For a strong sandbox the Scheduled record,
  // with endpoints at the agent's host until the answer gives the ip, is made durable
  // before the agent is called. RESOURCE_EXHAUSTED
  // with the scheduler's reason when no agent can take it (none in the pool, none with
  // room, or every candidate reached refused); UNAVAILABLE when no candidate could be
  // reached; otherwise the agent's error.
  // Adds the allocate, persist and agent_rpc durations to `timings`.
  absl::StatusOr<v1alpha1::Sandbox> PlaceAndStart(const SandboxKey& key, v1alpha1::Sandbox sandbox,
                                                  CreateTimings& timings);

  // Creates the sandbox again on the agent it is placed on (a Scheduled record its agent
  // does not report): the agent's answer, its warm counts taken in.
  absl::StatusOr<ReportedSandbox> StartAgain(const v1alpha1::Sandbox& sandbox,
                                             const std::string& agent_address);

  // Stops and removes the sandbox's container on its agent. OK when the container is
  // gone: the agent confirmed it (or no longer has it), the sandbox has no agent, or its
  // agent is lost (AgentLossRule: nothing can be asked; should it come back with the
  // container, the orphan reconciler deletes it). UNAVAILABLE when its agent has not
  // registered (again) yet, so nothing was asked; otherwise the agent's error, naming it.
  absl::Status StopOnAgent(const v1alpha1::Sandbox& sandbox, std::optional<absl::Duration> grace);

  // Gives back the slot the record holds, if any.
  void ReleaseSlot(RecordTable::Locked& table, const SandboxKey& key);
  // Clears the record's placement: gives back its slot and drops its agent.
  void Unplace(RecordTable::Locked& table, const SandboxKey& key);
  // Gives back the slot and removes the record.
  void Forget(RecordTable::Locked& table, const SandboxKey& key);
  // Re-reserves the slots of the records placed on a (re-)registered agent.
  void RestoreSlots(RecordTable::Locked& table, std::string_view agent_id);

  // Makes `counts` the agent's warm counts in the Scheduler; nothing when the agent is
  // no longer registered.
  void UpdateWarm(AgentHandle agent, std::span<const NamedWarmImage> counts);

 private:
  Scheduler* const scheduler_;
  AgentClient* const agents_;
  RecordTable* const table_;
  ControllerMetrics* const metrics_;
  const Clock* const clock_;
  const AgentLossRule loss_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_PLACEMENT_H_
