#ifndef FSB_INTERNAL_TSAN_ABSL_CONDITION_H_
#define FSB_INTERNAL_TSAN_ABSL_CONDITION_H_

// Part of internal/tsan_absl_mutex.cc (ThreadSanitizer trees only).

#include "absl/synchronization/mutex.h"

namespace fsb {

// `cond` as the interposed absl::Mutex functions hand it to the library. The library
// evaluates a condition in the waiting thread while it holds the mutex, or in a thread
// that unlocks the mutex while another waits, inside its own (uninstrumented) code: what
// the condition reads there is guarded, but ThreadSanitizer believes nobody holds the
// mutex. get()'s evaluation therefore acquires what the mutex's last unlock released and
// releases into the mutex, as a critical section of it would.
//
// The wrapper lives in the waiter's frame and is read by whichever thread evaluates it,
// with no order ThreadSanitizer could see: tsan_absl_condition.cc, which constructs and
// evaluates it, is not instrumented, so those reads are not checked. Keep every access to
// its members there (this header declares no inline code that touches them).
class AnnotatedCondition {
 public:
  AnnotatedCondition(const absl::Condition& cond, absl::Mutex* mu);
  AnnotatedCondition(const AnnotatedCondition&) = delete;
  AnnotatedCondition& operator=(const AnnotatedCondition&) = delete;

  // Valid while this object lives.
  const absl::Condition& get() const { return wrapped_; }

 private:
  static bool Eval(AnnotatedCondition* self);

  const absl::Condition* const cond_;
  absl::Mutex* const mu_;
  const absl::Condition wrapped_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_TSAN_ABSL_CONDITION_H_
