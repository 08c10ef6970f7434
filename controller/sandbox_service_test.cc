#include "controller/sandbox_service.h"

#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "controller/service_test_env.h"
#include "controller/store/resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kBusybox[] = "docker.io/library/busybox:latest";

fastpath::v1::CreateRequest Request(std::string name, std::string image = "busybox") {
  fastpath::v1::CreateRequest req;
  req.set_name(std::move(name));
  req.set_image(std::move(image));
  return req;
}

class SandboxServiceTest : public ::testing::Test {
 protected:
  SandboxService& service() { return env_.service(); }
  FakeAgentClient& agents() { return env_.agents(); }
  ManualClock& clock() { return env_.clock(); }

  int Used(const std::string& agent) { return env_.scheduler().GetAgentByID(agent)->used; }

  // The record as the store holds it (flushing pending writes first).
  absl::StatusOr<Sandbox> Stored(const std::string& name, const std::string& ns = "default") {
    absl::Status flushed = service().Flush(absl::Seconds(10));
    if (!flushed.ok()) return flushed;
    absl::StatusOr<store::Object> object = env_.store().Get({"Sandbox", ns, name});
    if (!object.ok()) return object.status();
    return store::DecodeObject<Sandbox>(*object);
  }

  // A heartbeat from `agent` reporting `sandboxes` (each with the given phase).
  absl::Status Report(const std::string& agent, const std::vector<const Sandbox*>& sandboxes,
                      fsb::agent::v1::SandboxPhase phase = fsb::agent::v1::SANDBOX_PHASE_RUNNING,
                      int exit_code = 0) {
    fsb::agent::v1::HeartbeatRequest req;
    req.set_agent_id(agent);
    for (const Sandbox* s : sandboxes) {
      auto* state = req.add_sandboxes();
      state->set_sandbox_id(s->status().container_id());
      state->set_name(s->metadata().name());
      state->set_namespace_(s->metadata().namespace_());
      state->set_phase(phase);
      state->set_exit_code(exit_code);
    }
    return service().Heartbeat(req).status();
  }

  absl::StatusOr<Sandbox> Update(const std::string& name,
                                 void (*set)(fastpath::v1::UpdateRequest&)) {
    fastpath::v1::UpdateRequest req;
    req.set_sandbox_name(name);
    set(req);
    return service().Update(req);
  }

  ServiceTestEnv env_{SandboxService::Options{.orphan_timeout = absl::Seconds(10),
                                              .agent_lost_timeout = absl::Seconds(15)}};
};

TEST_F(SandboxServiceTest, CreateFillsTheRecordAndTheAgentSpec) {
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  fastpath::v1::CreateRequest req = Request("web");
  req.add_command("httpd");
  (*req.mutable_envs())["MODE"] = "prod";
  (*req.mutable_labels())["tier"] = "front";
  req.add_exposed_ports(80);
  absl::StatusOr<Sandbox> s = service().CreateSandbox(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->metadata().namespace_(), "default");
  EXPECT_EQ(s->metadata().generation(), 1);
  EXPECT_EQ(s->metadata().uid().size(), 32u);
  EXPECT_EQ(s->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(s->status().agent(), "a1");
  EXPECT_EQ(s->status().node(), "node-a1");
  EXPECT_THAT(s->status().endpoints(), ElementsAre("10.0.0.1:80"));

  ASSERT_EQ(agents().creates().size(), 1u);
  const auto creates = agents().creates();
  const auto& call = creates[0];
  EXPECT_EQ(call.address, "10.0.0.1:5758");
  EXPECT_EQ(call.spec.sandbox_id(), s->status().container_id());
  EXPECT_EQ(call.spec.image(), kBusybox);
  EXPECT_THAT(call.spec.command(), ElementsAre("httpd"));
  EXPECT_EQ(Used("a1"), 1);

  absl::StatusOr<Sandbox> stored = Stored("web");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(stored->metadata().uid(), s->metadata().uid());
  EXPECT_GT(service().Get("", "web")->metadata().resource_version(), 0);
}

TEST_F(SandboxServiceTest, SameRequestIsIdempotentOtherSpecIsAlreadyExists) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<Sandbox> first = service().CreateSandbox(Request("web"));
  ASSERT_TRUE(first.ok());
  absl::StatusOr<Sandbox> again = service().CreateSandbox(Request("web"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status().container_id(), first->status().container_id());
  EXPECT_EQ(agents().creates().size(), 1u);

  fastpath::v1::CreateRequest other = Request("web");
  other.add_command("sleep");
  absl::StatusOr<Sandbox> conflict = service().CreateSandbox(other);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(conflict.status().message(), HasSubstr("different spec"));

  // Another request id for the taken name.
  fastpath::v1::CreateRequest taken = Request("web");
  taken.set_request_id("someone-else");
  EXPECT_EQ(service().CreateSandbox(taken).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(agents().creates().size(), 1u);
}

TEST_F(SandboxServiceTest, RequestIdMakesGeneratedNamesIdempotent) {
  env_.AddAgent("a1", 4);
  fastpath::v1::CreateRequest req = Request("");
  req.set_request_id("job-17");
  absl::StatusOr<Sandbox> first = service().CreateSandbox(req);
  absl::StatusOr<Sandbox> second = service().CreateSandbox(req);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->metadata().name(), second->metadata().name());
  EXPECT_EQ(agents().creates().size(), 1u);
}

TEST_F(SandboxServiceTest, ConcurrentIdenticalCreatesReachTheAgentOnce) {
  env_.AddAgent("a1", 4);
  absl::Notification in_agent, release;
  agents().set_on_create([&] {
    if (!in_agent.HasBeenNotified()) in_agent.Notify();
    release.WaitForNotification();
  });
  absl::StatusOr<Sandbox> a, b;
  std::thread first([&] { a = service().CreateSandbox(Request("web")); });
  in_agent.WaitForNotification();
  std::thread second([&] { b = service().CreateSandbox(Request("web")); });
  absl::SleepFor(absl::Milliseconds(50));  // let the second one reach its wait
  release.Notify();
  first.join();
  second.join();
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
  EXPECT_EQ(a->status().container_id(), b->status().container_id());
  EXPECT_EQ(agents().creates().size(), 1u);
}

TEST_F(SandboxServiceTest, AgentErrorPropagatesAndLeavesNothing) {
  env_.AddAgent("a1", 4);
  agents().set_create_status(absl::NotFoundError("image \"x\" not found on this node"));
  absl::StatusOr<Sandbox> s = service().CreateSandbox(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stored("web").status().code(), absl::StatusCode::kNotFound);
  agents().set_create_status(absl::OkStatus());
  EXPECT_TRUE(service().CreateSandbox(Request("web")).ok());
}

TEST_F(SandboxServiceTest, RefusingAgentFallsBackToTheNextCandidate) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  // Whichever the scheduler prefers, a1 refuses: the sandbox lands on a2.
  agents().set_create_status_for("a1:5758", absl::ResourceExhaustedError("agent is at capacity"));
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<Sandbox> s = service().CreateSandbox(Request(absl::StrCat("s", i)));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status().agent(), "a2");
  }
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(Used("a2"), 4);
  absl::StatusOr<Sandbox> none = service().CreateSandbox(Request("s9"));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SandboxServiceTest, UnreachableAgentFallsBackButAnAgentsOwnErrorDoesNot) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  absl::Status unreachable = absl::UnavailableError("agent at a1:5758 not reached");
  unreachable.SetPayload(kAgentUnreachable, absl::Cord());
  agents().set_create_status_for("a1:5758", unreachable);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Sandbox> s = service().CreateSandbox(Request(absl::StrCat("s", i)));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status().agent(), "a2");
  }
  // An agent that answers UNAVAILABLE itself (a registry it cannot reach) is final.
  for (const char* address : {"a1:5758", "a2:5758"}) {
    agents().set_create_status_for(address,
                                   absl::UnavailableError("registry example.com cannot be reached"));
  }
  const size_t calls = agents().creates().size();
  absl::StatusOr<Sandbox> s = service().CreateSandbox(Request("pulled"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr("example.com"));
  EXPECT_EQ(agents().creates().size(), calls + 1);  // no second candidate
}

TEST_F(SandboxServiceTest, NoAgentIsResourceExhaustedSayingWhy) {
  absl::StatusOr<Sandbox> s = service().CreateSandbox(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.status().message(), HasSubstr("no agent in pool \"default\""));
  env_.AddAgent("a1", 1);
  ASSERT_TRUE(service().CreateSandbox(Request("one")).ok());
  s = service().CreateSandbox(Request("two"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SandboxServiceTest, StrongModeIsDurableBeforeTheAgentIsCalled) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<store::Object> seen_by_agent;
  agents().set_on_create([&] { seen_by_agent = env_.store().Get({"Sandbox", "default", "web"}); });
  fastpath::v1::CreateRequest req = Request("web");
  req.set_consistency_mode(fastpath::v1::STRONG);
  ASSERT_TRUE(service().CreateSandbox(req).ok());
  ASSERT_TRUE(seen_by_agent.ok()) << seen_by_agent.status();
  Sandbox at_call = *store::DecodeObject<Sandbox>(*seen_by_agent);
  EXPECT_EQ(at_call.status().phase(), SandboxStatus::Scheduled);
  EXPECT_EQ(at_call.status().agent(), "a1");
}

TEST_F(SandboxServiceTest, FastModeCallsTheAgentFirst) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<store::Object> seen_by_agent;
  agents().set_on_create([&] { seen_by_agent = env_.store().Get({"Sandbox", "default", "web"}); });
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
  EXPECT_EQ(seen_by_agent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, DeleteStopsOnTheAgentAndForgets) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<Sandbox> s = service().CreateSandbox(Request("web"));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(service().Delete("", "web", absl::Seconds(3)).ok());
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, s->status().container_id());
  EXPECT_EQ(agents().deletes()[0].grace, absl::Seconds(3));
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stored("web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service().Delete("", "web", std::nullopt).code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxServiceTest, DeleteOfAGoneContainerSucceeds) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
  agents().set_delete_status(absl::NotFoundError("sandbox not found on this agent"));
  EXPECT_TRUE(service().Delete("", "web", std::nullopt).ok());
}

TEST_F(SandboxServiceTest, FailedDeleteStaysTerminatingAndIsRetried) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
  agents().set_delete_status(absl::UnavailableError("connection refused"));
  absl::Status s = service().Delete("", "web", std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("Terminating"));
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Terminating);
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Terminating);
  EXPECT_EQ(Update("web", [](auto& r) { r.set_failure_policy(fastpath::v1::AUTO_RECREATE); })
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  agents().set_delete_status(absl::OkStatus());
  service().ReconcileOnce();
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Used("a1"), 0);
}

// A process that exits at once: the agent pushes the exit before its create answer
// reaches the controller, and the answer still says Running. The push is not lost.
TEST_F(SandboxServiceTest, AnExitReportedWhileTheCreateIsInFlightIsAppliedWhenItSettles) {
  env_.AddAgent("a1", 4);
  absl::Status reported = absl::UnknownError("the agent was not called");
  agents().set_on_create([&] {
    Sandbox early;
    early.mutable_metadata()->set_name("quick");
    early.mutable_metadata()->set_namespace_("default");
    early.mutable_status()->set_container_id(agents().creates().back().spec.sandbox_id());
    reported = Report("a1", {&early}, fsb::agent::v1::SANDBOX_PHASE_EXITED, 7);
  });
  absl::StatusOr<Sandbox> created = service().CreateSandbox(Request("quick"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(reported.ok()) << reported;
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(service().Get("", "quick")->status().exit_code(), 7);
  EXPECT_EQ(Stored("quick")->status().phase(), SandboxStatus::Failed);
}

// A report from another agent about a container being created there is not its state.
TEST_F(SandboxServiceTest, AReportFromAnotherAgentDuringTheCreateIsIgnored) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4, "other");
  agents().set_on_create([&] {
    Sandbox early;
    early.mutable_status()->set_container_id(agents().creates().back().spec.sandbox_id());
    ASSERT_TRUE(Report("a2", {&early}, fsb::agent::v1::SANDBOX_PHASE_EXITED, 7).ok());
  });
  absl::StatusOr<Sandbox> created = service().CreateSandbox(Request("quick"));
  agents().set_on_create(nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().agent(), "a1");
  EXPECT_EQ(created->status().phase(), SandboxStatus::Running);
}

// Makes the fake agent answer every create as a warm claim does: instance `id` (or,
// when empty, "warm-" + the proposed id), warm, and `ready` instances left.
void AnswerWarm(FakeAgentClient& agents, std::string id = "", int ready = 1) {
  agents.set_on_answer([id, ready](const FakeAgentClient::CreateCall& call,
                                   fsb::agent::v1::CreateSandboxResponse& answer) {
    answer.mutable_status()->set_sandbox_id(id.empty() ? "warm-" + call.spec.sandbox_id() : id);
    answer.mutable_status()->set_requested_id(call.spec.sandbox_id());
    answer.set_warm(true);
    fsb::agent::v1::WarmCount* left = answer.add_warm_counts();
    left->set_image(call.spec.image());
    left->set_ready(ready);
    left->set_desired(ready + 1);
  });
}

// A report of a claimed warm instance: its own id, naming the proposed one.
fsb::agent::v1::SandboxStatus WarmState(const std::string& id, const std::string& requested,
                                        fsb::agent::v1::SandboxPhase phase =
                                            fsb::agent::v1::SANDBOX_PHASE_RUNNING) {
  fsb::agent::v1::SandboxStatus state;
  state.set_sandbox_id(id);
  state.set_requested_id(requested);
  state.set_phase(phase);
  return state;
}

TEST_F(SandboxServiceTest, AWarmClaimIsRecordedUnderTheContainerIdTheAgentAnswers) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "0123456789abcdef", /*ready=*/2);
  absl::StatusOr<Sandbox> s = service().CreateSandbox(Request("web"));
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string proposed = agents().creates().back().spec.sandbox_id();
  EXPECT_NE(proposed, "0123456789abcdef");
  EXPECT_EQ(s->status().container_id(), "0123456789abcdef");
  EXPECT_EQ(s->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(Stored("web")->status().container_id(), "0123456789abcdef");
  EXPECT_EQ(service().Locate("", "web")->container_id, "0123456789abcdef");
  // The answer's warm counts are the scheduler's now.
  absl::StatusOr<AgentSnapshot> a1 = env_.scheduler().GetAgentByID("a1");
  ASSERT_EQ(a1->warm.size(), 1u);
  EXPECT_EQ(a1->warm[0], (NamedWarmImage{kBusybox, 2, 0, 3}));

  // Heartbeats report it under its own id: it is the record's, never an orphan.
  for (int i = 0; i < 3; ++i) {
    fsb::agent::v1::HeartbeatRequest beat;
    beat.set_agent_id("a1");
    *beat.add_sandboxes() = WarmState("0123456789abcdef", proposed,
                                      i < 2 ? fsb::agent::v1::SANDBOX_PHASE_RUNNING
                                            : fsb::agent::v1::SANDBOX_PHASE_EXITED);
    ASSERT_TRUE(service().Heartbeat(beat).ok());
    clock().Advance(absl::Seconds(6));
    service().ReconcileOnce();
  }
  EXPECT_TRUE(agents().deletes().empty());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Succeeded);

  ASSERT_TRUE(service().Delete("", "web", std::nullopt).ok());
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, "0123456789abcdef");
}

// The claimed instance exits at once: the agent pushes its exit, under the instance's
// id and naming the proposed one, before the create's answer is recorded.
TEST_F(SandboxServiceTest, AWarmReportDuringTheCreateIsDeferredAndAppliedWhenItSettles) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "00000000000warm1");
  absl::Status reported = absl::UnknownError("the agent was not called");
  agents().set_on_create([&] {
    fsb::agent::v1::HeartbeatRequest beat;
    beat.set_agent_id("a1");
    *beat.add_sandboxes() = WarmState("00000000000warm1", agents().creates().back().spec.sandbox_id(),
                                      fsb::agent::v1::SANDBOX_PHASE_EXITED);
    beat.mutable_sandboxes(0)->set_exit_code(7);
    reported = service().Heartbeat(beat).status();
  });
  absl::StatusOr<Sandbox> created = service().CreateSandbox(Request("quick"));
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
TEST_F(SandboxServiceTest, AReportNamingTheProposedIdAsRequestedIdIsAdopted) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "00000000000warm2");
  fastpath::v1::CreateRequest req = Request("web");
  req.set_consistency_mode(fastpath::v1::STRONG);
  Sandbox scheduled;
  agents().set_on_create([&] {
    scheduled = *store::DecodeObject<Sandbox>(*env_.store().Get({"Sandbox", "default", "web"}));
  });
  ASSERT_TRUE(service().CreateSandbox(req).ok());
  agents().set_on_create(nullptr);
  const std::string proposed = scheduled.status().container_id();
  ASSERT_EQ(scheduled.status().phase(), SandboxStatus::Scheduled);
  ASSERT_TRUE(service().Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(env_.store()
                  .Update(store::EncodeObject(scheduled),
                          env_.store().Get({"Sandbox", "default", "web"})->resource_version)
                  .ok());
  env_.Restart();

  fsb::agent::v1::RegisterRequest again;
  again.mutable_agent()->set_agent_id("a1");
  again.mutable_agent()->set_address("a1:5758");
  again.mutable_agent()->set_capacity(4);
  *again.add_sandboxes() = WarmState("00000000000warm2", proposed);
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
    fsb::agent::v1::HeartbeatRequest beat;
    beat.set_agent_id("a1");
    *beat.add_sandboxes() = WarmState("00000000000warm2", proposed);
    ASSERT_TRUE(service().Heartbeat(beat).ok());
    service().ReconcileOnce();
  }
  EXPECT_EQ(agents().creates().size(), creates);
  EXPECT_TRUE(agents().deletes().empty());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
}

// A warm report from another agent naming the proposed id is not the record's.
TEST_F(SandboxServiceTest, AWarmReportFromAnotherAgentIsAnOrphanThere) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4, "other");
  Sandbox s = *service().CreateSandbox(Request("web"));
  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("a2");
  *beat.add_sandboxes() = WarmState("00000000000warm3", s.status().container_id());
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

TEST_F(SandboxServiceTest, ReportedWarmCountsPlaceAndAreListed) {
  env_.AddAgent("cold", 4);
  env_.AddAgent("warm", 4);
  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("warm");
  fsb::agent::v1::WarmCount* count = beat.add_warm();
  count->set_image("busybox");  // any spelling
  count->set_ready(1);
  count->set_preparing(1);
  count->set_desired(2);
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  AnswerWarm(agents(), "", /*ready=*/0);
  EXPECT_EQ(service().CreateSandbox(Request("first"))->status().agent(), "warm");
  // The answer says none is left: the next create goes by load.
  agents().set_on_answer(nullptr);
  EXPECT_EQ(service().CreateSandbox(Request("second"))->status().agent(), "cold");

  ASSERT_TRUE(service().Heartbeat(beat).ok());
  absl::StatusOr<std::vector<v1alpha1::Agent>> listed = service().ListAgents();
  ASSERT_TRUE(listed.ok());
  const v1alpha1::Agent& warm = listed->at(1);
  ASSERT_EQ(warm.metadata().name(), "warm");
  ASSERT_EQ(warm.status().warm_size(), 1);
  EXPECT_EQ(warm.status().warm(0).image(), kBusybox);
  EXPECT_EQ(warm.status().warm(0).ready(), 1);
  EXPECT_EQ(warm.status().warm(0).preparing(), 1);
  EXPECT_EQ(warm.status().warm(0).desired(), 2);
  EXPECT_EQ(listed->at(0).status().warm_size(), 0);

  const std::string text = env_.registry().Serialize();
  EXPECT_THAT(text, HasSubstr("fsb_placements_total{kind=\"warm\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_placements_total{kind=\"cold\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_placements_total{kind=\"cached\"} 0"));
}

TEST_F(SandboxServiceTest, AnAgentWhoseRuntimeIsDownTakesOnlyWarmCreates) {
  env_.AddAgent("a1", 4);
  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("a1");
  beat.set_runtime_unavailable(true);
  fsb::agent::v1::WarmCount* count = beat.add_warm();
  count->set_image(kBusybox);
  count->set_ready(1);
  ASSERT_TRUE(service().Heartbeat(beat).ok());

  absl::StatusOr<Sandbox> cold = service().CreateSandbox(Request("cold", "alpine"));
  EXPECT_EQ(cold.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(cold.status().message(), HasSubstr("the container runtime is down"));
  AnswerWarm(agents(), "", /*ready=*/0);
  ASSERT_TRUE(service().CreateSandbox(Request("warm")).ok());
  EXPECT_EQ(service().CreateSandbox(Request("again")).status().code(),
            absl::StatusCode::kResourceExhausted);

  const v1alpha1::Agent agent = service().ListAgents()->at(0);
  ASSERT_EQ(agent.status().conditions_size(), 2);
  EXPECT_EQ(agent.status().conditions(0).type(), "Ready");
  EXPECT_EQ(agent.status().conditions(0).status(), "False");
  EXPECT_EQ(agent.status().conditions(0).reason(), "RuntimeUnavailable");
  EXPECT_EQ(agent.status().conditions(1).type(), "RuntimeAvailable");
  EXPECT_EQ(agent.status().conditions(1).status(), "False");
  EXPECT_THAT(agent.status().conditions(1).message(), HasSubstr("warm instance"));
  EXPECT_FALSE(agent.spec().draining());

  // containerd answers again: cold creates go there too.
  beat.set_runtime_unavailable(false);
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  agents().set_on_answer(nullptr);
  EXPECT_TRUE(service().CreateSandbox(Request("cold", "alpine")).ok());
  EXPECT_EQ(service().ListAgents()->at(0).status().conditions(1).status(), "True");
}

TEST_F(SandboxServiceTest, RegistrationAndHeartbeatsAnswerThePoolsWarmTargets) {
  fsb::agent::v1::RegisterRequest registration;
  registration.mutable_agent()->set_agent_id("g1");
  registration.mutable_agent()->set_address("g1:5758");
  registration.mutable_agent()->set_pool("gpu");
  registration.mutable_agent()->set_capacity(4);
  absl::StatusOr<fsb::agent::v1::RegisterResponse> registered =
      service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_FALSE(registered->has_warm_targets());  // no SandboxPool: the agent's own flags
  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("g1");
  EXPECT_FALSE(service().Heartbeat(beat)->has_warm_targets());

  // A pool with a cap only lists no warm image: still absent.
  v1alpha1::SandboxPool pool;
  pool.mutable_metadata()->set_name("gpu");
  pool.mutable_spec()->set_max_sandboxes_per_agent(3);
  bool created;
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  EXPECT_FALSE(service().Heartbeat(beat)->has_warm_targets());

  // Applied warm images reach the agent at its next heartbeat.
  v1alpha1::WarmImage* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image("busybox");
  warm->set_count(4);
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  absl::StatusOr<fsb::agent::v1::HeartbeatResponse> answer = service().Heartbeat(beat);
  ASSERT_TRUE(answer.ok());
  ASSERT_EQ(answer->warm_targets().targets_size(), 1);
  EXPECT_EQ(answer->warm_targets().targets(0).image(), kBusybox);
  EXPECT_EQ(answer->warm_targets().targets(0).count(), 4);
  registered = service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->warm_targets().targets_size(), 1);
  // Agents of another pool get none; a deleted pool's agents neither.
  env_.AddAgent("c1", 4, "cpu");
  beat.set_agent_id("c1");
  EXPECT_FALSE(service().Heartbeat(beat)->has_warm_targets());
  ASSERT_TRUE(env_.pools().Delete("gpu").ok());
  beat.set_agent_id("g1");
  EXPECT_FALSE(service().Heartbeat(beat)->has_warm_targets());
  // Stored targets apply after a controller restart.
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());
  env_.Restart();
  registered = service().RegisterAgent(registration);
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->warm_targets().targets_size(), 1);
}

TEST_F(SandboxServiceTest, HeartbeatsMoveExitedSandboxesToSucceededOrFailed) {
  env_.AddAgent("a1", 4);
  Sandbox ok = *service().CreateSandbox(Request("ok"));
  Sandbox bad = *service().CreateSandbox(Request("bad"));
  ASSERT_TRUE(Report("a1", {&ok}, fsb::agent::v1::SANDBOX_PHASE_EXITED, 0).ok());
  ASSERT_TRUE(Report("a1", {&bad}, fsb::agent::v1::SANDBOX_PHASE_EXITED, 3).ok());
  EXPECT_EQ(service().Get("", "ok")->status().phase(), SandboxStatus::Succeeded);
  Sandbox failed = *service().Get("", "bad");
  EXPECT_EQ(failed.status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(failed.status().exit_code(), 3);
  EXPECT_EQ(Stored("bad")->status().exit_code(), 3);
}

TEST_F(SandboxServiceTest, UpdateAppliesEachFieldAndValidates) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
  const int64_t future = absl::ToUnixSeconds(clock().Now() + absl::Hours(1));
  fastpath::v1::UpdateRequest req;
  req.set_sandbox_name("web");
  req.set_expire_time_seconds(future);
  (*req.mutable_labels())["team"] = "a";
  (*req.mutable_labels())["tier"] = "x";
  absl::StatusOr<Sandbox> s = service().Update(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec().expire_time().seconds(), future);
  EXPECT_EQ(s->metadata().generation(), 2);
  EXPECT_THAT(s->metadata().labels(), UnorderedElementsAre(Pair("team", "a"), Pair("tier", "x")));

  req.clear_labels();
  req.add_remove_labels("tier");
  req.set_failure_policy(fastpath::v1::AUTO_RECREATE);
  s = service().Update(req);
  EXPECT_THAT(s->metadata().labels(), UnorderedElementsAre(Pair("team", "a")));
  EXPECT_EQ(s->spec().failure_policy(), v1alpha1::SandboxSpec::AutoRecreate);
  EXPECT_EQ(s->spec().expire_time().seconds(), future);  // oneof: untouched

  EXPECT_EQ(Update("web", [](auto& r) { r.set_recovery_timeout_seconds(0); }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("web", [](auto& r) { r.set_reset_revision("not a time"); }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("web", [](auto& r) { r.set_expire_time_seconds(5); }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("web", [](auto& r) { (*r.mutable_labels())["bad key!"] = "v"; }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("nope", [](auto& r) { r.set_recovery_timeout_seconds(5); }).status().code(),
            absl::StatusCode::kNotFound);
  s = Update("web", [](auto& r) { r.set_expire_time_seconds(0); });
  EXPECT_FALSE(s->spec().has_expire_time());
  EXPECT_EQ(Stored("web")->metadata().labels().size(), 1u);
}

TEST_F(SandboxServiceTest, ExpiryStopsTheSandboxAndKeepsTheRecord) {
  env_.AddAgent("a1", 4);
  fastpath::v1::CreateRequest req = Request("web");
  req.set_expire_time_seconds(absl::ToUnixSeconds(clock().Now() + absl::Seconds(30)));
  Sandbox created = *service().CreateSandbox(req);
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

TEST_F(SandboxServiceTest, LostAgentManualStaysLostAutoRecreateMoves) {
  env_.AddAgent("a1", 4);
  Sandbox manual = *service().CreateSandbox(Request("manual"));
  fastpath::v1::CreateRequest auto_req = Request("auto");
  auto_req.set_failure_policy(fastpath::v1::AUTO_RECREATE);
  auto_req.set_recovery_timeout_seconds(30);
  Sandbox recreate = *service().CreateSandbox(auto_req);
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

TEST_F(SandboxServiceTest, ReturningAgentRevivesALostSandbox) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().CreateSandbox(Request("web"));
  clock().Advance(absl::Seconds(16));
  service().ReconcileOnce();
  ASSERT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Lost);
  ASSERT_TRUE(Report("a1", {&s}).ok());
  Sandbox back = *service().Get("", "web");
  EXPECT_EQ(back.status().phase(), SandboxStatus::Running);
  EXPECT_FALSE(back.status().has_recovery_deadline());
}

TEST_F(SandboxServiceTest, RecoveryDeadlineSurvivesARestart) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  fastpath::v1::CreateRequest req = Request("auto");
  req.set_failure_policy(fastpath::v1::AUTO_RECREATE);
  req.set_recovery_timeout_seconds(60);
  req.set_pool_ref("default");
  Sandbox s = *service().CreateSandbox(req);
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

TEST_F(SandboxServiceTest, ResetRecreatesTheContainer) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().CreateSandbox(Request("web"));
  ASSERT_TRUE(Update("web", [](auto& r) { r.set_reset_revision("2030-01-01T00:00:00Z"); }).ok());
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
  ASSERT_TRUE(Update("web", [](auto& r) { r.set_reset_revision("2029-01-01T00:00:00Z"); }).ok());
  service().ReconcileOnce();
  EXPECT_EQ(agents().creates().size(), 2u);
}

TEST_F(SandboxServiceTest, OrphansAreDeletedAfterTheTimeout) {
  env_.AddAgent("a1", 4);
  Sandbox known = *service().CreateSandbox(Request("known"));
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

TEST_F(SandboxServiceTest, UnpersistedFastSandboxBecomesAnOrphanAfterACrash) {
  env_.AddAgent("a1", 4);
  Sandbox s = *service().CreateSandbox(Request("web"));
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

TEST_F(SandboxServiceTest, RestartRestoresRecordsAndSlots) {
  env_.AddAgent("a1", 2);
  fastpath::v1::CreateRequest web = Request("web");
  web.add_exposed_ports(8080);
  Sandbox a = *service().CreateSandbox(web);
  Sandbox b = *service().CreateSandbox(Request("db"));
  env_.Restart();
  ASSERT_EQ(service().List("", "")->size(), 2u);
  EXPECT_EQ(service().Get("", "web")->status().container_id(), a.status().container_id());
  // The agent registers again reporting nothing yet: the slots are restored anyway.
  env_.AddAgent("a1", 2);
  EXPECT_EQ(Used("a1"), 2);
  EXPECT_THAT(env_.scheduler().GetAgentByID("a1")->ports, ElementsAre(8080));
  EXPECT_EQ(service().CreateSandbox(Request("third")).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(service().Delete("", "db", std::nullopt).ok());
  EXPECT_EQ(Used("a1"), 1);
  ASSERT_TRUE(Report("a1", {&a}).ok());
  EXPECT_TRUE(service().CreateSandbox(Request("third")).ok());
}

TEST_F(SandboxServiceTest, ScheduledRecordIsCreatedAgainAfterACrash) {
  env_.AddAgent("a1", 4);
  // A strong create whose controller dies after the Scheduled record became durable
  // and before the agent answered: capture the store as the agent call sees it, and put
  // it back after the create to model the crash.
  fastpath::v1::CreateRequest req = Request("web");
  req.set_consistency_mode(fastpath::v1::STRONG);
  Sandbox scheduled;
  agents().set_on_create([&] {
    scheduled = *store::DecodeObject<Sandbox>(*env_.store().Get({"Sandbox", "default", "web"}));
  });
  ASSERT_TRUE(service().CreateSandbox(req).ok());
  agents().set_on_create(nullptr);
  ASSERT_EQ(scheduled.status().phase(), SandboxStatus::Scheduled);
  ASSERT_TRUE(service().Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(env_.store()
                  .Update(store::EncodeObject(scheduled),
                          env_.store().Get({"Sandbox", "default", "web"})->resource_version)
                  .ok());
  env_.Restart();
  env_.AddAgent("a1", 4);
  const size_t creates = agents().creates().size();
  service().ReconcileOnce();
  EXPECT_EQ(agents().creates().size(), creates);  // within the grace: wait for a report
  clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(Report("a1", {}).ok());
  service().ReconcileOnce();
  ASSERT_EQ(agents().creates().size(), creates + 1);
  EXPECT_EQ(agents().creates().back().spec.sandbox_id(), scheduled.status().container_id());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, ListFiltersByNamespaceAndSelector) {
  env_.AddAgent("a1", 8);
  for (auto [ns, name, team] : {std::tuple{"a", "x", "red"}, {"a", "y", "blue"}, {"b", "z", "red"}}) {
    fastpath::v1::CreateRequest req = Request(name);
    req.set_namespace_(ns);
    (*req.mutable_labels())["team"] = team;
    ASSERT_TRUE(service().CreateSandbox(req).ok());
  }
  auto names = [](const std::vector<Sandbox>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.metadata().namespace_() + "/" + s.metadata().name());
    return out;
  };
  EXPECT_THAT(names(*service().List("", "")), ElementsAre("a/x", "a/y", "b/z"));
  EXPECT_THAT(names(*service().List("a", "")), ElementsAre("a/x", "a/y"));
  EXPECT_THAT(names(*service().List("", "team=red")), ElementsAre("a/x", "b/z"));
  EXPECT_THAT(names(*service().List("a", "team!=red")), ElementsAre("a/y"));
  EXPECT_THAT(names(*service().List("c", "")), IsEmpty());
  EXPECT_EQ(service().List("", "=red").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SandboxServiceTest, ApplyCreatesUpdatesAndRefusesImmutableChanges) {
  env_.AddAgent("a1", 4);
  Sandbox r;
  r.mutable_metadata()->set_name("web");
  r.mutable_spec()->set_image("busybox");
  r.mutable_spec()->add_command("sleep");
  bool created = false;
  absl::StatusOr<Sandbox> s = service().Apply(r, &created);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(s->status().phase(), SandboxStatus::Running);

  (*r.mutable_metadata()->mutable_labels())["team"] = "a";
  r.mutable_spec()->set_failure_policy(v1alpha1::SandboxSpec::AutoRecreate);
  s = service().Apply(r, &created);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(s->metadata().labels().at("team"), "a");
  EXPECT_EQ(s->spec().failure_policy(), v1alpha1::SandboxSpec::AutoRecreate);
  EXPECT_EQ(s->metadata().generation(), 2);
  EXPECT_EQ(agents().creates().size(), 1u);

  r.mutable_spec()->set_image("alpine");
  s = service().Apply(r, &created);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("image"));
}

TEST_F(SandboxServiceTest, ACreateMayPullOnlyWhereTheAgentLacksTheImage) {
  env_.AddAgent("a1", 4);
  fsb::agent::v1::HeartbeatRequest hb;
  hb.set_agent_id("a1");
  hb.add_images("busybox");  // any spelling; the registry normalizes it
  ASSERT_TRUE(service().Heartbeat(hb).ok());
  ASSERT_TRUE(service().CreateSandbox(Request("cached", "busybox")).ok());
  ASSERT_TRUE(service().CreateSandbox(Request("pulled", "nginx:1.25")).ok());
  ASSERT_EQ(agents().creates().size(), 2u);
  EXPECT_FALSE(agents().creates()[0].may_pull);
  EXPECT_TRUE(agents().creates()[1].may_pull);
}

TEST_F(SandboxServiceTest, ListAgentsDescribesCapacityAndHealth) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 2, "gpu");
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
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

TEST_F(SandboxServiceTest, AgentRecordsFollowRegistrationAndOutliveARestart) {
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

TEST_F(SandboxServiceTest, DeleteAgentOnlyForgetsAgentsThatAreGone) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
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

TEST_F(SandboxServiceTest, MetricsRecordCreatesStagesDeletesAndGauges) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().CreateSandbox(Request("web")).ok());
  fastpath::v1::CreateRequest strong = Request("db");
  strong.set_consistency_mode(fastpath::v1::STRONG);
  ASSERT_TRUE(service().CreateSandbox(strong).ok());
  EXPECT_FALSE(service().CreateSandbox(Request("Bad_Name")).ok());
  ASSERT_TRUE(service().Delete("", "web", std::nullopt).ok());
  service().ReconcileOnce();
  const std::string text = env_.registry().Serialize();
  EXPECT_THAT(text, HasSubstr(
      "fastpath_create_sandbox_duration_seconds_count{mode=\"fast\",success=\"true\"} 1"));
  EXPECT_THAT(text, HasSubstr(
      "fastpath_create_sandbox_duration_seconds_count{mode=\"strong\",success=\"true\"} 1"));
  EXPECT_THAT(text, HasSubstr(
      "fastpath_create_sandbox_duration_seconds_count{mode=\"fast\",success=\"false\"} 1"));
  // The seed's buckets, 1 ms to 1 s.
  EXPECT_THAT(text, HasSubstr("fastpath_create_sandbox_duration_seconds_bucket{mode=\"fast\","
                              "success=\"true\",le=\"0.001\"}"));
  EXPECT_THAT(text, HasSubstr("fastpath_create_sandbox_duration_seconds_bucket{mode=\"fast\","
                              "success=\"true\",le=\"1\"}"));
  for (const char* stage : {"validate", "allocate", "agent_rpc"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("fsb_create_stage_duration_seconds_count{stage=\"",
                                             stage, "\"} ")));
  }
  // Only the strong create waited for the store.
  EXPECT_THAT(text, HasSubstr("fsb_create_stage_duration_seconds_count{stage=\"persist\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_sandbox_creates_total{result=\"ok\"} 2"));
  EXPECT_THAT(text, HasSubstr("fsb_sandbox_creates_total{result=\"INVALID_ARGUMENT\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_sandbox_deletes_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_sandboxes{phase=\"Running\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_agents 1"));
  EXPECT_THAT(text, HasSubstr("fsb_capacity_slots{state=\"total\"} 4"));
  EXPECT_THAT(text, HasSubstr("fsb_capacity_slots{state=\"used\"} 1"));
}

}  // namespace
}  // namespace fsb::controller
