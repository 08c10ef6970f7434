#include "agent/io/descriptors.h"

#include <cerrno>

#include "agent/logger/fd_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(DescriptorErrorTest, NamesWhatAndWhy) {
  absl::Status s = DescriptorError("an eventfd", EMFILE);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "no file descriptor left for an eventfd: Too many open files");
  s = DescriptorError("an inotify instance", ENFILE);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("no file descriptor left for an inotify instance"));
  s = DescriptorError("an eventfd", ENOMEM);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "cannot create an eventfd: Cannot allocate memory");
}

TEST(ErrnoStatusTest, ResourceExhaustedWithoutADescriptorElseInternal) {
  errno = EMFILE;
  absl::Status s = ErrnoStatus("cannot open", "/x/log");
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "cannot open /x/log: Too many open files");
  errno = ENFILE;
  EXPECT_TRUE(absl::IsResourceExhausted(ErrnoStatus("cannot open", "/x/log")));
  errno = EIO;
  s = ErrnoStatus("cannot stat", "/x/log");
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_EQ(s.message(), "cannot stat /x/log: Input/output error");
}

TEST(EventFdStatusTest, OkForACreatedOneResourceExhaustedWithoutADescriptor) {
  logger::EventFd created;
  EXPECT_TRUE(EventFdStatus(created).ok());
  absl::Status s;
  {
    logger::DescriptorLimit limit;
    logger::EventFd failed;
    s = EventFdStatus(failed);
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "no file descriptor left for an eventfd: Too many open files");
}

}  // namespace
}  // namespace fsb::agent
