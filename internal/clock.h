#ifndef FSB_INTERNAL_CLOCK_H_
#define FSB_INTERNAL_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace fsb {

// Source of time, injected into every component that reads it so tests can control
// it. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock. Never null; lives forever.
  static Clock* Real();
};

// A clock that moves only when told to. Thread-safe and lock-free: Now() is one atomic
// load, so a test or benchmark clock adds no lock to the code it drives.
class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50))
      : now_ns_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  // Nanoseconds since the Unix epoch (int64 covers the years 1678-2262).
  std::atomic<int64_t> now_ns_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_CLOCK_H_
