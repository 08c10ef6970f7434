#include "agent/io/stream_limiter.h"

#include "absl/strings/str_cat.h"

namespace fsb::agent {
namespace {

const char* KindLabel(StreamKind kind) { return kind == StreamKind::kLogs ? "logs" : "exec"; }

}  // namespace

StreamLimiter::Slot::~Slot() {
  if (limiter_ != nullptr) limiter_->Release(kind_);
}

StreamLimiter::StreamLimiter(int max_streams, metrics::Registry* registry)
    : max_streams_(max_streams),
      open_gauges_(registry->AddGauge("fsb_agent_io_streams",
                                      "Log follows and execs this agent serves now, by kind.")),
      logs_open_(open_gauges_.Add({{"kind", KindLabel(StreamKind::kLogs)}})),
      execs_open_(open_gauges_.Add({{"kind", KindLabel(StreamKind::kExec)}})),
      refused_(registry->AddCounter(
          "fsb_agent_io_streams_refused_total",
          "Log and exec streams refused because --max-io-streams were open, by kind.")) {}

absl::StatusOr<StreamLimiter::Slot> StreamLimiter::Acquire(StreamKind kind) {
  {
    absl::MutexLock lock(&mu_);
    if (open_ < max_streams_) {
      ++open_;
      OpenGauge(kind).Increment();
      return Slot(this, kind);
    }
  }
  refused_.Add({{"kind", KindLabel(kind)}}).Increment();
  return absl::ResourceExhaustedError(
      absl::StrCat("this agent already serves ", max_streams_,
                   " log and exec streams, its limit (--max-io-streams): try again later"));
}

int StreamLimiter::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

void StreamLimiter::Release(StreamKind kind) {
  absl::MutexLock lock(&mu_);
  --open_;
  OpenGauge(kind).Decrement();
}

metrics::Gauge& StreamLimiter::OpenGauge(StreamKind kind) {
  return kind == StreamKind::kLogs ? logs_open_ : execs_open_;
}

}  // namespace fsb::agent
