#include "controller/sandbox/reconciler.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "controller/sandbox/sandbox_test_fixture.h"
#include "controller/store/resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The Reconciler, end to end through the service: its actions and their outcomes.
class ReconcilerTest : public SandboxTest {};

TEST_F(ReconcilerTest, FailedDeleteStaysTerminatingAndIsRetried) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("web")).ok());
  agents().set_delete_status(absl::UnavailableError("connection refused"));
  absl::Status s = service().Delete("", "web", std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("Terminating"));
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Terminating);
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Terminating);
  EXPECT_EQ(Update("web",
                   [](SandboxUpdate& r) { r.failure_policy = v1alpha1::SandboxSpec::AutoRecreate; })
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  agents().set_delete_status(absl::OkStatus());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Used("a1"), 0);
}

// After a controller restart, before its agent registered again: the delete is not
// confirmed, so it is not acknowledged and the record stays Terminating; the agent's
// registration lets the reconciler finish it.
TEST_F(ReconcilerTest, ADeleteBeforeTheAgentRegisteredAgainWaitsForTheAgent) {
  env_.AddAgent("a1", 4);
  Sandbox created = *service().Create(Request("web"));
  env_.Restart();
  absl::Status s = service().Delete("", "web", std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("is Terminating"));
  EXPECT_THAT(s.message(), HasSubstr("agent a1 has not registered"));
  Sandbox terminating = *service().Get("", "web");
  EXPECT_EQ(terminating.status().phase(), SandboxStatus::Terminating);
  EXPECT_THAT(terminating.status().message(), HasSubstr("deletion pending"));
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Terminating);
  // Asking again is the same request, with the same answer.
  EXPECT_EQ(service().Delete("", "web", std::nullopt).code(), absl::StatusCode::kUnavailable);
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Terminating);
  EXPECT_TRUE(agents().deletes().empty());

  env_.AddAgent("a1", 4);
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, created.status().container_id());
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(Stored("web").status().code(), absl::StatusCode::kNotFound);
}

// The call waits (bounded) for the reconciler's retry, and answers OK once it succeeded.
TEST(ReconcilerDeleteWaitTest, ADeleteConfirmedWhileItWaitsIsAcknowledged) {
  ServiceTestEnv env({.orphan_timeout = absl::Seconds(10),
                      .agent_lost_timeout = absl::Seconds(15),
                      .delete_wait_timeout = absl::Seconds(60)});
  env.AddAgent("a1", 4);
  ASSERT_TRUE(env.service().Create(Request("web")).ok());
  env.Restart();
  absl::Status deleted = absl::UnknownError("not answered");
  std::thread rm([&] { deleted = env.service().Delete("", "web", std::nullopt); });
  // Bounded: the first attempt marks the record pending within the call.
  for (int i = 0; i < 60'000; ++i) {
    absl::StatusOr<Sandbox> s = env.service().Get("", "web");
    if (s.ok() && !s->status().message().empty()) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_THAT(env.service().Get("", "web")->status().message(), HasSubstr("deletion pending"));
  env.AddAgent("a1", 4);
  env.service().ReconcileOnce();
  rm.join();
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(env.agents().deletes().size(), 1u);
  EXPECT_EQ(env.service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReconcilerTest, ATerminatingSandboxEndsOnceItsAgentIsLostOrDeleted) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("deleted")).ok());
  env_.Restart();
  ASSERT_EQ(service().Delete("", "deleted", std::nullopt).code(), absl::StatusCode::kUnavailable);
  // The agent is deleted: nothing is left to confirm.
  ASSERT_TRUE(service().DeleteAgent("a1").ok());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "deleted").status().code(), absl::StatusCode::kNotFound);

  // Lost: not registered again within the agent-lost timeout of the restart.
  env_.AddAgent("a2", 4);
  ASSERT_TRUE(service().Create(Request("far")).ok());
  env_.Restart();
  ASSERT_EQ(service().Delete("", "far", std::nullopt).code(), absl::StatusCode::kUnavailable);
  clock().Advance(absl::Seconds(15));
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "far")->status().phase(), SandboxStatus::Terminating);
  clock().Advance(absl::Seconds(1));
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "far").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(agents().deletes().empty());
}

// One agent whose calls hang delays none of another agent's work.
TEST_F(ReconcilerTest, AHungAgentDoesNotDelayAnotherAgentsExpiry) {
  const int64_t due = absl::ToUnixSeconds(clock().Now() + absl::Seconds(30));
  env_.AddAgent("hung", 1);
  CreateSpec slow = Request("a-slow");  // first in record order
  slow.sandbox.mutable_spec()->mutable_expire_time()->set_seconds(due);
  const Sandbox on_hung = *service().Create(slow);
  ASSERT_EQ(on_hung.status().agent(), "hung");
  env_.AddAgent("fine", 1);
  CreateSpec quick = Request("b-quick");
  quick.sandbox.mutable_spec()->mutable_expire_time()->set_seconds(due);
  const Sandbox on_fine = *service().Create(quick);
  ASSERT_EQ(on_fine.status().agent(), "fine");
  absl::Notification entered, release;
  agents().set_on_delete([&](const FakeAgentClient::DeleteCall& call) {
    if (call.address != "hung:5758") return;
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(60));
  });
  clock().Advance(absl::Seconds(30));
  ASSERT_TRUE(Report("hung", {&on_hung}).ok());
  ASSERT_TRUE(Report("fine", {&on_fine}).ok());

  service().DispatchReconcile();
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(service().AwaitReconciled("fine", absl::Seconds(60)));
  EXPECT_EQ(service().Get("", "b-quick")->status().phase(), SandboxStatus::Expired);
  EXPECT_EQ(service().Get("", "a-slow")->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(env_.scheduler().GetAgentByID("fine")->reserved, 0);
  EXPECT_THAT(env_.registry().Serialize(),
              HasSubstr("fsb_reconcile_actions_pending{agent=\"hung\"} 1"));
  // A second pass while the agent still hangs plans nothing more for it.
  service().DispatchReconcile();
  EXPECT_FALSE(service().AwaitReconciled("hung", absl::ZeroDuration()));

  release.Notify();
  ASSERT_TRUE(service().AwaitReconciled("hung", absl::Seconds(60)));
  EXPECT_EQ(service().Get("", "a-slow")->status().phase(), SandboxStatus::Expired);
  EXPECT_EQ(agents().deletes().size(), 2u);
  EXPECT_THAT(env_.registry().Serialize(),
              HasSubstr("fsb_reconcile_actions_pending{agent=\"hung\"} 0"));
}

TEST_F(ReconcilerTest, ExpiryStopsTheSandboxAndKeepsTheRecord) {
  env_.AddAgent("a1", 4);
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->mutable_expire_time()->set_seconds(
      absl::ToUnixSeconds(clock().Now() + absl::Seconds(30)));
  Sandbox created = *service().Create(req);
  clock().Advance(absl::Seconds(29));
  ASSERT_TRUE(Report("a1", {&created}).ok());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
  EXPECT_TRUE(agents().deletes().empty());

  clock().Advance(absl::Seconds(1));
  ASSERT_TRUE(Report("a1", {&created}).ok());
  service().ReconcileOnce();
  Sandbox s = *service().Get("", "web");
  EXPECT_EQ(s.status().phase(), SandboxStatus::Expired);
  EXPECT_EQ(s.status().agent(), "");
  EXPECT_THAT(s.status().message(), HasSubstr("expired at"));
  EXPECT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(env_.scheduler().GetAgentByID("a1")->reserved, 0);
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Expired);
  // Deleting an expired sandbox needs no agent.
  EXPECT_TRUE(service().Delete("", "web", std::nullopt).ok());
  EXPECT_EQ(agents().deletes().size(), 1u);
}

TEST_F(ReconcilerTest, LostAgentManualStaysLostAutoRecreateMoves) {
  env_.AddAgent("a1", 4);
  Sandbox manual = *service().Create(Request("manual"));
  CreateSpec auto_req = Request("auto");
  auto_req.sandbox.mutable_spec()->set_failure_policy(v1alpha1::SandboxSpec::AutoRecreate);
  auto_req.sandbox.mutable_spec()->set_recovery_timeout_seconds(30);
  Sandbox recreate = *service().Create(auto_req);
  env_.AddAgent("a2", 4);  // fresh, while a1 goes silent

  clock().Advance(absl::Seconds(16));
  ASSERT_TRUE(Report("a2", {}).ok());
  service().ReconcileOnce();
  Sandbox lost = *service().Get("", "auto");
  EXPECT_EQ(lost.status().phase(), SandboxStatus::Lost);
  EXPECT_THAT(lost.status().message(), HasSubstr("agent a1 lost"));
  EXPECT_EQ(service().Get("", "manual")->status().phase(), SandboxStatus::Lost);
  EXPECT_EQ(Stored("auto")->status().recovery_deadline().seconds(),
            absl::ToUnixSeconds(clock().Now() + absl::Seconds(30)));

  clock().Advance(absl::Seconds(29));
  ASSERT_TRUE(Report("a2", {}).ok());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "auto")->status().phase(), SandboxStatus::Lost);

  clock().Advance(absl::Seconds(1));
  ASSERT_TRUE(Report("a2", {}).ok());
  service().ReconcileOnce();
  Sandbox moved = *service().Get("", "auto");
  EXPECT_EQ(moved.status().phase(), SandboxStatus::Running);
  EXPECT_EQ(moved.status().agent(), "a2");
  EXPECT_EQ(moved.status().restart_count(), 1);
  EXPECT_NE(moved.status().container_id(), recreate.status().container_id());
  EXPECT_FALSE(moved.status().has_lost_at());

  clock().Advance(absl::Seconds(120));
  ASSERT_TRUE(Report("a2", {&moved}).ok());
  service().ReconcileOnce();
  Sandbox still = *service().Get("", "manual");
  EXPECT_EQ(still.status().phase(), SandboxStatus::Lost);
  EXPECT_EQ(still.status().container_id(), manual.status().container_id());
}

TEST_F(ReconcilerTest, RecoveryDeadlineSurvivesARestart) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  CreateSpec req = Request("auto");
  req.sandbox.mutable_spec()->set_failure_policy(v1alpha1::SandboxSpec::AutoRecreate);
  req.sandbox.mutable_spec()->set_recovery_timeout_seconds(60);
  req.sandbox.mutable_spec()->set_pool_ref("default");
  Sandbox s = *service().Create(req);
  const std::string first_agent = s.status().agent();
  const std::string other_agent = first_agent == "a1" ? "a2" : "a1";
  clock().Advance(absl::Seconds(16));
  ASSERT_TRUE(Report(other_agent, {}).ok());
  service().ReconcileOnce();
  ASSERT_EQ(service().Get("", "auto")->status().phase(), SandboxStatus::Lost);
  const int64_t deadline = service().Get("", "auto")->status().recovery_deadline().seconds();

  clock().Advance(absl::Seconds(30));
  env_.Restart();
  env_.AddAgent(other_agent, 4);
  service().ReconcileOnce();
  Sandbox after = *service().Get("", "auto");
  EXPECT_EQ(after.status().phase(), SandboxStatus::Lost);
  EXPECT_EQ(after.status().recovery_deadline().seconds(), deadline);

  clock().Advance(absl::Seconds(30));
  ASSERT_TRUE(Report(other_agent, {}).ok());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "auto")->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(service().Get("", "auto")->status().agent(), other_agent);
}

TEST_F(ReconcilerTest, ResetRecreatesTheContainer) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().Create(Request("web"));
  ASSERT_TRUE(
      Update("web", [](SandboxUpdate& r) { r.reset_revision = "2030-01-01T00:00:00Z"; }).ok());
  service().ReconcileOnce();
  Sandbox reset = *service().Get("", "web");
  EXPECT_EQ(reset.status().phase(), SandboxStatus::Running);
  EXPECT_NE(reset.status().container_id(), s.status().container_id());
  EXPECT_EQ(reset.status().accepted_reset_revision(), "2030-01-01T00:00:00Z");
  EXPECT_EQ(reset.status().restart_count(), 1);
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, s.status().container_id());
  EXPECT_EQ(agents().creates().size(), 2u);
  EXPECT_EQ(Used("a1"), 1);

  // The same or an older revision does nothing.
  ASSERT_TRUE(
      Update("web", [](SandboxUpdate& r) { r.reset_revision = "2029-01-01T00:00:00Z"; }).ok());
  service().ReconcileOnce();
  EXPECT_EQ(agents().creates().size(), 2u);
}

TEST_F(ReconcilerTest, AResetSandboxTakesTheNewContainersIpAndEndpoints) {
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  int answered = 0;
  agents().set_on_answer(
      [&](const FakeAgentClient::CreateCall&, fsb::agent::v1::CreateSandboxResponse& answer) {
        answer.mutable_status()->set_ip(absl::StrCat("10.88.0.", ++answered + 1));
      });
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->add_exposed_ports(80);
  Sandbox s = *service().Create(req);
  ASSERT_EQ(s.status().ip(), "10.88.0.2");
  ASSERT_TRUE(
      Update("web", [](SandboxUpdate& r) { r.reset_revision = "2030-01-01T00:00:00Z"; }).ok());
  service().ReconcileOnce();
  Sandbox reset = *service().Get("", "web");
  EXPECT_NE(reset.status().container_id(), s.status().container_id());
  EXPECT_EQ(reset.status().ip(), "10.88.0.3");
  EXPECT_THAT(reset.status().endpoints(), ElementsAre("10.88.0.3:80"));
  EXPECT_THAT(Stored("web")->status().endpoints(), ElementsAre("10.88.0.3:80"));
}

TEST_F(ReconcilerTest, OrphansAreDeletedAfterTheTimeout) {
  env_.AddAgent("a1", 4);
  Sandbox known = *service().Create(Request("known"));
  Sandbox stray;
  stray.mutable_metadata()->set_name("stray");
  stray.mutable_metadata()->set_namespace_("default");
  stray.mutable_status()->set_container_id("00000000deadbeef");
  ASSERT_TRUE(Report("a1", {&known, &stray}).ok());
  clock().Advance(absl::Seconds(9));
  ASSERT_TRUE(Report("a1", {&known, &stray}).ok());
  service().ReconcileOnce();
  EXPECT_TRUE(agents().deletes().empty());
  clock().Advance(absl::Seconds(1));
  ASSERT_TRUE(Report("a1", {&known, &stray}).ok());
  service().ReconcileOnce();
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, "00000000deadbeef");
  EXPECT_EQ(service().Get("", "known")->status().phase(), SandboxStatus::Running);
}

TEST_F(ReconcilerTest, UnpersistedFastSandboxBecomesAnOrphanAfterACrash) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().Create(Request("web"));
  // SIGKILL before the write-behind landed: drop the record from the store by hand.
  ASSERT_TRUE(service().Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(env_.store().Delete({"Sandbox", "default", "web"}, std::nullopt).ok());
  env_.Restart();
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(Report("a1", {&s}).ok());
  clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(Report("a1", {&s}).ok());
  service().ReconcileOnce();
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, s.status().container_id());
}

// A create whose controller dies after the Scheduled record became durable and before
// the agent answered: captures the store as the agent call sees it, and puts it back
// after the create to model the crash, then restarts. Returns the record it put back.
absl::StatusOr<Sandbox> CreateCutShortByARestart(ServiceTestEnv& env, const CreateSpec& req) {
  const store::ObjectKey key{"Sandbox", "default", req.sandbox.metadata().name()};
  absl::StatusOr<Sandbox> scheduled = absl::UnknownError("the agent was not called");
  env.agents().set_on_create(
      [&] { scheduled = store::DecodeObject<Sandbox>(*env.store().Get(key)); });
  absl::StatusOr<Sandbox> created = env.service().Create(req);
  env.agents().set_on_create(nullptr);
  if (!created.ok()) return created.status();
  if (!scheduled.ok()) return scheduled.status();
  if (scheduled->status().phase() != SandboxStatus::Scheduled) {
    return absl::InternalError(
        absl::StrCat("the record at the agent call is ",
                     SandboxStatus::Phase_Name(scheduled->status().phase())));
  }
  if (absl::Status s = env.service().Flush(absl::Seconds(5)); !s.ok()) return s;
  absl::StatusOr<store::Object> now = env.store().Get(key);
  if (!now.ok()) return now.status();
  if (auto s = env.store().Update(store::EncodeObject(*scheduled), now->resource_version);
      !s.ok()) {
    return s.status();
  }
  env.Restart();
  return scheduled;
}

TEST_F(ReconcilerTest, ScheduledRecordIsCreatedAgainAfterACrash) {
  env_.AddAgent("a1", 4);
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  absl::StatusOr<Sandbox> cut = CreateCutShortByARestart(env_, req);
  ASSERT_TRUE(cut.ok()) << cut.status();
  const Sandbox& scheduled = *cut;
  env_.AddAgent("a1", 4);
  const size_t creates = agents().creates().size();
  service().ReconcileOnce();
  EXPECT_EQ(agents().creates().size(), creates);  // within the grace: wait for a report
  clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(Report("a1", {}).ok());
  agents().set_on_answer(
      [](const FakeAgentClient::CreateCall&, fsb::agent::v1::CreateSandboxResponse& answer) {
        answer.mutable_status()->set_ip("10.88.0.9");
      });
  service().ReconcileOnce();
  ASSERT_EQ(agents().creates().size(), creates + 1);
  EXPECT_EQ(agents().creates().back().spec.sandbox_id(), scheduled.status().container_id());
  const Sandbox redriven = *service().Get("", "web");
  EXPECT_EQ(redriven.status().phase(), SandboxStatus::Running);
  EXPECT_EQ(redriven.status().ip(), "10.88.0.9");
}

// The client's retry of a create the restart cut short (a warm claim here, so its agent
// reports the instance under its own id) is answered only once the agent confirmed the
// sandbox, and then with the container that runs it: not with the id the record was
// proposed under, which the report replaces (chaos_test found a retry acknowledged with it).
TEST(CreateRetryAfterACrashTest, IsAnsweredOnceItsAgentConfirmsTheSandbox) {
  ServiceTestEnv env({.orphan_timeout = absl::Seconds(10),
                      .agent_lost_timeout = absl::Seconds(15),
                      .create_wait_timeout = absl::Milliseconds(200),
                      .delete_wait_timeout = absl::ZeroDuration()});
  env.AddAgent("a1", 4);
  AnswerWarm(env.agents(), "warm-1");
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  absl::StatusOr<Sandbox> cut = CreateCutShortByARestart(env, req);
  ASSERT_TRUE(cut.ok()) << cut.status();
  const std::string proposed = cut->status().container_id();
  env.AddAgent("a1", 4);

  absl::StatusOr<Sandbox> early = env.service().Create(req);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable) << early.status();
  EXPECT_THAT(early.status().message(), HasSubstr("still being created"));

  ASSERT_TRUE(env.service().Heartbeat(Beat("a1", {WarmState("warm-1", proposed)})).ok());
  absl::StatusOr<Sandbox> retry = env.service().Create(req);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->status().container_id(), "warm-1");
  EXPECT_EQ(retry->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(env.agents().creates().size(), 1u);  // the retry reached no agent
}

}  // namespace
}  // namespace fsb::controller
