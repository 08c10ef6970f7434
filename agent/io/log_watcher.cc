#include "agent/io/log_watcher.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/io/descriptors.h"
#include "glog/logging.h"

namespace fsb::agent {

LogWatcher::Subscription::~Subscription() {
  if (folder_wd_ >= 0) watcher_->RemoveWatch(folder_wd_, this);
  if (file_wd_ >= 0) watcher_->RemoveWatch(file_wd_, this);
}

absl::Status LogWatcher::Subscription::WatchFolder(const std::string& dir) {
  absl::StatusOr<int> wd = watcher_->AddWatch(dir, IN_CREATE | IN_MOVED_TO, this);
  if (!wd.ok()) return wd.status();
  folder_wd_ = *wd;
  return absl::OkStatus();
}

absl::Status LogWatcher::Subscription::WatchFile(int fd) {
  // Added before the old one goes: a file watched again keeps its descriptor.
  absl::StatusOr<int> wd =
      watcher_->AddWatch(absl::StrCat("/proc/self/fd/", fd), IN_MODIFY | IN_ATTRIB, this);
  if (!wd.ok()) return wd.status();
  if (file_wd_ >= 0) watcher_->RemoveWatch(file_wd_, this);
  file_wd_ = *wd;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LogWatcher>> LogWatcher::Create() {
  logger::UniqueFd inotify(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify.valid()) return DescriptorError("an inotify instance", errno);
  std::unique_ptr<LogWatcher> watcher(new LogWatcher(std::move(inotify)));
  if (absl::Status s = EventFdStatus(watcher->stop_); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Worker>> thread = Worker::Start([w = watcher.get()] { w->Run(); });
  if (!thread.ok()) return thread.status();
  watcher->thread_ = *std::move(thread);
  return watcher;
}

LogWatcher::~LogWatcher() {
  if (thread_ == nullptr) return;  // Create failed before starting it
  stop_.Notify();
  thread_->Join();
}

absl::StatusOr<std::unique_ptr<LogWatcher::Subscription>> LogWatcher::Subscribe() {
  std::unique_ptr<Subscription> subscription(new Subscription(this));
  if (absl::Status s = EventFdStatus(subscription->doorbell_); !s.ok()) return s;
  return subscription;
}

int LogWatcher::watches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(subscribers_.size());
}

absl::StatusOr<int> LogWatcher::AddWatch(const std::string& path, uint32_t mask,
                                         Subscription* subscriber) {
  // Under the lock, so that Ring() knows the subscriber from the watch's first event.
  absl::MutexLock lock(&mu_);
  const int wd = inotify_add_watch(inotify_.get(), path.c_str(), mask | IN_MASK_ADD);
  if (wd < 0) {
    const int e = errno;
    if (e == ENOSPC) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot watch ", path,
                       ": the node's inotify watches are used up (fs.inotify.max_user_watches)"));
    }
    return absl::InternalError(absl::StrCat("cannot watch ", path, ": ", std::strerror(e)));
  }
  subscribers_[wd].push_back(subscriber);
  return wd;
}

void LogWatcher::RemoveWatch(int wd, Subscription* subscriber) {
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(wd);
  if (it == subscribers_.end()) return;
  std::vector<Subscription*>& holders = it->second;
  if (auto h = std::find(holders.begin(), holders.end(), subscriber); h != holders.end()) {
    holders.erase(h);
  }
  if (!holders.empty()) return;
  subscribers_.erase(it);
  // EINVAL: the kernel already dropped it (its file was deleted).
  inotify_rm_watch(inotify_.get(), wd);
}

void LogWatcher::Ring(const std::vector<int>& wds, bool everyone) {
  absl::MutexLock lock(&mu_);
  if (everyone) {
    for (auto& [wd, holders] : subscribers_) {
      for (Subscription* s : holders) s->doorbell_.Notify();
    }
    return;
  }
  for (int wd : wds) {
    if (auto it = subscribers_.find(wd); it != subscribers_.end()) {
      for (Subscription* s : it->second) s->doorbell_.Notify();
    }
  }
}

void LogWatcher::Run() {
  alignas(inotify_event) char buf[16 * 1024];
  std::vector<int> wds;
  for (;;) {
    pollfd p[2] = {{inotify_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      // Only ENOMEM: wake everyone (they re-read) and try again shortly.
      LOG_EVERY_N(ERROR, 100) << "log watcher: poll: " << std::strerror(errno);
      Ring({}, /*everyone=*/true);
      usleep(100 * 1000);
      continue;
    }
    if (stop_.Notified()) return;
    bool overflow = false;
    wds.clear();
    for (;;) {
      const ssize_t n = read(inotify_.get(), buf, sizeof(buf));
      if (n <= 0) break;  // EAGAIN: all read
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
        if (event->mask & IN_Q_OVERFLOW) overflow = true;
        if (event->wd >= 0) wds.push_back(event->wd);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    std::sort(wds.begin(), wds.end());
    wds.erase(std::unique(wds.begin(), wds.end()), wds.end());
    Ring(wds, overflow);
  }
}

}  // namespace fsb::agent
