#include "controller/sandbox/agent_reports.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

// AgentReports: registrations, heartbeats, reported states (applied or deferred), agent records.
class AgentReportsTest : public SandboxTest {};

// A process that exits at once: the agent pushes the exit before its create answer
// reaches the controller, and the answer still says Running. The push is not lost.
TEST_F(AgentReportsTest, AnExitReportedWhileTheCreateIsInFlightIsAppliedWhenItSettles) {
  env_.AddAgent("a1", 4);
  absl::Status reported = absl::UnknownError("the agent was not called");
  agents().set_on_create([&] {
    Sandbox early;
    early.mutable_metadata()->set_name("quick");
    early.mutable_metadata()->set_namespace_("default");
    early.mutable_status()->set_container_id(agents().creates().back().spec.sandbox_id());
    reported = Report("a1", {&early}, ReportedSandbox::Phase::kExited, 7);
  });
  absl::StatusOr<Sandbox> created = service().Create(Request("quick"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(reported.ok()) << reported;
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(service().Get("", "quick")->status().exit_code(), 7);
  EXPECT_EQ(Stored("quick")->status().phase(), SandboxStatus::Failed);
}

// A report from another agent about a container being created there is not its state.
TEST_F(AgentReportsTest, AReportFromAnotherAgentDuringTheCreateIsIgnored) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4, "other");
  agents().set_on_create([&] {
    Sandbox early;
    early.mutable_status()->set_container_id(agents().creates().back().spec.sandbox_id());
    ASSERT_TRUE(Report("a2", {&early}, ReportedSandbox::Phase::kExited, 7).ok());
  });
  absl::StatusOr<Sandbox> created = service().Create(Request("quick"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().agent(), "a1");
  EXPECT_EQ(created->status().phase(), SandboxStatus::Running);
}

// The claimed instance exits at once: the agent pushes its exit, under the instance's
// id and naming the proposed one, before the create's answer is recorded.
TEST_F(AgentReportsTest, AWarmReportDuringTheCreateIsDeferredAndAppliedWhenItSettles) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "00000000000warm1");
  absl::Status reported = absl::UnknownError("the agent was not called");
  agents().set_on_create([&] {
    AgentHeartbeat beat =
        Beat("a1", {WarmState("00000000000warm1", agents().creates().back().spec.sandbox_id(),
                              ReportedSandbox::Phase::kExited)});
    beat.sandboxes[0].exit_code = 7;
    reported = service().Heartbeat(beat).status();
  });
  absl::StatusOr<Sandbox> created = service().Create(Request("quick"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(reported.ok()) << reported;
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().container_id(), "00000000000warm1");
  EXPECT_EQ(created->status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(created->status().exit_code(), 7);
  EXPECT_EQ(Stored("quick")->status().exit_code(), 7);
}

// A strong create whose controller died after the agent claimed a warm instance and
// before its answer was recorded: the Scheduled record has the proposed id, the agent
// reports the instance naming it. The record adopts the instance: no re-drive, no
// orphan.
TEST_F(AgentReportsTest, AReportNamingTheProposedIdAsRequestedIdIsAdopted) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "00000000000warm2");
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  Sandbox scheduled;
  agents().set_on_create([&] {
    scheduled = *store::DecodeObject<Sandbox>(*env_.store().Get({"Sandbox", "default", "web"}));
  });
  ASSERT_TRUE(service().Create(req).ok());
  agents().set_on_create(nullptr);
  const std::string proposed = scheduled.status().container_id();
  ASSERT_EQ(scheduled.status().phase(), SandboxStatus::Scheduled);
  ASSERT_TRUE(service().Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(env_.store()
                  .Update(store::EncodeObject(scheduled),
                          env_.store().Get({"Sandbox", "default", "web"})->resource_version)
                  .ok());
  env_.Restart();

  AgentRegistration again;
  again.agent.id = "a1";
  again.agent.address = "a1:5758";
  again.agent.max_sandboxes = 4;
  again.sandboxes.push_back(WarmState("00000000000warm2", proposed));
  ASSERT_TRUE(service().RegisterAgent(again).ok());
  // A (re)registered agent is up: no call to it waits out a stale reconnect backoff.
  EXPECT_THAT(agents().agents_up(), ::testing::Contains("a1:5758"));
  Sandbox adopted = *service().Get("", "web");
  EXPECT_EQ(adopted.status().container_id(), "00000000000warm2");
  EXPECT_EQ(adopted.status().phase(), SandboxStatus::Running);
  EXPECT_EQ(Stored("web")->status().container_id(), "00000000000warm2");

  const size_t creates = agents().creates().size();
  for (int i = 0; i < 3; ++i) {
    clock().Advance(absl::Seconds(6));
    ASSERT_TRUE(service().Heartbeat(Beat("a1", {WarmState("00000000000warm2", proposed)})).ok());
    service().ReconcileOnce();
  }
  EXPECT_EQ(agents().creates().size(), creates);
  EXPECT_TRUE(agents().deletes().empty());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
}

// A warm report from another agent naming the proposed id is not the record's.
TEST_F(AgentReportsTest, AWarmReportFromAnotherAgentIsAnOrphanThere) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4, "other");
  Sandbox s = *service().Create(Request("web"));
  const AgentHeartbeat beat =
      Beat("a2", {WarmState("00000000000warm3", s.status().container_id())});
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  ASSERT_TRUE(Report("a1", {&s}).ok());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web")->status().container_id(), s.status().container_id());
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].address, "a2:5758");
  EXPECT_EQ(agents().deletes()[0].sandbox_id, "00000000000warm3");
}

TEST_F(AgentReportsTest, RegistrationAndHeartbeatsAnswerThePoolsWarmTargets) {
  AgentRegistration registration;
  registration.agent.id = "g1";
  registration.agent.address = "g1:5758";
  registration.agent.pool = "gpu";
  registration.agent.max_sandboxes = 4;
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> registered =
      service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(*registered, nullptr);  // no SandboxPool: the agent's own flags
  AgentHeartbeat beat = Beat("g1");
  EXPECT_EQ(*service().Heartbeat(beat), nullptr);

  // A pool with a cap only lists no warm image: still absent.
  v1alpha1::SandboxPool pool;
  pool.mutable_metadata()->set_name("gpu");
  pool.mutable_spec()->set_max_sandboxes_per_agent(3);
  bool created;
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  EXPECT_EQ(*service().Heartbeat(beat), nullptr);

  // Applied warm images reach the agent at its next heartbeat.
  v1alpha1::WarmImage* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image("busybox");
  warm->set_count(4);
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> answer =
      service().Heartbeat(beat);
  ASSERT_TRUE(answer.ok());
  ASSERT_NE(*answer, nullptr);
  ASSERT_EQ((*answer)->targets_size(), 1);
  EXPECT_EQ((*answer)->targets(0).image(), kBusybox);
  EXPECT_EQ((*answer)->targets(0).count(), 4);
  registered = service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok() && *registered != nullptr);
  EXPECT_EQ((*registered)->targets_size(), 1);
  // Agents of another pool get none; a deleted pool's agents neither.
  env_.AddAgent("c1", 4, "cpu");
  beat.agent_id = "c1";
  EXPECT_EQ(*service().Heartbeat(beat), nullptr);
  ASSERT_TRUE(env_.pools().Delete("gpu").ok());
  beat.agent_id = "g1";
  EXPECT_EQ(*service().Heartbeat(beat), nullptr);
  // Stored targets apply after a controller restart.
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  env_.Restart();
  registered = service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok() && *registered != nullptr);
  EXPECT_EQ((*registered)->targets_size(), 1);
}

TEST_F(AgentReportsTest, HeartbeatsMoveExitedSandboxesToSucceededOrFailed) {
  env_.AddAgent("a1", 4);
  Sandbox ok = *service().Create(Request("ok"));
  Sandbox bad = *service().Create(Request("bad"));
  ASSERT_TRUE(Report("a1", {&ok}, ReportedSandbox::Phase::kExited, 0).ok());
  ASSERT_TRUE(Report("a1", {&bad}, ReportedSandbox::Phase::kExited, 3).ok());
  EXPECT_EQ(service().Get("", "ok")->status().phase(), SandboxStatus::Succeeded);
  Sandbox failed = *service().Get("", "bad");
  EXPECT_EQ(failed.status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(failed.status().exit_code(), 3);
  EXPECT_EQ(Stored("bad")->status().exit_code(), 3);
}

// A create of `name` listening on port 80 and publishing the node's 8080 to it.
CreateSpec WebServer(std::string name) {
  CreateSpec create = Request(std::move(name));
  create.sandbox.mutable_spec()->add_exposed_ports(80);
  v1alpha1::PortPublish* p = create.sandbox.mutable_spec()->add_publish();
  p->set_host_port(8080);
  p->set_container_port(80);
  p->set_protocol("tcp");
  return create;
}

// The state of `sandbox`'s container, running at `ip`.
ReportedSandbox RunningAt(const Sandbox& sandbox, std::string ip) {
  return {.container_id = sandbox.status().container_id(),
          .phase = ReportedSandbox::Phase::kRunning,
          .ip = std::move(ip)};
}

TEST_F(AgentReportsTest, AHeartbeatsSandboxIpBecomesTheEndpoints) {
  env_.AddAgent("a1", 4, "default", "192.0.2.1:5758");
  // The agent's create answer has no ip (as one in the node's network answers).
  Sandbox s = *service().Create(WebServer("web"));
  ASSERT_EQ(s.status().ip(), "");
  EXPECT_THAT(s.status().endpoints(), ElementsAre("192.0.2.1:80", "192.0.2.1:8080"));

  ASSERT_TRUE(service().Heartbeat(Beat("a1", {RunningAt(s, "10.88.0.4")})).ok());
  Sandbox addressed = *service().Get("", "web");
  EXPECT_EQ(addressed.status().ip(), "10.88.0.4");
  EXPECT_THAT(addressed.status().endpoints(), ElementsAre("10.88.0.4:80", "192.0.2.1:8080"));
  EXPECT_THAT(Stored("web")->status().endpoints(), ElementsAre("10.88.0.4:80", "192.0.2.1:8080"));

  // A report without an ip (an exited container's network may be gone) keeps it.
  ASSERT_TRUE(service().Heartbeat(Beat("a1", {RunningAt(s, "")})).ok());
  EXPECT_EQ(service().Get("", "web")->status().ip(), "10.88.0.4");
  EXPECT_THAT(service().Get("", "web")->status().endpoints(),
              ElementsAre("10.88.0.4:80", "192.0.2.1:8080"));
}

TEST_F(AgentReportsTest, ARegistrationsSandboxIpBecomesTheEndpoints) {
  env_.AddAgent("a1", 4, "default", "192.0.2.1:5758");
  Sandbox s = *service().Create(WebServer("web"));
  env_.Restart();
  AgentRegistration again;
  again.agent.id = "a1";
  again.agent.address = "192.0.2.1:5758";
  again.agent.max_sandboxes = 4;
  again.sandboxes.push_back(RunningAt(s, "10.88.0.4"));
  ASSERT_TRUE(service().RegisterAgent(again).ok());
  Sandbox addressed = *service().Get("", "web");
  EXPECT_EQ(addressed.status().ip(), "10.88.0.4");
  EXPECT_THAT(addressed.status().endpoints(), ElementsAre("10.88.0.4:80", "192.0.2.1:8080"));
}

TEST_F(AgentReportsTest, ASandboxIpReportedWhileTheCreateIsInFlightIsAppliedWhenItSettles) {
  env_.AddAgent("a1", 4, "default", "192.0.2.1:5758");
  absl::Status reported = absl::UnknownError("the agent was not called");
  agents().set_on_create([&] {
    Sandbox early;
    early.mutable_status()->set_container_id(agents().creates().back().spec.sandbox_id());
    reported = service().Heartbeat(Beat("a1", {RunningAt(early, "10.88.0.5")})).status();
  });
  absl::StatusOr<Sandbox> created = service().Create(WebServer("web"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(reported.ok()) << reported;
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().ip(), "10.88.0.5");
  EXPECT_THAT(created->status().endpoints(), ElementsAre("10.88.0.5:80", "192.0.2.1:8080"));
  EXPECT_EQ(Stored("web")->status().ip(), "10.88.0.5");
}

TEST_F(AgentReportsTest, ReturningAgentRevivesALostSandbox) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().Create(Request("web"));
  clock().Advance(absl::Seconds(16));
  service().ReconcileOnce();
  ASSERT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Lost);
  ASSERT_TRUE(Report("a1", {&s}).ok());
  Sandbox back = *service().Get("", "web");
  EXPECT_EQ(back.status().phase(), SandboxStatus::Running);
  EXPECT_FALSE(back.status().has_recovery_deadline());
}

TEST(ReportedSandboxOfTest, AnUnknownPhaseIsUnknownNotOther) {
  fsb::agent::v1::SandboxStatus state;
  state.set_sandbox_id("c1");
  state.set_phase(fsb::agent::v1::SANDBOX_PHASE_UNKNOWN);
  state.set_message("task is paused or in an unknown state");
  const ReportedSandbox reported = ReportedSandboxOf(state);
  EXPECT_EQ(reported.phase, ReportedSandbox::Phase::kUnknown);
  EXPECT_EQ(reported.message, "task is paused or in an unknown state");
  state.set_phase(fsb::agent::v1::SANDBOX_PHASE_CREATING);
  EXPECT_EQ(ReportedSandboxOf(state).phase, ReportedSandbox::Phase::kOther);
}

// An agent that cannot tell a container's state (a paused task, a container gone from
// containerd) reports it UNKNOWN. A blip keeps the sandbox Running; UNKNOWN for the
// orphan timeout (10 s here) since the last known report makes it Lost, not Running
// forever; a report of it running brings it back.
TEST_F(AgentReportsTest, ASandboxItsAgentReportsUnknownForTheOrphanTimeoutIsLost) {
  env_.AddAgent("a1", 4);
  const Sandbox s = *service().Create(Request("web"));
  auto report_unknown = [&] {
    return service()
        .Heartbeat(Beat("a1", {{.container_id = s.status().container_id(),
                                .phase = ReportedSandbox::Phase::kUnknown,
                                .message = "container no longer exists in containerd"}}))
        .status();
  };
  ASSERT_TRUE(report_unknown().ok());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
  clock().Advance(absl::Seconds(6));
  ASSERT_TRUE(Report("a1", {&s}).ok());  // known again: the grace starts over
  clock().Advance(absl::Seconds(6));
  ASSERT_TRUE(report_unknown().ok());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);

  clock().Advance(absl::Seconds(5));  // 11 s of UNKNOWN only
  ASSERT_TRUE(report_unknown().ok());
  const Sandbox lost = *service().Get("", "web");
  EXPECT_EQ(lost.status().phase(), SandboxStatus::Lost);
  EXPECT_THAT(lost.status().message(), HasSubstr("agent a1 cannot tell the container's state"));
  EXPECT_THAT(lost.status().message(), HasSubstr("container no longer exists in containerd"));
  EXPECT_TRUE(lost.status().has_recovery_deadline());
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Lost);

  ASSERT_TRUE(Report("a1", {&s}).ok());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
}

TEST_F(AgentReportsTest, ListAgentsDescribesCapacityAndHealth) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 2, "gpu");
  ASSERT_TRUE(service().Create(Request("web")).ok());
  clock().Advance(absl::Seconds(16));
  ASSERT_TRUE(Report("a1", {}).ok());
  absl::StatusOr<std::vector<v1alpha1::Agent>> listed = service().ListAgents();
  ASSERT_TRUE(listed.ok()) << listed.status();
  const std::vector<v1alpha1::Agent>& agents = *listed;
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[0].metadata().name(), "a1");
  EXPECT_EQ(agents[0].spec().capacity(), 4);
  EXPECT_EQ(agents[0].status().conditions(0).status(), "True");
  EXPECT_EQ(agents[1].spec().pool(), "gpu");
  EXPECT_EQ(agents[1].status().conditions(0).status(), "False");
  EXPECT_EQ(agents[1].status().conditions(0).reason(), "HeartbeatMissed");
  // Stored records give them the metadata of a resource.
  EXPECT_NE(agents[0].metadata().uid(), "");
  EXPECT_GT(agents[0].metadata().resource_version(), 0);
  EXPECT_EQ(agents[0].metadata().creation_timestamp().seconds(),
            absl::ToUnixSeconds(clock().Now() - absl::Seconds(16)));
}

TEST_F(AgentReportsTest, AgentRecordsFollowRegistrationAndOutliveARestart) {
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  const std::string uid = service().ListAgents()->at(0).metadata().uid();
  // Registering again with the same description writes nothing; a new capacity does.
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  const int64_t version = service().ListAgents()->at(0).metadata().resource_version();
  env_.AddAgent("a1", 6, "default", "10.0.0.1:5758");
  absl::StatusOr<std::vector<v1alpha1::Agent>> agents = service().ListAgents();
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->at(0).metadata().uid(), uid);
  EXPECT_GT(agents->at(0).metadata().resource_version(), version);
  EXPECT_EQ(agents->at(0).metadata().generation(), 2);

  // After a controller restart the agent is listed before it registers again.
  env_.Restart();
  agents = service().ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ(agents->at(0).spec().capacity(), 6);
  EXPECT_EQ(agents->at(0).spec().address(), "10.0.0.1:5758");
  EXPECT_EQ(agents->at(0).status().conditions(0).status(), "False");
  EXPECT_EQ(agents->at(0).status().conditions(0).reason(), "NotRegistered");
  env_.AddAgent("a1", 6, "default", "10.0.0.1:5758");
  agents = service().ListAgents();
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->at(0).status().conditions(0).status(), "True");
  EXPECT_EQ(agents->at(0).metadata().uid(), uid);
}

TEST_F(AgentReportsTest, DeleteAgentOnlyForgetsAgentsThatAreGone) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("web")).ok());
  absl::Status live = service().DeleteAgent("a1");
  EXPECT_EQ(live.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(live.message(), HasSubstr("agent a1 is registered and sending heartbeats"));
  EXPECT_EQ(service().DeleteAgent("nobody").code(), absl::StatusCode::kNotFound);

  clock().Advance(absl::Seconds(16));
  service().ReconcileOnce();
  ASSERT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Lost);
  ASSERT_TRUE(service().DeleteAgent("a1").ok());
  EXPECT_TRUE(service().ListAgents()->empty());
  EXPECT_EQ(env_.scheduler().AgentCount(), 0);
  // Its sandbox stays, Lost, under its failure policy.
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Lost);
  EXPECT_EQ(service().DeleteAgent("a1").code(), absl::StatusCode::kNotFound);

  // An agent of that name that registers again is new to the registry: the sandbox
  // placed there reserves its slot again.
  env_.AddAgent("a1", 4);
  EXPECT_EQ(env_.scheduler().GetAgentByID("a1")->reserved, 1);
}

}  // namespace
}  // namespace fsb::controller
