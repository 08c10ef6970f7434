#include "agent/io/worker.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace fsb::agent {

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(absl::AnyInvocable<void()> body,
                                                      size_t stack_bytes) {
  std::unique_ptr<Worker> worker(new Worker(std::move(body)));
  pthread_attr_t attr;
  if (int e = pthread_attr_init(&attr); e != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a thread: ", std::strerror(e)));
  }
  int e = pthread_attr_setstacksize(&attr, stack_bytes);
  if (e == 0) e = pthread_create(&worker->thread_, &attr, &Worker::Run, worker.get());
  pthread_attr_destroy(&attr);
  if (e != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a thread (", stack_bytes / 1024,
                                                     " KiB stack): ", std::strerror(e)));
  }
  worker->joinable_ = true;
  return worker;
}

Worker::~Worker() { Join(); }

void Worker::Join() {
  if (!joinable_) return;
  pthread_join(thread_, nullptr);
  joinable_ = false;
}

void* Worker::Run(void* worker) {
  static_cast<Worker*>(worker)->body_();
  return nullptr;
}

}  // namespace fsb::agent
