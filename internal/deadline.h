#ifndef FSB_INTERNAL_DEADLINE_H_
#define FSB_INTERNAL_DEADLINE_H_

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fsb {

// A bound on waiting, on the real clock: the deadline of an outbound gRPC call, a poll or
// condition-variable timeout, a server's shutdown grace, the expiry of a containerd lease.
// What ends such a wait is real time passing, whatever the injected Clock says, so a
// Deadline never decides behaviour (an injected Clock does) and is not injected itself.
// Together with Stopwatch (measurement) it is the only reader of the real clock outside
// internal/clock. Immutable; thread-safe.
class Deadline {
 public:
  // `timeout` from now.
  static Deadline In(absl::Duration timeout) { return Deadline(absl::Now() + timeout); }

  absl::Time time() const { return time_; }
  // Time left until the deadline; zero once it has passed.
  absl::Duration Left() const { return std::max(time_ - absl::Now(), absl::ZeroDuration()); }
  bool Expired() const { return absl::Now() >= time_; }
  // The form gRPC's ClientContext::set_deadline and Server::Shutdown take.
  std::chrono::system_clock::time_point ToChrono() const { return absl::ToChronoTime(time_); }

 private:
  explicit Deadline(absl::Time time) : time_(time) {}

  absl::Time time_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_DEADLINE_H_
