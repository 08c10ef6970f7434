#include "controller/sandbox/placement.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

// Placement: choosing, reserving, falling back to the next candidate, warm claims, slots.
class PlacementTest : public SandboxTest {};

v1alpha1::PortPublish Published(int host_port, int container_port, std::string protocol = "") {
  v1alpha1::PortPublish p;
  p.set_host_port(host_port);
  p.set_container_port(container_port);
  p.set_protocol(std::move(protocol));
  return p;
}

// A create of `name` listening on `exposed` and publishing `published`.
CreateSpec WithPorts(std::string name, std::vector<int> exposed,
                     std::vector<v1alpha1::PortPublish> published = {}) {
  CreateSpec create = Request(std::move(name));
  for (int port : exposed) create.sandbox.mutable_spec()->add_exposed_ports(port);
  for (auto& p : published) *create.sandbox.mutable_spec()->add_publish() = std::move(p);
  return create;
}

TEST_F(PlacementTest, SandboxesOnOneAgentMayExposeTheSamePort) {
  env_.AddAgent("a1", 2);
  absl::StatusOr<Sandbox> first = service().Create(WithPorts("first", {8080}));
  absl::StatusOr<Sandbox> second = service().Create(WithPorts("second", {8080}));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status().agent(), "a1");
  EXPECT_EQ(Used("a1"), 2);
  EXPECT_TRUE(env_.scheduler().GetAgentByID("a1")->ports.empty());
}

TEST_F(PlacementTest, SandboxesOnOneAgentCannotPublishTheSameHostPort) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(WithPorts("first", {80}, {Published(8080, 80)})).ok());
  absl::StatusOr<Sandbox> second =
      service().Create(WithPorts("second", {80}, {Published(8080, 80)}));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("port 8080/tcp is already taken on agent"));
  EXPECT_EQ(service().Get("", "second").status().code(), absl::StatusCode::kNotFound);
  // Another protocol, or another host port to the same container port, is free.
  ASSERT_TRUE(service().Create(WithPorts("udp", {}, {Published(8080, 80, "udp")})).ok());
  ASSERT_TRUE(service().Create(WithPorts("other", {80}, {Published(8081, 80)})).ok());
  EXPECT_THAT(env_.scheduler().GetAgentByID("a1")->ports,
              ElementsAre(HostPort{8080, HostPort::Protocol::kTcp},
                          HostPort{8080, HostPort::Protocol::kUdp}, HostPort{8081}));
  // Deleting the holder frees its host port.
  ASSERT_TRUE(service().Delete("", "first", std::nullopt).ok());
  EXPECT_TRUE(service().Create(WithPorts("second", {80}, {Published(8080, 80)})).ok());
  // A second agent takes what the first cannot.
  env_.AddAgent("a2", 4);
  absl::StatusOr<Sandbox> third = service().Create(WithPorts("third", {}, {Published(8080, 80)}));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->status().agent(), "a2");
}

TEST_F(PlacementTest, EndpointsAreTheSandboxIpsOnceTheAgentAnswersWithIt) {
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  absl::StatusOr<store::Object> seen_by_agent;
  agents().set_on_create([&] { seen_by_agent = env_.store().Get({"Sandbox", "default", "web"}); });
  agents().set_on_answer(
      [](const FakeAgentClient::CreateCall&, fsb::agent::v1::CreateSandboxResponse& answer) {
        answer.mutable_status()->set_ip("10.88.0.2");
      });
  CreateSpec req = WithPorts("web", {80, 443}, {Published(8080, 80)});
  req.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  absl::StatusOr<Sandbox> s = service().Create(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->status().ip(), "10.88.0.2");
  EXPECT_THAT(s->status().endpoints(),
              ElementsAre("10.88.0.2:80", "10.88.0.2:443", "10.0.0.1:8080"));
  EXPECT_EQ(Stored("web")->status().ip(), "10.88.0.2");
  EXPECT_THAT(Stored("web")->status().endpoints(),
              ElementsAre("10.88.0.2:80", "10.88.0.2:443", "10.0.0.1:8080"));
  // The durable Scheduled record, before the answer, knew only the agent's host.
  ASSERT_TRUE(seen_by_agent.ok()) << seen_by_agent.status();
  const Sandbox at_call = *store::DecodeObject<Sandbox>(*seen_by_agent);
  EXPECT_EQ(at_call.status().ip(), "");
  EXPECT_THAT(at_call.status().endpoints(),
              ElementsAre("10.0.0.1:80", "10.0.0.1:443", "10.0.0.1:8080"));
}

TEST_F(PlacementTest, AnIpv6SandboxIpIsBracketed) {
  env_.AddAgent("a1", 4, "default", "[fd00::1]:5758");
  agents().set_on_answer(
      [](const FakeAgentClient::CreateCall&, fsb::agent::v1::CreateSandboxResponse& answer) {
        answer.mutable_status()->set_ip("fd00:88::2");
      });
  absl::StatusOr<Sandbox> s = service().Create(WithPorts("web", {80}, {Published(8080, 80)}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->status().endpoints(), ElementsAre("[fd00:88::2]:80", "[fd00::1]:8080"));
}

TEST_F(PlacementTest, AgentErrorPropagatesAndLeavesNothing) {
  env_.AddAgent("a1", 4);
  agents().set_create_status(absl::NotFoundError("image \"x\" not found on this node"));
  absl::StatusOr<Sandbox> s = service().Create(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(service().Get("", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stored("web").status().code(), absl::StatusCode::kNotFound);
  agents().set_create_status(absl::OkStatus());
  EXPECT_TRUE(service().Create(Request("web")).ok());
}

TEST_F(PlacementTest, RefusingAgentFallsBackToTheNextCandidate) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  // Whichever the scheduler prefers, a1 refuses: the sandbox lands on a2.
  agents().set_create_status_for("a1:5758", absl::ResourceExhaustedError("agent is at capacity"));
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<Sandbox> s = service().Create(Request(absl::StrCat("s", i)));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status().agent(), "a2");
  }
  EXPECT_EQ(Used("a1"), 0);
  EXPECT_EQ(Used("a2"), 4);
  absl::StatusOr<Sandbox> none = service().Create(Request("s9"));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(PlacementTest, UnreachableAgentFallsBackButAnAgentsOwnErrorDoesNot) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  absl::Status unreachable = absl::UnavailableError("agent at a1:5758 not reached");
  unreachable.SetPayload(kAgentUnreachable, absl::Cord());
  agents().set_create_status_for("a1:5758", unreachable);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Sandbox> s = service().Create(Request(absl::StrCat("s", i)));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status().agent(), "a2");
  }
  // An agent that answers UNAVAILABLE itself (a registry it cannot reach) is final.
  for (const char* address : {"a1:5758", "a2:5758"}) {
    agents().set_create_status_for(
        address, absl::UnavailableError("registry example.com cannot be reached"));
  }
  const size_t calls = agents().creates().size();
  absl::StatusOr<Sandbox> s = service().Create(Request("pulled"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr("example.com"));
  EXPECT_EQ(agents().creates().size(), calls + 1);  // no second candidate
}

TEST_F(PlacementTest, NoCandidateReachedIsUnavailableButAFullOneIsResourceExhausted) {
  env_.AddAgent("a1", 4);
  env_.AddAgent("a2", 4);
  absl::Status unreachable = absl::UnavailableError("agent not reached");
  unreachable.SetPayload(kAgentUnreachable, absl::Cord());
  agents().set_create_status(unreachable);
  // Agents exist but none answers: retryable, not "full".
  absl::StatusOr<Sandbox> s = service().Create(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("no candidate agent reached"));
  EXPECT_EQ(Used("a1") + Used("a2"), 0);
  // One unreachable, the other reached but full: RESOURCE_EXHAUSTED, whichever came last.
  agents().set_create_status(absl::OkStatus());
  agents().set_create_status_for("a1:5758", unreachable);
  agents().set_create_status_for("a2:5758", absl::ResourceExhaustedError("agent is at capacity"));
  s = service().Create(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("no candidate agent could take"));
}

TEST_F(PlacementTest, NoAgentIsResourceExhaustedSayingWhy) {
  absl::StatusOr<Sandbox> s = service().Create(Request("web"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.status().message(), HasSubstr("no agent in pool \"default\""));
  env_.AddAgent("a1", 1);
  ASSERT_TRUE(service().Create(Request("one")).ok());
  s = service().Create(Request("two"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(PlacementTest, StrongModeIsDurableBeforeTheAgentIsCalled) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<store::Object> seen_by_agent;
  agents().set_on_create([&] { seen_by_agent = env_.store().Get({"Sandbox", "default", "web"}); });
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  ASSERT_TRUE(service().Create(req).ok());
  ASSERT_TRUE(seen_by_agent.ok()) << seen_by_agent.status();
  Sandbox at_call = *store::DecodeObject<Sandbox>(*seen_by_agent);
  EXPECT_EQ(at_call.status().phase(), SandboxStatus::Scheduled);
  EXPECT_EQ(at_call.status().agent(), "a1");
}

TEST_F(PlacementTest, FastModeCallsTheAgentFirst) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<store::Object> seen_by_agent;
  agents().set_on_create([&] { seen_by_agent = env_.store().Get({"Sandbox", "default", "web"}); });
  ASSERT_TRUE(service().Create(Request("web")).ok());
  EXPECT_EQ(seen_by_agent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stored("web")->status().phase(), SandboxStatus::Running);
}

TEST_F(PlacementTest, AWarmClaimIsRecordedUnderTheContainerIdTheAgentAnswers) {
  env_.AddAgent("a1", 4);
  AnswerWarm(agents(), "0123456789abcdef", /*ready=*/2);
  absl::StatusOr<Sandbox> s = service().Create(Request("web"));
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
    ASSERT_TRUE(service()
                    .Heartbeat(Beat("a1", {WarmState("0123456789abcdef", proposed,
                                                     i < 2 ? ReportedSandbox::Phase::kRunning
                                                           : ReportedSandbox::Phase::kExited)}))
                    .ok());
    clock().Advance(absl::Seconds(6));
    service().ReconcileOnce();
  }
  EXPECT_TRUE(agents().deletes().empty());
  EXPECT_EQ(service().Get("", "web")->status().phase(), SandboxStatus::Succeeded);

  ASSERT_TRUE(service().Delete("", "web", std::nullopt).ok());
  ASSERT_EQ(agents().deletes().size(), 1u);
  EXPECT_EQ(agents().deletes()[0].sandbox_id, "0123456789abcdef");
}

TEST_F(PlacementTest, ReportedWarmCountsPlaceAndAreListed) {
  env_.AddAgent("cold", 4);
  env_.AddAgent("warm", 4);
  AgentHeartbeat beat = Beat("warm");
  beat.warm.push_back({"busybox", /*ready=*/1, /*preparing=*/1, /*desired=*/2});  // any spelling
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  AnswerWarm(agents(), "", /*ready=*/0);
  EXPECT_EQ(service().Create(Request("first"))->status().agent(), "warm");
  // The answer says none is left: the next create goes by load.
  agents().set_on_answer(nullptr);
  EXPECT_EQ(service().Create(Request("second"))->status().agent(), "cold");

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

TEST_F(PlacementTest, AnAgentWhoseRuntimeIsDownTakesOnlyWarmCreates) {
  env_.AddAgent("a1", 4);
  AgentHeartbeat beat = Beat("a1");
  beat.runtime_down = true;
  beat.warm.push_back({kBusybox, /*ready=*/1});
  ASSERT_TRUE(service().Heartbeat(beat).ok());

  absl::StatusOr<Sandbox> cold = service().Create(Request("cold", "alpine"));
  EXPECT_EQ(cold.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(cold.status().message(), HasSubstr("the container runtime is down"));
  AnswerWarm(agents(), "", /*ready=*/0);
  ASSERT_TRUE(service().Create(Request("warm")).ok());
  EXPECT_EQ(service().Create(Request("again")).status().code(),
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
  beat.runtime_down = false;
  ASSERT_TRUE(service().Heartbeat(beat).ok());
  agents().set_on_answer(nullptr);
  EXPECT_TRUE(service().Create(Request("cold", "alpine")).ok());
  EXPECT_EQ(service().ListAgents()->at(0).status().conditions(1).status(), "True");
}

TEST_F(PlacementTest, ACreateMayPullOnlyWhereTheAgentLacksTheImage) {
  env_.AddAgent("a1", 4);
  AgentHeartbeat hb = Beat("a1");
  hb.images.push_back("busybox");  // any spelling; the registry normalizes it
  ASSERT_TRUE(service().Heartbeat(hb).ok());
  ASSERT_TRUE(service().Create(Request("cached", "busybox")).ok());
  ASSERT_TRUE(service().Create(Request("pulled", "nginx:1.25")).ok());
  ASSERT_EQ(agents().creates().size(), 2u);
  EXPECT_FALSE(agents().creates()[0].may_pull);
  EXPECT_TRUE(agents().creates()[1].may_pull);
}

TEST_F(PlacementTest, RestartRestoresRecordsAndSlots) {
  env_.AddAgent("a1", 2);
  CreateSpec web = Request("web");
  web.sandbox.mutable_spec()->add_exposed_ports(80);
  *web.sandbox.mutable_spec()->add_publish() = Published(8080, 80);
  Sandbox a = *service().Create(web);
  Sandbox b = *service().Create(Request("db"));
  env_.Restart();
  ASSERT_EQ(service().List("", "")->size(), 2u);
  EXPECT_EQ(service().Get("", "web")->status().container_id(), a.status().container_id());
  // The agent registers again reporting nothing yet: the slots are restored anyway.
  env_.AddAgent("a1", 2);
  EXPECT_EQ(Used("a1"), 2);
  EXPECT_THAT(env_.scheduler().GetAgentByID("a1")->ports, ElementsAre(HostPort{8080}));
  EXPECT_EQ(service().Create(Request("third")).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(service().Delete("", "db", std::nullopt).ok());
  EXPECT_EQ(Used("a1"), 1);
  ASSERT_TRUE(Report("a1", {&a}).ok());
  EXPECT_TRUE(service().Create(Request("third")).ok());
}

}  // namespace
}  // namespace fsb::controller
