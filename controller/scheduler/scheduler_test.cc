#include "controller/scheduler/scheduler.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/clock.h"

namespace fsb::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class SchedulerTest : public ::testing::Test {
 protected:
  AgentHandle Add(const std::string& id, const std::string& pool, int cap,
                  std::vector<std::string> images = {}, std::vector<NamedWarmImage> warm = {},
                  int reported = 0) {
    AgentDescriptor d;
    d.id = id;
    d.address = id + ":5758";
    d.node = "node-" + id;
    d.pool = pool;
    d.max_sandboxes = cap;
    d.images = std::move(images);
    d.warm = std::move(warm);
    d.reported_sandboxes = reported;
    absl::StatusOr<AgentHandle> h = s_.RegisterOrUpdate(d);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.value_or(AgentHandle{});
  }

  AllocationRequest Req(const std::string& pool, const std::string& image = "",
                        std::span<const HostPort> ports = {}, const std::string& request_id = "r") {
    AllocationRequest r;
    r.pool = s_.LookupPool(pool);
    r.image = image.empty() ? kUnknownImage : s_.LookupImage(image);
    r.ports = ports;
    r.request_hash = HashRequestId(request_id);
    return r;
  }

  std::string IdOf(AgentHandle h) {
    absl::StatusOr<AgentSnapshot> s = s_.GetAgent(h);
    return s.ok() ? s->identity->id : std::string("<stale>");
  }

  // Allocates; returns the best candidate, now holding the reservation, or nullopt.
  std::optional<AgentHandle> AllocateBest(const AllocationRequest& r) {
    std::array<AgentHandle, kMaxCandidates> out;
    absl::StatusOr<int> n = s_.Allocate(r, out);
    if (!n.ok()) return std::nullopt;
    return out[0];
  }

  // Allocates and returns the chosen agent's id ("" on failure).
  std::string AllocateId(const AllocationRequest& r) {
    std::optional<AgentHandle> h = AllocateBest(r);
    return h.has_value() ? IdOf(*h) : "";
  }

  // Allocates, releases the reservation again (so capacity never runs out) and returns
  // the chosen agent's id ("" on failure).
  std::string PlaceAndReleaseId(const AllocationRequest& r) {
    std::optional<AgentHandle> h = AllocateBest(r);
    if (!h.has_value()) return "";
    EXPECT_TRUE(s_.Release(*h, r.ports).ok());
    return IdOf(*h);
  }

  // How often each agent comes first over `requests` distinct request ids.
  std::map<std::string, int> FirstChoiceCounts(const std::string& pool, int requests) {
    std::map<std::string, int> counts;
    std::array<AgentHandle, 1> out;
    for (int r = 0; r < requests; ++r) {
      absl::StatusOr<int> n =
          s_.SelectCandidates(Req(pool, "", {}, absl::StrCat("request-", r)), out);
      EXPECT_TRUE(n.ok()) << n.status();
      if (n.ok()) ++counts[IdOf(out[0])];
    }
    return counts;
  }

  int Reserved(const std::string& id) { return s_.GetAgentByID(id)->reserved; }

  ManualClock clock_;
  Scheduler s_{&clock_, Scheduler::Options{absl::Seconds(15)}};
};

TEST_F(SchedulerTest, InterningNormalizesImagesAndIsStable) {
  absl::StatusOr<ImageId> a = s_.InternImage("busybox");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(s_.InternImage("docker.io/library/busybox:latest").value(), *a);
  EXPECT_EQ(s_.LookupImage("busybox:latest"), *a);
  EXPECT_EQ(s_.LookupImage("library/busybox"), *a);
  EXPECT_EQ(s_.ImageName(*a), "docker.io/library/busybox:latest");
  EXPECT_NE(s_.InternImage("alpine").value(), *a);
  EXPECT_EQ(s_.LookupImage("never-seen"), kUnknownImage);
  EXPECT_EQ(s_.LookupImage("Not A Ref!"), kUnknownImage);
  EXPECT_EQ(s_.InternImage("Not A Ref!").status().code(), absl::StatusCode::kInvalidArgument);

  const PoolId p = s_.InternPool("default");
  EXPECT_EQ(s_.InternPool("default"), p);
  EXPECT_EQ(s_.LookupPool("default"), p);
  EXPECT_NE(s_.InternPool("gpu"), p);
  EXPECT_EQ(s_.LookupPool("nope"), kUnknownPool);
  EXPECT_EQ(s_.PoolName(p), "default");
}

TEST_F(SchedulerTest, RegisterValidates) {
  AgentDescriptor d;
  d.pool = "p";
  EXPECT_EQ(s_.RegisterOrUpdate(d).status().code(), absl::StatusCode::kInvalidArgument);
  d.id = "a";
  d.pool = "";
  EXPECT_EQ(s_.RegisterOrUpdate(d).status().code(), absl::StatusCode::kInvalidArgument);
  d.pool = "p";
  d.max_sandboxes = -1;
  EXPECT_EQ(s_.RegisterOrUpdate(d).status().code(), absl::StatusCode::kInvalidArgument);
  d.max_sandboxes = 1;
  d.images = {"UPPER CASE"};
  EXPECT_EQ(s_.RegisterOrUpdate(d).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.AgentCount(), 0);
}

TEST_F(SchedulerTest, FiltersByPool) {
  Add("a1", "pa", 4);
  Add("b1", "pb", 4);
  Add("b2", "pb", 4);
  for (int r = 0; r < 20; ++r) {
    std::string id = PlaceAndReleaseId(Req("pb", "", {}, absl::StrCat("req-", r)));
    EXPECT_TRUE(id == "b1" || id == "b2") << id;
  }
  EXPECT_EQ(AllocateId(Req("pa")), "a1");

  std::array<AgentHandle, 2> out;
  absl::StatusOr<int> n = s_.Allocate(Req("unknown-pool"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("no agent in pool"));
  s_.InternPool("empty");
  n = s_.Allocate(Req("empty"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("no agent in pool \"empty\""));
}

TEST_F(SchedulerTest, FiltersStaleHeartbeats) {
  Add("a1", "p", 4);
  Add("a2", "p", 4);
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(s_.Heartbeat("a2", HeartbeatUpdate{}).ok());
  clock_.Advance(absl::Seconds(10));  // a1: 20 s old (stale), a2: 10 s old
  for (int r = 0; r < 10; ++r) {
    EXPECT_EQ(PlaceAndReleaseId(Req("p", "", {}, absl::StrCat(r))), "a2");
  }
  EXPECT_FALSE(s_.GetAgentByID("a1")->healthy);
  EXPECT_TRUE(s_.GetAgentByID("a2")->healthy);

  clock_.Advance(absl::Seconds(20));
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("no healthy agent in pool \"p\""));
  EXPECT_THAT(n.status().message(), HasSubstr("2 with no heartbeat"));

  ASSERT_TRUE(s_.Heartbeat("a1", HeartbeatUpdate{}).ok());
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  EXPECT_EQ(s_.Heartbeat("ghost", HeartbeatUpdate{}).code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, FiltersDraining) {
  Add("a1", "p", 4);
  Add("a2", "p", 4);
  ASSERT_TRUE(s_.SetDraining("a1", true).ok());
  for (int r = 0; r < 10; ++r) {
    EXPECT_EQ(PlaceAndReleaseId(Req("p", "", {}, absl::StrCat(r))), "a2");
  }
  ASSERT_TRUE(s_.SetDraining("a2", true).ok());
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  EXPECT_THAT(n.status().message(), HasSubstr("2 draining"));
  EXPECT_TRUE(s_.GetAgentByID("a1")->draining);
  // Re-registration keeps the controller-side draining flag.
  Add("a1", "p", 4);
  EXPECT_TRUE(s_.GetAgentByID("a1")->draining);
  ASSERT_TRUE(s_.SetDraining("a1", false).ok());
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  EXPECT_EQ(s_.SetDraining("ghost", true).code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, FiltersCapacity) {
  Add("a1", "p", 2);
  Add("z", "p", 0);  // takes nothing
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("all 2 healthy agents in pool \"p\" are full"));
  EXPECT_EQ(Reserved("a1"), 2);
}

TEST_F(SchedulerTest, PoolLimitCapsEveryMemberBelowItsOwnCapacity) {
  EXPECT_EQ(s_.SetPoolLimit("", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.SetPoolLimit("p", -1).code(), absl::StatusCode::kInvalidArgument);
  // A limit set before any member registers applies to later members.
  ASSERT_TRUE(s_.SetPoolLimit("p", 1).ok());
  Add("a1", "p", 3);
  Add("b1", "other", 3);
  absl::StatusOr<AgentSnapshot> snap = s_.GetAgentByID("a1");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->max_sandboxes, 3);
  EXPECT_EQ(snap->capacity, 1);
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("all 1 healthy agents in pool \"p\" are full"));
  // Another pool is not affected.
  EXPECT_EQ(AllocateId(Req("other")), "b1");
  EXPECT_EQ(AllocateId(Req("other")), "b1");
  // Raising the limit above the agent's own capacity leaves the agent's capacity.
  ASSERT_TRUE(s_.SetPoolLimit("p", 10).ok());
  EXPECT_EQ(s_.GetAgentByID("a1")->capacity, 3);
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  EXPECT_EQ(AllocateId(Req("p")), "a1");
  EXPECT_EQ(AllocateId(Req("p")), "");
  // Lowering it keeps what is placed and stops new placements; 0 removes it.
  ASSERT_TRUE(s_.SetPoolLimit("p", 2).ok());
  EXPECT_EQ(Reserved("a1"), 3);
  ASSERT_TRUE(s_.Release(*s_.FindAgent("a1"), {}).ok());
  EXPECT_EQ(AllocateId(Req("p")), "");  // used 2 of the pool's 2
  ASSERT_TRUE(s_.SetPoolLimit("p", 0).ok());
  EXPECT_EQ(AllocateId(Req("p")), "a1");
}

TEST_F(SchedulerTest, ReportedSandboxesCountTowardsCapacity) {
  // used = max(reserved, reported): the agent's own count covers sandboxes the controller
  // does not know about; the controller's reservations cover those not yet reported.
  const AgentHandle a = Add("a1", "p", 3, {}, {}, /*reported=*/3);
  std::array<AgentHandle, 4> out;
  EXPECT_EQ(s_.Allocate(Req("p"), out).status().code(), absl::StatusCode::kResourceExhausted);
  HeartbeatUpdate hb;
  hb.reported_sandboxes = 1;
  ASSERT_TRUE(s_.Heartbeat("a1", hb).ok());
  EXPECT_EQ(AllocateId(Req("p")), "a1");  // reserved 1, used max(1, 1) = 1
  EXPECT_EQ(AllocateId(Req("p")), "a1");  // reserved 2, used 2
  EXPECT_EQ(AllocateId(Req("p")), "a1");  // reserved 3, used 3
  EXPECT_EQ(AllocateId(Req("p")), "");
  hb.reported_sandboxes = 3;
  ASSERT_TRUE(s_.Heartbeat("a1", hb).ok());
  ASSERT_TRUE(s_.Release(a, {}).ok());  // reserved 2, but the agent still reports 3
  EXPECT_EQ(AllocateId(Req("p")), "");
  hb.reported_sandboxes = 2;
  ASSERT_TRUE(s_.Heartbeat("a1", hb).ok());
  EXPECT_EQ(AllocateId(Req("p")), "a1");
}

TEST_F(SchedulerTest, FiltersPortConflicts) {
  Add("a1", "p", 4);
  const HostPort p8080[] = {{8080}};
  const HostPort p9090[] = {{9090}};
  const HostPort both[] = {{9091}, {8080}};
  EXPECT_EQ(AllocateId(Req("p", "", p8080)), "a1");
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p", "", both), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("port 8080/tcp is already taken on agent \"a1\""));
  EXPECT_THAT(n.status().message(), HasSubstr("requested host ports (9091/tcp, 8080/tcp)"));
  EXPECT_EQ(AllocateId(Req("p", "", p9090)), "a1");
  EXPECT_THAT(s_.GetAgentByID("a1")->ports, ::testing::ElementsAre(HostPort{8080}, HostPort{9090}));

  // A second agent takes the conflicting request.
  Add("a2", "p", 4);
  for (int r = 0; r < 5; ++r) {
    std::string id = AllocateId(Req("p", "", p8080, absl::StrCat(r)));
    if (r == 0) {
      EXPECT_EQ(id, "a2");
    } else {
      EXPECT_EQ(id, "");  // 8080 now held on both
    }
  }
}

TEST_F(SchedulerTest, TcpAndUdpHostPortsAreDistinct) {
  Add("a1", "p", 4);
  const HostPort tcp53[] = {{53, HostPort::Protocol::kTcp}};
  const HostPort udp53[] = {{53, HostPort::Protocol::kUdp}};
  EXPECT_EQ(AllocateId(Req("p", "", tcp53)), "a1");
  EXPECT_EQ(AllocateId(Req("p", "", udp53)), "a1");
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p", "", udp53), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("port 53/udp is already taken"));
  EXPECT_THAT(s_.GetAgentByID("a1")->ports, ::testing::ElementsAre(tcp53[0], udp53[0]));
  // One sandbox may publish both.
  const HostPort both[] = {{54, HostPort::Protocol::kTcp}, {54, HostPort::Protocol::kUdp}};
  EXPECT_EQ(AllocateId(Req("p", "", both)), "a1");
}

TEST_F(SchedulerTest, RejectsInvalidPortsAndEmptyBuffer) {
  Add("a1", "p", 4);
  const HostPort zero[] = {{0}};
  const HostPort dup[] = {{80}, {80}};
  std::array<AgentHandle, 4> out;
  EXPECT_EQ(s_.Allocate(Req("p", "", zero), out).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.Allocate(Req("p", "", dup), out).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.Allocate(Req("p"), std::span<AgentHandle>()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, ScoresWarmOverCachedOverLoad) {
  // "none": idle, no image. "cached": image cached, 1/4 used. "warm": warm, 2/4 used.
  Add("none", "p", 4);
  Add("cached", "p", 4, {"busybox"}, {}, 1);
  Add("warm", "p", 4, {"busybox"}, {{"busybox", 5}}, 2);
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.SelectCandidates(Req("p", "docker.io/library/busybox:latest"), out);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 3);
  EXPECT_EQ(IdOf(out[0]), "warm");
  EXPECT_EQ(IdOf(out[1]), "cached");
  EXPECT_EQ(IdOf(out[2]), "none");

  // Without an image (or an image no one has), load decides.
  n = s_.SelectCandidates(Req("p"), out);
  ASSERT_EQ(*n, 3);
  EXPECT_EQ(IdOf(out[0]), "none");
  EXPECT_EQ(IdOf(out[1]), "cached");
  EXPECT_EQ(IdOf(out[2]), "warm");
  n = s_.SelectCandidates(Req("p", "nginx"), out);
  ASSERT_EQ(*n, 3);
  EXPECT_EQ(IdOf(out[0]), "none");
}

TEST_F(SchedulerTest, LowerLoadRatioWinsAcrossCapacities) {
  Add("half", "p", 10, {}, {}, 5);      // 0.5
  Add("third", "p", 3, {}, {}, 1);      // 0.33
  Add("ninety", "p", 10, {}, {}, 9);    // 0.9
  Add("quarter", "p", 40, {}, {}, 10);  // 0.25
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.SelectCandidates(Req("p"), out);
  ASSERT_EQ(*n, 4);
  EXPECT_EQ(IdOf(out[0]), "quarter");
  EXPECT_EQ(IdOf(out[1]), "third");
  EXPECT_EQ(IdOf(out[2]), "half");
  EXPECT_EQ(IdOf(out[3]), "ninety");
  // At 1/64 resolution: 13/40 -> bucket 20 still beats 1/3 -> 21; 14/40 -> 22 does not.
  HeartbeatUpdate hb;
  hb.reported_sandboxes = 13;
  ASSERT_TRUE(s_.Heartbeat("quarter", hb).ok());
  EXPECT_EQ(AllocateId(Req("p")), "quarter");
  hb.reported_sandboxes = 14;
  ASSERT_TRUE(s_.Heartbeat("quarter", hb).ok());
  EXPECT_EQ(AllocateId(Req("p")), "third");
}

TEST_F(SchedulerTest, TiesSpreadByRequestHash) {
  for (int a = 0; a < 8; ++a) Add(absl::StrCat("a", a), "p", 100);
  // 800 requests over 8 equal agents: 100 each on average; a fair spread keeps every
  // agent far above 50 (the binomial standard deviation is ~9.4).
  const std::map<std::string, int> counts = FirstChoiceCounts("p", 800);
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [id, count] : counts) EXPECT_GE(count, 50) << id;
  // Deterministic for one request id.
  std::array<AgentHandle, 1> out;
  ASSERT_EQ(*s_.SelectCandidates(Req("p", "", {}, "same"), out), 1);
  const AgentHandle first = out[0];
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(*s_.SelectCandidates(Req("p", "", {}, "same"), out), 1);
    EXPECT_EQ(out[0], first);
  }
}

TEST_F(SchedulerTest, TiesSpreadEvenlyOverScatteredIndices) {
  // 200 agents (four bitmap words); only 8, at uneven gaps and beyond the first word, are
  // idle: they are the tie. Each must come first about equally often, not in proportion
  // to the gap before its index.
  const std::set<int> idle = {5, 6, 70, 71, 72, 130, 190, 199};
  for (int a = 0; a < 200; ++a) {
    Add(absl::StrCat("a", a), "p", 10, {}, {}, idle.count(a) ? 0 : 5);
  }
  const std::map<std::string, int> counts = FirstChoiceCounts("p", 800);
  ASSERT_EQ(counts.size(), idle.size());
  for (int a : idle) EXPECT_GE(counts.at(absl::StrCat("a", a)), 50) << "a" << a;
}

TEST_F(SchedulerTest, TopKContentAndSize) {
  for (int a = 0; a < 6; ++a) Add(absl::StrCat("a", a), "p", 10, {}, {}, a);  // loads 0..5
  std::array<AgentHandle, 10> big;
  absl::StatusOr<int> n = s_.SelectCandidates(Req("p"), big);
  ASSERT_EQ(*n, kMaxCandidates);
  for (int i = 0; i < kMaxCandidates; ++i) EXPECT_EQ(IdOf(big[i]), absl::StrCat("a", i));
  std::array<AgentHandle, 2> two;
  n = s_.SelectCandidates(Req("p"), two);
  ASSERT_EQ(*n, 2);
  EXPECT_EQ(IdOf(two[0]), "a0");
  EXPECT_EQ(IdOf(two[1]), "a1");

  // Fewer qualifying agents than K: all of them, distinct.
  ASSERT_TRUE(s_.SetDraining("a0", true).ok());
  ASSERT_TRUE(s_.SetDraining("a2", true).ok());
  ASSERT_TRUE(s_.SetDraining("a4", true).ok());
  n = s_.SelectCandidates(Req("p"), big);
  ASSERT_EQ(*n, 3);
  EXPECT_EQ(IdOf(big[0]), "a1");
  EXPECT_EQ(IdOf(big[1]), "a3");
  EXPECT_EQ(IdOf(big[2]), "a5");
}

TEST_F(SchedulerTest, AllocateReservesOnlyTheBest) {
  Add("a", "p", 4);
  Add("b", "p", 4, {}, {}, 1);
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  ASSERT_EQ(*n, 2);
  EXPECT_EQ(IdOf(out[0]), "a");
  EXPECT_EQ(Reserved("a"), 1);
  EXPECT_EQ(Reserved("b"), 0);
  // SelectCandidates reserves nothing.
  ASSERT_TRUE(s_.SelectCandidates(Req("p"), out).ok());
  EXPECT_EQ(Reserved("a"), 1);
}

TEST_F(SchedulerTest, RejectionFallsBackToNextCandidateAndReserveRechecks) {
  Add("a", "p", 1);
  Add("b", "p", 2, {}, {}, 1);
  Add("c", "p", 4, {}, {}, 3);
  Add("other", "q", 4);
  const HostPort ports[] = {{8080}};
  const AllocationRequest req = Req("p", "", ports);
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(req, out);
  ASSERT_EQ(*n, 3);
  ASSERT_EQ(IdOf(out[0]), "a");
  // Agent "a" says RESOURCE_EXHAUSTED: release it and try the next.
  ASSERT_TRUE(s_.Release(out[0], ports).ok());
  // Meanwhile "b" filled up (other requests took its slots) ...
  ASSERT_TRUE(s_.Reserve(out[1], Req("p")).ok());
  ASSERT_TRUE(s_.Reserve(out[1], Req("p")).ok());
  absl::Status st = s_.Reserve(out[1], req);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(st.message(), HasSubstr("full"));
  // ... so "c" gets it.
  ASSERT_TRUE(s_.Reserve(out[2], req).ok());
  EXPECT_EQ(Reserved("c"), 1);
  st = s_.Reserve(out[2], req);
  EXPECT_THAT(st.message(), HasSubstr("port 8080"));

  // Other filters re-checked by Reserve.
  const AgentHandle other = *s_.FindAgent("other");
  EXPECT_THAT(s_.Reserve(other, Req("p")).message(), HasSubstr("pool"));
  ASSERT_TRUE(s_.SetDraining("c", true).ok());
  EXPECT_THAT(s_.Reserve(out[2], Req("p")).message(), HasSubstr("draining"));
  ASSERT_TRUE(s_.SetDraining("c", false).ok());
  AllocationRequest needs_image = Req("p", "busybox");
  needs_image.require_cached_image = true;
  EXPECT_THAT(s_.Reserve(out[2], needs_image).message(), HasSubstr("image"));
  clock_.Advance(absl::Seconds(16));
  EXPECT_THAT(s_.Reserve(out[2], Req("p")).message(), HasSubstr("heartbeat"));
  ASSERT_TRUE(s_.Remove("c").ok());
  EXPECT_EQ(s_.Reserve(out[2], Req("p")).code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, ReleaseFreesCapacityAndPorts) {
  const AgentHandle a = Add("a", "p", 1);
  const HostPort ports[] = {{8080}, {8443}};
  std::array<AgentHandle, 4> out;
  ASSERT_TRUE(s_.Allocate(Req("p", "", ports), out).ok());
  EXPECT_EQ(s_.Allocate(Req("p", "", ports), out).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(s_.Release(a, ports).ok());
  EXPECT_EQ(Reserved("a"), 0);
  EXPECT_TRUE(s_.GetAgentByID("a")->ports.empty());
  ASSERT_TRUE(s_.Allocate(Req("p", "", ports), out).ok());
  ASSERT_TRUE(s_.Release(a, ports).ok());
  // A double release changes nothing and says so.
  EXPECT_EQ(s_.Release(a, ports).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reserved("a"), 0);
}

TEST_F(SchedulerTest, RestoreRecordsExistingPlacementsRegardlessOfFilters) {
  const AgentHandle a = Add("a", "p", 1);
  const HostPort web[] = {{8080}};
  const HostPort db[] = {{5432}};
  // Two sandboxes already run on a one-slot agent (e.g. it was reconfigured): both count.
  ASSERT_TRUE(s_.Restore(a, web).ok());
  ASSERT_TRUE(s_.Restore(a, db).ok());
  EXPECT_EQ(Reserved("a"), 2);
  EXPECT_THAT(s_.GetAgentByID("a")->ports, ::testing::ElementsAre(HostPort{5432}, HostPort{8080}));
  std::array<AgentHandle, 4> out;
  EXPECT_EQ(s_.Allocate(Req("p"), out).status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(s_.Release(a, web).ok());
  ASSERT_TRUE(s_.Release(a, db).ok());
  EXPECT_EQ(AllocateId(Req("p", "", web)), "a");
  const HostPort zero[] = {{0}};
  EXPECT_EQ(s_.Restore(a, zero).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.Restore(AgentHandle{a.index, a.generation + 1}, web).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, ReleaseIsAllOrNothing) {
  const AgentHandle a = Add("a", "p", 4);
  const HostPort first[] = {{8080}};
  const HostPort second[] = {{9090}, {9091}};
  ASSERT_EQ(AllocateId(Req("p", "", first)), "a");
  ASSERT_EQ(AllocateId(Req("p", "", second)), "a");
  ASSERT_TRUE(s_.Release(a, first).ok());
  // Repeating the first release must not take the second sandbox's slot.
  absl::Status st = s_.Release(a, first);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("port 8080/tcp is not held"));
  // A release naming a held and an unheld port frees neither.
  const HostPort mixed[] = {{9090}, {8080}};
  EXPECT_EQ(s_.Release(a, mixed).code(), absl::StatusCode::kFailedPrecondition);
  const HostPort dup[] = {{9090}, {9090}};
  EXPECT_EQ(s_.Release(a, dup).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reserved("a"), 1);
  EXPECT_THAT(s_.GetAgentByID("a")->ports, ::testing::ElementsAre(HostPort{9090}, HostPort{9091}));
  ASSERT_TRUE(s_.Release(a, second).ok());
  EXPECT_EQ(Reserved("a"), 0);
  EXPECT_TRUE(s_.GetAgentByID("a")->ports.empty());
}

TEST_F(SchedulerTest, LoadBucketsCoverEveryFreeSlot) {
  // Capacity 64: each used count has its own bucket, the last free slot is bucket 63.
  Add("small", "p", 64);
  for (int r = 0; r < 64; ++r) {
    ASSERT_EQ(AllocateId(Req("p", "", {}, absl::StrCat(r))), "small") << r;
  }
  std::array<AgentHandle, 4> out;
  EXPECT_THAT(s_.Allocate(Req("p"), out).status().message(),
              HasSubstr("all 1 healthy agents in pool \"p\" are full"));
  // Capacity 1000 with one free slot: bucket floor(64 * 999 / 1000) = 63, still a candidate.
  Add("big", "p", 1000, {}, {}, 999);
  EXPECT_EQ(AllocateId(Req("p")), "big");
  HeartbeatUpdate hb;
  hb.reported_sandboxes = 1000;
  ASSERT_TRUE(s_.Heartbeat("big", hb).ok());
  EXPECT_EQ(AllocateId(Req("p")), "");
}

TEST_F(SchedulerTest, RequireCachedImageMessages) {
  Add("a", "p", 4, {"alpine"});
  Add("b", "q", 4, {"busybox"});
  std::array<AgentHandle, 4> out;
  AllocationRequest r = Req("p", "nginx");
  r.require_cached_image = true;
  absl::StatusOr<int> n = s_.Allocate(r, out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("is not cached on any agent"));

  r = Req("p", "busybox");
  r.require_cached_image = true;
  n = s_.Allocate(r, out);
  EXPECT_THAT(n.status().message(),
              HasSubstr("image \"docker.io/library/busybox:latest\" is not cached on any of the 1 "
                        "healthy agents with free capacity in pool \"p\""));

  r = Req("p", "alpine");
  r.require_cached_image = true;
  EXPECT_EQ(AllocateId(r), "a");
  // Without the requirement the image is a preference only.
  EXPECT_EQ(AllocateId(Req("p", "busybox")), "a");
}

TEST_F(SchedulerTest, MostSpecificReasonWins) {
  // One stale, one draining, one full: the last filter that removed agents is capacity.
  Add("stale", "p", 4);
  clock_.Advance(absl::Seconds(30));
  Add("draining", "p", 4);
  ASSERT_TRUE(s_.SetDraining("draining", true).ok());
  Add("full", "p", 1, {}, {}, 1);
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p"), out);
  EXPECT_THAT(n.status().message(), HasSubstr("all 1 healthy agents in pool \"p\" are full"));
}

TEST_F(SchedulerTest, HeartbeatReplacesImagesAndWarmCounts) {
  const AgentHandle a = Add("a", "p", 4);
  Add("b", "p", 4, {}, {}, 1);
  const ImageId busybox = s_.InternImage("busybox").value();
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "a");
  ASSERT_TRUE(s_.Release(a, {}).ok());

  // "b" now has the image: it wins despite the higher load.
  const ImageId imgs[] = {busybox};
  HeartbeatUpdate hb;
  hb.reported_sandboxes = 1;
  hb.images = imgs;
  ASSERT_TRUE(s_.Heartbeat("b", hb).ok());
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "b");
  ASSERT_TRUE(s_.Release(*s_.FindAgent("b"), {}).ok());
  EXPECT_THAT(s_.GetAgentByID("b")->images,
              ::testing::ElementsAre("docker.io/library/busybox:latest"));

  // "a" reports a warm instance: it beats "b" (cached only).
  const WarmImage warm[] = {{busybox, 1}};
  HeartbeatUpdate hba;
  hba.warm = warm;
  ASSERT_TRUE(s_.Heartbeat(a, hba).ok());
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "a");
  // Its only warm instance is claimed locally: the next request prefers "b" (cached)
  // over "a" (no longer warm, image not in its cached list).
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "b");

  // An empty heartbeat clears the image set.
  ASSERT_TRUE(s_.Heartbeat("b", HeartbeatUpdate{}).ok());
  EXPECT_TRUE(s_.GetAgentByID("b")->images.empty());
}

TEST_F(SchedulerTest, SetWarmReplacesOnlyTheWarmCounts) {
  const AgentHandle a = Add("a", "p", 4, {"alpine"}, {{"busybox", 1, 2, 3}}, 1);
  Add("b", "p", 4, {"busybox"});
  const ImageId busybox = s_.LookupImage("busybox");
  const absl::Time registered = clock_.Now();
  clock_.Advance(absl::Seconds(5));

  // A create answer: two ready instances of busybox now, and some of nginx on the way.
  const ImageId nginx = s_.InternImage("nginx").value();
  const WarmImage answer[] = {{busybox, 2, 0, 3}, {nginx, 0, 1, 1}};
  ASSERT_TRUE(s_.SetWarm(a, answer).ok());
  absl::StatusOr<AgentSnapshot> snapshot = s_.GetAgent(a);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_THAT(snapshot->warm,
              ::testing::ElementsAre(NamedWarmImage{"docker.io/library/busybox:latest", 2, 0, 3},
                                     NamedWarmImage{"docker.io/library/nginx:latest", 0, 1, 1}));
  // Images, load and freshness are the last report's.
  EXPECT_THAT(snapshot->images, ::testing::ElementsAre("docker.io/library/alpine:latest"));
  EXPECT_EQ(snapshot->reported, 1);
  EXPECT_EQ(snapshot->last_heartbeat, registered);
  // Ready instances place: "a" is warm for busybox twice, never for nginx (none ready).
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "a");
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "y")), "a");
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "z")), "b");
  EXPECT_EQ(s_.GetAgent(a)->warm[0].ready, 0u);

  // An empty answer clears them; a stale handle changes nothing.
  ASSERT_TRUE(s_.SetWarm(a, {}).ok());
  EXPECT_TRUE(s_.GetAgent(a)->warm.empty());
  ASSERT_TRUE(s_.Remove("a").ok());
  EXPECT_EQ(s_.SetWarm(a, answer).code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, RuntimeDownAgentTakesOnlyCreatesThatClaimAWarmInstance) {
  AgentDescriptor down;
  down.id = "down";
  down.pool = "p";
  down.max_sandboxes = 8;
  down.images = {"busybox", "alpine"};
  down.warm = {{"busybox", 1}};
  down.runtime_down = true;
  const AgentHandle d = s_.RegisterOrUpdate(down).value();
  absl::StatusOr<AgentSnapshot> snapshot = s_.GetAgent(d);
  EXPECT_TRUE(snapshot->runtime_down);
  EXPECT_FALSE(snapshot->healthy);
  EXPECT_FALSE(snapshot->draining);

  // Alone in its pool: a warm claim goes there, anything else finds no agent.
  std::array<AgentHandle, 4> out;
  absl::StatusOr<int> n = s_.Allocate(Req("p", "alpine"), out);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(),
              HasSubstr("the container runtime is down on all 1 healthy agents with free "
                        "capacity in pool \"p\""));
  EXPECT_THAT(n.status().message(),
              HasSubstr("none has a warm instance of image \"docker.io/library/alpine:latest\""));
  EXPECT_EQ(s_.Reserve(d, Req("p", "alpine")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "down");
  // Its only instance is claimed: a second busybox create cannot go there.
  n = s_.Allocate(Req("p", "busybox", {}, "y"), out);
  EXPECT_THAT(n.status().message(), HasSubstr("the container runtime is down"));
  EXPECT_THAT(s_.Reserve(d, Req("p", "busybox")).message(),
              HasSubstr("container runtime is down and it has no warm instance"));

  // Next to a cached agent with a running runtime: it is preferred only when warm.
  Add("up", "p", 8, {"busybox"}, {}, 4);
  HeartbeatUpdate beat;
  const ImageId images[] = {s_.LookupImage("busybox"), s_.LookupImage("alpine")};
  const WarmImage warm[] = {{s_.LookupImage("busybox"), 1}};
  beat.images = images;
  beat.warm = warm;
  beat.runtime_down = true;
  ASSERT_TRUE(s_.Heartbeat(d, beat).ok());
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "down");
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "y")), "up");
  n = s_.SelectCandidates(Req("p", "alpine"), out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(IdOf(out[0]), "up");
  AllocationRequest cached_only = Req("p", "alpine");
  cached_only.require_cached_image = true;
  n = s_.Allocate(cached_only, out);
  EXPECT_THAT(n.status().message(),
              HasSubstr("image \"docker.io/library/alpine:latest\" is not cached on any of the 1 "
                        "healthy agents with free capacity in pool \"p\" (1 more have their "
                        "container runtime down and no warm instance of it)"));

  // The runtime answers again: everything may go there.
  beat.runtime_down = false;
  ASSERT_TRUE(s_.Heartbeat(d, beat).ok());
  EXPECT_TRUE(s_.GetAgent(d)->healthy);
  EXPECT_EQ(AllocateId(cached_only), "down");
  // A registration says it, too.
  ASSERT_TRUE(s_.RegisterOrUpdate(down).ok());
  EXPECT_TRUE(s_.GetAgent(d)->runtime_down);
}

TEST_F(SchedulerTest, WarmEntriesWithoutReadyInstancesAreKeptButDoNotPlace) {
  Add("a", "p", 4, {}, {{"busybox", 0, 2, 2}, {"alpine", 0, 0, 0}});
  Add("b", "p", 4, {"busybox"}, {}, 3);
  absl::StatusOr<AgentSnapshot> a = s_.GetAgentByID("a");
  EXPECT_THAT(a->warm,
              ::testing::ElementsAre(NamedWarmImage{"docker.io/library/busybox:latest", 0, 2, 2}));
  EXPECT_EQ(AllocateId(Req("p", "busybox")), "b");
}

TEST_F(SchedulerTest, RepeatedImagesInAReportAreMerged) {
  // Two spellings of one image, and its warm count split over two entries.
  Add("a", "p", 4, {"busybox", "docker.io/library/busybox:latest"},
      {{"busybox", 1}, {"busybox:latest", 1}});
  Add("b", "p", 4, {"busybox"});
  absl::StatusOr<AgentSnapshot> a = s_.GetAgentByID("a");
  ASSERT_TRUE(a.ok());
  EXPECT_THAT(a->images, ::testing::ElementsAre("docker.io/library/busybox:latest"));
  ASSERT_EQ(a->warm.size(), 1u);
  EXPECT_EQ(a->warm[0].ready, 2u);
  // Both warm instances are claimed before "a" stops being warm.
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "x")), "a");
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "y")), "a");
  EXPECT_EQ(AllocateId(Req("p", "busybox", {}, "z")), "b");
}

TEST_F(SchedulerTest, ReRegistrationKeepsReservationsAndPorts) {
  const AgentHandle a = Add("a", "p", 4);
  const HostPort ports[] = {{80}};
  std::array<AgentHandle, 4> out;
  ASSERT_TRUE(s_.Allocate(Req("p", "", ports), out).ok());
  const AgentHandle again = Add("a", "p2", 8, {"alpine"});
  EXPECT_EQ(again, a);
  absl::StatusOr<AgentSnapshot> snap = s_.GetAgentByID("a");
  EXPECT_EQ(snap->reserved, 1);
  EXPECT_EQ(snap->identity->pool, "p2");
  EXPECT_EQ(snap->max_sandboxes, 8);
  EXPECT_THAT(snap->ports, ::testing::ElementsAre(HostPort{80}));
  EXPECT_EQ(AllocateId(Req("p")), "");  // moved out of "p"
  EXPECT_EQ(AllocateId(Req("p2")), "a");
}

// Sweeps that find nothing skip the scan (heartbeat floor): each agent must still go
// exactly when its own heartbeat grows too old, also after the clock stepped back.
TEST_F(SchedulerTest, CleanupRemovesEachAgentWhenItsOwnHeartbeatExpires) {
  Add("a", "p", 4);
  Add("b", "p", 4);
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(s_.Heartbeat("b", HeartbeatUpdate{}).ok());
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 0);  // a 10 s, b 0 s
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 1);  // a 16 s: gone; b 6 s
  EXPECT_FALSE(s_.FindAgent("a").has_value());
  clock_.Advance(absl::Seconds(8));
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 0);  // b 14 s
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 1);  // b 16 s: gone
  EXPECT_EQ(s_.AgentCount(), 0);

  // The clock steps back 1 h; a heartbeat then records an older time than any before.
  Add("c", "p", 4);
  clock_.Advance(-absl::Hours(1));
  ASSERT_TRUE(s_.Heartbeat("c", HeartbeatUpdate{}).ok());
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 0);
  clock_.Advance(absl::Seconds(16));
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(15)), 1);
  EXPECT_EQ(s_.AgentCount(), 0);
}

TEST_F(SchedulerTest, CleanupRemovesStaleAgentsAndReusesIndicesWithNewGeneration) {
  const AgentHandle a = Add("a", "p", 4);
  const AgentHandle b = Add("b", "p", 4);
  Add("c", "p", 4);
  clock_.Advance(absl::Seconds(40));
  ASSERT_TRUE(s_.Heartbeat("c", HeartbeatUpdate{}).ok());
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(30)), 2);
  EXPECT_EQ(s_.CleanupStaleAgents(absl::Seconds(30)), 0);
  std::vector<AgentSnapshot> all = s_.GetAllAgents();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].identity->id, "c");
  EXPECT_FALSE(s_.FindAgent("a").has_value());
  EXPECT_EQ(s_.GetAgentByID("a").status().code(), absl::StatusCode::kNotFound);

  // Stale handles are rejected and change nothing.
  EXPECT_EQ(s_.Release(a, {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s_.Heartbeat(b, HeartbeatUpdate{}).code(), absl::StatusCode::kNotFound);

  // A new agent reuses a freed index with a new generation.
  const AgentHandle d = Add("d", "p", 4);
  EXPECT_TRUE(d.index == a.index || d.index == b.index);
  EXPECT_NE(d, a);
  EXPECT_NE(d, b);
  EXPECT_EQ(s_.Release(d.index == a.index ? a : b, {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reserved("d"), 0);
  std::set<std::string> chosen;
  for (int r = 0; r < 30; ++r) chosen.insert(PlaceAndReleaseId(Req("p", "", {}, absl::StrCat(r))));
  EXPECT_THAT(chosen, UnorderedElementsAre("c", "d"));
}

TEST_F(SchedulerTest, SnapshotsAndLookups) {
  const AgentHandle first = Add("b", "p", 4, {"busybox", "alpine"}, {{"alpine", 2}}, 1);
  Add("a", "q", 2);
  // Index 0 is live, yet a default-constructed handle names no agent.
  ASSERT_EQ(first.index, 0u);
  EXPECT_NE(first, AgentHandle{});
  EXPECT_EQ(s_.GetAgent(AgentHandle{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s_.Reserve(AgentHandle{}, Req("p")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s_.Release(AgentHandle{}, {}).code(), absl::StatusCode::kNotFound);
  absl::StatusOr<AgentSnapshot> b = s_.GetAgentByID("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->identity->address, "b:5758");
  EXPECT_EQ(b->identity->node, "node-b");
  EXPECT_EQ(b->identity->pool, "p");
  EXPECT_EQ(b->max_sandboxes, 4);
  EXPECT_EQ(b->reported, 1);
  EXPECT_EQ(b->used, 1);
  EXPECT_THAT(b->images, ::testing::ElementsAre("docker.io/library/alpine:latest",
                                                "docker.io/library/busybox:latest"));
  ASSERT_EQ(b->warm.size(), 1u);
  EXPECT_EQ(b->warm[0], (NamedWarmImage{"docker.io/library/alpine:latest", 2, 0, 0}));
  EXPECT_TRUE(b->healthy);
  EXPECT_FALSE(b->runtime_down);
  EXPECT_EQ(b->last_heartbeat, clock_.Now());
  std::vector<AgentSnapshot> all = s_.GetAllAgents();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].identity->id, "a");
  EXPECT_EQ(all[1].identity->id, "b");
  EXPECT_EQ(s_.AgentCount(), 2);
  ASSERT_TRUE(s_.Remove("a").ok());
  EXPECT_EQ(s_.Remove("a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s_.AgentCount(), 1);
}

TEST_F(SchedulerTest, ViewsSayWhomToCallAndWhatTheAgentHasOfTheImage) {
  const AgentHandle a = Add("a", "p", 4, {"alpine"}, {{"busybox", 1}});
  const ImageId alpine = s_.LookupImage("alpine");
  const ImageId busybox = s_.LookupImage("busybox");
  std::optional<AgentView> v = s_.ViewAgent(a, alpine);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->handle, a);
  EXPECT_EQ(v->identity->id, "a");
  EXPECT_EQ(v->identity->address, "a:5758");
  EXPECT_EQ(v->identity->node, "node-a");
  EXPECT_EQ(v->identity->pool, "p");
  EXPECT_EQ(v->last_heartbeat, clock_.Now());
  EXPECT_TRUE(v->image_cached);
  EXPECT_FALSE(v->image_warm);
  // Warm but not in the cache report: only image_warm (as a snapshot's lists say).
  v = s_.ViewAgentByID("a", busybox);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->image_cached);
  EXPECT_TRUE(v->image_warm);
  // Its only instance is claimed.
  EXPECT_EQ(AllocateId(Req("p", "busybox")), "a");
  EXPECT_FALSE(s_.ViewAgent(a, busybox)->image_warm);
  EXPECT_FALSE(s_.ViewAgent(a)->image_cached);  // kUnknownImage

  // A re-registration with a new address publishes a new identity; the old one stays
  // valid and unchanged for whoever holds it.
  AgentDescriptor moved;
  moved.id = "a";
  moved.address = "a.example:5758";
  moved.pool = "p";
  moved.max_sandboxes = 4;
  ASSERT_TRUE(s_.RegisterOrUpdate(moved).ok());
  EXPECT_EQ(v->identity->address, "a:5758");
  EXPECT_EQ(s_.ViewAgent(a)->identity->address, "a.example:5758");
  EXPECT_EQ(s_.GetAgent(a)->identity->address, "a.example:5758");
  // An unchanged re-registration keeps the published identity.
  const std::shared_ptr<const AgentIdentity> identity = s_.ViewAgent(a)->identity;
  ASSERT_TRUE(s_.RegisterOrUpdate(moved).ok());
  EXPECT_EQ(s_.ViewAgent(a)->identity, identity);

  ASSERT_TRUE(s_.Remove("a").ok());
  EXPECT_FALSE(s_.ViewAgent(a).has_value());
  EXPECT_FALSE(s_.ViewAgentByID("a").has_value());
  EXPECT_EQ(identity->id, "a");
}

TEST_F(SchedulerTest, SnapshotsShareListsUntilTheyChange) {
  const AgentHandle a = Add("a", "p", 4, {"busybox", "alpine"}, {{"alpine", 2}});
  absl::StatusOr<AgentSnapshot> first = s_.GetAgent(a);
  absl::StatusOr<AgentSnapshot> second = s_.GetAgent(a);
  ASSERT_TRUE(first.ok() && second.ok());
  // The same published lists, not copies.
  EXPECT_EQ(&first->images.get(), &second->images.get());
  EXPECT_EQ(&first->warm.get(), &second->warm.get());

  // A placement claims a warm instance and holds a port: the next snapshot has new warm
  // and port lists, the earlier ones keep what they saw.
  const HostPort ports[] = {{8080}};
  EXPECT_EQ(AllocateId(Req("p", "alpine", ports)), "a");
  absl::StatusOr<AgentSnapshot> third = s_.GetAgent(a);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(&third->images.get(), &first->images.get());
  EXPECT_EQ(third->warm[0].ready, 1u);
  EXPECT_EQ(first->warm[0].ready, 2u);
  EXPECT_THAT(third->ports, ::testing::ElementsAre(HostPort{8080}));
  EXPECT_TRUE(first->ports.empty());

  // A heartbeat with the same images in another order changes nothing visible.
  const ImageId same[] = {s_.LookupImage("alpine"), s_.LookupImage("busybox")};
  HeartbeatUpdate beat;
  beat.images = same;
  ASSERT_TRUE(s_.Heartbeat(a, beat).ok());
  EXPECT_EQ(s_.GetAgent(a)->images, first->images);
  EXPECT_TRUE(s_.GetAgent(a)->warm.empty());
  EXPECT_EQ(first->warm.size(), 1u);
}

TEST_F(SchedulerTest, AllAgentsAreListedByIdThroughChurn) {
  std::set<std::string> expected;
  for (int a = 0; a < 300; ++a) {
    // Registration order unrelated to id order.
    const std::string id = absl::StrCat("agent-", (a * 7919) % 300);
    Add(id, "p", 1);
    expected.insert(id);
  }
  for (int a = 0; a < 300; a += 4) {
    const std::string id = absl::StrCat("agent-", a);
    ASSERT_TRUE(s_.Remove(id).ok());
    expected.erase(id);
  }
  for (int a = 0; a < 40; ++a) {  // reuses freed indices
    const std::string id = absl::StrCat("new-", 39 - a);
    Add(id, "p", 1);
    expected.insert(id);
  }
  std::vector<std::string> listed;
  for (const AgentSnapshot& s : s_.GetAllAgents()) listed.push_back(s.identity->id);
  EXPECT_EQ(listed, std::vector<std::string>(expected.begin(), expected.end()));
}

TEST_F(SchedulerTest, ManyAgentsGrowArraysAndStillPlaceCorrectly) {
  // More agents than the initial array size, across pools, with churn.
  for (int a = 0; a < 1000; ++a) Add(absl::StrCat("a", a), a % 2 ? "odd" : "even", 2);
  for (int a = 0; a < 1000; a += 3) ASSERT_TRUE(s_.Remove(absl::StrCat("a", a)).ok());
  std::array<AgentHandle, 4> out;
  int placed = 0;
  while (s_.Allocate(Req("odd"), out).ok()) ++placed;
  // Odd agents not removed: odd a with a % 3 != 0.
  int expected = 0;
  for (int a = 1; a < 1000; a += 2) expected += (a % 3 != 0) ? 2 : 0;
  EXPECT_EQ(placed, expected);
  for (const AgentSnapshot& s : s_.GetAllAgents()) {
    EXPECT_EQ(s.reserved, s.identity->pool == "odd" ? 2 : 0) << s.identity->id;
  }
}

// Many threads allocate and release concurrently; an external per-agent count of live
// placements must never exceed capacity, and a port is never held twice on one agent.
TEST_F(SchedulerTest, ConcurrentAllocateReleaseNeverExceedsCapacity) {
  constexpr int kAgents = 6;
  constexpr int kCapacity = 3;
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  for (int a = 0; a < kAgents; ++a) Add(absl::StrCat("a", a), "p", kCapacity, {"alpine"});
  const PoolId pool = s_.LookupPool("p");
  const ImageId alpine = s_.LookupImage("alpine");
  // Agent indices are small: size by the largest one.
  std::vector<std::atomic<int>> in_use(64);
  std::vector<std::atomic<int>> port_holders(64);
  std::atomic<int> violations{0};
  std::atomic<int> exhausted{0};
  std::atomic<bool> stop{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      static const HostPort kPort[] = {{8080}};
      std::array<AgentHandle, kMaxCandidates> out;
      for (int it = 0; it < kIterations; ++it) {
        AllocationRequest r;
        r.pool = pool;
        r.image = alpine;
        r.request_hash = HashRequestId(absl::StrCat(t, "-", it));
        const bool with_port = (t % 2) == 0;
        if (with_port) r.ports = kPort;
        absl::StatusOr<int> n = s_.Allocate(r, out);
        if (!n.ok()) {
          if (n.status().code() != absl::StatusCode::kResourceExhausted) ++violations;
          ++exhausted;
          continue;
        }
        const uint32_t i = out[0].index;
        if (in_use[i].fetch_add(1) + 1 > kCapacity) ++violations;
        if (with_port && port_holders[i].fetch_add(1) + 1 > 1) ++violations;
        std::this_thread::yield();
        if (with_port) port_holders[i].fetch_sub(1);
        in_use[i].fetch_sub(1);
        if (!s_.Release(out[0], r.ports).ok()) ++violations;
      }
    });
  }
  // Heartbeats race with the allocations (reported count stays 0).
  std::thread heart([&] {
    const ImageId imgs[] = {alpine};
    HeartbeatUpdate hb;
    hb.images = imgs;
    while (!stop.load()) {
      for (int a = 0; a < kAgents; ++a) (void)s_.Heartbeat(absl::StrCat("a", a), hb);
      std::this_thread::yield();
    }
  });
  for (std::thread& t : threads) t.join();
  stop = true;
  heart.join();
  EXPECT_EQ(violations.load(), 0);
  for (const AgentSnapshot& s : s_.GetAllAgents()) {
    EXPECT_EQ(s.reserved, 0) << s.identity->id;
    EXPECT_TRUE(s.ports.empty()) << s.identity->id;
  }
  // 8 threads on 18 slots: contention is real but most attempts succeed.
  EXPECT_LT(exhausted.load(), kThreads * kIterations / 2);
}

}  // namespace

// gtest prints held ports by name.
void PrintTo(const HostPort& port, std::ostream* os) { *os << HostPortName(port); }

}  // namespace fsb::controller
