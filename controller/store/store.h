#ifndef FSB_CONTROLLER_STORE_STORE_H_
#define FSB_CONTROLLER_STORE_STORE_H_

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

namespace fsb::store {

// Identifies one object. `ns` is empty for cluster-scoped kinds.
struct ObjectKey {
  std::string kind;
  std::string ns;
  std::string name;

  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

using Labels = std::map<std::string, std::string>;

// One stored object. The store never interprets `value`; `labels` are indexed for label
// selectors and returned as written.
struct Object {
  ObjectKey key;
  std::string value;
  Labels labels;
  // The store revision of the object's last write (for a deleted object returned by
  // Delete or carried by a DELETED event: the revision of the deletion). Ignored on input.
  int64_t resource_version = 0;
};

struct ListOptions {
  std::string kind;
  std::string ns;              // empty = every namespace
  std::string label_selector;  // see ParseLabelSelector; empty = everything
  int limit = 0;               // page size; 0 = no limit
  std::string continue_token;  // from the previous page's ListResult; empty = first page
};

struct ListResult {
  // Ordered by (namespace, name).
  std::vector<Object> items;
  // Empty when this is the last page.
  std::string continue_token;
  // The store revision the list (across all pages) is consistent with: a Watch from this
  // revision sees every change the list might have missed.
  int64_t resource_version = 0;
};

enum class EventType { kAdded, kModified, kDeleted };

struct WatchEvent {
  EventType type;
  Object object;  // for kDeleted: the last state, resource_version = deletion revision
};

struct WatchOptions {
  std::string kind;
  std::string ns;  // empty = every namespace
  // Deliver every change with a revision greater than this one; 0 = from now on.
  int64_t from_resource_version = 0;
};

// Receives events in strictly increasing resource_version order, or, once and last, a
// non-OK status: FAILED_PRECONDITION when the watcher fell so far behind that events it
// needed were dropped from the store's bounded event log (Kubernetes' 410 Gone: list
// again and watch from the new list's revision), CANCELLED when the store closes.
using WatchCallback = std::function<void(const absl::StatusOr<WatchEvent>&)>;

// An active watch. Destroying it unregisters the callback: once the destructor returns,
// the callback is not running and will not be called again. Destroying it from inside
// its own callback is allowed (no further calls after the callback returns). Because the
// destructor waits for a running callback, do not destroy the handle while holding a
// lock that the callback takes.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

// A durable, strongly consistent key-value store of serialized resources, generic over
// kinds; the seam between the controller and its backends (SQLite embedded, etcd for HA).
//
// Guarantees every backend provides:
// * One store-wide revision counter, a monotonically increasing int64 (like etcd's
//   revision) that survives restarts. Every successful write (create, update, delete)
//   advances it by exactly one, and the object's resource_version is the revision of its
//   last write.
// * Writes are atomic and linearizable; Update and Delete can be compare-and-swap on
//   resource_version.
// * A write is durable when it returns OK (within the backend's documented durability).
// * Watch events are emitted after commit, in revision order.
// Implementations are thread-safe.
//
// Error codes: NOT_FOUND (no such object), ALREADY_EXISTS (Create of an existing key),
// ABORTED (resource_version precondition failed; retry from a fresh Get),
// INVALID_ARGUMENT (bad selector, continue token or key), FAILED_PRECONDITION (watch
// revision too old), INTERNAL/UNAVAILABLE (backend failures).
class Store {
 public:
  virtual ~Store() = default;

  // Stores a new object. Returns its resource_version.
  virtual absl::StatusOr<int64_t> Create(const Object& object) = 0;

  virtual absl::StatusOr<Object> Get(const ObjectKey& key) = 0;

  // Replaces value and labels of an existing object if its current resource_version is
  // `expected_resource_version`; ABORTED naming both versions otherwise. Returns the new
  // resource_version.
  virtual absl::StatusOr<int64_t> Update(const Object& object,
                                         int64_t expected_resource_version) = 0;

  // Removes an object, if given only when its resource_version matches (ABORTED
  // otherwise). Returns its last state with resource_version = the deletion revision.
  virtual absl::StatusOr<Object> Delete(const ObjectKey& key,
                                        std::optional<int64_t> expected_resource_version) = 0;

  // Takes an object whose value its readers cannot decode out of the way: moves it into
  // the store's quarantine, which keeps its bytes and `reason` for an operator (the
  // backend documents where), if its resource_version is `expected_resource_version`.
  // Afterwards Get and List no longer return it and its key is free. A write like Delete:
  // it advances the revision and watchers see a kDeleted event carrying the last value.
  // NOT_FOUND and ABORTED as Delete.
  virtual absl::Status Quarantine(const ObjectKey& key, int64_t expected_resource_version,
                                  std::string_view reason) = 0;

  // One page of objects of a kind. Paging is stable: pages are ordered by
  // (namespace, name), every object that existed at the first page's revision and still
  // exists is returned exactly once, and objects created after it are not returned
  // (watch from ListResult::resource_version to see them). Values are current as of
  // each page.
  virtual absl::StatusOr<ListResult> List(const ListOptions& options) = 0;

  // Starts a watch; see WatchCallback and WatchHandle. FAILED_PRECONDITION when
  // `from_resource_version` is older than the retained event history.
  virtual absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(const WatchOptions& options,
                                                             WatchCallback callback) = 0;

  // The revision of the latest committed write (0 for an empty, new store).
  virtual absl::StatusOr<int64_t> CurrentRevision() = 0;
};

// A parsed label selector: a conjunction of requirements.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op;
  std::string value;  // for kEquals and kNotEquals
};
using LabelSelector = std::vector<LabelRequirement>;

// Parses the Kubernetes equality-based selector syntax: comma-separated (AND)
// requirements `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (does not exist); whitespace
// around tokens is ignored; keys and values follow the label syntax. An empty string
// selects everything. INVALID_ARGUMENT naming the bad requirement otherwise.
absl::StatusOr<LabelSelector> ParseLabelSelector(std::string_view selector);

// Whether `labels` satisfy every requirement. `k!=v` matches objects without `k`, as in
// Kubernetes.
bool Matches(const LabelSelector& selector, const Labels& labels);

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_STORE_H_
