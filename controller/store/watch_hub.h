#ifndef FSB_CONTROLLER_STORE_WATCH_HUB_H_
#define FSB_CONTROLLER_STORE_WATCH_HUB_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "controller/store/store.h"

namespace fsb::store {

// Fans committed changes out to watchers, for backends without a native watch.
//
// Keeps the last `capacity` events in memory (a bounded log; events are lost on
// restart, so after a restart only watches from the current revision on succeed).
// Callbacks run on one hub-owned dispatcher thread, never under a store lock, so they
// may call back into the store; each watcher receives its events in revision order,
// with a slow callback delaying every watcher. A watcher that falls behind the log's
// tail receives FAILED_PRECONDITION and is dropped; on destruction every remaining
// watcher receives CANCELLED. Thread-safe.
class WatchHub {
 public:
  // `current_revision` is the store's latest revision; events published later must
  // carry revisions current_revision+1, +2, ... in order.
  WatchHub(int64_t current_revision, size_t capacity);
  ~WatchHub();

  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Records a committed change. The backend calls it in revision order (under its write
  // lock); `event.object.resource_version` must be the previous revision + 1.
  void Publish(WatchEvent event);

  // Implements Store::Watch.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(const WatchOptions& options,
                                                     WatchCallback callback);

 private:
  struct Core;
  class Handle;

  std::shared_ptr<Core> core_;
  std::thread dispatcher_;
};

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_WATCH_HUB_H_
