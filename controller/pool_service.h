#ifndef FSB_CONTROLLER_POOL_SERVICE_H_
#define FSB_CONTROLLER_POOL_SERVICE_H_

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/resources.h"
#include "controller/store/store.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "internal/clock.h"

namespace fsb::controller {

// Bounds on a SandboxPool spec; larger values are INVALID_ARGUMENT.
inline constexpr int kMaxSandboxesPerAgentLimit = 100000;
inline constexpr int kMaxWarmImages = 64;
inline constexpr int kMaxWarmCount = 1000;

// Validates a SandboxPool submitted by a client and returns it ready to store: image
// references normalized, status and server-owned metadata (uid, resourceVersion,
// generation, timestamps) cleared. INVALID_ARGUMENT naming the field for: a wrong
// apiVersion/kind, a name that is not a DNS label, a namespace (pools are
// cluster-scoped), invalid labels, maxSandboxesPerAgent outside 0-100000, more than 64
// warm images, an empty, malformed or repeated warm image, a warm count outside 0-1000.
absl::StatusOr<v1alpha1::SandboxPool> PoolFromResource(v1alpha1::SandboxPool resource);

// SandboxPool resources: cluster-scoped, each named like the pool its agents register
// in. A pool's maxSandboxesPerAgent (0: none) caps the capacity of each of its agents in
// the Scheduler. warmImages is kept as the pool's desired warm instances; agents do not
// keep warm instances yet, so it has no effect on placement.
//
// The store is the source of truth and the scheduler's limits follow it: Create applies
// every stored pool; Apply and Delete write the store, then the scheduler, under one
// mutex, so that the scheduler ends up with the limit of the last write. Status
// (agents, sandboxes) is computed from the scheduler when read, never stored.
// Thread-safe.
class PoolService {
 public:
  // Applies the limits of every stored pool. `scheduler`, `store` and `clock` must
  // outlive the service. Store errors as they are.
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

  // Removes the pool and its cap. NOT_FOUND for an unknown pool.
  absl::Status Delete(std::string_view name);

 private:
  PoolService(Scheduler* scheduler, store::Store* store, const Clock* clock);

  // Fills the status of `pools` (sorted by name) from the scheduler's agents.
  void FillStatus(std::vector<v1alpha1::SandboxPool>& pools) const;

  Scheduler* const scheduler_;
  // Serializes writes (store, then scheduler); reads go to the store unlocked.
  absl::Mutex write_mu_;
  mutable store::ResourceClient<v1alpha1::SandboxPool> pools_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_POOL_SERVICE_H_
