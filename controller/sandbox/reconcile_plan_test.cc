// PlanReconcile, the reconciler's decisions, as a pure function: no threads, no store,
// no agents.
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/sandbox/reconciler.h"
#include "controller/sandbox_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::SandboxSpec;
using ::fsb::v1alpha1::SandboxStatus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using Kind = ReconcileAction::Kind;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

class PlanReconcileTest : public ::testing::Test {
 protected:
  // A record `name` in `phase`, on `agent` (none when empty), last seen by it at `seen`.
  SandboxRecord& Add(const std::string& name, SandboxStatus::Phase phase,
                     const std::string& agent = "a1", absl::Time seen = kNow) {
    SandboxRecord& record = records_[{"default", name}];
    record.sandbox.mutable_metadata()->set_namespace_("default");
    record.sandbox.mutable_metadata()->set_name(name);
    record.sandbox.mutable_spec()->set_failure_policy(SandboxSpec::Manual);
    record.sandbox.mutable_spec()->set_recovery_timeout_seconds(60);
    record.sandbox.mutable_status()->set_phase(phase);
    record.sandbox.mutable_status()->set_agent(agent);
    record.sandbox.mutable_status()->set_container_id("c-" + name);
    record.agent_seen = seen;
    return record;
  }

  ReconcilePlan Plan(absl::Time now = kNow) {
    return PlanReconcile({.records = &records_,
                          .unowned = &unowned_,
                          .agents = &agents_,
                          .unregistered_lost = unregistered_lost_,
                          .orphan_timeout = absl::Seconds(10),
                          .agent_lost_timeout = absl::Seconds(15)},
                         now);
  }

  static std::vector<std::pair<Kind, std::string>> Kinds(const ReconcilePlan& plan) {
    std::vector<std::pair<Kind, std::string>> out;
    for (const ReconcileAction& a : plan.actions) {
      out.emplace_back(a.kind, a.kind == Kind::kOrphan ? a.container_id : a.key.second);
    }
    return out;
  }

  SandboxRecords records_;
  UnownedContainers unowned_;
  absl::flat_hash_map<std::string, PlannedAgent> agents_{{"a1", {false, "10.0.0.1:5758"}}};
  bool unregistered_lost_ = false;
};

TEST_F(PlanReconcileTest, NothingIsDueForAHealthyRunningSandbox) {
  Add("web", SandboxStatus::Running);
  ReconcilePlan plan = Plan(kNow + absl::Hours(1));
  EXPECT_THAT(plan.actions, IsEmpty());
  EXPECT_THAT(plan.lost, IsEmpty());
}

TEST_F(PlanReconcileTest, EachRecordGetsTheActionItsStateCallsFor) {
  Add("deleting", SandboxStatus::Terminating);
  Add("expired", SandboxStatus::Expired, "");
  SetTimestamp(kNow,
               Add("due", SandboxStatus::Running).sandbox.mutable_spec()->mutable_expire_time());
  Add("reset", SandboxStatus::Running)
      .sandbox.mutable_spec()
      ->set_reset_revision("2030-01-01T00:00:00Z");
  Add("unplaced", SandboxStatus::Pending, "");
  Add("busy", SandboxStatus::Terminating).op = RecordOp::kCreating;  // in flight: skipped
  EXPECT_THAT(Kinds(Plan()),
              ElementsAre(Pair(Kind::kDelete, "deleting"), Pair(Kind::kExpire, "due"),
                          Pair(Kind::kReset, "reset"), Pair(Kind::kPlace, "unplaced")));
}

TEST_F(PlanReconcileTest, ALostAgentsSandboxesBecomeLostAndRecreateOnlyPastTheDeadline) {
  agents_["a1"].lost = true;
  Add("manual", SandboxStatus::Running);
  SandboxRecord& autorecreate = Add("auto", SandboxStatus::Running);
  autorecreate.sandbox.mutable_spec()->set_failure_policy(SandboxSpec::AutoRecreate);
  Add("done", SandboxStatus::Succeeded);  // exited: nothing to lose
  ReconcilePlan plan = Plan();
  EXPECT_THAT(plan.actions, IsEmpty());
  ASSERT_EQ(plan.lost.size(), 2u);
  const SandboxStatus& lost = plan.lost[0].second;
  EXPECT_EQ(plan.lost[0].first.second, "auto");
  EXPECT_EQ(lost.phase(), SandboxStatus::Lost);
  EXPECT_EQ(TimeOf(lost.lost_at()), kNow);
  EXPECT_EQ(TimeOf(lost.recovery_deadline()), kNow + absl::Seconds(60));
  EXPECT_EQ(lost.message(), "agent a1 lost: no heartbeat for more than 15s");
  // The plan changes nothing itself.
  EXPECT_EQ(records_.at({"default", "auto"}).sandbox.status().phase(), SandboxStatus::Running);

  // Applied, and past the deadline: only the AutoRecreate one moves.
  for (auto& [key, status] : plan.lost) *records_.at(key).sandbox.mutable_status() = status;
  plan = Plan(kNow + absl::Seconds(59));
  EXPECT_THAT(plan.actions, IsEmpty());
  EXPECT_THAT(plan.lost, IsEmpty());
  plan = Plan(kNow + absl::Seconds(60));
  EXPECT_THAT(Kinds(plan), ElementsAre(Pair(Kind::kRecreate, "auto")));
  EXPECT_EQ(plan.actions[0].sandbox.status().phase(), SandboxStatus::Lost);
}

TEST_F(PlanReconcileTest, AnUnregisteredAgentIsLostOnlyOnceItHadTheTimeToRegister) {
  Add("web", SandboxStatus::Running, "gone");
  EXPECT_THAT(Plan().lost, IsEmpty());
  unregistered_lost_ = true;
  EXPECT_EQ(Plan().lost.size(), 1u);
}

TEST_F(PlanReconcileTest, DeletesExpiriesAndResetsWaitForAnAgentThatMayStillRegister) {
  Add("deleting", SandboxStatus::Terminating, "gone");
  SetTimestamp(
      kNow,
      Add("due", SandboxStatus::Running, "gone").sandbox.mutable_spec()->mutable_expire_time());
  Add("reset", SandboxStatus::Running, "gone")
      .sandbox.mutable_spec()
      ->set_reset_revision("2030-01-01T00:00:00Z");
  Add("unplaced", SandboxStatus::Terminating, "");  // no agent to wait for
  EXPECT_THAT(Kinds(Plan()), ElementsAre(Pair(Kind::kDelete, "unplaced")));
  unregistered_lost_ = true;  // gone for good: go on without it
  EXPECT_THAT(Kinds(Plan()),
              ElementsAre(Pair(Kind::kDelete, "deleting"), Pair(Kind::kExpire, "due"),
                          Pair(Kind::kReset, "reset"), Pair(Kind::kDelete, "unplaced")));
}

TEST_F(PlanReconcileTest, AScheduledRecordItsAgentDoesNotReportIsDrivenAgain) {
  Add("web", SandboxStatus::Scheduled, "a1", kNow);
  Add("elsewhere", SandboxStatus::Scheduled, "unknown", kNow);  // not registered: wait
  EXPECT_THAT(Plan(kNow + absl::Seconds(9)).actions, IsEmpty());
  ReconcilePlan plan = Plan(kNow + absl::Seconds(10));
  EXPECT_THAT(Kinds(plan), ElementsAre(Pair(Kind::kRedrive, "web")));
  EXPECT_EQ(plan.actions[0].agent_address, "10.0.0.1:5758");
}

TEST_F(PlanReconcileTest, UnownedContainersAreOrphansAfterTheTimeoutUnlessTheirAgentIsLost) {
  unowned_[{"a1", "stray"}] = kNow;
  unowned_[{"a2", "far"}] = kNow;
  agents_["a2"] = {true, "10.0.0.2:5758"};
  EXPECT_THAT(Plan(kNow + absl::Seconds(9)).actions, IsEmpty());
  ReconcilePlan plan = Plan(kNow + absl::Seconds(10));
  EXPECT_THAT(Kinds(plan), ElementsAre(Pair(Kind::kOrphan, "stray")));
  EXPECT_EQ(plan.actions[0].agent_id, "a1");
  EXPECT_EQ(plan.actions[0].agent_address, "10.0.0.1:5758");
}

}  // namespace
}  // namespace fsb::controller
