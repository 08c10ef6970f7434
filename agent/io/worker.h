#ifndef FSB_AGENT_IO_WORKER_H_
#define FSB_AGENT_IO_WORKER_H_

#include <pthread.h>

#include <cstddef>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace fsb::agent {

// A thread whose creation can fail without an exception: Start() answers
// RESOURCE_EXHAUSTED naming the reason when the system has no thread to give
// (pthread_create's EAGAIN, a stack that cannot be mapped), where std::thread would throw
// and, with no handler, terminate the agent. The destructor joins (Join() may come
// earlier). Join() and the destructor are called from one thread other than the worker.
class Worker {
 public:
  // The stack of a stream's thread: its deepest frames are a 64 KiB read buffer and a
  // gRPC write, far below this even with a sanitizer's redzones (glibc's default is
  // 8 MiB of address space per thread).
  static constexpr size_t kDefaultStackBytes = 1024 * 1024;

  static absl::StatusOr<std::unique_ptr<Worker>> Start(absl::AnyInvocable<void()> body,
                                                       size_t stack_bytes = kDefaultStackBytes);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Waits for the body to return; idempotent.
  void Join();

 private:
  explicit Worker(absl::AnyInvocable<void()> body) : body_(std::move(body)) {}
  static void* Run(void* worker);

  absl::AnyInvocable<void()> body_;  // run once, on the thread
  pthread_t thread_{};
  bool joinable_ = false;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_WORKER_H_
