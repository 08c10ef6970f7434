#ifndef FSB_AGENT_CONTAINERD_TASK_WAIT_H_
#define FSB_AGENT_CONTAINERD_TASK_WAIT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "agent/logger/fd.h"
#include "internal/deadline.h"

namespace fsb::agent {

// Waits for a containerd task (`exec_id` empty) or one of its exec processes to exit,
// without a thread: Tasks.Wait runs asynchronously and `done` is notified when it has
// answered. While containerd is unreachable or restarting the wait is re-issued
// (wait-for-ready), since the shim keeps the task running meanwhile. The call's deadline
// is `timeout` (InfiniteDuration: none, for waits bounded by their caller, who destroys
// the TaskWait). Destruction cancels the call and blocks until its callback has
// returned. `done` must be ok(): a failed EventFd is never notified. Thread-safe.
class TaskWait {
 public:
  TaskWait(Containerd* containerd, std::string container_id, std::string exec_id,
           absl::Duration timeout, logger::EventFd* done);
  ~TaskWait();
  TaskWait(const TaskWait&) = delete;
  TaskWait& operator=(const TaskWait&) = delete;

  // After `done` is notified: the exit status, or containerd's error (NOT_FOUND: no such
  // task or process; DEADLINE_EXCEEDED after `timeout`).
  absl::StatusOr<uint32_t> result() const;

 private:
  // Starts a Tasks.Wait call, unless the TaskWait is being destroyed.
  void Issue() ABSL_LOCKS_EXCLUDED(mu_);
  void OnAnswer(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  Containerd* const containerd_;
  const Deadline deadline_;
  logger::EventFd* const done_;
  containerd::services::tasks::v1::WaitRequest request_;
  // Written by the call in flight; read by its callback.
  containerd::services::tasks::v1::WaitResponse response_;
  mutable absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<uint32_t> result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_TASK_WAIT_H_
