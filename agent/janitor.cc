#include "agent/janitor.h"

#include "glog/logging.h"

namespace fsb::agent {

Janitor::Janitor(SandboxManager* manager, AgentMetrics* metrics, absl::Duration interval)
    : manager_(manager), metrics_(metrics), interval_(interval) {}

Janitor::~Janitor() { Stop(); }

void Janitor::Start() {
  CHECK(!thread_.joinable()) << "Janitor started twice";
  thread_ = std::thread([this] { Run(); });
}

void Janitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

GarbageReport Janitor::totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

void Janitor::Run() {
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  // Until the manager is ready, try again soon: the first pass runs right after recovery.
  absl::Duration wait = absl::Seconds(1);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), wait)) return;
    }
    if (!manager_->ready()) continue;
    wait = interval_;
    absl::StatusOr<GarbageReport> report = manager_->CollectGarbage();
    if (!report.ok()) {
      LOG(WARNING) << "janitor: " << report.status();
      continue;
    }
    metrics_->RecordJanitor("container", report->containers);
    metrics_->RecordJanitor("snapshot", report->snapshots);
    metrics_->RecordJanitor("log_file", report->log_files);
    absl::MutexLock lock(&mu_);
    totals_.containers += report->containers;
    totals_.snapshots += report->snapshots;
    totals_.log_files += report->log_files;
  }
}

}  // namespace fsb::agent
