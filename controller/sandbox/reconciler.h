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
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox/record_table.h"
#include "controller/sandbox/work_lanes.h"
#include "controller/scheduler/scheduler.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/background_loop.h"
#include "internal/clock.h"
#include "internal/metrics/metrics.h"

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
  bool lost = false;  // AgentLossRule
  std::string address;
};

struct PlanInput {
  const SandboxRecords* records;
  const UnownedContainers* unowned;
  const absl::flat_hash_map<std::string, PlannedAgent>* agents;  // registered, by id
  // Whether an agent that is not registered counts as lost (AgentLossRule: it had the
  // time to register again since the controller started).
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
// (these three wait, with nothing planned, while the record's agent is neither registered
// nor lost: it cannot confirm anything, and its registration wakes the reconciler);
// placement of a Pending record without an agent; loss of a placed record whose agent
// is lost (and its recreation once past the recovery deadline under AutoRecreate);
// re-creation of a Scheduled record its agent has not reported for orphan_timeout; the
// deletion of a container unowned for orphan_timeout on an agent that is not lost.
// Pure: no I/O, no clock, no locks. Thread-compatible.
ReconcilePlan PlanReconcile(const PlanInput& input, absl::Time now);

// ---- The reconciler: plans under the table's lock, then executes without it. ----

// Converges the records to their specs (expiry, agent loss and recovery, reset, re-drive
// after a crash, retried deletes, orphans) and refreshes the point-in-time gauges.
// A pass plans under the table's lock (claiming the records it acts on) and hands each
// action to a lane of WorkLanes, where it runs (agent calls) without that lock: one lane
// per agent for the actions that call a known agent (delete, expire, reset, re-drive,
// orphan), one per record for placing a sandbox anew (place, recreate: its agent is
// chosen when it runs). So a slow or hung agent delays only its own actions, and holds at
// most one of the `workers` threads (each call bounded by the AgentClient's deadline);
// every other agent's expiries, deletes and recreates go on. A claimed record is not
// planned again until its action settled, so a lane holds at most one action per record.
// Start() runs passes on a thread of its own every `interval`, and sooner after Wake().
// The gauge fsb_reconcile_actions_pending{agent} counts the actions queued or running per
// agent (agent="" for placements).
//
// Locking: the loop's own lock and the lanes' are leaves (BackgroundLoop, WorkLanes):
// Wake() may be called under any lock, the table's included. Actions take the table's
// lock as RecordTable and Placement describe; Stop() must not be called under it.
// Thread-safe.
class Reconciler {
 public:
  struct Options {
    absl::Duration orphan_timeout;
    AgentLossRule loss;
    absl::Duration interval;
    int workers = 8;  // threads running actions, so lanes running at once
  };

  // Every pointer must outlive the reconciler.
  Reconciler(Scheduler* scheduler, AgentClient* agents, RecordTable* table, Placement* placement,
             ControllerMetrics* metrics, metrics::Registry* registry, const Clock* clock,
             Options options);
  // Stops the loop and the lanes (waiting for the actions running).
  ~Reconciler();

  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Starts the loop on its own thread (once); Stop() (or the destructor) ends it.
  void Start();
  void Stop();
  // Asks the loop for a pass now.
  void Wake();

  // One pass: plans and hands the actions to their lanes; returns without waiting for
  // them. The loop's step.
  void Dispatch();
  // One pass that returns once every lane is idle (bounded by kPassWait); tests call it.
  void ReconcileOnce();
  // Waits until no action for agent `agent_id` is queued or running, at most `timeout`;
  // returns whether none is.
  bool AwaitAgentIdle(std::string_view agent_id, absl::Duration timeout);

  static constexpr absl::Duration kPassWait = absl::Minutes(5);

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
  metrics::Family<metrics::Gauge>& pending_;

  WorkLanes lanes_;      // its threads use the members above
  BackgroundLoop loop_;  // last: its thread uses the members above
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_RECONCILER_H_
