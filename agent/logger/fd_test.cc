#include "agent/logger/fd.h"

#include <cerrno>

#include "agent/logger/fd_testing.h"
#include "gtest/gtest.h"

namespace fsb::logger {
namespace {

TEST(EventFdTest, NotifyWakesUntilConsumed) {
  EventFd event;
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event.error(), 0);
  EXPECT_GE(event.fd(), 0);
  EXPECT_FALSE(event.Notified());
  event.Notify();
  EXPECT_TRUE(event.Notified());
  event.Consume();
  EXPECT_FALSE(event.Notified());
}

TEST(EventFdTest, WithoutADescriptorLeftItReportsTheFailureAndDoesNothing) {
  {
    DescriptorLimit limit;
    EventFd event;
    EXPECT_FALSE(event.ok());
    EXPECT_EQ(event.error(), EMFILE);
    EXPECT_EQ(event.fd(), -1);
    event.Notify();
    EXPECT_FALSE(event.Notified());
    event.Consume();
  }
  // The limit is back: the next one works.
  EventFd event;
  EXPECT_TRUE(event.ok());
}

}  // namespace
}  // namespace fsb::logger
