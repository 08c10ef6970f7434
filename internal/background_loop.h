#ifndef FSB_INTERNAL_BACKGROUND_LOOP_H_
#define FSB_INTERNAL_BACKGROUND_LOOP_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fsb {

// Runs a step over and over on a thread of its own: the first time `first_delay` after
// Start(), then each time the delay the previous run returned has passed, or at once after
// Wake(). The body of a janitor, a heartbeat, a reconciler, a housekeeper.
//
// A Wake() is remembered until the next wait: one that comes while the step runs (or
// before Start) ends that wait at once, and several collapse into one run. Without a
// first delay the first run starts without a wait, so a Wake() before Start() then
// gives a second run right after the first. Stop() ends a
// wait at once and joins the thread once the run in progress, if any, returns; no run
// starts once Stop() has been called (a Start() after it does nothing). Waits are real
// time, on the loop's own mutex, which is never held while the step runs: Wake() may be
// called under any lock, even one the step takes; Stop() must not be called under a lock
// the step takes (it waits for the step).
//
// Thread-safe. Start() and Stop() are idempotent; the destructor stops. The step runs on
// the loop's thread only, never concurrently with itself.
class BackgroundLoop {
 public:
  // One run; returns how long to wait before the next (absl::InfiniteDuration(): until
  // Wake()).
  using Step = absl::AnyInvocable<absl::Duration()>;

  struct Options {
    // The thread's name, as ps and debuggers show it; Linux keeps 15 characters.
    std::string name;
    absl::Duration first_delay = absl::ZeroDuration();
  };

  BackgroundLoop(Options options, Step step);
  ~BackgroundLoop();

  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  void Start();
  // The next wait (or the current one) ends at once.
  void Wake();
  void Stop();

 private:
  void Run();

  const Options options_;
  Step step_;  // called on the loop's thread only
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb

#endif  // FSB_INTERNAL_BACKGROUND_LOOP_H_
