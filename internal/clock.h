#ifndef FSB_INTERNAL_CLOCK_H_
#define FSB_INTERNAL_CLOCK_H_

#include "absl/synchronization/mutex.h"
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

// A clock that moves only when told to. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50))
      : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb

#endif  // FSB_INTERNAL_CLOCK_H_
