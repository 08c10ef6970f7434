#ifndef FSB_AGENT_IO_STREAM_LIMITER_H_
#define FSB_AGENT_IO_STREAM_LIMITER_H_

#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {

// What a SandboxIO stream is, for the cap and the gauge.
enum class StreamKind { kLogs, kExec };

// Caps the log follows and execs one agent serves at once: each holds a thread and file
// descriptors for as long as its client keeps it open, so without a cap a few clients
// could take every thread or descriptor of the agent. Counts them in the gauge
// fsb_agent_io_streams{kind="logs"|"exec"} and refusals in
// fsb_agent_io_streams_refused_total{kind}. Thread-safe.
class StreamLimiter {
 public:
  // A stream's place under the cap, given back on destruction. Movable.
  class Slot {
   public:
    Slot(Slot&& other) noexcept
        : limiter_(std::exchange(other.limiter_, nullptr)), kind_(other.kind_) {}
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    ~Slot();

   private:
    friend class StreamLimiter;
    Slot(StreamLimiter* limiter, StreamKind kind) : limiter_(limiter), kind_(kind) {}
    StreamLimiter* limiter_;
    StreamKind kind_;
  };

  // `max_streams` >= 1 (logs and execs together); `registry` must outlive the limiter.
  StreamLimiter(int max_streams, metrics::Registry* registry);

  // A slot, or RESOURCE_EXHAUSTED naming the cap when `max_streams` are open.
  absl::StatusOr<Slot> Acquire(StreamKind kind);

  int open() const;
  int max_streams() const { return max_streams_; }

 private:
  void Release(StreamKind kind);
  metrics::Gauge& OpenGauge(StreamKind kind);

  const int max_streams_;
  metrics::Family<metrics::Gauge>& open_gauges_;
  metrics::Gauge& logs_open_;
  metrics::Gauge& execs_open_;
  metrics::Family<metrics::Counter>& refused_;
  mutable absl::Mutex mu_;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_STREAM_LIMITER_H_
