#ifndef FSB_CONTROLLER_SANDBOX_AGENT_REPORTS_H_
#define FSB_CONTROLLER_SANDBOX_AGENT_REPORTS_H_

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "controller/pool_service.h"
#include "controller/sandbox/agent_report.h"
#include "controller/sandbox/placement.h"
#include "controller/sandbox/reconciler.h"
#include "controller/sandbox/record_table.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/resources.h"
#include "controller/store/store.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"

namespace fsb::controller {

// The agents' side of the sandbox domain: registrations and heartbeats (into the
// Scheduler), the sandbox states agents report (into the record table), and the agents'
// stored records (fsb.io/v1alpha1 Agent, written on registration, not per heartbeat).
//
// A report of a record's container from its agent is applied to the record, phase and
// sandbox ip (with the endpoints that follow), or deferred while an operation is in
// flight on it (see SandboxRecord::deferred); a
// container no record owns on that agent joins the unowned set, which the orphan
// reconciler empties; a Running record its agent has stopped reporting for
// orphan_timeout becomes Lost. So does one its agent reports only as UNKNOWN (it cannot
// tell the container's state: a paused task, a state it does not know, a container gone
// from containerd) for orphan_timeout: an UNKNOWN report keeps the phase as it was (a
// blip changes nothing) but does not count as a sighting, and the Lost record's message
// carries the agent's words. A Lost record follows its failure policy and is Running
// again when its agent reports it running. Registrations and heartbeats are answered
// with the agent's pool's warm targets (PoolService).
//
// Locking: no lock of its own. Observing takes the table's lock once per report (and
// calls the Scheduler and Reconciler::Wake under it, as their lock order allows); the
// Scheduler, the agent records and the store are called without it. Thread-safe.
class AgentReports {
 public:
  struct Options {
    absl::Duration orphan_timeout;
    absl::Duration agent_lost_timeout;
  };

  // Every pointer must outlive the object.
  AgentReports(Scheduler* scheduler, const PoolService* pools, AgentClient* agents,
               store::Store* store, RecordTable* table, Placement* placement,
               Reconciler* reconciler, const Clock* clock, Options options);

  AgentReports(const AgentReports&) = delete;
  AgentReports& operator=(const AgentReports&) = delete;

  // Registers (or re-registers) an agent (with its images, warm counts and runtime
  // state), re-reserves the slots of its sandboxes when it is new to the Scheduler (and
  // wakes the reconciler for the deletions, expiries and resets that waited for it),
  // applies the sandbox states it reports and keeps its stored Agent record (spec:
  // address, node, pool, capacity) in step; a failed record write is logged and does not
  // fail the registration (placement uses the registry). Returns the warm targets of the
  // agent's pool, null when it has none. INVALID_ARGUMENT for a malformed agent
  // description.
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> Register(
      AgentRegistration registration);
  // Refreshes an agent's liveness, images, warm counts, runtime state and load and
  // applies the sandbox states it reports; returns its pool's warm targets (null when
  // none), so that a pool changed since reaches the agent now. NOT_FOUND for an unknown
  // agent (it must register again).
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> Heartbeat(
      const AgentHeartbeat& heartbeat);

  // Every agent as an fsb.io/v1alpha1 Agent resource, ordered by name: those registered
  // (status from the registry: load, images, warm instances, conditions Ready and
  // RuntimeAvailable) and those only stored, known from an earlier registration but not
  // registered with this controller process (Ready False, reason NotRegistered). Store
  // errors as they are.
  absl::StatusOr<std::vector<v1alpha1::Agent>> List() const;

  // Forgets an agent that is gone: removes it from the registry and its stored record.
  // Its Terminating sandboxes end (no agent is left to confirm their deletion; the
  // reconciler forgets them); its other sandboxes stay, Lost, and follow their failure
  // policy. If it registers again it is a new agent. FAILED_PRECONDITION while it is registered
  // with a fresh heartbeat; NOT_FOUND when it is neither registered nor stored.
  absl::Status Delete(std::string_view name);

 private:
  // Applies the sandbox states of the agent `agent_id` at `agent_address`, which are all
  // its sandboxes.
  void Observe(std::string_view agent_id, std::string_view agent_address,
               std::span<const ReportedSandbox> states);
  // Creates or updates the stored record of a registered agent.
  absl::Status RecordAgent(const AgentDescriptor& agent);

  Scheduler* const scheduler_;
  const PoolService* const pools_;
  AgentClient* const agents_;
  RecordTable* const table_;
  Placement* const placement_;
  Reconciler* const reconciler_;
  const Clock* const clock_;
  const Options options_;
  // Agent records; thread-safe.
  mutable store::ResourceClient<v1alpha1::Agent> records_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_AGENT_REPORTS_H_
