#ifndef FSB_INTERNAL_STOPWATCH_H_
#define FSB_INTERNAL_STOPWATCH_H_

#include <chrono>

#include "absl/time/time.h"

namespace fsb {

// Measures elapsed time for metrics and timing logs on the monotonic clock (unlike the
// injected Clock, which drives decisions and may be manual in tests). Elapsed() may be
// called from any thread; Lap() needs external synchronization.
class Stopwatch {
 public:
  // Time since construction.
  absl::Duration Elapsed() const {
    return absl::FromChrono(std::chrono::steady_clock::now() - start_);
  }
  // Time since the previous Lap (or construction); a new lap begins.
  absl::Duration Lap() {
    const auto now = std::chrono::steady_clock::now();
    const absl::Duration lap = absl::FromChrono(now - lap_start_);
    lap_start_ = now;
    return lap;
  }

 private:
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lap_start_ = start_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_STOPWATCH_H_
