#ifndef FSB_INTERNAL_FAST_MUTEX_H_
#define FSB_INTERNAL_FAST_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace fsb {

// An exclusive lock for short, hot critical sections: std::mutex (a futex in glibc)
// with Abseil's thread-safety annotations, so GUARDED_BY and friends work as with
// absl::Mutex.
//
// Why not absl::Mutex: Debian builds Abseil without NDEBUG, so every absl::Mutex
// acquisition also runs its debug bookkeeping. On the project's 2-vCPU VM an uncontended
// absl::Mutex Lock + Unlock costs about 14 ns (43 ns with deadlock detection on, Debian's
// default) and std::mutex about 4 ns. Scheduler operations take 20-100 ns, so the lock
// was most of their cost (bench/README.md).
//
// What it lacks: no reader mode, no condition variables, no deadlock detection, and no
// spinning before a contended waiter sleeps. Use it only for locks held for nanoseconds
// to microseconds that take no other lock except leaf locks (the scheduler); everything
// else uses absl::Mutex.
class ABSL_LOCKABLE FastMutex {
 public:
  FastMutex() = default;
  FastMutex(const FastMutex&) = delete;
  FastMutex& operator=(const FastMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a FastMutex for its scope.
class ABSL_SCOPED_LOCKABLE FastMutexLock {
 public:
  explicit FastMutexLock(FastMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~FastMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  FastMutexLock(const FastMutexLock&) = delete;
  FastMutexLock& operator=(const FastMutexLock&) = delete;

 private:
  FastMutex* const mu_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_FAST_MUTEX_H_
