#ifndef FSB_CONTROLLER_SANDBOX_RECORD_TABLE_H_
#define FSB_CONTROLLER_SANDBOX_RECORD_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/sandbox/agent_report.h"
#include "controller/store/persister.h"
#include "controller/store/store.h"
#include "fsb/v1alpha1/resources.pb.h"

namespace fsb::controller {

using SandboxKey = std::pair<std::string, std::string>;  // (namespace, name)

// The operation in flight on a record; at most one at a time.
enum class RecordOp { kNone, kCreating, kDeleting, kReconciling };

// An agent's report of a record's container, held back while an operation is in flight.
struct DeferredReport {
  std::string agent;       // the reporting agent's id
  std::string agent_host;  // the host of its address, for endpoints
  ReportedSandbox state;
};

// One sandbox as the controller holds it.
struct SandboxRecord {
  v1alpha1::Sandbox sandbox;
  RecordOp op = RecordOp::kNone;
  // Whether the scheduler holds a slot for this sandbox on status.agent (Placement owns
  // the slot; the table only keeps the flag).
  bool holds_slot = false;
  // Whether the record was ever queued for the store (its removal must be written).
  bool stored = false;
  // Last time its agent reported it in a known state, i.e. not UNKNOWN (or it was
  // placed, or loaded at startup).
  absl::Time agent_seen;
  // The newest state an agent reported while `op` was in flight: it may be newer than
  // the operation's own answer (a process that exits at once is pushed before the create
  // returns). Applied when the operation settles.
  std::optional<DeferredReport> deferred;
};

using SandboxRecords = std::map<SandboxKey, SandboxRecord>;
// Containers agents report that no record owns: (agent, container id) -> first report.
using UnownedContainers = absl::flat_hash_map<std::pair<std::string, std::string>, absl::Time>;

// The controller's sandbox records: fsb.io/v1alpha1 Sandbox resources kept in memory,
// keyed by (namespace, name), written behind to the Store through a Persister; their
// indexes; and the containers agents report that no record owns.
//
// Invariants (under mu_), kept by Locked's methods:
// * Each record's request id (annotation) and container id are indexed, and each placed
//   record (status.agent set) is in the index of its agent. Fields that are indexed
//   change only inside Locked::Change.
// * A record that was queued for the store has `stored` set, so that its removal is
//   written too.
//
// Locking: mu_ is the table's one lock; every read or write of a record goes through a
// Locked, which holds it. Lock order: mu_ is taken before the Scheduler's and the
// Persister's locks (a caller may call the Scheduler while holding a Locked) and before
// the Reconciler's wake lock, and never while an agent call or a store wait is in
// progress. References into the table are valid only while their Locked lives.
// Thread-safe.
class RecordTable {
 public:
  // `store` must outlive the table. Strong writes wait up to `persist_timeout`.
  RecordTable(store::Store* store, absl::Duration persist_timeout);
  // Flushes pending store writes (bounded by persist_timeout).
  ~RecordTable();

  RecordTable(const RecordTable&) = delete;
  RecordTable& operator=(const RecordTable&) = delete;

  // Loads every stored Sandbox (agent_seen = `loaded_at`); one that does not decode is
  // quarantined and skipped (store::DecodeOrQuarantine). Store errors as they are.
  absl::Status Load(absl::Time loaded_at) ABSL_LOCKS_EXCLUDED(mu_);

  // Exclusive access to the table for one scope.
  class ABSL_SCOPED_LOCKABLE Locked {
   public:
    explicit Locked(RecordTable& table) ABSL_EXCLUSIVE_LOCK_FUNCTION(table.mu_);
    ~Locked() ABSL_UNLOCK_FUNCTION();
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

    const SandboxRecords& records() const { return table_.records_; }
    SandboxRecord* Find(const SandboxKey& key);
    // The record of `key`, which must exist.
    SandboxRecord& at(const SandboxKey& key) { return table_.records_.at(key); }
    // The key of the record whose request id / container id this is. Request ids are
    // scoped by namespace: the same id in two namespaces names two sandboxes.
    std::optional<SandboxKey> FindByRequestId(const std::string& namespace_name,
                                              const std::string& request_id) const;
    std::optional<SandboxKey> FindByContainer(const std::string& container_id) const;
    // The records placed on `agent_id`; null when none is.
    const absl::flat_hash_set<SandboxKey>* PlacedOn(std::string_view agent_id) const;

    // Adds a record (the key must be free) and indexes it.
    SandboxRecord& Insert(const SandboxKey& key, v1alpha1::Sandbox sandbox, RecordOp op);
    // Runs `change(record)`, which may change indexed fields, keeping the indexes.
    template <typename F>
    void Change(const SandboxKey& key, F&& change) {
      SandboxRecord& record = at(key);
      table_.Unindex(key, record);
      std::forward<F>(change)(record);
      table_.Index(key, record);
    }
    // Queues the record's current state for the store; returns the ticket.
    uint64_t Persist(const SandboxKey& key);
    // Applies an agent's report of the record's container (`state` names it by its
    // container id, or by its requested id: then the record adopts the reported id)
    // unless a user's intent (delete, expiry) owns the phase: its phase, and its ip with
    // the endpoints that follow (ApplyReportedIp; `agent_host` is the host of the
    // reporting agent's address); persists a change.
    void ApplyReport(const SandboxKey& key, const ReportedSandbox& state,
                     std::string_view agent_host);
    // Ends the operation on `key`, applying a deferred report that still describes its
    // container (from its agent); wakes waiters.
    void Settle(const SandboxKey& key);
    // Removes the record and its store object. Its slot must have been released.
    void Erase(const SandboxKey& key);

    UnownedContainers& unowned() { return table_.unowned_; }

    // The resourceVersion of the key's last durable write (0 if none).
    int64_t StoredVersion(const SandboxKey& key) const;

    // Releases the lock until `ready()` holds (evaluated under it) or `deadline` passes;
    // returns whether it holds. References taken before are invalid afterwards.
    template <typename Pred>
    bool AwaitWithDeadline(Pred ready, absl::Time deadline) {
      return table_.mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    }

   private:
    RecordTable& table_;
  };

  // Waits for a queued write; UNAVAILABLE naming the sandbox when it does not complete
  // within persist_timeout.
  absl::Status AwaitDurable(const SandboxKey& key, uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until every store write made so far is durable.
  absl::Status Flush(absl::Duration timeout) { return persister_.WaitAll(timeout); }

 private:
  void Index(const SandboxKey& key, const SandboxRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unindex(const SandboxKey& key, const SandboxRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration persist_timeout_;
  store::Store* const store_;
  store::Persister persister_;

  mutable absl::Mutex mu_;
  SandboxRecords records_ ABSL_GUARDED_BY(mu_);
  // (namespace, request id) -> the record.
  absl::flat_hash_map<std::pair<std::string, std::string>, SandboxKey> by_request_id_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SandboxKey> by_container_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<SandboxKey>> by_agent_ ABSL_GUARDED_BY(mu_);
  UnownedContainers unowned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_RECORD_TABLE_H_
