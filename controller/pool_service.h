#ifndef FSB_CONTROLLER_POOL_SERVICE_H_
#define FSB_CONTROLLER_POOL_SERVICE_H_

#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/resources.h"
#include "controller/store/store.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"
#include "internal/request_limits.h"

namespace fsb::controller {

// Validates a SandboxPool submitted by a client and returns it ready to store: image
// references normalized, status and server-owned metadata (uid, resourceVersion,
// generation, timestamps) cleared. INVALID_ARGUMENT naming the field for: a wrong
// apiVersion/kind, a name that is not a DNS label, a namespace (pools are
// cluster-scoped), invalid labels or annotations (ValidateUserMetadata),
// maxSandboxesPerAgent outside 0-kMaxSandboxesPerAgentLimit, more than kMaxWarmImages
// warm images, an empty, malformed or repeated warm image, a warm count outside
// 0-kMaxWarmCount (internal/request_limits.h).
absl::StatusOr<v1alpha1::SandboxPool> PoolFromResource(v1alpha1::SandboxPool resource);

// SandboxPool resources: cluster-scoped, each named like the pool its agents register
// in. A pool's maxSandboxesPerAgent (0: none) caps the capacity of each of its agents in
// the Scheduler. Its warmImages (image, count) are the prepared instances each of its
// agents is asked to keep: WarmTargets() is what the controller answers the pool's
// agents' registrations and heartbeats with, so a change reaches every agent at its
// next heartbeat. A pool that lists no warm image (or no SandboxPool) leaves the agents
// to their own --warm flags.
//
// The store is the source of truth and the scheduler's limits and the warm targets
// follow it: Create applies every stored pool; Apply and Delete write the store, then
// the scheduler and the targets, under one mutex, so that both end up with the last
// write. Status (agents, sandboxes, warm instances) is computed from the scheduler's
// agents when read, never stored.
// Thread-safe.
class PoolService {
 public:
  // Applies the limits of every stored pool; one that does not decode is quarantined and
  // skipped (store::DecodeOrQuarantine). `scheduler`, `store` and `clock` must outlive
  // the service. Store errors as they are.
  static absl::StatusOr<std::unique_ptr<PoolService>> Create(Scheduler* scheduler,
                                                             store::Store* store,
                                                             const Clock* clock);

  PoolService(const PoolService&) = delete;
  PoolService& operator=(const PoolService&) = delete;

  // Creates the pool, or replaces the spec, labels and annotations of the existing one.
  // Sets `*created`. PoolFromResource's errors; store errors as they are.
  absl::StatusOr<v1alpha1::SandboxPool> Apply(v1alpha1::SandboxPool resource, bool* created);

  // Every pool, ordered by name, with its status.
  absl::StatusOr<std::vector<v1alpha1::SandboxPool>> List() const;

  // Removes the pool, its cap and its warm targets. NOT_FOUND for an unknown pool,
  // INVALID_ARGUMENT for a name that is not a DNS label.
  absl::Status Delete(std::string_view name);

  // The warm instances each agent of `pool` is to keep (its SandboxPool's warmImages),
  // or null when the pool has no SandboxPool or it lists no warm image. Allocation-free.
  std::shared_ptr<const fsb::agent::v1::WarmTargets> WarmTargets(PoolId pool) const;

 private:
  PoolService(Scheduler* scheduler, store::Store* store, const Clock* clock);

  // Makes the scheduler's limit and the warm targets those of `pool` (as stored).
  absl::Status Enact(const v1alpha1::SandboxPool& pool);
  // Fills the status of `pools` (sorted by name) from the scheduler's agents.
  void FillStatus(std::vector<v1alpha1::SandboxPool>& pools) const;

  Scheduler* const scheduler_;
  // Serializes writes (store, then scheduler and targets); reads go to the store
  // unlocked.
  absl::Mutex write_mu_;
  mutable store::ResourceClient<v1alpha1::SandboxPool> pools_;
  // Pools that list warm images -> their targets. Entries are replaced, never changed.
  mutable absl::Mutex targets_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  absl::flat_hash_map<PoolId, std::shared_ptr<const fsb::agent::v1::WarmTargets>> targets_
      ABSL_GUARDED_BY(targets_mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_POOL_SERVICE_H_
