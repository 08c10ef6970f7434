#include "controller/store/watch_hub.h"

#include <deque>
#include <list>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

namespace fsb::store {

struct WatchHub::Core {
  struct Watcher {
    WatchOptions options;
    WatchCallback callback;
    int64_t next_revision;  // the first revision not yet considered for this watcher
    bool cancelled = false;
  };

  absl::Mutex mu;
  std::deque<WatchEvent> log ABSL_GUARDED_BY(mu);
  size_t capacity;
  int64_t last_revision ABSL_GUARDED_BY(mu);
  std::list<std::shared_ptr<Watcher>> watchers ABSL_GUARDED_BY(mu);
  // The watcher whose callback is running, so that unregistering can wait for it.
  const Watcher* delivering ABSL_GUARDED_BY(mu) = nullptr;
  std::thread::id dispatcher_id;
  bool shutdown ABSL_GUARDED_BY(mu) = false;

  int64_t FirstRetained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return log.empty() ? last_revision + 1 : log.front().object.resource_version;
  }

  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (shutdown) return true;
    for (const auto& w : watchers) {
      if (w->next_revision <= last_revision) return true;
    }
    return false;
  }

  // Runs `w`'s callback with `result` unless `w` was cancelled. Called with `mu` held;
  // releases it around the callback.
  void Deliver(const std::shared_ptr<Watcher>& w, const absl::StatusOr<WatchEvent>& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (w->cancelled) return;
    delivering = w.get();
    mu.Unlock();
    w->callback(result);
    mu.Lock();
    delivering = nullptr;
  }

  void Remove(const std::shared_ptr<Watcher>& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    w->cancelled = true;
    watchers.remove(w);
  }

  void Run() {
    absl::MutexLock lock(&mu);
    while (true) {
      mu.Await(absl::Condition(this, &Core::HasWork));
      if (shutdown) break;
      // Snapshot: callbacks may add or remove watchers while `mu` is released.
      std::vector<std::shared_ptr<Watcher>> snapshot(watchers.begin(), watchers.end());
      for (const auto& w : snapshot) {
        if (w->cancelled || w->next_revision > last_revision) continue;
        if (w->next_revision < FirstRetained()) {
          Deliver(w, absl::FailedPreconditionError(
                         absl::StrCat("watch fell behind: resource version ", w->next_revision - 1,
                                      " is too old (oldest retained change is ", FirstRetained(),
                                      "); list again and watch from the list's resource version")));
          Remove(w);
          continue;
        }
        std::vector<WatchEvent> batch;
        const int64_t first = log.front().object.resource_version;
        for (size_t i = static_cast<size_t>(w->next_revision - first); i < log.size(); ++i) {
          const WatchEvent& e = log[i];
          if (e.object.key.kind != w->options.kind) continue;
          if (!w->options.ns.empty() && e.object.key.ns != w->options.ns) continue;
          batch.push_back(e);
        }
        w->next_revision = last_revision + 1;
        for (const WatchEvent& e : batch) Deliver(w, e);
      }
    }
    std::vector<std::shared_ptr<Watcher>> remaining(watchers.begin(), watchers.end());
    for (const auto& w : remaining) {
      Deliver(w, absl::CancelledError("store closed"));
      Remove(w);
    }
  }
};

class WatchHub::Handle : public WatchHandle {
 public:
  Handle(std::shared_ptr<Core> core, std::shared_ptr<Core::Watcher> watcher)
      : core_(std::move(core)), watcher_(std::move(watcher)) {}

  ~Handle() override {
    absl::MutexLock lock(&core_->mu);
    core_->Remove(watcher_);
    if (std::this_thread::get_id() == core_->dispatcher_id) return;
    const Core::Watcher* w = watcher_.get();
    Core* core = core_.get();
    auto done = [core, w]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(core->mu) { return core->delivering != w; };
    core_->mu.Await(absl::Condition(&done));
  }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Core::Watcher> watcher_;
};

WatchHub::WatchHub(int64_t current_revision, size_t capacity) : core_(std::make_shared<Core>()) {
  core_->capacity = capacity;
  {
    absl::MutexLock lock(&core_->mu);
    core_->last_revision = current_revision;
  }
  dispatcher_ = std::thread([core = core_.get()] { core->Run(); });
  core_->dispatcher_id = dispatcher_.get_id();
}

WatchHub::~WatchHub() {
  {
    absl::MutexLock lock(&core_->mu);
    core_->shutdown = true;
  }
  dispatcher_.join();
}

void WatchHub::Publish(WatchEvent event) {
  absl::MutexLock lock(&core_->mu);
  CHECK_EQ(event.object.resource_version, core_->last_revision + 1)
      << "events must be published in revision order";
  core_->last_revision = event.object.resource_version;
  core_->log.push_back(std::move(event));
  while (core_->log.size() > core_->capacity) core_->log.pop_front();
}

absl::StatusOr<std::unique_ptr<WatchHandle>> WatchHub::Watch(const WatchOptions& options,
                                                             WatchCallback callback) {
  if (options.kind.empty()) return absl::InvalidArgumentError("watch: kind is required");
  if (options.from_resource_version < 0) {
    return absl::InvalidArgumentError("watch: negative resource version");
  }
  auto watcher = std::make_shared<Core::Watcher>();
  watcher->options = options;
  watcher->callback = std::move(callback);
  absl::MutexLock lock(&core_->mu);
  if (core_->shutdown) return absl::CancelledError("store closed");
  if (options.from_resource_version == 0) {
    watcher->next_revision = core_->last_revision + 1;
  } else if (options.from_resource_version + 1 < core_->FirstRetained()) {
    return absl::FailedPreconditionError(
        absl::StrCat("resource version ", options.from_resource_version,
                     " is too old (oldest retained change is ", core_->FirstRetained(),
                     "); list again and watch from the list's resource version"));
  } else {
    watcher->next_revision = options.from_resource_version + 1;
  }
  core_->watchers.push_back(watcher);
  return std::make_unique<Handle>(core_, std::move(watcher));
}

}  // namespace fsb::store
