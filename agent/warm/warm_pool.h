#ifndef FSB_AGENT_WARM_WARM_POOL_H_
#define FSB_AGENT_WARM_WARM_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/network/slots.h"
#include "agent/oci_spec.h"
#include "agent/runtime.h"
#include "agent/sandbox_defaults.h"
#include "agent/shim_groups.h"
#include "agent/warm/init_connection.h"
#include "fsb/agent/v1/agent.pb.h"
#include "internal/background_loop.h"
#include "internal/clock.h"
#include "internal/deadline.h"

namespace fsb::agent {

// How many prepared instances of an image to keep.
struct WarmTarget {
  std::string image;  // normalized reference
  int count = 0;
};

// A prepared instance taken out of the pool: a started container whose task runs
// fsb-init, connected and waiting for its order, with everything a create needs to
// become a sandbox without calling containerd (the image's config and user database as
// resolved when the instance was made).
struct WarmInstance {
  std::string id;  // containerd container id (== snapshot key == task id)
  std::string image;
  ResolvedImage resolved;
  std::shared_ptr<const UserDatabase> users;  // null: the image's user needs none
  std::string shim_group;
  NetworkSlot network;  // id empty: the agent's network namespace
  uint32_t pid = 0;
  absl::Time created_at;
  InitConnection init;
};

// What a claimed instance became, kept in a journal file until its container record
// says the same (see WarmPool::Bind).
struct WarmClaim {
  fsb::agent::v1::SandboxSpec spec;
  std::string spec_json;  // the runtime spec a cold create would have used
};

// The agent's pools of prepared instances, per image.
//
// An instance is a container created and started through the ordinary runtime path
// (Runtime::CreateAndStart) from the same OCI spec a cold create would build, except
// that its process is fsb-init (bind-mounted read-only from `init_binary`) with its
// control folder <state_dir>/<id>/ bind-mounted, CAP_SYS_ADMIN and the seccomp profile's
// init::kInitOnlySyscalls added (init drops both, and everything else it needed, before
// execve), the SandboxDefaults of a request without limits (a claim writes the request's
// own over them) and the labels kWarmImageLabel, kWarmChainLabel and kWarmDefaultsLabel.
// Its log file is <log_dir>/<id>.log, which becomes its sandbox's. With NetworkSlots it
// joins a slot of its own (label kNetworkSlotLabel), readied at claim (hosts, egress,
// ports) and released when the instance is removed.
//
// Desired counts are the controller's targets for the agent's pool when it sent any,
// else `default_targets` (--warm). `refill_concurrency` workers make missing instances,
// never starting one while a cold create waits (ColdCreateStarted/Done), nor, for an
// image whose pool is at least half full, while a claimed instance is still becoming
// its sandbox (making an instance costs a runc create's CPU, which a burst of claims
// on a small node feels; a pool below half refills regardless), with
// exponential backoff per image after a failure. A housekeeping thread every
// `maintenance_interval` removes instances beyond the desired count, older than
// `max_age`, whose init went away, or whose image changed (re-imported: another chain id
// or config), retries pending bindings, and reaps discarded instances.
//
// States: preparing (being made) -> ready (idle, in `ready_`) -> claimed (handed out by
// Claim; then the caller owns it: it becomes a sandbox, or goes back with Return or away
// with Discard). Invariants: an id is in at most one of ready_, preparing_ids_ and
// doomed_; a claimed instance is none of the pool's business until Discard.
// Thread-safe; no lock is held across runtime calls or init I/O.
class WarmPool {
 public:
  struct Options {
    std::string state_dir;    // <state_dir>/<id>/ control folders, <state_dir>/<id>.claim
    std::string init_binary;  // host path of fsb-init
    std::string log_dir;
    std::string cgroup_parent = "/fsb";
    // The sandbox defaults instances are made with: the SandboxManager's.
    SandboxDefaults defaults;
    std::vector<WarmTarget> default_targets;
    int refill_concurrency = 2;
    absl::Duration max_age = absl::Hours(1);
    absl::Duration init_timeout = absl::Seconds(10);
    absl::Duration maintenance_interval = absl::Seconds(5);
    absl::Duration backoff_initial = absl::Milliseconds(500);
    absl::Duration backoff_max = absl::Seconds(30);
    // Connects to an instance's init socket; default InitConnection::Connect (tests
    // replace it).
    std::function<absl::StatusOr<InitConnection>(const std::string& path, absl::Duration timeout)>
        connect;
  };

  // `runtime`, `shim_groups`, `clock`, `metrics` and `network` must outlive the pool.
  // `network` null: instances share the agent's network namespace.
  WarmPool(Runtime* runtime, ShimGroups* shim_groups, const Clock* clock, AgentMetrics* metrics,
           Options options, NetworkSlots* network = nullptr);
  ~WarmPool();

  // Starts the refill workers and the housekeeper; Stop() joins them (idempotent).
  // Instances stay: they are re-adopted when the agent starts again.
  void Start();
  void Stop();

  // The controller's targets for this agent's pool, or nullopt to use default_targets.
  void SetControllerTargets(std::optional<std::vector<WarmTarget>> targets);

  // Takes a ready instance of `image` (normalized), newest first; nullopt on a miss, with
  // `*miss_reason` set ("no_pool": nothing is kept for the image, "empty": all taken or
  // being made). No containerd call.
  std::optional<WarmInstance> Claim(std::string_view image, std::string* miss_reason);
  // Puts back an instance whose init was never given an order.
  void Return(WarmInstance instance);
  // Removes an instance that was ordered (or whose limits were touched) and did not
  // become a sandbox; in the background.
  void Discard(WarmInstance instance);
  // A claimed instance became the sandbox `claim` describes: Bind(instance.id, claim).
  void Commit(WarmInstance instance, WarmClaim claim);

  // The claim journal: written before the order goes to init, so that an agent killed
  // at any point knows what the instance became. WriteClaim is a small file write
  // (no fsync: it must survive the agent, not the node, whose death takes the instance
  // with it).
  absl::Status WriteClaim(std::string_view id, const WarmClaim& claim);
  std::optional<WarmClaim> ReadClaim(std::string_view id) const;
  void RemoveClaim(std::string_view id);
  // Records in containerd that instance `id` is the sandbox `claim` describes (its
  // labels, extension and spec), in the background and retried until it succeeds; then
  // the journal goes. Until then the journal is the record.
  void Bind(std::string id, WarmClaim claim);
  // Frees what a sandbox made from an instance leaves outside its container (the
  // control folder and journal), once its container is gone.
  void Forget(std::string_view id);

  // Re-adopts an idle instance found after an agent restart (its init answered `init`);
  // an instance of a changed image, made with other defaults or another network (its
  // slot is not assigned in `network`, or it has one and the pool has none), or past
  // max_age, is discarded instead.
  void Adopt(const ContainerState& container, InitConnection init);

  // `image` (normalized) may now name other content (it was imported again): its ready
  // instances are replaced by new ones.
  void ImageChanged(std::string_view image);

  // The task of instance `id` exited: a ready instance is dropped and removed. Returns
  // whether `id` was one of the pool's instances.
  bool OnExit(std::string_view id);
  // Whether `id` is an instance the pool holds (ready, preparing, claimed and not yet
  // committed, or being removed): the janitor leaves those alone.
  bool Owns(std::string_view id) const;
  // Per image: ready, preparing and desired, sorted by image.
  std::vector<fsb::agent::v1::WarmCount> Counts() const;

  // A cold create started / ended: refill waits while any is in flight.
  void ColdCreateStarted();
  void ColdCreateDone();

  // The socket path of instance `id`'s init, and its control folder.
  std::string SocketPath(std::string_view id) const;
  std::string ControlDir(std::string_view id) const;

  // Connects to instance `id`'s init: OK when it is idle and waiting for an order.
  absl::StatusOr<InitConnection> Probe(std::string_view id, absl::Duration timeout) const;

  // One pass of the housekeeper's periodic work (tests call it directly).
  void Maintain();
  // Removes discarded instances and records pending bindings (the housekeeper runs it
  // after every wake-up; tests call it directly).
  void Reap();
  // Makes one missing instance if any is missing, synchronously; returns whether it
  // tried (tests, and the refill workers' body).
  bool RefillOnce();

 private:
  struct PerImage {
    int desired = 0;
    int preparing = 0;
    std::deque<WarmInstance> ready;  // oldest first
    absl::Time retry_after = absl::InfinitePast();
    absl::Duration backoff = absl::ZeroDuration();
  };
  struct PendingBind {
    std::string id;
    WarmClaim claim;
  };
  // An instance to remove.
  struct Doomed {
    std::string id;
    std::string shim_group;
    std::string network_slot;
  };

  absl::StatusOr<WarmInstance> Prepare(const std::string& image);
  // Whether `p` may get a new instance now (deficit, backoff, creates in flight).
  bool Refillable(const PerImage& p, absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The image with the largest deficit that is Refillable, or "".
  std::string NextToPrepare(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyTargets() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGauges(const std::string& image) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoomLocked(WarmInstance instance) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dooms the oldest ready instances beyond each image's desired count.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops and removes one instance's container and files, then releases its network slot
  // (runtime calls; no lock).
  void Destroy(const Doomed& instance);
  void RunRefill();
  // The housekeeper's pass after each wake-up; returns the time until the next.
  absl::Duration Housekeep();
  bool WorkAvailable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Runtime* const runtime_;
  ShimGroups* const shim_groups_;
  const Clock* const clock_;
  AgentMetrics* const metrics_;
  const Options options_;
  NetworkSlots* const network_;

  mutable absl::Mutex mu_;
  std::optional<std::vector<WarmTarget>> controller_targets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PerImage> images_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> preparing_ids_ ABSL_GUARDED_BY(mu_);  // id -> image
  std::vector<Doomed> doomed_ ABSL_GUARDED_BY(mu_);  // instances to remove
  absl::flat_hash_set<std::string> doomed_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingBind> binds_ ABSL_GUARDED_BY(mu_);
  int cold_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Ids of instances handed out by Claim and not yet Returned, Discarded or Committed.
  absl::flat_hash_set<std::string> claimed_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool retargeted_ ABSL_GUARDED_BY(mu_) = false;  // desired counts changed: trim now
  std::vector<std::thread> threads_;              // the refill workers
  // When Maintain is due next (set by Start, then the housekeeper's thread only).
  Deadline next_maintenance_ = Deadline::In(absl::ZeroDuration());
  // Woken when there are instances to reap or bind, or desired counts changed.
  BackgroundLoop housekeeper_;  // last: stops before the rest goes
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_WARM_POOL_H_
