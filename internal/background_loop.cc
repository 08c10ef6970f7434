#include "internal/background_loop.h"

#include <pthread.h>

#include <utility>

namespace fsb {

BackgroundLoop::BackgroundLoop(Options options, Step step)
    : options_(std::move(options)), step_(std::move(step)) {}

BackgroundLoop::~BackgroundLoop() { Stop(); }

void BackgroundLoop::Start() {
  absl::MutexLock lock(&mu_);
  if (stop_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void BackgroundLoop::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void BackgroundLoop::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    thread.swap(thread_);
  }
  if (thread.joinable()) thread.join();
}

void BackgroundLoop::Run() {
  if (!options_.name.empty()) {
    pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
  }
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
  // Without a first delay the first run does not wait, so a Wake() before it stays
  // pending and ends the wait after it.
  bool wait = options_.first_delay > absl::ZeroDuration();
  absl::Duration delay = options_.first_delay;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (wait) {
        mu_.AwaitWithTimeout(absl::Condition(&woken), delay);
        woken_ = false;
      }
      if (stop_) return;
    }
    delay = step_();
    wait = true;
  }
}

}  // namespace fsb
