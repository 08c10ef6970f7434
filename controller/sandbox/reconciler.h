#ifndef FSB_CONTROLLER_SANDBOX_RECONCILER_H_
#define FSB_CONTROLLER_SANDBOX_RECONCILER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "controller/controller_metrics.h"
#include "controller/sandbox/placement.h"
#include "controller/sandbox/record_table.h"
#include "controller/scheduler/scheduler.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/background_loop.h"
#include "internal/clock.h"

namespace fsb::controller {

// ---- The plan: a pure function of the records, the agents and the time. ----

// One thing the reconciler decided to do.
struct ReconcileAction {
  enum class Kind {
    kDelete,    // a Terminating record: stop on the agent, then forget it
    kExpire,    // past expireTime: stop on the agent, phase Expired
    kReset,     // a new resetRevision: stop, then place a fresh container
    kRecreate,  // Lost past its recovery deadline with AutoRecreate: place a fresh container
    kPlace,     // Pending without an agent (an earlier placement failed): place it
    kRedrive,   // Scheduled but not reported by its agent: create it there again
    kOrphan,    // a container an agent runs that no record owns: delete it
  };
  Kind kind;
  SandboxKey key;             // all but kOrphan
  v1alpha1::Sandbox sandbox;  // the record as planned (all but kOrphan)
  std::string agent_id;       // kOrphan: the agent running it
  std::string agent_address;  // kRedrive, kOrphan
  std::string container_id;   // kOrphan
};

// The action's name in metrics and logs.
std::string_view ReconcileActionName(ReconcileAction::Kind kind);

// What the plan knows of a registered agent.
struct PlannedAgent {
  bool lost = false;  // its heartbeats stopped for longer than agent_lost_timeout
  std::string address;
};

struct PlanInput {
  const SandboxRecords* records;
  const UnownedContainers* unowned;
  const absl::flat_hash_map<std::string, PlannedAgent>* agents;  // registered, by id
  // Whether an agent that is not registered counts as lost (it had the time to register
  // again since the controller started).
  bool unregistered_lost = false;
  absl::Duration orphan_timeout;
  absl::Duration agent_lost_timeout;
};

struct ReconcilePlan {
  // Records whose agent is lost, with their new status (phase Lost); applied and
  // persisted before the actions run.
  std::vector<std::pair<SandboxKey, v1alpha1::SandboxStatus>> lost;
  // In record order, then the orphans. Each record action claims its record (op
  // kDeleting for kDelete, else kReconciling) until it settles; each orphan leaves the
  // unowned set.
  std::vector<ReconcileAction> actions;
};

// Decides, for every record without an operation in flight and every unowned container,
// what is due at `now`: deletion of a Terminating record; expiry; a requested reset;
// placement of a Pending record without an agent; loss of a placed record whose agent
// is lost (and its recreation once past the recovery deadline under AutoRecreate);
// re-creation of a Scheduled record its agent has not reported for orphan_timeout; the
// deletion of a container unowned for orphan_timeout on an agent that is not lost.
// Pure: no I/O, no clock, no locks. Thread-compatible.
ReconcilePlan PlanReconcile(const PlanInput& input, absl::Time now);

// ---- The reconciler: plans under the table's lock, then executes without it. ----

// Converges the records to their specs (expiry, agent loss and recovery, reset, re-drive
// after a crash, retried deletes, orphans) and refreshes the point-in-time gauges.
// ReconcileOnce runs one pass: the plan under the table's lock (claiming the records it
// acts on), the actions (agent calls) after it is released. Start() runs passes on a
// thread of its own every `interval`, and sooner after Wake().
//
// Locking: the loop's own lock is a leaf (BackgroundLoop): Wake() may be called under any
// lock, the table's included. Passes take the table's lock as RecordTable and Placement
// describe; Stop() must not be called under it.
// Thread-safe.
class Reconciler {
 public:
  struct Options {
    absl::Duration orphan_timeout;
    absl::Duration agent_lost_timeout;
    absl::Duration interval;
    absl::Time started;  // when the controller started (agents had no time to register)
  };

  // Every pointer must outlive the reconciler.
  Reconciler(Scheduler* scheduler, AgentClient* agents, RecordTable* table, Placement* placement,
             ControllerMetrics* metrics, const Clock* clock, Options options);
  // Stops the loop.
  ~Reconciler();

  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Starts the loop on its own thread (once); Stop() (or the destructor) ends it.
  void Start();
  void Stop();
  // Asks the loop for a pass now.
  void Wake();

  // One pass; runs the actions it decides before it returns. Called by the loop, or
  // directly by tests.
  void ReconcileOnce();

 private:
  // Plans under the table's lock and applies the plan's record changes and claims.
  std::vector<ReconcileAction> Plan(absl::Time now);
  void Execute(const ReconcileAction& action);
  // Ends with a fresh container placed from the spec (reset, recreate, place).
  void PlaceFresh(const ReconcileAction& action);
  // Refreshes the point-in-time gauges (sandboxes by phase, agents, capacity).
  void UpdateGauges();

  Scheduler* const scheduler_;
  AgentClient* const agents_;
  RecordTable* const table_;
  Placement* const placement_;
  ControllerMetrics* const metrics_;
  const Clock* const clock_;
  const Options options_;

  BackgroundLoop loop_;  // last: its thread uses the members above
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_RECONCILER_H_
