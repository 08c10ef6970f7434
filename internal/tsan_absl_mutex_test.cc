// Built in a ThreadSanitizer tree only (internal/tsan_absl_mutex.cc): what absl::Mutex
// guards is not reported, and a real race still is.

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

// Two threads add to `counter` under `mu`, through each kind of locking call.
int CountUnderEveryKindOfLock() {
  absl::Mutex mu;
  absl::CondVar changed;
  int counter = 0;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) {
      absl::MutexLock lock(&mu);
      ++counter;
      changed.Signal();
    }
  });
  for (int i = 0; i < 100; ++i) {
    if (mu.TryLock()) {
      ++counter;
      mu.Unlock();
    } else {
      absl::MutexLock lock(&mu);
      ++counter;
    }
  }
  {
    absl::MutexLock lock(&mu);
    while (counter < 200) changed.WaitWithTimeout(&mu, absl::Milliseconds(100));
  }
  other.join();
  {
    absl::ReaderMutexLock lock(&mu);
    return counter;
  }
}

TEST(TsanAbslMutexTest, AccessesGuardedByAbslMutexAreNotReported) {
  // With halt_on_error a report would end this process.
  EXPECT_EQ(CountUnderEveryKindOfLock(), 200);
}

// Conditions read what the mutex guards inside the library: in the waiting thread (Await,
// LockWhen) and in the thread that unlocks while another waits.
TEST(TsanAbslMutexTest, ConditionsEvaluatedInsideTheLibraryAreNotReported) {
  absl::Mutex mu;
  int counter = 0;
  auto reached = [&](int n) { return [&counter, n] { return counter >= n; }; };
  std::thread other([&] {
    for (int i = 0; i < 300; ++i) {
      absl::MutexLock lock(&mu);
      ++counter;
    }
  });
  {
    absl::MutexLock lock(&mu);
    auto hundred = reached(100);
    mu.Await(absl::Condition(&hundred));
  }
  {
    auto two_hundred = reached(200);
    mu.LockWhen(absl::Condition(&two_hundred));
    mu.Unlock();
  }
  {
    absl::MutexLock lock(&mu);
    auto all = reached(300);
    while (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Milliseconds(100))) {
    }
  }
  other.join();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(counter, 300);
}

TEST(TsanAbslMutexTest, AccessesAfterAnAbslNotificationAreOrdered) {
  int value = 0;
  absl::Notification done;
  std::thread writer([&] {
    value = 7;
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(value, 7);
  writer.join();
}

TEST(TsanAbslMutexDeathTest, ARealRaceIsStillReported) {
  EXPECT_EXIT(
      {
        int value = 0;
        absl::Mutex unrelated;
        std::thread writer([&] {
          absl::MutexLock lock(&unrelated);
          ++value;
        });
        ++value;  // not under the mutex
        writer.join();
        std::exit(value == 2 ? 0 : 1);
      },
      ::testing::ExitedWithCode(66), "data race");
}

}  // namespace
