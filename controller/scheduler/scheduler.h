#ifndef FSB_CONTROLLER_SCHEDULER_SCHEDULER_H_
#define FSB_CONTROLLER_SCHEDULER_SCHEDULER_H_

// The controller's agent registry and placement scheduler, built as a data structure.
//
// DATA LAYOUT
//   * Every registered agent owns a small integer index into contiguous arrays (struct of
//     arrays: heartbeat time, pool, capacity, reserved/reported counts, flags, load bucket;
//     a "cold" array holds identities, image lists and held host ports). Indices of removed agents
//     are REUSED by later registrations; every index carries a generation number, and the
//     pair is an `AgentHandle`. An operation on a handle whose generation is not current
//     (the agent was removed, possibly replaced) fails with NOT_FOUND and changes nothing,
//     so a stale handle can never release capacity on a different agent. Generation 0 is
//     never issued, so a default-constructed AgentHandle names no agent.
//   * Pools and images are interned to small integers (`PoolId`, `ImageId`) once, at
//     registration or request parsing. Image references are normalized first
//     ("busybox" == "docker.io/library/busybox:latest"); every spelling seen for a known
//     image is remembered, so later lookups of it do not allocate.
//   * Bitmaps over agent indices (one bit per agent): members of each pool; agents that
//     can take a sandbox, split into 64 load buckets by used/capacity; agents whose
//     container runtime is down; agents with the image cached, and with a ready warm
//     instance, per image. Per pool, a 64-bit mask says which load buckets are non-empty.
//   * Per agent and image, the warm counts it last reported (ready, preparing, desired);
//     only `ready` takes part in placement, the others are kept for display.
//   * Per agent, its registration strings (id, address, node, pool) as one immutable,
//     reference-counted `AgentIdentity`: registration publishes a new one when a string
//     changes and never modifies a published one, so readers share it without copying.
//   * Per agent, a read-side cache of its lists in published form (image names, named warm
//     counts, held host ports), each an immutable shared vector. A snapshot reuses a cached list
//     while the list it was built from is unchanged (compared element by element, as small
//     integers) and otherwise builds a new one. Writers never touch the cache, so the hot
//     path neither builds nor frees published lists.
//   * The live agents' indices in id order, kept sorted as agents come and go, so listing
//     every agent does not sort.
//
// PLACEMENT
//   Hard filters: the agent is in the requested pool, healthy (last heartbeat at most
//   `Options::heartbeat_timeout` old on the injected clock, and not draining), has a free
//   slot (used < capacity, where used = max(reserved, reported) and capacity is the
//   agent's max_sandboxes, lowered to its pool's limit if one is set), holds none of the
//   requested host ports (ports of the agent's node published to a sandbox, per
//   protocol; the ports a sandbox listens on never conflict, as every sandbox has its
//   own network namespace and address), and, if the request says so, has the image
//   cached. An agent whose
//   container runtime is down (it says so in its reports) can only claim a prepared
//   instance, which needs no runtime call: it qualifies only while it has a ready warm
//   instance of the requested image, i.e. only in the warm tier.
//   Score, lexicographic: warm instance for the image > image cached > lower load ratio,
//   compared at 1/64 resolution: bucket = floor(64 * used / capacity). Load ratios
//   that differ by at least 1/64 always land in different buckets (so agents of equal
//   capacity up to 64 are ordered exactly); closer ratios may share a bucket and tie.
//   Agents with equal score, a (tier, bucket) class, are ties. A tie is broken by rotation:
//   the first non-empty class's r-th member (in index order), r drawn uniformly from the
//   request-id hash, comes first, then the agents after it in index order, wrapping around;
//   so requests spread evenly over equal agents, however their indices are scattered.
//   Selection walks classes best first and stops as soon as K candidates are found: its
//   cost is O(agents/64) word operations for the best class plus O(agents/64) per empty
//   class skipped (worst case O(classes * agents/64)).
//
// ALLOCATION-FREEDOM
//   Allocate, SelectCandidates, Reserve, Release, Heartbeat and SetWarm perform no heap
//   allocation once the agent is registered, its images are known (interned and seen
//   before in an agent report) and it reports at most as many images and warm entries,
//   and holds at most as many host ports, as before (each per-agent list grows its
//   capacity only when exceeded).
//   RegisterOrUpdate of a registered agent with unchanged strings and at most 16 images
//   and 8 warm entries does not allocate either. ViewAgent and ViewAgentByID never
//   allocate. GetAgent and GetAgentByID allocate only to publish a list that changed since
//   the last snapshot of that agent, and to copy a registration string longer than the
//   standard library's inline string buffer (15 bytes with libstdc++); GetAllAgents
//   allocates its vector, plus the same. Error statuses may allocate (failure path).
//   LookupImage allocates only the first time a spelling is seen.
//
// INVARIANTS (under mu_)
//   * An index i is live iff flags_[i] has kLive; then cold_[i].identity is non-null,
//     index_by_id_[cold_[i].identity->id] == i, cold_[i].identity->pool names pool_[i],
//     and bit i is set in pool_bits_[pool_[i]] and in no other pool bitmap. A dead index
//     has a null identity and an empty published_[i].
//   * by_id_ holds exactly the live indices, ordered by identity->id.
//   * A non-null list of published_[i] equals the published form of the list of cold_[i]
//     it was built from (recorded beside it); published image and warm lists are sorted
//     by name.
//   * bucket_[i] != kNoBucket iff i is live, not draining and used < Capacity(i) (an
//     agent whose runtime is down keeps its bucket: it can still take warm claims); then
//     bit i is set in bucket_bits_[bucket_[i]] (and in no other bucket bitmap) and counted
//     in pool_bucket_count_[pool_[i]][bucket_[i]]; pool_bucket_mask_ has bit b iff that
//     count is non-zero. Heartbeat freshness is checked per candidate, not indexed.
//   * Bit i of cached_bits_[m] / warm_bits_[m] is set iff live agent i reported image m
//     cached / has an entry for m in cold_[i].warm with ready > 0; cached_agents_ and
//     warm_agents_ are their popcounts. cold_[i].warm has at most one entry per image.
//   * Bit i of runtime_down_bits_ is set iff live agent i has kRuntimeDown.
//   * reserved_[i] >= 0; a reservation is only made while used < Capacity(i).
//   * pool_limit_ has an entry for every pool in pool_bits_ (0: no limit).
//   * Removing an agent increments generation_[i]; handles to it become stale.
//   * heartbeat_floor_ns_ <= heartbeat_ns_[i] for every live agent i.
//
// THREAD-SAFETY
//   All methods are thread-safe. One FastMutex (`mu_`, internal/fast_mutex.h: a plain
//   futex, a quarter of the cost of Debian's debug-built absl::Mutex, which was most of a
//   Release's time) guards the agent arrays and bitmaps. Every operation holds it
//   exclusively for a short critical section (on the hot path an allocation-free one).
//   Placements therefore serialize: concurrent callers get no more total throughput than
//   one (bench/README.md has the measured figures, millions per second), which is far
//   beyond what agents can create, while finer-grained or read/write locking would add
//   fixed cost to every call (a read lock followed by a write lock takes two acquisitions
//   instead of one).
//   A second FastMutex (`intern_mu_`) guards the interning tables; it is a leaf lock: it
//   may be taken while holding `mu_`, never the other way round. Reading the clock
//   happens outside both locks. Nothing calls out (no RPC, no logging, no caller's code)
//   while holding a lock: readers get copies (AgentView, AgentSnapshot) whose shared parts
//   are immutable, so they stay valid and consistent after the lock is released.

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "internal/clock.h"
#include "internal/fast_mutex.h"

namespace fsb::controller {

using PoolId = uint32_t;
using ImageId = uint32_t;

// The image of a request that no agent has ever reported: no agent has it cached.
inline constexpr ImageId kUnknownImage = 0xFFFFFFFFu;
// A pool no agent has ever named: no agent is in it.
inline constexpr PoolId kUnknownPool = 0xFFFFFFFFu;
// The most candidates one selection returns.
inline constexpr int kMaxCandidates = 4;

// Names one registration of one agent: its array index and the generation of that index.
struct AgentHandle {
  uint32_t index = 0;
  uint32_t generation = 0;

  friend bool operator==(const AgentHandle&, const AgentHandle&) = default;
};

// A port of an agent's node that a sandbox publishes (its traffic forwarded to the
// sandbox), with its protocol: tcp 53 and udp 53 are different host ports. At most one
// sandbox on an agent holds a given one. Ordered by port, then protocol.
struct HostPort {
  enum class Protocol : uint8_t { kTcp, kUdp };
  uint16_t port = 0;  // 1..65535
  Protocol protocol = Protocol::kTcp;

  friend auto operator<=>(const HostPort&, const HostPort&) = default;
};

// "8080/tcp", for messages.
std::string HostPortName(HostPort port);

// A per-agent per-image count of prepared (warm) instances, as an agent reports them
// (heartbeats, create answers), in interned form.
struct WarmImage {
  ImageId image = kUnknownImage;
  uint32_t ready = 0;      // idle instances a create can claim now; used by placement
  uint32_t preparing = 0;  // being made (kept for display only)
  uint32_t desired = 0;    // what the agent keeps (kept for display only)

  friend bool operator==(const WarmImage&, const WarmImage&) = default;
};

// WarmImage with the image by name: registration input and snapshot output.
struct NamedWarmImage {
  std::string image;  // any spelling on input; normalized in snapshots
  uint32_t ready = 0;
  uint32_t preparing = 0;
  uint32_t desired = 0;

  friend bool operator==(const NamedWarmImage&, const NamedWarmImage&) = default;
};

// What an agent says about itself when it registers (or re-registers). Strings are
// copied and interned; this is not the hot path.
struct AgentDescriptor {
  std::string id;  // unique agent name; required
  std::string address;
  std::string node;
  std::string pool;                  // required
  int max_sandboxes = 0;             // >= 0; 0 means it takes no sandbox
  std::vector<std::string> images;   // any spelling; normalized and interned
  std::vector<NamedWarmImage> warm;  // its warm instances per image
  int reported_sandboxes = 0;        // sandboxes the agent holds right now; >= 0
  bool runtime_down = false;         // its container runtime does not answer
};

// A heartbeat in interned form. Replaces the agent's image set, warm counts, reported
// sandbox count and runtime state, and marks the agent fresh. Image ids must come from
// InternImage / LookupImage (kUnknownImage entries are ignored).
struct HeartbeatUpdate {
  int reported_sandboxes = 0;
  std::span<const ImageId> images;  // every image cached on the node
  std::span<const WarmImage> warm;  // images absent here have 0 warm instances
  bool runtime_down = false;        // its container runtime does not answer
};

// One placement request, already interned (do that when parsing the request).
struct AllocationRequest {
  PoolId pool = kUnknownPool;
  ImageId image = kUnknownImage;
  std::span<const HostPort> ports;    // host ports to publish: port 1..65535, no duplicates
  uint64_t request_hash = 0;          // HashRequestId(request id): spreads ties
  bool require_cached_image = false;  // hard filter: only agents that have the image
};

// An agent's registration strings. Immutable once published: a holder reads it without
// any lock for as long as it holds it, even after the agent re-registered or was removed.
struct AgentIdentity {
  std::string id;
  std::string address;  // host:port of its AgentService
  std::string node;
  std::string pool;
};

// What placement needs of one agent, copied out of the registry without allocating: whom
// to call, and what it has of the requested image.
struct AgentView {
  AgentHandle handle;
  std::shared_ptr<const AgentIdentity> identity;  // never null
  bool image_cached = false;                      // the agent reports the image in its cache
  bool image_warm = false;                        // it has a ready warm instance of the image
  absl::Time last_heartbeat;
};

// An immutable list shared by every copy that holds it: copying one copies a pointer.
// Reads like a const std::vector<T> (and converts to a reference to one).
template <typename T>
class SharedList {
 public:
  using value_type = T;
  using const_iterator = typename std::vector<T>::const_iterator;
  using iterator = const_iterator;

  SharedList() = default;
  explicit SharedList(std::shared_ptr<const std::vector<T>> items) : items_(std::move(items)) {}

  const std::vector<T>& get() const { return items_ != nullptr ? *items_ : Empty(); }
  operator const std::vector<T>&() const { return get(); }  // NOLINT: a view of it
  const_iterator begin() const { return get().begin(); }
  const_iterator end() const { return get().end(); }
  size_t size() const { return get().size(); }
  bool empty() const { return get().empty(); }
  const T& operator[](size_t i) const { return get()[i]; }

  friend bool operator==(const SharedList& a, const SharedList& b) { return a.get() == b.get(); }

 private:
  static const std::vector<T>& Empty() {
    static const std::vector<T>* const empty = new std::vector<T>();
    return *empty;
  }

  std::shared_ptr<const std::vector<T>> items_;  // null: empty
};

// A point-in-time copy of one agent, consistent as of one instant. Its identity and lists
// are shared with the registry's cache and with other snapshots, never copied (see
// ALLOCATION-FREEDOM).
struct AgentSnapshot {
  AgentHandle handle;
  std::shared_ptr<const AgentIdentity> identity;  // id, address, node, pool; never null
  int max_sandboxes = 0;                          // the agent's own capacity
  int capacity = 0;  // what placement uses: max_sandboxes, lowered to the pool's limit
  int reserved = 0;  // slots handed out by Allocate/Reserve and not released
  int reported = 0;  // sandboxes the agent reported in its last heartbeat
  int used = 0;      // max(reserved, reported)
  SharedList<std::string> images;  // sorted, normalized
  // Sorted by image; entries with any non-zero count. `ready` is the last report's,
  // less the instances claimed by placements since.
  SharedList<NamedWarmImage> warm;
  SharedList<HostPort> ports;  // held host ports, sorted
  bool draining = false;
  bool runtime_down = false;  // takes only creates that claim a warm instance
  bool healthy = false;       // fresh heartbeat, not draining, runtime up
  absl::Time last_heartbeat;
};

// A stable 64-bit hash of a request id (no allocation).
uint64_t HashRequestId(std::string_view request_id);

class Scheduler {
 public:
  struct Options {
    // An agent whose last heartbeat is older than this is not a candidate.
    absl::Duration heartbeat_timeout = absl::Seconds(15);
  };

  // `clock` must outlive the scheduler.
  Scheduler(const Clock* clock, Options options);
  explicit Scheduler(const Clock* clock) : Scheduler(clock, Options()) {}

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ---- Interning (thread-safe; allocate only the first time a name is seen) ----

  // The id of `pool`, creating it if new. Never fails.
  PoolId InternPool(std::string_view pool);
  // The id of `pool`, or kUnknownPool if no one has interned it.
  PoolId LookupPool(std::string_view pool) const;
  // The id of the image `ref` (any spelling), creating it if new. INVALID_ARGUMENT for a
  // malformed reference.
  absl::StatusOr<ImageId> InternImage(std::string_view ref);
  // The id of the image `ref`, or kUnknownImage when it was never interned (then no agent
  // has it) or is malformed. Does not create ids, so arbitrary request input cannot grow
  // the tables beyond the spellings of known images.
  ImageId LookupImage(std::string_view ref);
  // Canonical names; empty for an unknown id.
  std::string PoolName(PoolId pool) const;
  std::string ImageName(ImageId image) const;

  // ---- Pools ----

  // Caps every agent of `pool` (now and later members) at `max_sandboxes_per_agent`
  // sandboxes, below its own capacity; 0 removes the cap. Sandboxes already placed stay:
  // a lowered cap only stops new placements. INVALID_ARGUMENT for an empty pool name or a
  // negative limit.
  absl::Status SetPoolLimit(std::string_view pool, int max_sandboxes_per_agent);

  // ---- Agent lifecycle ----

  // Adds the agent, or replaces the description of a registered one (keeping its index,
  // generation, reservations, held ports and draining flag: the sandboxes placed there
  // still exist), and marks it fresh. INVALID_ARGUMENT for an empty id or pool, a negative
  // capacity or count, or a malformed image reference (warm ones included).
  absl::StatusOr<AgentHandle> RegisterOrUpdate(const AgentDescriptor& agent);

  // Applies a heartbeat. NOT_FOUND if the agent is unknown (it must register again).
  // Zero allocations when every image was seen before.
  absl::Status Heartbeat(AgentHandle agent, const HeartbeatUpdate& update);
  absl::Status Heartbeat(std::string_view agent_id, const HeartbeatUpdate& update);

  // Replaces the agent's warm counts, and nothing else (as an agent's answer to a create
  // reports them: freshness, load and images stay). Image ids as for Heartbeat. NOT_FOUND
  // for a stale handle. Zero allocations when it reports at most as many warm entries as
  // before (or 8).
  absl::Status SetWarm(AgentHandle agent, std::span<const WarmImage> warm);

  // A draining agent receives no new sandboxes. NOT_FOUND for an unknown agent.
  absl::Status SetDraining(std::string_view agent_id, bool draining);

  // Forgets the agent; its index may be reused by a later registration (with a new
  // generation). NOT_FOUND for an unknown agent.
  absl::Status Remove(std::string_view agent_id);

  // Removes every agent whose last heartbeat is older than `timeout`; returns how many.
  // A sweep while no heartbeat is that old costs one comparison, whatever the fleet size.
  int CleanupStaleAgents(absl::Duration timeout);

  // The handle of a registered agent (no allocation), or nullopt.
  std::optional<AgentHandle> FindAgent(std::string_view agent_id) const;
  // The pool of a registered agent (no allocation), or kUnknownPool.
  PoolId PoolOf(std::string_view agent_id) const;
  // The placement view of an agent, with what it has of `image` (an id from LookupImage;
  // kUnknownImage: nothing). nullopt for a stale handle / unknown agent. Never allocates.
  std::optional<AgentView> ViewAgent(AgentHandle agent, ImageId image = kUnknownImage) const;
  std::optional<AgentView> ViewAgentByID(std::string_view agent_id,
                                         ImageId image = kUnknownImage) const;
  // Snapshots of agents (for display; see ALLOCATION-FREEDOM for what they allocate).
  // NOT_FOUND for an unknown agent / stale handle.
  absl::StatusOr<AgentSnapshot> GetAgentByID(std::string_view agent_id) const;
  absl::StatusOr<AgentSnapshot> GetAgent(AgentHandle agent) const;
  // Every registered agent, ordered by id, all as of one instant.
  std::vector<AgentSnapshot> GetAllAgents() const;
  int AgentCount() const;

  // ---- Placement (hot path: zero allocations on success) ----

  // Writes up to min(out.size(), kMaxCandidates) candidates to `out`, best first, reserves
  // a slot and the request's host ports on out[0], and returns how many were written (>= 1).
  // If out[0]'s agent then rejects the sandbox, Release(out[0], ports) and try
  // Reserve(out[i], request) for i = 1, 2, ... RESOURCE_EXHAUSTED, naming the most specific
  // reason, when no agent qualifies; INVALID_ARGUMENT for an empty `out`, port 0 or
  // duplicate ports.
  absl::StatusOr<int> Allocate(const AllocationRequest& request, std::span<AgentHandle> out);

  // Like Allocate but reserves nothing.
  absl::StatusOr<int> SelectCandidates(const AllocationRequest& request,
                                       std::span<AgentHandle> out);

  // Reserves a slot and the request's host ports on one specific candidate after re-checking
  // every hard filter against the current state. NOT_FOUND for a stale handle,
  // RESOURCE_EXHAUSTED (saying which filter failed) if it no longer qualifies.
  absl::Status Reserve(AgentHandle agent, const AllocationRequest& request);

  // Records a placement that already exists on the agent (re-learned after a controller
  // restart): reserves a slot and `ports` without any filter, because the sandbox is
  // there whatever capacity, health or ports say. A port the agent already holds stays
  // held once. Release it like any reservation. NOT_FOUND for a stale handle;
  // INVALID_ARGUMENT for port 0 or duplicates.
  absl::Status Restore(AgentHandle agent, std::span<const HostPort> ports);

  // Returns a slot reserved by Allocate/Reserve and frees `ports` (exactly those the
  // sandbox was placed with). Call it once per reservation. All or nothing: NOT_FOUND for
  // a stale handle; FAILED_PRECONDITION when the agent has no reservation or does not hold
  // one of `ports` (a repeated or mismatched release, which would otherwise free another
  // sandbox's ports); INVALID_ARGUMENT for port 0 or duplicates. Nothing changes on error.
  absl::Status Release(AgentHandle agent, std::span<const HostPort> ports);

 private:
  static constexpr int kLoadBuckets = 64;
  static constexpr uint8_t kNoBucket = 0xFF;
  static constexpr uint8_t kLive = 1;
  static constexpr uint8_t kDraining = 2;
  static constexpr uint8_t kRuntimeDown = 4;
  static constexpr uint32_t kFirstGeneration = 1;

  using Bitmap = std::vector<uint64_t>;

  // The published (shared) forms of an agent's lists, each with the list it was built
  // from; null when not built yet. Filled by snapshots (see DATA LAYOUT).
  struct Published {
    std::vector<ImageId> images_from;
    std::shared_ptr<const std::vector<std::string>> images;
    std::vector<WarmImage> warm_from;
    std::shared_ptr<const std::vector<NamedWarmImage>> warm;
    std::shared_ptr<const std::vector<HostPort>> ports;  // built from an equal Cold::ports
  };

  // Rarely read per-agent state.
  struct Cold {
    std::shared_ptr<const AgentIdentity> identity;  // null iff the index is not live
    std::vector<ImageId> images;                    // as reported, without duplicates
    // As reported, one entry per image, without all-zero entries; `ready` is decremented
    // when an instance is claimed.
    std::vector<WarmImage> warm;
    std::vector<HostPort> ports;  // held host ports, sorted, unique
  };

  // Counts of why a request found no candidate (failure path only).
  struct Diagnosis;

  // Interning helpers.
  ImageId FindImageAlias(std::string_view ref) const ABSL_LOCKS_EXCLUDED(intern_mu_);

  // Everything below requires mu_.
  bool Valid(AgentHandle h) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return h.index < generation_.size() && generation_[h.index] == h.generation &&
           (flags_[h.index] & kLive) != 0;
  }
  uint32_t NewIndex() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrowWords(size_t words) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnsurePool(PoolId pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnsureImage(ImageId image) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetPool(uint32_t i, PoolId pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Agent i's capacity for placement: its max_sandboxes, lowered to its pool's limit.
  int32_t Capacity(uint32_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Rebucket(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replace agent i's cached images / warm counts (and their bitmaps).
  void ApplyCached(uint32_t i, std::span<const ImageId> images) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyWarm(uint32_t i, std::span<const WarmImage> warm) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetRuntimeDown(uint32_t i, bool down) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The position in by_id_ of the first agent whose id is not less than `id`.
  size_t ByIdRank(std::string_view id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status HeartbeatLocked(uint32_t i, const HeartbeatUpdate& update, int64_t now_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first of `ports` that agent i holds; nullopt when it holds none of them.
  std::optional<HostPort> FirstHeldPort(uint32_t i, std::span<const HostPort> ports) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasImage(uint32_t i, ImageId image) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWarm(uint32_t i, ImageId image) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int Select(const AllocationRequest& request, int64_t cutoff_ns, std::span<AgentHandle> out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReserveLocked(uint32_t i, const AllocationRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Diagnosis Diagnose(const AllocationRequest& request, int64_t cutoff_ns) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NoCandidate(const AllocationRequest& request, const Diagnosis& d) const
      ABSL_LOCKS_EXCLUDED(mu_);
  AgentView ViewLocked(uint32_t i, ImageId image) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  AgentSnapshot SnapshotLocked(uint32_t i, int64_t cutoff_ns) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Converts to SnapshotLocked(i, cutoff_ns) (with mu_ held), so that a vector or a
  // StatusOr constructs the snapshot in place instead of moving it.
  struct SnapshotOf;
  // Agent i's lists in published form, from the cache or built into it.
  SharedList<std::string> PublishedImages(uint32_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SharedList<NamedWarmImage> PublishedWarm(uint32_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SharedList<HostPort> PublishedPorts(uint32_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t CutoffNs() const;

  const Clock* const clock_;
  const Options options_;

  mutable FastMutex intern_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::flat_hash_map<std::string, PoolId> pool_ids_ ABSL_GUARDED_BY(intern_mu_);
  std::vector<std::string> pool_names_ ABSL_GUARDED_BY(intern_mu_);
  // Every spelling seen of a known image (including the canonical one) -> id.
  absl::flat_hash_map<std::string, ImageId> image_aliases_ ABSL_GUARDED_BY(intern_mu_);
  std::vector<std::string> image_names_ ABSL_GUARDED_BY(intern_mu_);

  mutable FastMutex mu_;
  // Agent arrays, all of size capacity_agents (indices >= high_water_ are unused).
  std::vector<uint32_t> generation_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> flags_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> bucket_ ABSL_GUARDED_BY(mu_);  // kNoBucket when it cannot take one
  std::vector<int64_t> heartbeat_ns_ ABSL_GUARDED_BY(mu_);
  // At most every live agent's heartbeat_ns_ (lowered by every heartbeat write, made
  // exact by a sweep that scans), so a sweep with nothing to remove needs no scan.
  int64_t heartbeat_floor_ns_ ABSL_GUARDED_BY(mu_) = std::numeric_limits<int64_t>::max();
  std::vector<PoolId> pool_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> max_sandboxes_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> reserved_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> reported_ ABSL_GUARDED_BY(mu_);
  std::vector<Cold> cold_ ABSL_GUARDED_BY(mu_);
  // A cache, so the read paths (which hold mu_ exclusively, like every method) fill it.
  // Apart from cold_, so the hot path's per-agent state stays compact.
  mutable std::vector<Published> published_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_indices_ ABSL_GUARDED_BY(mu_);
  uint32_t high_water_ ABSL_GUARDED_BY(mu_) = 0;  // indices in use are < high_water_
  size_t words_ ABSL_GUARDED_BY(mu_) = 0;         // words per bitmap
  int live_agents_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint32_t> index_by_id_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> by_id_ ABSL_GUARDED_BY(mu_);  // live indices, ordered by id

  // Bitmaps over agent indices, `words_` words each.
  std::vector<Bitmap> pool_bits_ ABSL_GUARDED_BY(mu_);  // by PoolId
  std::array<Bitmap, kLoadBuckets> bucket_bits_ ABSL_GUARDED_BY(mu_);
  std::vector<Bitmap> cached_bits_ ABSL_GUARDED_BY(mu_);  // by ImageId
  std::vector<Bitmap> warm_bits_ ABSL_GUARDED_BY(mu_);    // by ImageId
  Bitmap runtime_down_bits_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> cached_agents_ ABSL_GUARDED_BY(mu_);  // popcount of cached_bits_
  std::vector<uint32_t> warm_agents_ ABSL_GUARDED_BY(mu_);    // popcount of warm_bits_
  // Per pool: members, members per load bucket and the mask of non-empty buckets.
  std::vector<uint32_t> pool_members_ ABSL_GUARDED_BY(mu_);
  std::vector<std::array<uint32_t, kLoadBuckets>> pool_bucket_count_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> pool_bucket_mask_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> pool_limit_ ABSL_GUARDED_BY(mu_);  // per pool; 0 = no limit
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SCHEDULER_SCHEDULER_H_
