#include "controller/registry.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBusybox[] = "docker.io/library/busybox:latest";

class RegistryTest : public ::testing::Test {
 protected:
  void Register(std::string id, int capacity, std::vector<std::string> images = {},
                std::string pool = "", int reported = 0) {
    ASSERT_TRUE(registry_
                    .Register({.id = id,
                               .address = id + ".example:5758",
                               .node = "node-" + id,
                               .pool = std::move(pool),
                               .capacity = capacity,
                               .images = std::move(images),
                               .reported_sandboxes = reported})
                    .ok());
  }

  std::string AllocateId(std::string_view pool = kDefaultPool, std::string_view image = kBusybox) {
    absl::StatusOr<Placement> placement = registry_.Allocate(pool, image);
    EXPECT_TRUE(placement.ok()) << placement.status();
    return placement.ok() ? placement->agent_id : "";
  }

  ManualClock clock_;
  Registry registry_{&clock_, {.heartbeat_timeout = absl::Seconds(15)}};
};

TEST_F(RegistryTest, RegisterRejectsMalformedAgents) {
  EXPECT_EQ(registry_.Register({.address = "a:1", .capacity = 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Register({.id = "a", .capacity = 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Register({.id = "a", .address = "a:1", .capacity = -1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_.List().empty());
}

TEST_F(RegistryTest, AllocateReturnsPlacementAndDefaultsPool) {
  Register("a", 2);
  absl::StatusOr<Placement> placement = registry_.Allocate("default", kBusybox);
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->agent_id, "a");
  EXPECT_EQ(placement->address, "a.example:5758");
  EXPECT_EQ(placement->node, "node-a");
  EXPECT_EQ(registry_.Get("a")->used, 1);
}

TEST_F(RegistryTest, NoAgentInPool) {
  Register("a", 2);
  absl::StatusOr<Placement> placement = registry_.Allocate("gpu", kBusybox);
  EXPECT_EQ(placement.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(placement.status().message(), HasSubstr("no agent in pool \"gpu\""));
}

TEST_F(RegistryTest, FullPoolSaysSoAndReleaseFreesTheSlot) {
  Register("a", 1);
  EXPECT_EQ(AllocateId(), "a");
  absl::StatusOr<Placement> placement = registry_.Allocate(kDefaultPool, kBusybox);
  EXPECT_EQ(placement.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(placement.status().message(), HasSubstr("all agents in pool \"default\" are full"));

  registry_.Release("a");
  EXPECT_EQ(AllocateId(), "a");
}

TEST_F(RegistryTest, ReleaseNeverGoesBelowZero) {
  Register("a", 1);
  registry_.Release("a");
  registry_.Release("unknown");
  EXPECT_EQ(registry_.Get("a")->used, 0);
  EXPECT_EQ(AllocateId(), "a");
  EXPECT_FALSE(registry_.Allocate(kDefaultPool, kBusybox).ok());
}

TEST_F(RegistryTest, PrefersAgentWithTheImage) {
  Register("a", 10);
  Register("b", 10, {kBusybox});
  Register("c", 10);
  EXPECT_EQ(AllocateId(), "b");
  EXPECT_EQ(AllocateId(), "b");
  // Without the image anywhere the least loaded (then smallest id) wins.
  EXPECT_EQ(AllocateId(kDefaultPool, "docker.io/library/alpine:latest"), "a");
}

TEST_F(RegistryTest, PrefersLowerLoadRatio) {
  Register("a", 2);
  Register("b", 10);
  EXPECT_EQ(AllocateId(), "a");  // tie at 0 load: smaller id
  EXPECT_EQ(AllocateId(), "b");  // a at 1/2, b at 0/10
  EXPECT_EQ(AllocateId(), "b");  // a at 1/2, b at 1/10
}

TEST_F(RegistryTest, StaleAgentIsNotChosenUntilItHeartbeats) {
  Register("a", 5);
  clock_.Advance(absl::Seconds(10));
  Register("b", 5);
  clock_.Advance(absl::Seconds(6));  // a: 16s old (stale), b: 6s old
  EXPECT_EQ(AllocateId(), "b");
  EXPECT_EQ(AllocateId(), "b");
  EXPECT_FALSE(registry_.Get("a")->healthy);
  EXPECT_TRUE(registry_.Get("b")->healthy);

  clock_.Advance(absl::Seconds(10));  // both stale
  absl::StatusOr<Placement> placement = registry_.Allocate(kDefaultPool, kBusybox);
  EXPECT_EQ(placement.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(placement.status().message(), HasSubstr("no healthy agent in pool \"default\""));

  ASSERT_TRUE(registry_.Heartbeat("a", {}, 0).ok());
  EXPECT_EQ(AllocateId(), "a");
}

TEST_F(RegistryTest, HeartbeatForUnknownAgentIsNotFound) {
  EXPECT_EQ(registry_.Heartbeat("ghost", {}, 0).code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, HeartbeatReplacesImages) {
  Register("a", 10);
  Register("b", 10, {kBusybox});
  ASSERT_TRUE(registry_.Heartbeat("a", {kBusybox}, 0).ok());
  ASSERT_TRUE(registry_.Heartbeat("b", {}, 0).ok());
  EXPECT_EQ(AllocateId(), "a");
  EXPECT_THAT(registry_.Get("a")->images, ElementsAre(kBusybox));
  EXPECT_TRUE(registry_.Get("b")->images.empty());
}

TEST_F(RegistryTest, UsedIsTheLargerOfReservedAndReported) {
  Register("a", 3, {}, "", /*reported=*/2);  // e.g. sandboxes from before a restart
  EXPECT_EQ(registry_.Get("a")->used, 2);
  EXPECT_EQ(AllocateId(), "a");
  EXPECT_EQ(registry_.Get("a")->used, 2);  // max(1 reserved, 2 reported)
  EXPECT_EQ(AllocateId(), "a");
  EXPECT_EQ(AllocateId(), "a");
  EXPECT_EQ(registry_.Get("a")->used, 3);
  EXPECT_FALSE(registry_.Allocate(kDefaultPool, kBusybox).ok());

  registry_.Release("a");
  registry_.Release("a");
  ASSERT_TRUE(registry_.Heartbeat("a", {}, 3).ok());
  EXPECT_EQ(registry_.Get("a")->used, 3);  // the agent still holds three
  ASSERT_TRUE(registry_.Heartbeat("a", {}, 0).ok());
  EXPECT_EQ(registry_.Get("a")->used, 1);
}

TEST_F(RegistryTest, ReRegistrationKeepsReservations) {
  Register("a", 1);
  EXPECT_EQ(AllocateId(), "a");
  Register("a", 1);
  EXPECT_EQ(registry_.Get("a")->used, 1);
  EXPECT_FALSE(registry_.Allocate(kDefaultPool, kBusybox).ok());
}

TEST_F(RegistryTest, PoolsAreSeparate) {
  Register("a", 1, {}, "gpu");
  Register("b", 1);
  EXPECT_EQ(AllocateId("gpu"), "a");
  EXPECT_EQ(AllocateId(kDefaultPool), "b");
}

TEST_F(RegistryTest, ListIsASortedSnapshot) {
  Register("b", 2, {"docker.io/library/z:latest", kBusybox}, "gpu");
  Register("a", 3);
  EXPECT_EQ(AllocateId("gpu"), "b");
  std::vector<AgentView> agents = registry_.List();
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[0].id, "a");
  EXPECT_EQ(agents[0].pool, "default");
  EXPECT_EQ(agents[0].used, 0);
  EXPECT_EQ(agents[1].id, "b");
  EXPECT_EQ(agents[1].address, "b.example:5758");
  EXPECT_EQ(agents[1].node, "node-b");
  EXPECT_EQ(agents[1].pool, "gpu");
  EXPECT_EQ(agents[1].capacity, 2);
  EXPECT_EQ(agents[1].used, 1);
  EXPECT_THAT(agents[1].images, ElementsAre(kBusybox, "docker.io/library/z:latest"));
  EXPECT_EQ(agents[1].last_heartbeat, clock_.Now());
  EXPECT_TRUE(agents[1].healthy);
}

TEST_F(RegistryTest, GetUnknownAgentIsNotFound) {
  EXPECT_EQ(registry_.Get("ghost").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fsb::controller
