#include "agent/io/log_watcher.h"

#include <memory>

#include "agent/logger/fd_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(LogWatcherTest, WithoutADescriptorForItsInotifyInstanceCreateIsRefused) {
  absl::StatusOr<std::unique_ptr<LogWatcher>> watcher;
  {
    logger::DescriptorLimit limit;
    watcher = LogWatcher::Create();
  }
  EXPECT_TRUE(absl::IsResourceExhausted(watcher.status())) << watcher.status();
  EXPECT_THAT(watcher.status().message(),
              HasSubstr("no file descriptor left for an inotify instance"));
}

TEST(LogWatcherTest, WithoutADescriptorForItsStopLatchCreateIsRefused) {
  absl::StatusOr<std::unique_ptr<LogWatcher>> watcher;
  {
    logger::DescriptorLimit limit(/*spare=*/1);  // the inotify instance's
    watcher = LogWatcher::Create();
  }
  EXPECT_TRUE(absl::IsResourceExhausted(watcher.status())) << watcher.status();
  EXPECT_THAT(watcher.status().message(), HasSubstr("no file descriptor left for an eventfd"));
}

TEST(LogWatcherTest, WithoutADescriptorForItsDoorbellSubscribeIsRefusedAndTheWatcherGoesOn) {
  absl::StatusOr<std::unique_ptr<LogWatcher>> watcher = LogWatcher::Create();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::StatusOr<std::unique_ptr<LogWatcher::Subscription>> refused;
  {
    logger::DescriptorLimit limit;
    refused = (*watcher)->Subscribe();
  }
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("no file descriptor left for an eventfd"));
  absl::StatusOr<std::unique_ptr<LogWatcher::Subscription>> served = (*watcher)->Subscribe();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_GE((*served)->fd(), 0);
}

}  // namespace
}  // namespace fsb::agent
