#include "controller/sandbox_service.h"

#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "controller/fake_agent_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
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
  void RegisterAgent(std::string id, int capacity, std::string address = "10.0.0.1:5758") {
    fsb::agent::v1::RegisterRequest req;
    req.mutable_agent()->set_agent_id(id);
    req.mutable_agent()->set_node_name("node-" + id);
    req.mutable_agent()->set_address(std::move(address));
    req.mutable_agent()->set_capacity(capacity);
    ASSERT_TRUE(service_.RegisterAgent(req).ok());
  }

  // Reports one sandbox of agent `agent_id` in a heartbeat.
  absl::Status Report(std::string agent_id, const Sandbox& sandbox,
                      fsb::agent::v1::SandboxPhase phase, int exit_code = 0) {
    fsb::agent::v1::HeartbeatRequest req;
    req.set_agent_id(std::move(agent_id));
    auto* state = req.add_sandboxes();
    state->set_sandbox_id(sandbox.status().container_id());
    state->set_name(sandbox.metadata().name());
    state->set_namespace_(sandbox.metadata().namespace_());
    state->set_phase(phase);
    state->set_exit_code(exit_code);
    return service_.Heartbeat(req);
  }

  ManualClock clock_;
  Registry registry_{&clock_, {.heartbeat_timeout = absl::Seconds(15)}};
  FakeAgentClient agents_;
  SandboxService service_{&registry_, &agents_, &clock_};
};

TEST_F(SandboxServiceTest, CreateFillsTheRecordAndTheAgentSpec) {
  RegisterAgent("a1", 5);
  fastpath::v1::CreateRequest req = Request("web");
  req.add_command("sh");
  req.add_args("-c");
  req.add_args("sleep 1000");
  (*req.mutable_envs())["B"] = "2";
  (*req.mutable_envs())["A"] = "1";
  req.set_working_dir("/srv");
  (*req.mutable_labels())["app"] = "web";
  req.add_exposed_ports(8080);
  req.add_exposed_ports(9090);

  absl::StatusOr<Sandbox> created = service_.Create(req);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->status().container_id();
  EXPECT_THAT(id, MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(created->metadata().name(), "web");
  EXPECT_EQ(created->metadata().namespace_(), "default");
  EXPECT_EQ(created->metadata().creation_timestamp().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_THAT(created->metadata().labels(), UnorderedElementsAre(Pair("app", "web")));
  EXPECT_EQ(created->spec().image(), kBusybox);
  EXPECT_EQ(created->spec().pool_ref(), "default");
  ASSERT_EQ(created->spec().env_size(), 2);
  EXPECT_EQ(created->spec().env(0).name(), "A");
  EXPECT_EQ(created->spec().env(1).name(), "B");
  EXPECT_EQ(created->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(created->status().agent(), "a1");
  EXPECT_EQ(created->status().node(), "node-a1");
  EXPECT_THAT(created->status().endpoints(), ElementsAre("10.0.0.1:8080", "10.0.0.1:9090"));

  std::vector<FakeAgentClient::CreateCall> calls = agents_.creates();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].address, "10.0.0.1:5758");
  const fsb::agent::v1::SandboxSpec& spec = calls[0].spec;
  EXPECT_EQ(spec.sandbox_id(), id);
  EXPECT_EQ(spec.name(), "web");
  EXPECT_EQ(spec.namespace_(), "default");
  EXPECT_EQ(spec.image(), kBusybox);
  EXPECT_THAT(spec.command(), ElementsAre("sh"));
  EXPECT_THAT(spec.args(), ElementsAre("-c", "sleep 1000"));
  EXPECT_THAT(spec.env(), UnorderedElementsAre(Pair("A", "1"), Pair("B", "2")));
  EXPECT_EQ(spec.working_dir(), "/srv");
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("app", "web")));
  EXPECT_THAT(spec.exposed_ports(), ElementsAre(8080, 9090));

  absl::StatusOr<Sandbox> got = service_.Get("", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status().container_id(), id);
  EXPECT_EQ(got->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, CreateGeneratesANameAndKeepsANamespace) {
  RegisterAgent("a1", 5);
  fastpath::v1::CreateRequest req = Request("");
  req.set_namespace_("team-a");
  absl::StatusOr<Sandbox> created = service_.Create(req);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->metadata().name(), MatchesRegex("sb-[0-9a-f]{8}"));
  EXPECT_EQ(created->metadata().namespace_(), "team-a");
  EXPECT_TRUE(service_.Get("team-a", created->metadata().name()).ok());
  EXPECT_EQ(service_.Get("default", created->metadata().name()).status().code(),
            absl::StatusCode::kNotFound);
}

struct InvalidCase {
  std::string test_name;
  std::function<void(fastpath::v1::CreateRequest*)> mutate;
  std::string field;  // the message must name it
};

class SandboxServiceValidationTest : public SandboxServiceTest,
                                     public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(SandboxServiceValidationTest, RejectsWithInvalidArgumentNamingTheField) {
  RegisterAgent("a1", 1);
  fastpath::v1::CreateRequest req = Request("ok");
  GetParam().mutate(&req);
  absl::StatusOr<Sandbox> created = service_.Create(req);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << created.status();
  EXPECT_THAT(created.status().message(), HasSubstr(GetParam().field));
  EXPECT_TRUE(agents_.creates().empty());
  EXPECT_THAT(service_.List(""), IsEmpty());
  EXPECT_EQ(registry_.Get("a1")->used, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SandboxServiceValidationTest,
    ::testing::Values(
        InvalidCase{"EmptyImage", [](auto* r) { r->clear_image(); }, "image is required"},
        InvalidCase{"MalformedImage", [](auto* r) { r->set_image("Busy Box"); }, "image"},
        InvalidCase{"BadName", [](auto* r) { r->set_name("Web_1"); }, "name"},
        InvalidCase{"BadNamespace", [](auto* r) { r->set_namespace_("-x"); }, "namespace"},
        InvalidCase{"BadEnvName", [](auto* r) { (*r->mutable_envs())["1X"] = "v"; }, "envs"},
        InvalidCase{"PortZero", [](auto* r) { r->add_exposed_ports(0); }, "exposed_ports"},
        InvalidCase{"PortTooLarge", [](auto* r) { r->add_exposed_ports(65536); }, "exposed_ports"},
        InvalidCase{"DuplicatePort",
                    [](auto* r) {
                      r->add_exposed_ports(80);
                      r->add_exposed_ports(80);
                    },
                    "exposed_ports"},
        InvalidCase{"BadLabel", [](auto* r) { (*r->mutable_labels())["-bad"] = "v"; }, "labels"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.test_name; });

TEST_F(SandboxServiceTest, DuplicateNameIsAlreadyExistsAndReachesTheAgentOnce) {
  RegisterAgent("a1", 5);
  ASSERT_TRUE(service_.Create(Request("web")).ok());
  absl::StatusOr<Sandbox> again = service_.Create(Request("web"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("default/web"));
  EXPECT_EQ(agents_.creates().size(), 1u);
  EXPECT_EQ(registry_.Get("a1")->used, 1);
}

TEST_F(SandboxServiceTest, ConcurrentCreatesOfOneNameReachTheAgentOnce) {
  RegisterAgent("a1", 5);
  absl::Notification in_agent;
  absl::Notification release;
  agents_.set_on_create([&] {
    in_agent.Notify();
    release.WaitForNotification();
  });
  absl::StatusOr<Sandbox> first;
  std::thread creator([&] { first = service_.Create(Request("web")); });
  in_agent.WaitForNotification();

  // While the first create is inside the agent call the name is taken and Pending.
  EXPECT_EQ(service_.Create(Request("web")).status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<Sandbox> pending = service_.Get("default", "web");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->status().phase(), SandboxStatus::Pending);
  EXPECT_EQ(service_.Delete("default", "web").code(), absl::StatusCode::kFailedPrecondition);

  release.Notify();
  creator.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(agents_.creates().size(), 1u);
  EXPECT_EQ(service_.Get("default", "web")->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, AgentErrorPropagatesUnchangedAndReleasesTheSlot) {
  RegisterAgent("a1", 1);
  const absl::Status missing =
      absl::NotFoundError("image \"docker.io/library/nope:latest\" not found");
  agents_.set_create_status(missing);
  absl::StatusOr<Sandbox> failed = service_.Create(Request("web", "nope"));
  EXPECT_EQ(failed.status(), missing);
  EXPECT_EQ(service_.Get("default", "web").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Get("a1")->used, 0);

  agents_.set_create_status(absl::OkStatus());
  absl::StatusOr<Sandbox> created = service_.Create(Request("web"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().agent(), "a1");
}

TEST_F(SandboxServiceTest, NoAgentInPoolIsResourceExhausted) {
  RegisterAgent("a1", 5);
  fastpath::v1::CreateRequest req = Request("web");
  req.set_pool_ref("gpu");
  absl::StatusOr<Sandbox> created = service_.Create(req);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(created.status().message(), HasSubstr("no agent in pool \"gpu\""));
  EXPECT_TRUE(agents_.creates().empty());
  // The name was not kept.
  EXPECT_EQ(service_.Get("default", "web").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxServiceTest, FullAgentIsResourceExhausted) {
  RegisterAgent("a1", 1);
  ASSERT_TRUE(service_.Create(Request("one")).ok());
  absl::StatusOr<Sandbox> created = service_.Create(Request("two"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(created.status().message(), HasSubstr("full"));
  EXPECT_EQ(agents_.creates().size(), 1u);
}

TEST_F(SandboxServiceTest, StaleAgentIsNotChosen) {
  RegisterAgent("a-stale", 5, "10.0.0.1:5758");  // would win the tie-break on its id
  clock_.Advance(absl::Seconds(10));
  RegisterAgent("b-fresh", 5, "10.0.0.2:5758");
  clock_.Advance(absl::Seconds(6));  // "a-stale" last heard of 16s ago
  absl::StatusOr<Sandbox> created = service_.Create(Request("web"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().agent(), "b-fresh");
}

TEST_F(SandboxServiceTest, PrefersAnAgentWithTheImage) {
  RegisterAgent("a1", 5, "10.0.0.1:5758");
  fsb::agent::v1::RegisterRequest req;
  req.mutable_agent()->set_agent_id("a2");
  req.mutable_agent()->set_address("10.0.0.2:5758");
  req.mutable_agent()->set_capacity(5);
  req.mutable_agent()->add_images("busybox");  // normalized on the way in
  ASSERT_TRUE(service_.RegisterAgent(req).ok());
  absl::StatusOr<Sandbox> created = service_.Create(Request("web"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().agent(), "a2");
  EXPECT_THAT(created->status().endpoints(), IsEmpty());
}

TEST_F(SandboxServiceTest, DeleteCallsTheAgentAndReleasesCapacity) {
  RegisterAgent("a1", 1);
  absl::StatusOr<Sandbox> created = service_.Create(Request("one"));
  ASSERT_TRUE(created.ok());
  ASSERT_FALSE(service_.Create(Request("two")).ok());

  ASSERT_TRUE(service_.Delete("", "one").ok());
  std::vector<FakeAgentClient::DeleteCall> deletes = agents_.deletes();
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].address, "10.0.0.1:5758");
  EXPECT_EQ(deletes[0].sandbox_id, created->status().container_id());
  EXPECT_EQ(service_.Get("default", "one").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(service_.Create(Request("two")).ok());
}

TEST_F(SandboxServiceTest, DeleteUnknownIsNotFound) {
  EXPECT_EQ(service_.Delete("default", "ghost").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(agents_.deletes().empty());
}

TEST_F(SandboxServiceTest, DeleteOfASandboxTheAgentNoLongerHasStillRemovesIt) {
  RegisterAgent("a1", 1);
  ASSERT_TRUE(service_.Create(Request("one")).ok());
  agents_.set_delete_status(absl::NotFoundError("sandbox not found"));
  EXPECT_TRUE(service_.Delete("default", "one").ok());
  EXPECT_EQ(service_.Get("default", "one").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Get("a1")->used, 0);
}

TEST_F(SandboxServiceTest, FailedDeleteKeepsTheRecordTerminatingAndCanBeRetried) {
  RegisterAgent("a1", 1);
  ASSERT_TRUE(service_.Create(Request("one")).ok());
  agents_.set_delete_status(absl::UnavailableError("connection refused"));
  EXPECT_EQ(service_.Delete("default", "one").code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<Sandbox> kept = service_.Get("default", "one");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->status().phase(), SandboxStatus::Terminating);
  EXPECT_THAT(kept->status().message(), HasSubstr("connection refused"));
  EXPECT_EQ(registry_.Get("a1")->used, 1);

  agents_.set_delete_status(absl::OkStatus());
  EXPECT_TRUE(service_.Delete("default", "one").ok());
  EXPECT_EQ(registry_.Get("a1")->used, 0);
  EXPECT_EQ(agents_.deletes().size(), 2u);
}

TEST_F(SandboxServiceTest, HeartbeatMovesExitedSandboxesToSucceededOrFailed) {
  RegisterAgent("a1", 5);
  absl::StatusOr<Sandbox> ok = service_.Create(Request("ok"));
  absl::StatusOr<Sandbox> bad = service_.Create(Request("bad"));
  absl::StatusOr<Sandbox> runs = service_.Create(Request("runs"));
  ASSERT_TRUE(ok.ok() && bad.ok() && runs.ok());

  ASSERT_TRUE(Report("a1", *ok, fsb::agent::v1::SANDBOX_PHASE_EXITED, 0).ok());
  ASSERT_TRUE(Report("a1", *bad, fsb::agent::v1::SANDBOX_PHASE_EXITED, 3).ok());
  ASSERT_TRUE(Report("a1", *runs, fsb::agent::v1::SANDBOX_PHASE_RUNNING).ok());

  EXPECT_EQ(service_.Get("", "ok")->status().phase(), SandboxStatus::Succeeded);
  EXPECT_EQ(service_.Get("", "ok")->status().exit_code(), 0);
  EXPECT_EQ(service_.Get("", "bad")->status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(service_.Get("", "bad")->status().exit_code(), 3);
  EXPECT_EQ(service_.Get("", "runs")->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, HeartbeatIgnoresSandboxesPlacedElsewhere) {
  RegisterAgent("a1", 5);
  RegisterAgent("a2", 5);
  absl::StatusOr<Sandbox> created = service_.Create(Request("web"));
  ASSERT_TRUE(created.ok());
  const std::string other = created->status().agent() == "a1" ? "a2" : "a1";
  ASSERT_TRUE(Report(other, *created, fsb::agent::v1::SANDBOX_PHASE_EXITED, 1).ok());
  EXPECT_EQ(service_.Get("", "web")->status().phase(), SandboxStatus::Running);
}

TEST_F(SandboxServiceTest, HeartbeatFromUnknownAgentIsNotFound) {
  fsb::agent::v1::HeartbeatRequest req;
  req.set_agent_id("ghost");
  EXPECT_EQ(service_.Heartbeat(req).code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxServiceTest, HeartbeatKeepsTheAgentHealthy) {
  RegisterAgent("a1", 5);
  clock_.Advance(absl::Seconds(10));
  fsb::agent::v1::HeartbeatRequest req;
  req.set_agent_id("a1");
  ASSERT_TRUE(service_.Heartbeat(req).ok());
  clock_.Advance(absl::Seconds(10));  // 20s after registering, 10s after the heartbeat
  EXPECT_TRUE(service_.Create(Request("web")).ok());
}

TEST_F(SandboxServiceTest, ListFiltersByNamespaceInNameOrder) {
  RegisterAgent("a1", 10);
  for (const char* ns : {"b", "a"}) {
    for (const char* name : {"y", "x"}) {
      fastpath::v1::CreateRequest req = Request(name);
      req.set_namespace_(ns);
      ASSERT_TRUE(service_.Create(req).ok());
    }
  }
  auto names = [](const std::vector<Sandbox>& list) {
    std::vector<std::string> out;
    for (const Sandbox& s : list)
      out.push_back(s.metadata().namespace_() + "/" + s.metadata().name());
    return out;
  };
  EXPECT_THAT(names(service_.List("a")), ElementsAre("a/x", "a/y"));
  EXPECT_THAT(names(service_.List("")), ElementsAre("a/x", "a/y", "b/x", "b/y"));
  EXPECT_THAT(service_.List("c"), IsEmpty());
}

}  // namespace
}  // namespace fsb::controller
