#include "agent/warm/warm_pool.h"

#include <filesystem>

#include "agent/fake_runtime.h"
#include "agent/labels.h"
#include "agent/warm/fake_init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kImage[] = "docker.io/fsb/busybox:latest";
constexpr SandboxDefaults kDefaults{
    .pids = 99, .memory_bytes = 96 << 20, .cpu_shares = 256, .oom_score_adj = 400, .nofile = 2048};

class WarmPoolTest : public ::testing::Test {
 protected:
  WarmPoolTest()
      : dir_(std::filesystem::path(::testing::TempDir()) / "warm_pool_test"),
        pool_(&runtime_, &groups_, &clock_, &metrics_,
              {.state_dir = (dir_ / "warm").string(),
               .init_binary = "/opt/fsb/fsb-init",
               .log_dir = (dir_ / "logs").string(),
               .defaults = kDefaults,
               .default_targets = {{kImage, 2}},
               .init_timeout = absl::Milliseconds(100),
               .connect = inits_.Connector()}) {}

  int Ready() {
    for (const auto& c : pool_.Counts()) {
      if (c.image() == kImage) return c.ready();
    }
    return 0;
  }

  std::filesystem::path dir_;
  FakeRuntime runtime_;
  ShimGroups groups_{8};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  FakeInits inits_;
  WarmPool pool_;
};

TEST_F(WarmPoolTest, RefillMakesInstancesFromTheColdSpecWithInitAndItsMounts) {
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_FALSE(pool_.RefillOnce());  // two wanted, two made
  EXPECT_EQ(Ready(), 2);
  ASSERT_EQ(runtime_.created.size(), 2u);
  const ContainerParams& p = runtime_.created[0];
  EXPECT_EQ(p.labels.at(kWarmImageLabel), kImage);
  EXPECT_EQ(p.labels.at(kWarmChainLabel), "sha256:chain");
  EXPECT_TRUE(p.extension.empty());  // not a sandbox yet
  EXPECT_THAT(p.spec_json, HasSubstr(R"("args":["/dev/.fsb-init","/dev/.fsb-control"])"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("source":"/opt/fsb/fsb-init")"));
  EXPECT_THAT(p.spec_json, HasSubstr("CAP_SYS_ADMIN"));
  // What fsb-init needs beyond the sandbox's seccomp profile (and denies again itself).
  EXPECT_THAT(
      p.spec_json,
      HasSubstr(R"({"names":["mount","umount2","sethostname"],"action":"SCMP_ACT_ALLOW"})"));
  EXPECT_THAT(p.spec_json, HasSubstr(absl::StrCat(R"("cgroupsPath":"/fsb/)", p.id, "\"")));
  // The defaults, as a cold create of a request without limits has them.
  EXPECT_THAT(p.spec_json, HasSubstr(R"("pids":{"limit":99})"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("memory":{"limit":100663296})"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("cpu":{"shares":256})"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("oomScoreAdj":400)"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"({"type":"RLIMIT_NOFILE","hard":2048,"soft":2048})"));
  EXPECT_EQ(p.labels.at(kWarmDefaultsLabel), SandboxDefaultsKey(kDefaults));
  EXPECT_EQ(p.log_path, (dir_ / "logs" / (p.id + ".log")).string());
  EXPECT_TRUE(std::filesystem::is_directory(pool_.ControlDir(p.id)));
  EXPECT_TRUE(pool_.Owns(p.id));
  auto counts = pool_.Counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].desired(), 2);
  EXPECT_EQ(counts[0].preparing(), 0);
}

TEST_F(WarmPoolTest, ClaimTakesTheNewestAndCountsMisses) {
  std::string reason;
  EXPECT_FALSE(pool_.Claim("docker.io/library/other:1", &reason).has_value());
  EXPECT_EQ(reason, "no_pool");
  EXPECT_FALSE(pool_.Claim(kImage, &reason).has_value());
  EXPECT_EQ(reason, "empty");
  pool_.RefillOnce();
  clock_.Advance(absl::Seconds(1));
  pool_.RefillOnce();
  std::optional<WarmInstance> a = pool_.Claim(kImage, &reason);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->id, runtime_.created[1].id);
  EXPECT_EQ(a->resolved.chain_id, "sha256:chain");
  EXPECT_TRUE(pool_.Owns(a->id));  // claimed: the janitor must leave it alone
  EXPECT_EQ(Ready(), 1);
  pool_.Return(*std::move(a));
  EXPECT_EQ(Ready(), 2);
}

TEST_F(WarmPoolTest, ControllerTargetsReplaceTheDefaultsAndExcessIsTrimmed) {
  pool_.RefillOnce();
  pool_.RefillOnce();
  pool_.SetControllerTargets(std::vector<WarmTarget>{{kImage, 1}});
  pool_.Maintain();
  pool_.Reap();
  EXPECT_EQ(Ready(), 1);
  ASSERT_EQ(runtime_.removed.size(), 1u);
  EXPECT_EQ(runtime_.removed[0], runtime_.created[0].id);  // the oldest goes
  EXPECT_FALSE(std::filesystem::exists(pool_.ControlDir(runtime_.created[0].id)));
  pool_.SetControllerTargets(std::nullopt);  // back to --warm
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_EQ(Ready(), 2);
}

TEST_F(WarmPoolTest, AgedAndReimportedInstancesAreRecycled) {
  pool_.RefillOnce();
  clock_.Advance(absl::Minutes(30));
  pool_.RefillOnce();
  clock_.Advance(absl::Minutes(31));  // the first is past the 1 h default
  pool_.Maintain();
  pool_.Reap();
  EXPECT_EQ(Ready(), 1);
  runtime_.chain_id = "sha256:reimported";
  pool_.Maintain();
  pool_.Reap();
  EXPECT_EQ(Ready(), 0);
  EXPECT_EQ(runtime_.removed.size(), 2u);
}

TEST_F(WarmPoolTest, AReimportReplacesTheImagesInstancesAtOnce) {
  pool_.RefillOnce();
  pool_.RefillOnce();
  pool_.ImageChanged("docker.io/library/other:1");  // not pooled: nothing happens
  EXPECT_EQ(Ready(), 2);
  pool_.ImageChanged(kImage);
  EXPECT_EQ(Ready(), 0);
  pool_.Reap();
  EXPECT_EQ(runtime_.removed.size(), 2u);
  EXPECT_TRUE(pool_.RefillOnce());  // and new ones are made
}

TEST_F(WarmPoolTest, FailuresBackOffAndColdCreatesComeFirst) {
  runtime_.resolve_error = absl::UnavailableError("containerd down");
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_FALSE(pool_.RefillOnce());  // backing off
  runtime_.resolve_error = absl::OkStatus();
  clock_.Advance(absl::Seconds(1));
  pool_.ColdCreateStarted();
  EXPECT_FALSE(pool_.RefillOnce());  // never ahead of a waiting cold create
  pool_.ColdCreateDone();
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_EQ(Ready(), 1);
}

TEST_F(WarmPoolTest, RefillYieldsToClaimsInFlightWhileThePoolIsHalfFull) {
  pool_.SetControllerTargets(std::vector<WarmTarget>{{kImage, 4}});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool_.RefillOnce());
  std::string reason;
  std::optional<WarmInstance> a = pool_.Claim(kImage, &reason);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(pool_.RefillOnce());  // 3 of 4 ready and a claim in flight: wait
  std::optional<WarmInstance> b = pool_.Claim(kImage, &reason);
  std::optional<WarmInstance> c = pool_.Claim(kImage, &reason);
  EXPECT_TRUE(pool_.RefillOnce());  // 1 of 4: below half, refill regardless
  pool_.Commit(*std::move(a), WarmClaim{});
  pool_.Discard(*std::move(b));
  pool_.Return(*std::move(c));
  EXPECT_TRUE(pool_.RefillOnce());  // nothing in flight
}

TEST_F(WarmPoolTest, AnInitThatNeverAnswersIsRemoved) {
  inits_.set_behavior(FakeInitBehavior::kRefuse);
  EXPECT_TRUE(pool_.RefillOnce());
  EXPECT_EQ(Ready(), 0);
  ASSERT_EQ(runtime_.removed.size(), 1u);
  EXPECT_FALSE(pool_.Owns(runtime_.created[0].id));
}

TEST_F(WarmPoolTest, ExitOfAnIdleInstanceDropsIt) {
  pool_.RefillOnce();
  const std::string id = runtime_.created[0].id;
  EXPECT_TRUE(pool_.OnExit(id));
  pool_.Reap();
  EXPECT_EQ(Ready(), 0);
  EXPECT_FALSE(pool_.OnExit("someone-else"));
}

TEST_F(WarmPoolTest, ClaimJournalRoundTripsAndBindRecordsTheSandbox) {
  pool_.RefillOnce();
  std::string reason;
  std::optional<WarmInstance> w = pool_.Claim(kImage, &reason);
  ASSERT_TRUE(w.has_value());
  WarmClaim claim;
  claim.spec.set_sandbox_id("proposed1");
  claim.spec.set_name("web");
  claim.spec.set_namespace_("team");
  claim.spec_json = R"({"ociVersion":"1.0.2"})";
  ASSERT_TRUE(pool_.WriteClaim(w->id, claim).ok());
  std::optional<WarmClaim> read = pool_.ReadClaim(w->id);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->spec.name(), "web");
  EXPECT_EQ(read->spec_json, claim.spec_json);
  EXPECT_FALSE(pool_.ReadClaim("missing").has_value());

  const std::string id = w->id;
  EXPECT_TRUE(pool_.Owns(id));
  pool_.Commit(*std::move(w), claim);
  EXPECT_FALSE(pool_.Owns(id));  // the sandbox's now
  pool_.Reap();
  const ContainerState& c = runtime_.running.at(id);
  EXPECT_EQ(c.labels.at(kSandboxIdLabel), "proposed1");
  EXPECT_EQ(c.labels.at(kSandboxNameLabel), "web");
  EXPECT_EQ(c.spec_json, claim.spec_json);
  EXPECT_FALSE(pool_.ReadClaim(id).has_value());  // the record took over
}

TEST_F(WarmPoolTest, AdoptKeepsInstancesOfTheSameImageAndDefaultsOnly) {
  ContainerState same;
  same.id = "idle1";
  same.labels = {{kWarmImageLabel, kImage},
                 {kWarmChainLabel, "sha256:chain"},
                 {kWarmDefaultsLabel, SandboxDefaultsKey(kDefaults)}};
  same.created_at = clock_.Now();
  ContainerState moved = same;
  moved.id = "idle2";
  moved.labels[kWarmChainLabel] = "sha256:old";
  // Made by an agent with other defaults (or before defaults existed): its cgroup and
  // process would not be what a cold create makes now.
  ContainerState other_defaults = same;
  other_defaults.id = "idle3";
  other_defaults.labels[kWarmDefaultsLabel] = SandboxDefaultsKey({});
  ContainerState unlabeled = same;
  unlabeled.id = "idle4";
  unlabeled.labels.erase(kWarmDefaultsLabel);
  pool_.Adopt(same, *inits_.Connect("x", absl::Seconds(1)));
  pool_.Adopt(moved, *inits_.Connect("y", absl::Seconds(1)));
  pool_.Adopt(other_defaults, *inits_.Connect("z", absl::Seconds(1)));
  pool_.Adopt(unlabeled, *inits_.Connect("w", absl::Seconds(1)));
  EXPECT_EQ(Ready(), 1);
  EXPECT_TRUE(pool_.Owns("idle1"));
  pool_.Reap();
  EXPECT_THAT(runtime_.removed, ::testing::UnorderedElementsAre("idle2", "idle3", "idle4"));
}

}  // namespace
}  // namespace fsb::agent
