#include "internal/background_loop.h"

#include <pthread.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

// Generous bound for what must happen "at once": only a broken loop reaches it.
constexpr absl::Duration kPatience = absl::Seconds(30);

// Counts the runs of a loop's step and lets a test wait for a number of them. Each run
// returns `next` (until Wake() by default).
class Runs {
 public:
  BackgroundLoop::Step Step(absl::Duration next = absl::InfiniteDuration()) {
    return [this, next] {
      absl::MutexLock lock(&mu_);
      ++count_;
      if (during_run_) during_run_();
      return next;
    };
  }
  // Whether `n` runs happened within kPatience.
  bool AwaitAtLeast(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kPatience);
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  void set_during_run(std::function<void()> f) {
    absl::MutexLock lock(&mu_);
    during_run_ = std::move(f);
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> during_run_ ABSL_GUARDED_BY(mu_);
};

TEST(BackgroundLoopTest, RunsAtOnceWithoutFirstDelayThenWaitsForWake) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  loop.Start();
  ASSERT_TRUE(runs.AwaitAtLeast(1));
  loop.Wake();
  ASSERT_TRUE(runs.AwaitAtLeast(2));
  loop.Stop();
  EXPECT_EQ(runs.count(), 2);
}

TEST(BackgroundLoopTest, FirstDelayIsCutShortByWake) {
  Runs runs;
  BackgroundLoop loop({.name = "test", .first_delay = absl::InfiniteDuration()}, runs.Step());
  loop.Start();
  loop.Wake();
  EXPECT_TRUE(runs.AwaitAtLeast(1));
}

TEST(BackgroundLoopTest, WakeBeforeStartIsRemembered) {
  Runs runs;
  BackgroundLoop loop({.name = "test", .first_delay = absl::InfiniteDuration()}, runs.Step());
  loop.Wake();
  loop.Start();
  EXPECT_TRUE(runs.AwaitAtLeast(1));
}

TEST(BackgroundLoopTest, WakeBeforeStartWithoutFirstDelayGivesASecondRun) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  loop.Wake();
  loop.Start();
  EXPECT_TRUE(runs.AwaitAtLeast(2));
}

TEST(BackgroundLoopTest, RunsAgainAfterTheDelayTheStepReturns) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step(absl::Milliseconds(1)));
  loop.Start();
  EXPECT_TRUE(runs.AwaitAtLeast(5));
}

TEST(BackgroundLoopTest, WakeDuringARunEndsTheNextWaitAtOnce) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  bool woke = false;
  // The first run wakes the loop (once): the second run follows without an outside Wake.
  runs.set_during_run([&] {
    if (woke) return;
    woke = true;
    loop.Wake();
  });
  loop.Start();
  EXPECT_TRUE(runs.AwaitAtLeast(2));
}

TEST(BackgroundLoopTest, StopEndsAnEndlessWaitAndNothingRunsAfterIt) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  loop.Start();
  ASSERT_TRUE(runs.AwaitAtLeast(1));
  loop.Stop();
  loop.Wake();
  loop.Start();  // after Stop: does nothing
  loop.Stop();   // idempotent
  EXPECT_EQ(runs.count(), 1);
}

TEST(BackgroundLoopTest, StopBeforeStartMeansNoRun) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  loop.Stop();
  loop.Start();
  EXPECT_EQ(runs.count(), 0);
}

TEST(BackgroundLoopTest, StartTwiceStartsOneThread) {
  Runs runs;
  BackgroundLoop loop({.name = "test"}, runs.Step());
  loop.Start();
  loop.Start();
  ASSERT_TRUE(runs.AwaitAtLeast(1));
  loop.Stop();
  EXPECT_EQ(runs.count(), 1);
}

TEST(BackgroundLoopTest, DestructionStopsTheRunningLoop) {
  Runs runs;
  auto witness = std::make_shared<int>(0);
  {
    BackgroundLoop loop({.name = "test"}, [step = runs.Step(absl::Milliseconds(1)),
                                           witness]() mutable { return step(); });
    loop.Start();
    ASSERT_TRUE(runs.AwaitAtLeast(2));
  }
  EXPECT_EQ(witness.use_count(), 1);  // the step is gone with its thread
}

TEST(BackgroundLoopTest, TheThreadCarriesTheName) {
  absl::Mutex mu;
  std::string name;
  BackgroundLoop loop({.name = "fsb-a-long-thread-name"}, [&] {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    absl::MutexLock lock(&mu);
    name = buf;
    return absl::InfiniteDuration();
  });
  loop.Start();
  absl::MutexLock lock(&mu);
  auto named = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !name.empty(); };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&named), kPatience));
  EXPECT_EQ(name, "fsb-a-long-thre");  // the first 15 characters
}

}  // namespace
}  // namespace fsb
