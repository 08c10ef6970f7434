// Proves that the scheduler's hot path performs no heap allocation in steady state.
//
// The binary links fsb_counting_allocator, which replaces the global operator new/delete
// with versions that count allocations per thread (so other threads, e.g. gtest's, do
// not disturb the measurement).

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/scheduler/counting_allocator.h"
#include "controller/scheduler/scheduler.h"
#include "gtest/gtest.h"
#include "internal/clock.h"

namespace fsb::controller {
namespace {

// Where the vector below escapes to, so the compiler cannot elide its allocation.
void* volatile escaped_buffer = nullptr;

TEST(ZeroAllocationTest, CounterSeesAllocations) {
  const HeapUse before = ThreadHeapUse();
  std::vector<int> v(100);
  escaped_buffer = v.data();
  const HeapUse used = ThreadHeapUse() - before;
  EXPECT_EQ(used.allocations, 1u);
  EXPECT_EQ(used.bytes, 100 * sizeof(int));
}

TEST(ZeroAllocationTest, HotPathDoesNotAllocateInSteadyState) {
  ManualClock clock;
  Scheduler s(&clock);
  std::vector<std::string> images = {"alpine", "nginx", "redis", "busybox"};
  std::vector<AgentDescriptor> agents(100);
  for (int a = 0; a < 100; ++a) {
    AgentDescriptor& d = agents[a];
    d.id = absl::StrCat("agent-", a);
    d.address = absl::StrCat("10.0.0.", a, ":5758");
    d.pool = a % 10 == 0 ? "other" : "default";
    d.max_sandboxes = 10;
    d.images = images;
    d.warm = {{"alpine", a % 3 == 0 ? 2u : 0u}};
    // Some agents' runtime is down: they take only warm claims.
    d.runtime_down = a % 9 == 0;
    ASSERT_TRUE(s.RegisterOrUpdate(d).ok());
  }
  const ImageId alpine = s.LookupImage("alpine");
  const ImageId nginx = s.LookupImage("nginx");
  const ImageId redis = s.LookupImage("redis");
  const std::string heartbeat_id = "agent-7";
  const ImageId hb_images[] = {alpine, nginx, redis};
  const WarmImage hb_warm[] = {{alpine, 3}};
  const WarmImage answer_warm[] = {{alpine, 2, 1, 3}, {redis, 0, 1, 1}};
  HeartbeatUpdate hb;
  hb.reported_sandboxes = 1;
  hb.images = hb_images;
  hb.warm = hb_warm;
  const HostPort ports[] = {{8080}, {9090}};

  std::array<AgentHandle, kMaxCandidates> out;
  auto round = [&](int r) {
    AllocationRequest req;
    req.pool = s.LookupPool("default");
    req.image = s.LookupImage(r % 2 ? "alpine" : "docker.io/library/nginx:latest");
    req.request_hash = HashRequestId("sandbox-request-id-0123456789");
    req.request_hash += r;
    req.ports = ports;
    absl::StatusOr<int> n = s.Allocate(req, out);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GE(*n, 2);
    // The agent "rejected": release and reserve on the next candidate.
    ASSERT_TRUE(s.Release(out[0], ports).ok());
    ASSERT_TRUE(s.Reserve(out[1], req).ok());
    ASSERT_TRUE(s.Release(out[1], ports).ok());
    ASSERT_TRUE(s.SelectCandidates(req, out).ok());
    // Heartbeats, by handle and by id.
    std::optional<AgentHandle> h = s.FindAgent(heartbeat_id);
    ASSERT_TRUE(h.has_value());
    hb.runtime_down = r % 3 == 0;
    ASSERT_TRUE(s.Heartbeat(*h, hb).ok());
    ASSERT_TRUE(s.Heartbeat(heartbeat_id, hb).ok());
    // The warm counts of a create answer.
    ASSERT_TRUE(s.SetWarm(out[0], answer_warm).ok());
    // Re-registration of a known agent with the same description.
    ASSERT_TRUE(s.RegisterOrUpdate(agents[r % agents.size()]).ok());
    // The placement view of the chosen agent and of one by id.
    std::optional<AgentView> view = s.ViewAgent(out[0], req.image);
    ASSERT_TRUE(view.has_value());
    ASSERT_FALSE(view->identity->address.empty());
    ASSERT_TRUE(s.ViewAgentByID(heartbeat_id, req.image).has_value());
    clock.Advance(absl::Milliseconds(1));
  };
  // Warm-up: the first round may grow the held-port vectors past their initial capacity
  // (it does not at this size) and sees every spelling once.
  for (int r = 0; r < 4; ++r) round(r);

  const HeapUse before = ThreadHeapUse();
  for (int r = 0; r < 2000; ++r) round(r);
  const HeapUse used = ThreadHeapUse() - before;
  EXPECT_EQ(used.allocations, 0u) << "allocations in 2000 rounds of Allocate/Release/Reserve/"
                                     "SelectCandidates/Heartbeat/SetWarm/RegisterOrUpdate/"
                                     "ViewAgent/ViewAgentByID";

  // The failure path may allocate (it builds a message), and does.
  AllocationRequest none;
  none.pool = s.LookupPool("default");
  none.image = kUnknownImage;
  none.require_cached_image = true;
  const HeapUse before_failure = ThreadHeapUse();
  EXPECT_FALSE(s.Allocate(none, out).ok());
  EXPECT_GT((ThreadHeapUse() - before_failure).allocations, 0u);
}

// Snapshots share the published lists while they are unchanged, and copy strings that
// fit libstdc++'s inline buffer without allocating: reading an unchanged agent allocates
// nothing, and listing all agents allocates the vector only.
TEST(ZeroAllocationTest, SnapshotsOfUnchangedAgentsDoNotAllocate) {
  ManualClock clock;
  Scheduler s(&clock);
  const HostPort ports[] = {{8080}};
  for (int a = 0; a < 50; ++a) {
    AgentDescriptor d;
    d.id = absl::StrCat("agent-", a);
    d.address = absl::StrCat("10.0.0.", a, ":5758");
    d.node = absl::StrCat("node-", a);
    d.pool = "default";
    d.max_sandboxes = 10;
    d.images = {"alpine", "nginx", "redis"};
    d.warm = {{"alpine", 2, 1, 3}};
    const AgentHandle h = s.RegisterOrUpdate(d).value();
    ASSERT_TRUE(s.Restore(h, ports).ok());
  }
  // The first reads publish the lists.
  ASSERT_EQ(s.GetAllAgents().size(), 50u);

  HeapUse before = ThreadHeapUse();
  for (int r = 0; r < 100; ++r) {
    absl::StatusOr<AgentSnapshot> agent = s.GetAgentByID(absl::StrCat("agent-", r % 50));
    ASSERT_TRUE(agent.ok());
    ASSERT_EQ(agent->images.size(), 3u);
    ASSERT_EQ(agent->warm.size(), 1u);
    ASSERT_EQ(agent->ports.size(), 1u);
  }
  EXPECT_EQ((ThreadHeapUse() - before).allocations, 0u);

  before = ThreadHeapUse();
  for (int r = 0; r < 10; ++r) ASSERT_EQ(s.GetAllAgents().size(), 50u);
  EXPECT_EQ((ThreadHeapUse() - before).allocations, 10u);
}

}  // namespace
}  // namespace fsb::controller
