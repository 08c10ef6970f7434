#include "internal/deadline.h"

#include "gtest/gtest.h"

namespace fsb {
namespace {

TEST(DeadlineTest, LeftShrinksTowardsZeroAndExpires) {
  const Deadline soon = Deadline::In(absl::Milliseconds(20));
  EXPECT_FALSE(soon.Expired());
  EXPECT_GT(soon.Left(), absl::ZeroDuration());
  EXPECT_LE(soon.Left(), absl::Milliseconds(20));
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_TRUE(soon.Expired());
  EXPECT_EQ(soon.Left(), absl::ZeroDuration());
}

TEST(DeadlineTest, PastDeadlineHasNothingLeft) {
  const Deadline past = Deadline::In(-absl::Seconds(1));
  EXPECT_TRUE(past.Expired());
  EXPECT_EQ(past.Left(), absl::ZeroDuration());
}

TEST(DeadlineTest, ChronoFormIsTheSameInstant) {
  const Deadline deadline = Deadline::In(absl::Hours(1));
  EXPECT_EQ(absl::FromChrono(deadline.ToChrono()), deadline.time());
}

}  // namespace
}  // namespace fsb
