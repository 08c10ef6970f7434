#include "agent/io/stream_limiter.h"

#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(StreamLimiterTest, RefusesOverTheCapNamingItAndCountsInTheGauge) {
  metrics::Registry registry;
  StreamLimiter limiter(3, &registry);
  std::vector<StreamLimiter::Slot> held;
  for (StreamKind kind : {StreamKind::kLogs, StreamKind::kExec, StreamKind::kLogs}) {
    absl::StatusOr<StreamLimiter::Slot> slot = limiter.Acquire(kind);
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(*std::move(slot));
  }
  EXPECT_EQ(limiter.open(), 3);
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("fsb_agent_io_streams{kind=\"logs\"} 2"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_io_streams{kind=\"exec\"} 1"));

  absl::StatusOr<StreamLimiter::Slot> refused = limiter.Acquire(StreamKind::kExec);
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("3 log and exec streams"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--max-io-streams"));
  EXPECT_THAT(registry.Serialize(),
              HasSubstr("fsb_agent_io_streams_refused_total{kind=\"exec\"} 1"));
}

TEST(StreamLimiterTest, AReleasedSlotMakesRoom) {
  metrics::Registry registry;
  StreamLimiter limiter(1, &registry);
  std::optional<StreamLimiter::Slot> slot;
  {
    absl::StatusOr<StreamLimiter::Slot> first = limiter.Acquire(StreamKind::kLogs);
    ASSERT_TRUE(first.ok());
    slot.emplace(*std::move(first));  // the moved-from slot releases nothing
  }
  EXPECT_EQ(limiter.open(), 1);
  EXPECT_FALSE(limiter.Acquire(StreamKind::kLogs).ok());
  slot.reset();
  EXPECT_EQ(limiter.open(), 0);
  EXPECT_THAT(registry.Serialize(), HasSubstr("fsb_agent_io_streams{kind=\"logs\"} 0"));
  EXPECT_TRUE(limiter.Acquire(StreamKind::kLogs).ok());
}

}  // namespace
}  // namespace fsb::agent
