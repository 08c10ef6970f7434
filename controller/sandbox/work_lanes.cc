#include "controller/sandbox/work_lanes.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "internal/strings.h"

namespace fsb::controller {

WorkLanes::WorkLanes(std::string name, int workers) {
  const std::string thread_name = name.substr(0, 15);
  for (int i = 0; i < std::max(workers, 1); ++i) {
    workers_.emplace_back([this, thread_name] { Work(thread_name); });
  }
}

WorkLanes::~WorkLanes() { Stop(); }

void WorkLanes::Add(std::string lane, Task task) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  Lane& l = lanes_[lane];
  const bool idle = l.queued.empty() && !l.running;
  l.queued.push_back(std::move(task));
  if (idle) ready_.push_back(std::move(lane));
}

bool WorkLanes::AwaitIdle(std::string_view lane, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !lanes_.contains(Sv(lane)); };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

bool WorkLanes::AwaitAllIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lanes_.empty(); };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void WorkLanes::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  absl::MutexLock join(&join_mu_);
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  absl::MutexLock lock(&mu_);
  lanes_.clear();  // drops the queued tasks
  ready_.clear();
}

void WorkLanes::Work(const std::string& name) {
  pthread_setname_np(pthread_self(), name.c_str());
  auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !ready_.empty(); };
  while (true) {
    std::string lane;
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&has_work));
      if (stop_) return;
      lane = std::move(ready_.front());
      ready_.pop_front();
      Lane& l = lanes_.at(lane);
      task = std::move(l.queued.front());
      l.queued.pop_front();
      l.running = true;
    }
    std::move(task)();
    absl::MutexLock lock(&mu_);
    auto it = lanes_.find(lane);
    it->second.running = false;
    if (it->second.queued.empty()) {
      lanes_.erase(it);
    } else {
      ready_.push_back(std::move(lane));
    }
  }
}

}  // namespace fsb::controller
