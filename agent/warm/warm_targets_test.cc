#include "agent/warm/warm_targets.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(WarmTargetsTest, ParsesRepeatedAndCommaSeparatedValues) {
  absl::StatusOr<std::vector<WarmTarget>> t =
      ParseWarmTargets({"busybox=2", "fsb/busybox=1, 127.0.0.1:5000/app:1=0"});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].image, "docker.io/library/busybox:latest");
  EXPECT_EQ((*t)[0].count, 2);
  EXPECT_EQ((*t)[1].image, "docker.io/fsb/busybox:latest");
  EXPECT_EQ((*t)[2].image, "127.0.0.1:5000/app:1");
  EXPECT_EQ((*t)[2].count, 0);
  EXPECT_TRUE(ParseWarmTargets({}).value().empty());
}

TEST(WarmTargetsTest, RejectsMalformedEntries) {
  EXPECT_THAT(ParseWarmTargets({"busybox"}).status().message(), HasSubstr("IMAGE=N"));
  EXPECT_THAT(ParseWarmTargets({"busybox=-1"}).status().message(), HasSubstr("0-1000"));
  EXPECT_THAT(ParseWarmTargets({"busybox=1001"}).status().message(), HasSubstr("0-1000"));
  EXPECT_THAT(ParseWarmTargets({"Bad Image=1"}).status().message(), HasSubstr("Bad Image"));
  EXPECT_THAT(ParseWarmTargets({"busybox=1,docker.io/library/busybox=2"}).status().message(),
              HasSubstr("more than once"));
}

}  // namespace
}  // namespace fsb::agent
