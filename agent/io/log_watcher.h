#ifndef FSB_AGENT_IO_LOG_WATCHER_H_
#define FSB_AGENT_IO_LOG_WATCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/io/worker.h"
#include "agent/logger/fd.h"

namespace fsb::agent {

// One inotify instance for all the log follows of an agent, read by one thread of its
// own, which rings the doorbell of every subscription that watches what an event names
// (all of them when the kernel's event queue overflowed). An event only says "look
// again": subscribers re-read the state themselves, so a coalesced or dropped event loses
// nothing as long as they read after watching and after every ring.
//
// inotify gives one watch per inode per instance, whoever asks: a watch is counted per
// subscriber and removed from the kernel when its last subscriber drops it, and masks
// only grow (IN_MASK_ADD), so one follow never narrows another's watch.
//
// Thread-safety: Subscribe() and Subscription's methods may be called from any thread;
// a subscription is used by one thread at a time and destroyed before its watcher.
class LogWatcher {
 public:
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Readable after an event on one of the subscription's watches.
    int fd() const { return doorbell_.fd(); }
    // Consumes the ring; the caller then re-reads what it watches.
    void Drain() { doorbell_.Consume(); }

    // Watches the folder `dir` for files created or moved into it; once per subscription.
    absl::Status WatchFolder(const std::string& dir);
    // Watches the open file `fd` (its inode, whatever its name becomes) for appends and
    // link-count changes, instead of the file watched before.
    absl::Status WatchFile(int fd);

   private:
    friend class LogWatcher;
    explicit Subscription(LogWatcher* watcher) : watcher_(watcher) {}

    LogWatcher* const watcher_;
    logger::EventFd doorbell_;
    int folder_wd_ = -1;
    int file_wd_ = -1;
  };

  // RESOURCE_EXHAUSTED naming the cause when the kernel refuses its inotify instance or
  // stop latch (no descriptor left: DescriptorError) or its thread cannot start.
  static absl::StatusOr<std::unique_ptr<LogWatcher>> Create();
  ~LogWatcher();  // stops and joins its thread
  LogWatcher(const LogWatcher&) = delete;
  LogWatcher& operator=(const LogWatcher&) = delete;

  // RESOURCE_EXHAUSTED when there is no descriptor left for its doorbell.
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe();

  // The kernel watches held (for tests: shared watches count once).
  int watches() const;

 private:
  explicit LogWatcher(logger::UniqueFd inotify) : inotify_(std::move(inotify)) {}

  // The watch descriptor of `path` with `mask` added, held for `subscriber`.
  absl::StatusOr<int> AddWatch(const std::string& path, uint32_t mask, Subscription* subscriber)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveWatch(int wd, Subscription* subscriber) ABSL_LOCKS_EXCLUDED(mu_);
  void Run();
  void Ring(const std::vector<int>& wds, bool everyone) ABSL_LOCKS_EXCLUDED(mu_);

  const logger::UniqueFd inotify_;
  logger::EventFd stop_;  // a latch
  mutable absl::Mutex mu_;
  // Every watch descriptor held, with its subscribers (one entry per hold).
  absl::flat_hash_map<int, std::vector<Subscription*>> subscribers_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Worker> thread_;  // set by Create (null if it failed); last, so it stops first
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_LOG_WATCHER_H_
