#include "agent/janitor.h"

#include "glog/logging.h"

namespace fsb::agent {
namespace {

// Until the manager is ready, the janitor looks again this soon: the first pass runs
// right after recovery.
constexpr absl::Duration kNotReadyRetry = absl::Seconds(1);

}  // namespace

Janitor::Janitor(SandboxManager* manager, AgentMetrics* metrics, absl::Duration interval,
                 std::vector<JanitorSweep> sweeps)
    : manager_(manager),
      metrics_(metrics),
      interval_(interval),
      sweeps_(std::move(sweeps)),
      loop_({.name = "fsb-janitor", .first_delay = kNotReadyRetry}, [this] { return Sweep(); }) {}

Janitor::~Janitor() { Stop(); }

void Janitor::Start() { loop_.Start(); }

void Janitor::Stop() { loop_.Stop(); }

GarbageReport Janitor::totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

int Janitor::swept(const std::string& kind) const {
  absl::MutexLock lock(&mu_);
  auto it = swept_.find(kind);
  return it == swept_.end() ? 0 : it->second;
}

absl::Duration Janitor::Sweep() {
  if (!manager_->ready()) return kNotReadyRetry;  // ready stays once reached
  CollectManagerGarbage();
  for (const JanitorSweep& sweep : sweeps_) {
    absl::StatusOr<int> removed = sweep.sweep();
    if (!removed.ok()) {
      LOG(WARNING) << "janitor (" << sweep.kind << "): " << removed.status();
      continue;
    }
    metrics_->RecordJanitor(sweep.kind, *removed);
    absl::MutexLock lock(&mu_);
    swept_[sweep.kind] += *removed;
  }
  return interval_;
}

void Janitor::CollectManagerGarbage() {
  absl::StatusOr<GarbageReport> report = manager_->CollectGarbage();
  if (!report.ok()) {
    LOG(WARNING) << "janitor: " << report.status();
    return;
  }
  metrics_->RecordJanitor("container", report->containers);
  metrics_->RecordJanitor("snapshot", report->snapshots);
  metrics_->RecordJanitor("log_file", report->log_files);
  metrics_->RecordJanitor("network_slot", report->network_slots);
  absl::MutexLock lock(&mu_);
  totals_.containers += report->containers;
  totals_.snapshots += report->snapshots;
  totals_.log_files += report->log_files;
  totals_.network_slots += report->network_slots;
}

}  // namespace fsb::agent
