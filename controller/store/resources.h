#ifndef FSB_CONTROLLER_STORE_RESOURCES_H_
#define FSB_CONTROLLER_STORE_RESOURCES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/store/store.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "google/protobuf/message.h"
#include "internal/clock.h"

namespace fsb::store {

inline constexpr char kApiVersion[] = "fsb.io/v1alpha1";
inline constexpr char kDefaultNamespace[] = "default";

// Static facts about each resource type. Sandboxes are namespaced; SandboxPools and
// Agents are cluster-scoped (empty namespace), like Kubernetes Nodes. Names are DNS
// labels, except agents', which are DNS subdomains (host names), like Nodes'.
template <typename T>
struct KindTraits;
template <>
struct KindTraits<v1alpha1::Sandbox> {
  static constexpr char kKind[] = "Sandbox";
  static constexpr bool kNamespaced = true;
  static constexpr bool kSubdomainName = false;
};
template <>
struct KindTraits<v1alpha1::SandboxPool> {
  static constexpr char kKind[] = "SandboxPool";
  static constexpr bool kNamespaced = false;
  static constexpr bool kSubdomainName = false;
};
template <>
struct KindTraits<v1alpha1::Agent> {
  static constexpr char kKind[] = "Agent";
  static constexpr bool kNamespaced = false;
  static constexpr bool kSubdomainName = true;
};

template <typename T>
struct ResourceList {
  std::vector<T> items;        // ordered by (namespace, name)
  std::string continue_token;  // empty on the last page
  int64_t resource_version = 0;
};

template <typename T>
struct ResourceEvent {
  EventType type;
  T object;  // for kDeleted: the last state, resourceVersion = the deletion revision
};

// Typed access to one resource kind over a Store, with the API server's bookkeeping:
// * Create fills apiVersion and kind, defaults the namespace of namespaced kinds to
//   "default" (and clears it for cluster-scoped ones), validates name and namespace as
//   DNS labels, applies ApplyDefaults, and sets uid (random), creationTimestamp (from
//   the clock), generation 1; any uid, resourceVersion, generation, timestamps sent by
//   the caller are replaced.
// * Update is compare-and-swap on metadata.resourceVersion (required; ABORTED when
//   stale). uid, creationTimestamp and a set deletionTimestamp are kept from the stored
//   object; generation increases by one exactly when spec changes.
// * Every returned object carries metadata.resourceVersion from the store.
// * List never fails on a stored value that does not decode: it quarantines it
//   (DecodeOrQuarantine) and leaves it out, so one corrupt row cannot stop a loader.
// Error codes are the Store's, plus INVALID_ARGUMENT for bad names or a wrong
// apiVersion/kind, and DATA_LOSS for a stored value that does not decode (Get, Delete).
// Thread-safe if the Store is; holds no state of its own besides the two pointers.
template <typename T>
class ResourceClient {
 public:
  // `store` and `clock` must outlive the client.
  ResourceClient(Store* store, const Clock* clock) : store_(store), clock_(clock) {}

  absl::StatusOr<T> Create(T object);
  // `ns` is ignored for cluster-scoped kinds.
  absl::StatusOr<T> Get(std::string_view ns, std::string_view name);
  absl::StatusOr<T> Update(T object);
  absl::StatusOr<T> Delete(std::string_view ns, std::string_view name,
                           std::optional<int64_t> expected_resource_version = std::nullopt);
  // `options.kind` is filled in; see Store::List for the paging guarantees.
  absl::StatusOr<ResourceList<T>> List(ListOptions options);
  // Typed Store::Watch (kind filled in). Values that do not parse are logged and skipped.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      std::string_view ns, int64_t from_resource_version,
      std::function<void(const absl::StatusOr<ResourceEvent<T>>&)> callback);

 private:
  Store* const store_;
  const Clock* const clock_;
};

extern template class ResourceClient<v1alpha1::Sandbox>;
extern template class ResourceClient<v1alpha1::SandboxPool>;
extern template class ResourceClient<v1alpha1::Agent>;

// The stored form of a resource and back: the key from kind, namespace (empty for
// cluster-scoped kinds) and name; the value is the serialized resource without its
// resourceVersion (the store's row carries it); labels are metadata.labels. Decode sets
// metadata.resourceVersion from the stored object and is DATA_LOSS for bytes that do not
// parse or that name another object than the stored key. ResourceClient uses these; so
// do writers that keep their own copy of the resources, such as the controller's
// write-behind persister.
template <typename T>
ObjectKey KeyOf(const T& object);
template <typename T>
Object EncodeObject(const T& object);
template <typename T>
absl::StatusOr<T> DecodeObject(const Object& stored);

// Decodes a page of stored objects (Store::List), in order. An object that does not
// decode does not fail the page: it is logged with its key, moved to the store's
// quarantine (Store::Quarantine, compare-and-swap on its resource_version; its bytes are
// kept) and left out. Errors of Quarantine as they are.
template <typename T>
absl::StatusOr<std::vector<T>> DecodeOrQuarantine(Store* store, std::vector<Object> page);

// Checks apiVersion (fsb.io/v1alpha1) and kind (T's) when set, INVALID_ARGUMENT naming
// the wrong one, and fills both.
template <typename T>
absl::Status CheckTypeMeta(T* object);

// Clears what the server owns in a client's metadata: uid, resourceVersion, generation,
// creation and deletion timestamps.
void ClearServerOwnedMetadata(v1alpha1::ObjectMeta* meta);

// Fills unset Sandbox fields with their defaults: failurePolicy Manual, consistencyMode
// fast, phase Pending. Idempotent.
void ApplyDefaults(v1alpha1::Sandbox* sandbox);

// The resources' proto3 JSON (internal/proto_json.h) is the Kubernetes shape: lowerCamel
// field names (`apiVersion`, `creationTimestamp`, `poolRef`), int64 as strings
// (`"resourceVersion": "42"`), RFC 3339 timestamps, enum value names; fields at their
// default value are omitted (resources_test.cc checks it).

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_RESOURCES_H_
