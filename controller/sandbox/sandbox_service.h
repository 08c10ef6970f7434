#ifndef FSB_CONTROLLER_SANDBOX_SANDBOX_SERVICE_H_
#define FSB_CONTROLLER_SANDBOX_SANDBOX_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "controller/controller_metrics.h"
#include "controller/pool_service.h"
#include "controller/sandbox/agent_report.h"
#include "controller/sandbox/agent_reports.h"
#include "controller/sandbox/placement.h"
#include "controller/sandbox/reconciler.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox/record_table.h"
#include "controller/sandbox_spec.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/store.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"
#include "internal/metrics/metrics.h"

namespace fsb::controller {

// Which part of SandboxService::List: the sandboxes after a key, at most so many, of the
// namespaces a caller may see.
struct SandboxListRange {
  SandboxKey after;  // start after this (namespace, name); an empty name: from the first
  size_t limit = 0;  // the most sandboxes returned; 0: all
  // Whether the sandboxes of a namespace are listed; empty: all are.
  std::function<bool(std::string_view ns)> visible;
};

// The controller's sandbox domain, composed of the record table (RecordTable), placement
// (Placement), the agents' reports (AgentReports) and the reconciler (Reconciler); this
// class holds them and serves the API's verbs on domain types.
//
// Consistency: "durable" below means committed to the store, which then survives what
// the store promises (SqliteStore: a controller crash; a power loss too with its
// default synchronous=FULL). Records are written behind by the table's Persister: one
// thread commits the latest state of each changed record, in order, usually within
// milliseconds, retrying failed writes until they succeed; a clean shutdown flushes the
// queue (bounded by persist_timeout), a crash loses what it held. What OK means:
// * Create, strong: the record (phase Scheduled, agent chosen) was durable before the
//   agent was called, and the agent runs the sandbox. After a crash the reconciler
//   finds the Scheduled record and creates it on that agent again (idempotent).
// * Create, fast: the agent runs the sandbox; the record is queued, not yet durable. A
//   crash before the persister commits it loses the record: its agent keeps reporting
//   the container, and the orphan reconciler deletes it once it has been unknown for
//   `orphan_timeout`. A fast create is "running now", not "will survive a crash".
// * Update: for a strong sandbox, the change is durable; for a fast one it is applied
//   in memory and queued, and a crash before the commit reverts it to the stored spec.
// * Delete (either mode): the deletion (phase Terminating) was durable before the agent
//   was called, and the agent confirmed the container is gone, or the agent is lost
//   (AgentLossRule) or was deleted, so that nothing can be confirmed (should it come
//   back, the container is deleted as an orphan). The record's removal is queued; a
//   crash before it is committed leaves a Terminating record, which the reconciler
//   deletes again. A delete not confirmed within delete_wait_timeout is UNAVAILABLE and
//   the record stays Terminating (listed, with the reason in status.message) until the
//   reconciler's retry is confirmed.
// * Status changes from agents' reports and the reconciler are queued; after a restart
//   the agents' next reports bring them up to date.
//
// Idempotent create: a request id (default "<namespace>/<name>") is bound to the hash
// of the spec it created. The same request again returns the same sandbox once its
// agent has confirmed it (StartConfirmed: waiting, at most create_wait_timeout, then
// UNAVAILABLE, for an in-flight create of it or one a controller restart cut short,
// whose container id a warm claim may still change); another spec under that request id, or another
// request for a taken name, is ALREADY_EXISTS. At most one operation (create, delete, reconcile
// action) is in flight per record; API calls that would race one get
// FAILED_PRECONDITION, a repeated create waits for the first.
//
// Locking: no lock of its own; records are read and changed under the table's lock,
// never held across an agent call or a store wait. Lock order (outermost first): the
// RecordTable's lock; then the Scheduler's, the Persister's and the Reconciler's wake
// lock (each a leaf towards the others). Thread-safe.
class SandboxService {
 public:
  struct Options {
    v1alpha1::SandboxSpec::ConsistencyMode default_mode = v1alpha1::SandboxSpec::fast;
    // How long a sandbox an agent reports may stay unknown to the store before it is
    // deleted as an orphan; also the grace before a Scheduled sandbox its agent does not
    // report is created again.
    absl::Duration orphan_timeout = absl::Seconds(10);
    // An agent whose heartbeats stopped for this long is lost (as the Scheduler judges);
    // after a controller restart, an agent that has not registered again within it.
    absl::Duration agent_lost_timeout = absl::Seconds(15);
    // How long a repeated create waits for the first create of the same request to be
    // confirmed by its agent.
    absl::Duration create_wait_timeout = absl::Seconds(60);
    // How long a delete its agent did not confirm at once (not registered again yet after a
    // controller restart, not reached) waits for the reconciler's retry to confirm it.
    absl::Duration delete_wait_timeout = absl::Seconds(10);
    // How long a strong write waits for the store.
    absl::Duration persist_timeout = absl::Seconds(10);
    // Period of the reconcile loop (it is also woken by updates that need it).
    absl::Duration reconcile_interval = absl::Milliseconds(500);
    // Whether Start() runs the reconcile loop (tests drive ReconcileOnce themselves).
    bool run_reconciler = true;
  };

  // Loads every stored Sandbox into memory and registers the controller's metrics in
  // `registry`. `scheduler`, `pools`, `agents`, `store`, `clock` and `registry` must
  // outlive the service. Store errors are returned as they are.
  static absl::StatusOr<std::unique_ptr<SandboxService>> Create(
      Scheduler* scheduler, const PoolService* pools, AgentClient* agents, store::Store* store,
      const Clock* clock, metrics::Registry* registry, Options options);
  // Stops the reconcile loop and flushes pending store writes (bounded by
  // persist_timeout).
  ~SandboxService() = default;

  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // Starts the reconcile loop (unless disabled in Options).
  void Start();

  // ---- API ----

  // Validates (SandboxFromCreateSpec), places and starts a sandbox; returns its record
  // once its process runs (phase Running, or Succeeded/Failed if it already exited).
  // INVALID_ARGUMENT naming the field; ALREADY_EXISTS (see above); RESOURCE_EXHAUSTED
  // with the scheduler's reason when no agent can take it; UNAVAILABLE when no
  // candidate agent could be reached or a strong write cannot be made durable; otherwise the
  // agent's status (e.g. NOT_FOUND for an unknown image).
  absl::StatusOr<v1alpha1::Sandbox> Create(CreateSpec create);

  // Creates the sandbox `resource` describes, or updates the mutable fields of the
  // existing one (labels, annotations, expireTime, failurePolicy,
  // recoveryTimeoutSeconds, resetRevision). Sets `*created`. INVALID_ARGUMENT for an
  // invalid resource or a change to an immutable spec field (naming the fields).
  absl::StatusOr<v1alpha1::Sandbox> Apply(const v1alpha1::Sandbox& resource, bool* created);

  // An empty `ns` means "default". NOT_FOUND for an unknown sandbox.
  absl::StatusOr<v1alpha1::Sandbox> Get(std::string_view ns, std::string_view name) const;

  // Sandboxes of `ns` (every namespace when empty) matching `label_selector` within
  // `range`, ordered by (namespace, name). INVALID_ARGUMENT for a malformed selector.
  absl::StatusOr<std::vector<v1alpha1::Sandbox>> List(std::string_view ns,
                                                      std::string_view label_selector,
                                                      const SandboxListRange& range = {}) const;

  // Applies the update's spec field (expiry, reset revision, failure policy, recovery
  // timeout), sets `labels` and removes `remove_labels`. NOT_FOUND; FAILED_PRECONDITION
  // while the sandbox is being created or deleted; INVALID_ARGUMENT naming the field.
  absl::StatusOr<v1alpha1::Sandbox> Update(const SandboxUpdate& update);

  // Marks the sandbox Terminating (durably), stops and removes it on its agent, then
  // forgets it. `grace` unset leaves the grace period to the agent. OK once the agent
  // confirmed (it no longer has the container), or when there is nothing to confirm: no
  // agent, or a lost or deleted one (the orphan reconciler removes the container should
  // the agent return). When the agent cannot confirm at once (it has not registered
  // since a controller restart, or was not reached), the record stays Terminating, the
  // reconciler retries, and the call waits up to delete_wait_timeout for that: OK if it
  // is confirmed in time, else UNAVAILABLE saying the sandbox is Terminating and why. A
  // delete of a Terminating sandbox is the same request again (it joins a deletion in
  // flight). NOT_FOUND; FAILED_PRECONDITION while it is being created or reconciled.
  absl::Status Delete(std::string_view ns, std::string_view name,
                      std::optional<absl::Duration> grace);

  // See AgentReports::List and AgentReports::Delete.
  absl::StatusOr<std::vector<v1alpha1::Agent>> ListAgents() const { return reports_.List(); }
  absl::Status DeleteAgent(std::string_view name) { return reports_.Delete(name); }

  // Where a sandbox's container runs, for calls that go straight to its agent (logs,
  // exec). NOT_FOUND for an unknown sandbox; FAILED_PRECONDITION when it has no
  // container on an agent (Pending, Expired) or its agent is not registered.
  struct Location {
    std::string agent_id;
    std::string agent_address;
    std::string container_id;
    v1alpha1::SandboxStatus::Phase phase;
  };
  absl::StatusOr<Location> Locate(std::string_view ns, std::string_view name) const;

  // ---- Agents (see AgentReports) ----

  // Returns the warm targets of the agent's pool, null when it has none.
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> RegisterAgent(
      AgentRegistration registration) {
    return reports_.Register(std::move(registration));
  }
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> Heartbeat(
      const AgentHeartbeat& heartbeat) {
    return reports_.Heartbeat(heartbeat);
  }

  // ---- Reconciliation ----

  // One pass of every reconciler, waiting for its actions (see Reconciler::ReconcileOnce).
  void ReconcileOnce() { reconciler_.ReconcileOnce(); }
  // One pass that does not wait for its actions, and the wait for those of one agent
  // (see Reconciler::Dispatch and AwaitAgentIdle); for tests.
  void DispatchReconcile() { reconciler_.Dispatch(); }
  bool AwaitReconciled(std::string_view agent_id, absl::Duration timeout) {
    return reconciler_.AwaitAgentIdle(agent_id, timeout);
  }

  // Blocks until every store write made so far is durable (tests, shutdown).
  absl::Status Flush(absl::Duration timeout) { return table_.Flush(timeout); }

 private:
  SandboxService(Scheduler* scheduler, const PoolService* pools, AgentClient* agents,
                 store::Store* store, const Clock* clock, metrics::Registry* registry,
                 Options options);

  // Creates a record for `desired` (validated, defaults applied) and starts it; adds the
  // stages' durations to `timings`.
  absl::StatusOr<v1alpha1::Sandbox> CreateRecord(v1alpha1::Sandbox desired, CreateTimings& timings);
  absl::Status DeleteRecord(std::string_view ns, std::string_view name,
                            std::optional<absl::Duration> grace);

  Scheduler* const scheduler_;
  const Clock* const clock_;
  const Options options_;
  ControllerMetrics metrics_;
  // Destroyed in reverse: the reconcile loop stops first, the table flushes last.
  // Mutable: reads (Get, List) lock it too.
  mutable RecordTable table_;
  // When an agent counts as lost; `started` is when this service was created.
  const AgentLossRule loss_;
  Placement placement_;
  Reconciler reconciler_;
  AgentReports reports_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_SANDBOX_SERVICE_H_
