#include "controller/sandbox/work_lanes.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;

// A bound on every wait, so that a broken WorkLanes fails the test instead of hanging it.
absl::Time Bound() { return absl::Now() + absl::Seconds(60); }

TEST(WorkLanesTest, TheTasksOfOneLaneRunOneAtATimeInOrder) {
  WorkLanes lanes("test", 4);
  absl::Mutex mu;
  std::vector<int> order;
  int running = 0, most = 0;
  for (int i = 0; i < 20; ++i) {
    lanes.Add("a", [&, i] {
      {
        absl::MutexLock lock(&mu);
        most = std::max(most, ++running);
        order.push_back(i);
      }
      absl::MutexLock lock(&mu);
      --running;
    });
  }
  ASSERT_TRUE(lanes.AwaitAllIdle(Bound()));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(most, 1);
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
}

TEST(WorkLanesTest, ABlockedLaneDelaysOnlyItsOwnTasks) {
  WorkLanes lanes("test", 2);
  absl::Notification entered, release;
  bool behind_ran = false, other_ran = false;
  lanes.Add("hung", [&] {
    entered.Notify();
    release.WaitForNotificationWithDeadline(Bound());
  });
  lanes.Add("hung", [&] { behind_ran = true; });
  ASSERT_TRUE(entered.WaitForNotificationWithDeadline(Bound()));
  for (int i = 0; i < 3; ++i) lanes.Add("other", [&] { other_ran = true; });
  ASSERT_TRUE(lanes.AwaitIdle("other", Bound()));
  EXPECT_TRUE(other_ran);
  // The hung lane is not idle: its task still runs and one waits behind it.
  EXPECT_FALSE(lanes.AwaitIdle("hung", absl::InfinitePast()));
  EXPECT_FALSE(behind_ran);
  release.Notify();
  ASSERT_TRUE(lanes.AwaitIdle("hung", Bound()));
  EXPECT_TRUE(behind_ran);
}

TEST(WorkLanesTest, StopWaitsForTheRunningTaskAndLaterTasksDoNotRun) {
  WorkLanes lanes("test", 1);
  absl::Notification entered, release;
  std::atomic<bool> finished{false}, late_ran{false};
  lanes.Add("a", [&] {
    entered.Notify();
    release.WaitForNotificationWithDeadline(Bound());
    finished = true;
  });
  ASSERT_TRUE(entered.WaitForNotificationWithDeadline(Bound()));
  std::thread stopper([&] { lanes.Stop(); });
  release.Notify();
  stopper.join();
  EXPECT_TRUE(finished);
  lanes.Add("b", [&] { late_ran = true; });
  lanes.Stop();
  EXPECT_FALSE(late_ran);
}

}  // namespace
}  // namespace fsb::controller
