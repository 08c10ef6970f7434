#ifndef FSB_CONTROLLER_STORE_PERSISTER_H_
#define FSB_CONTROLLER_STORE_PERSISTER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/store/store.h"

namespace fsb::store {

// A write-behind queue in front of a Store, for a component that owns the desired state
// of its objects in memory (the controller's sandbox records) and wants the store to
// follow it without paying for a store write on its request path.
//
// The owner declares, per key, what the store should hold: Put(object) or Remove(key).
// One persister thread writes the latest declared state of each dirty key (intermediate
// states may be skipped: only the last one is written), in the order keys became dirty.
// It tracks each key's stored resourceVersion itself and writes with compare-and-swap;
// when the store disagrees (ABORTED, ALREADY_EXISTS, NOT_FOUND: someone else wrote) it
// re-reads the version and writes again, so the owner's state wins. Failed writes are
// retried with exponential backoff until they succeed or the persister stops.
//
// Every Put/Remove returns a ticket; Wait(key, ticket) blocks until that declaration
// (or a later one of the same key) is durable. That is how a caller makes one write
// synchronous (strong consistency) while the others stay asynchronous.
//
// Invariant: for every key with state here, persisted_ticket <= latest_ticket; a key's
// state is dropped only when it is absent from the store and nothing newer is pending,
// so a key without state has every ticket durable.
// Thread-safe. Put/Remove are cheap (a copy and a queue push) and may be called under
// the owner's lock; the persister never calls back into its owner.
class Persister {
 public:
  struct Options {
    absl::Duration min_backoff = absl::Milliseconds(10);
    absl::Duration max_backoff = absl::Seconds(5);
  };

  // `store` must outlive the persister. The thread starts at once.
  Persister(Store* store, Options options);
  // Stops the thread after at most one more write; pending declarations that were not
  // written are lost (call WaitAll first to flush).
  ~Persister();

  Persister(const Persister&) = delete;
  Persister& operator=(const Persister&) = delete;

  // Records that an object is already stored at `resource_version` (e.g. from the list
  // the owner loaded at startup), so that the next write of it is an update.
  void Known(const ObjectKey& key, int64_t resource_version);

  // Declares that the store should hold `object` (its resource_version is ignored).
  uint64_t Put(Object object);
  // Declares that the store should not hold `key`.
  uint64_t Remove(const ObjectKey& key);

  // Blocks until the declaration `ticket` of `key` (or a later one) is durable: OK; or
  // until `timeout` passes: DEADLINE_EXCEEDED carrying the last write error, if any.
  absl::Status Wait(const ObjectKey& key, uint64_t ticket, absl::Duration timeout);
  // Blocks until every declaration made so far is durable, or `timeout` passes.
  absl::Status WaitAll(absl::Duration timeout);

  // The resourceVersion of the key's last durable write by this persister (or Known);
  // 0 when it never wrote it or the key is absent.
  int64_t StoredVersion(const ObjectKey& key) const;

 private:
  struct State {
    ObjectKey key;
    std::optional<Object> desired;  // nullopt: should be absent
    int64_t stored_version = 0;     // 0: not in the store (as far as we know)
    uint64_t latest_ticket = 0;
    uint64_t persisted_ticket = 0;
    bool queued = false;
    absl::Status last_error;
  };

  static std::string MapKey(const ObjectKey& key);
  uint64_t Declare(const ObjectKey& key, std::optional<Object> desired) ABSL_LOCKS_EXCLUDED(mu_);
  void Run();
  // Makes the store match `desired`; returns the stored version afterwards (0 = absent).
  absl::StatusOr<int64_t> Write(const ObjectKey& key, const std::optional<Object>& desired,
                                int64_t stored_version);

  Store* const store_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // keys with persisted_ticket < latest_ticket
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_PERSISTER_H_
