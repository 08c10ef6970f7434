#ifndef FSB_CONTROLLER_SANDBOX_WORK_LANES_H_
#define FSB_CONTROLLER_SANDBOX_WORK_LANES_H_

#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fsb::controller {

// Runs tasks in named lanes on a fixed set of worker threads: the tasks of one lane run
// one at a time, in the order they were added; different lanes run at the same time, as
// many as there are workers, taking turns in the order they became ready. So a task that
// blocks (a call to a hung agent) holds one worker and delays only the tasks queued
// behind it in its own lane. The reconciler keeps one lane per agent.
//
// Stop() (or the destructor) waits for the tasks running then and drops the queued ones;
// tasks added after it are dropped. Thread-safe; tasks run without the lanes' lock held
// and may call Add.
class WorkLanes {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // Starts `workers` (at least one) threads named `name` (Linux keeps 15 characters).
  WorkLanes(std::string name, int workers);
  ~WorkLanes();

  WorkLanes(const WorkLanes&) = delete;
  WorkLanes& operator=(const WorkLanes&) = delete;

  void Add(std::string lane, Task task);
  // Wait until `lane` has no task queued or running (every lane, for AwaitAllIdle), or
  // `deadline` passes; return whether it has none.
  bool AwaitIdle(std::string_view lane, absl::Time deadline);
  bool AwaitAllIdle(absl::Time deadline);
  void Stop();

 private:
  struct Lane {
    std::deque<Task> queued;
    bool running = false;
  };
  void Work(const std::string& name);

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Lanes with a task queued or running; a lane is removed when it has neither.
  absl::flat_hash_map<std::string, Lane> lanes_ ABSL_GUARDED_BY(mu_);
  // Lanes with a task queued and none running, in the order they became so.
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;  // set by the constructor, joined by Stop()
  absl::Mutex join_mu_;               // serializes Stop()'s joins
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_WORK_LANES_H_
