#ifndef FSB_CONTROLLER_SANDBOX_SERVICE_H_
#define FSB_CONTROLLER_SANDBOX_SERVICE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "controller/controller_metrics.h"
#include "controller/pool_service.h"
#include "controller/sandbox_spec.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/persister.h"
#include "controller/store/resources.h"
#include "controller/store/store.h"
#include "fastpath/v1/fastpath.pb.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"
#include "internal/metrics/metrics.h"

namespace fsb::controller {

// The controller's sandbox domain: the API operations (create, get, list, update,
// apply, delete), the agents' reports (register, heartbeat) and the reconcilers
// (expiry, agent loss and recovery, reset, re-drive after a crash, retried deletes,
// orphans). Sandboxes are fsb.io/v1alpha1 Sandbox resources kept in memory, keyed by
// (namespace, name), and written behind to the Store through a Persister.
//
// Consistency: a `strong` sandbox is durable (phase Scheduled, agent chosen) before its
// agent is called; a `fast` one is written right after the agent answered, off the
// response path. A fast sandbox that a crash kept from being written is unknown to the
// store: its agent keeps reporting it, and the orphan reconciler deletes it once it has
// been unknown for `orphan_timeout`. Deletes are durable (Terminating) before the agent
// is called, and the record goes only when the agent confirms the container is gone.
//
// Idempotent create: a request id (default "<namespace>/<name>") is bound to the hash
// of the spec it created. The same request again returns the same sandbox (waiting for
// an in-flight create of it); another spec under that request id, or another request
// for a taken name, is ALREADY_EXISTS.
//
// Placement: the Scheduler picks up to kMaxCandidates agents and reserves a slot (and
// the exposed ports) on the best; an agent that answers RESOURCE_EXHAUSTED or cannot be
// reached gets its slot back and the next candidate is tried. A sandbox holds its slot
// while its container may exist on its agent (status.agent set), and gives it back when
// it is deleted, expires, or is recreated elsewhere. After a restart, slots are
// re-reserved when each agent registers again.
//
// Warm instances: agents report their prepared instances per image (registration,
// heartbeats, and every create answer), which the Scheduler prefers; registrations and
// heartbeats are answered with the agent's pool's warm targets (PoolService). A create
// that claims a warm instance runs under that instance's container id, not the proposed
// one (status.containerID as first generated): the record takes whatever container id
// the agent answers or reports, and a report naming the proposed id as its requested_id
// (one that overtook the answer, or outlived a lost one) belongs to that record.
//
// Invariants (under mu_):
// * Each record's request id and container id are indexed (by_request_id_,
//   by_container_), and each placed record is in by_agent_[status.agent].
// * At most one operation (create, delete, reconcile action) is in flight per record
//   (Entry::op); API calls that would race one get FAILED_PRECONDITION, a repeated
//   create waits for the first.
// * No lock is held across an agent call or a store wait.
// Thread-safe.
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
    // How long a repeated create waits for the in-flight create of the same request.
    absl::Duration create_wait_timeout = absl::Seconds(60);
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
  ~SandboxService();

  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // Starts the reconcile loop (unless disabled in Options).
  void Start();

  // ---- API ----

  // Validates, places and starts a sandbox; returns its record once its process runs
  // (phase Running, or Succeeded/Failed if it already exited). INVALID_ARGUMENT naming
  // the field; ALREADY_EXISTS (see above); RESOURCE_EXHAUSTED with the scheduler's
  // reason when no agent can take it; UNAVAILABLE when a strong write cannot be made
  // durable; otherwise the agent's status (e.g. NOT_FOUND for an unknown image).
  absl::StatusOr<v1alpha1::Sandbox> CreateSandbox(const fastpath::v1::CreateRequest& request);

  // Creates the sandbox `resource` describes, or updates the mutable fields of the
  // existing one (labels, annotations, expireTime, failurePolicy,
  // recoveryTimeoutSeconds, resetRevision). Sets `*created`. INVALID_ARGUMENT for an
  // invalid resource or a change to an immutable spec field (naming the fields).
  absl::StatusOr<v1alpha1::Sandbox> Apply(const v1alpha1::Sandbox& resource, bool* created);

  // An empty `ns` means "default". NOT_FOUND for an unknown sandbox.
  absl::StatusOr<v1alpha1::Sandbox> Get(std::string_view ns, std::string_view name) const;

  // Sandboxes of `ns` (every namespace when empty) matching `label_selector`, ordered
  // by (namespace, name). INVALID_ARGUMENT for a malformed selector.
  absl::StatusOr<std::vector<v1alpha1::Sandbox>> List(std::string_view ns,
                                                      std::string_view label_selector) const;

  // Applies one field of the seed's UpdateRequest oneof (expiry, reset revision,
  // failure policy, recovery timeout), merges `labels` and removes `remove_labels`.
  // NOT_FOUND; FAILED_PRECONDITION while the sandbox is being deleted; INVALID_ARGUMENT
  // naming the field.
  absl::StatusOr<v1alpha1::Sandbox> Update(const fastpath::v1::UpdateRequest& request);

  // Stops and removes the sandbox on its agent, then forgets it. `grace` unset leaves
  // the grace period to the agent. OK also when the agent no longer has it, or is lost
  // (the orphan reconciler removes the container if the agent returns). NOT_FOUND;
  // FAILED_PRECONDITION while it is being created; UNAVAILABLE when the agent cannot be
  // reached (the sandbox stays Terminating and the deletion is retried in background).
  absl::Status Delete(std::string_view ns, std::string_view name,
                      std::optional<absl::Duration> grace);

  // Every agent as an fsb.io/v1alpha1 Agent resource, ordered by name: those registered
  // (status from the registry: load, images, warm instances, conditions Ready and
  // RuntimeAvailable) and those only stored, known from an earlier registration but not
  // registered with this controller process (Ready False, reason NotRegistered). Store
  // errors as they are.
  absl::StatusOr<std::vector<v1alpha1::Agent>> ListAgents() const;

  // Forgets an agent that is gone: removes it from the registry and its stored record.
  // Its sandboxes stay, Lost, and follow their failure policy; if it registers again it
  // is a new agent. FAILED_PRECONDITION while it is registered with a fresh heartbeat;
  // NOT_FOUND when it is neither registered nor stored.
  absl::Status DeleteAgent(std::string_view name);

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

  // ---- Agents ----

  // Registers (or re-registers) an agent (with its images, warm counts and runtime
  // state), applies the sandbox states it reports and keeps its stored Agent record
  // (spec: address, node, pool, capacity) in step; a failed record write is logged and
  // does not fail the registration (placement uses the registry). Answers with the
  // warm targets of the agent's pool, if it has any (the heartbeat interval is the
  // caller's to set). INVALID_ARGUMENT for a malformed agent description.
  absl::StatusOr<fsb::agent::v1::RegisterResponse> RegisterAgent(
      const fsb::agent::v1::RegisterRequest& request);
  // Refreshes an agent's liveness, images, warm counts, runtime state and load and
  // applies the sandbox states it reports; answers with its pool's warm targets, if it
  // has any, so that a pool changed since reaches the agent now. NOT_FOUND for an
  // unknown agent (it must register again).
  absl::StatusOr<fsb::agent::v1::HeartbeatResponse> Heartbeat(
      const fsb::agent::v1::HeartbeatRequest& request);

  // ---- Reconciliation ----

  // One pass of every reconciler; runs the actions it decides (agent calls) before it
  // returns. Called by the reconcile loop, or directly by tests.
  void ReconcileOnce();

  // Blocks until every store write made so far is durable (tests, shutdown).
  absl::Status Flush(absl::Duration timeout);

 private:
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  enum class Op { kNone, kCreating, kDeleting, kReconciling };

  struct Entry {
    v1alpha1::Sandbox sandbox;
    Op op = Op::kNone;
    // Whether the scheduler holds a slot for this sandbox on status.agent.
    bool holds_slot = false;
    // Whether the record was ever queued for the store (its removal must be written).
    bool stored = false;
    // Last time its agent reported it (or it was placed, or loaded at startup).
    absl::Time agent_seen;
    // The newest state an agent reported while `op` was in flight, as (agent, state):
    // it may be newer than the operation's own answer (a process that exits at once is
    // pushed before the create returns). Applied when the operation settles.
    std::optional<std::pair<std::string, fsb::agent::v1::SandboxStatus>> deferred;
  };


  SandboxService(Scheduler* scheduler, const PoolService* pools, AgentClient* agents,
                 store::Store* store, const Clock* clock, metrics::Registry* registry,
                 Options options);

  // One thing the reconciler decided to do; runs without the lock.
  struct Action;
  // The action's name in metrics and logs.
  static std::string_view ActionName(const Action& action);

  absl::Status Load();
  absl::Status DeleteRecord(std::string_view ns, std::string_view name,
                            std::optional<absl::Duration> grace);
  void RunReconciler();

  // Creates a record for `desired` (validated, defaults applied) and starts it; adds the
  // stages' durations to `timings`.
  absl::StatusOr<v1alpha1::Sandbox> CreateRecord(v1alpha1::Sandbox desired,
                                                 CreateTimings& timings);
  // Places `sandbox` (its container id set) on an agent and starts it there. Returns
  // the sandbox with its placement and phase; holds a slot iff it succeeded. For a
  // strong sandbox the Scheduled record is made durable before the agent is called.
  // Adds the allocate, persist and agent_rpc durations to `timings`.
  absl::StatusOr<v1alpha1::Sandbox> PlaceAndStart(const Key& key, v1alpha1::Sandbox sandbox,
                                                  CreateTimings& timings);
  // Refreshes the point-in-time gauges (sandboxes by phase, agents, capacity).
  void UpdateGauges() ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `counts` (an agent's answer to a create) the agent's warm counts in the
  // Scheduler; nothing when the agent is no longer registered.
  void UpdateWarm(AgentHandle agent,
                  const google::protobuf::RepeatedPtrField<fsb::agent::v1::WarmCount>& counts);
  // Stops and removes the sandbox's container on its agent. OK when the agent no longer
  // has it, or is not registered/healthy (then nothing can be done now).
  absl::Status StopOnAgent(const v1alpha1::Sandbox& sandbox, std::optional<absl::Duration> grace);
  // Returns the slot the sandbox holds, if any.
  void ReleaseSlot(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Clears the record's placement: gives back its slot and drops it from by_agent_.
  void Unplace(const Key& key, Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-reserves the slots of the records placed on a (re-)registered agent.
  void RestoreSlots(std::string_view agent_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Applies an agent's sandbox states; `complete` when they are all its sandboxes.
  void Observe(std::string_view agent_id,
               const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states,
               bool complete) ABSL_LOCKS_EXCLUDED(mu_);

  // Index maintenance around changes of a record's request id, container id or agent.
  void Index(const Key& key, const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unindex(const Key& key, const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the record's current state (or its absence) for the store; returns the ticket.
  uint64_t Persist(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits for a queued write; UNAVAILABLE naming the sandbox when it does not complete.
  absl::Status AwaitDurable(const Key& key, uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the operation on `key` (applying and persisting a deferred agent state that
  // still describes its container), wakes waiters.
  void Settle(const Key& key, Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies an agent's report of the record's container (`state` names it by its
  // sandbox_id, or by its requested_id: then the record adopts the sandbox_id, and is
  // re-indexed) unless a user's intent (delete, expiry) owns the phase; persists a
  // change.
  void ApplyReported(const Key& key, Entry& entry, const fsb::agent::v1::SandboxStatus& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the record (and its store object) and wakes waiters.
  void Erase(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::vector<Action> PlanReconcile(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void Execute(Action& action) ABSL_LOCKS_EXCLUDED(mu_);

  // Creates or updates the stored record of a registered agent.
  absl::Status RecordAgent(const AgentDescriptor& agent);

  Scheduler* const scheduler_;
  const PoolService* const pools_;
  AgentClient* const agents_;
  store::Store* const store_;
  // Agent records; written only on registration (not per heartbeat), thread-safe.
  mutable store::ResourceClient<v1alpha1::Agent> agent_records_;
  const Clock* const clock_;
  const Options options_;
  const absl::Time started_;
  ControllerMetrics metrics_;
  store::Persister persister_;

  mutable absl::Mutex mu_;
  std::map<Key, Entry> sandboxes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Key> by_request_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Key> by_container_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<Key>> by_agent_ ABSL_GUARDED_BY(mu_);
  // Sandboxes agents report that no record owns: (agent, container id) -> first report.
  absl::flat_hash_map<std::pair<std::string, std::string>, absl::Time> unknown_
      ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;  // the reconciler should run now
  std::thread reconciler_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_SERVICE_H_
