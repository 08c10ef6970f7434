#include "controller/sandbox/sandbox_service.h"

#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "controller/sandbox/sandbox_test_fixture.h"
#include "controller/store/resources.h"
#include "controller/store/sqlite_store_testing.h"
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

// The SandboxService API verbs: create (idempotency), get, list, update, apply, delete, metrics.
class SandboxServiceTest : public SandboxTest {};

TEST_F(SandboxServiceTest, CreateFillsTheRecordAndTheAgentSpec) {
  env_.AddAgent("a1", 4, "default", "10.0.0.1:5758");
  CreateSpec req = Request("web");
  req.sandbox.mutable_spec()->add_command("httpd");
  auto* mode = req.sandbox.mutable_spec()->add_env();
  mode->set_name("MODE");
  mode->set_value("prod");
  (*req.sandbox.mutable_metadata()->mutable_labels())["tier"] = "front";
  req.sandbox.mutable_spec()->add_exposed_ports(80);
  absl::StatusOr<Sandbox> s = service().Create(req);
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
  absl::StatusOr<Sandbox> first = service().Create(Request("web"));
  ASSERT_TRUE(first.ok());
  absl::StatusOr<Sandbox> again = service().Create(Request("web"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status().container_id(), first->status().container_id());
  EXPECT_EQ(agents().creates().size(), 1u);

  CreateSpec other = Request("web");
  other.sandbox.mutable_spec()->add_command("sleep");
  absl::StatusOr<Sandbox> conflict = service().Create(other);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(conflict.status().message(), HasSubstr("different spec"));

  // Another request id for the taken name.
  CreateSpec taken = Request("web");
  (*taken.sandbox.mutable_metadata()->mutable_annotations())[kRequestIdAnnotation] = "someone-else";
  EXPECT_EQ(service().Create(taken).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(agents().creates().size(), 1u);
}

TEST_F(SandboxServiceTest, RequestIdMakesGeneratedNamesIdempotent) {
  env_.AddAgent("a1", 4);
  CreateSpec req = Request("");
  (*req.sandbox.mutable_metadata()->mutable_annotations())[kRequestIdAnnotation] = "job-17";
  absl::StatusOr<Sandbox> first = service().Create(req);
  absl::StatusOr<Sandbox> second = service().Create(req);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->metadata().name(), second->metadata().name());
  EXPECT_EQ(agents().creates().size(), 1u);
}

TEST_F(SandboxServiceTest, RequestIdsAreScopedByNamespace) {
  env_.AddAgent("a1", 4);
  CreateSpec a = Request("web");
  a.sandbox.mutable_metadata()->set_namespace_("team-a");
  (*a.sandbox.mutable_metadata()->mutable_annotations())[kRequestIdAnnotation] = "team-a/web";
  ASSERT_TRUE(service().Create(a).ok());
  // The same request id sent in another namespace does not reach team-a's sandbox: it
  // creates a sandbox of its own there.
  CreateSpec b = Request("");
  b.sandbox.mutable_metadata()->set_namespace_("team-b");
  (*b.sandbox.mutable_metadata()->mutable_annotations())[kRequestIdAnnotation] = "team-a/web";
  absl::StatusOr<Sandbox> created = service().Create(b);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->metadata().namespace_(), "team-b");
  EXPECT_EQ(agents().creates().size(), 2u);
}

TEST_F(SandboxServiceTest, ConcurrentIdenticalCreatesReachTheAgentOnce) {
  env_.AddAgent("a1", 4);
  absl::Notification in_agent, release;
  agents().set_on_create([&] {
    if (!in_agent.HasBeenNotified()) in_agent.Notify();
    release.WaitForNotification();
  });
  absl::StatusOr<Sandbox> a, b;
  std::thread first([&] { a = service().Create(Request("web")); });
  in_agent.WaitForNotification();
  std::thread second([&] { b = service().Create(Request("web")); });
  absl::SleepFor(absl::Milliseconds(50));  // let the second one reach its wait
  release.Notify();
  first.join();
  second.join();
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
  EXPECT_EQ(a->status().container_id(), b->status().container_id());
  EXPECT_EQ(agents().creates().size(), 1u);
}

// A stored sandbox that does not decode (a damaged file, raw SQL here) does not keep the
// controller from starting: it is quarantined with its bytes and counted, and every
// other sandbox loads.
TEST_F(SandboxServiceTest, AnUndecodableStoredSandboxIsQuarantinedAndTheRestLoads) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("good")).ok());
  ASSERT_TRUE(service().Create(Request("fine")).ok());
  ASSERT_TRUE(service().Flush(absl::Seconds(10)).ok());
  absl::Status restarted = env_.RestartWithStoreEdit([](const std::string& path) {
    ASSERT_TRUE(store::InsertRawObject(path, {"Sandbox", "default", "bad"}, "\xff garbage").ok());
  });
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(service().Get("", "good")->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(service().Get("", "fine")->status().phase(), SandboxStatus::Running);
  EXPECT_EQ(service().Get("", "bad").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env_.store().Get({"Sandbox", "default", "bad"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(env_.store_registry().Serialize(),
              HasSubstr("fsb_controller_store_quarantined_rows_total{kind=\"Sandbox\"} 1"));
  // The name is free again.
  env_.AddAgent("a1", 4);
  absl::StatusOr<Sandbox> again = service().Create(Request("bad"));
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(SandboxServiceTest, DeleteStopsOnTheAgentAndForgets) {
  env_.AddAgent("a1", 4);
  absl::StatusOr<Sandbox> s = service().Create(Request("web"));
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
  ASSERT_TRUE(service().Create(Request("web")).ok());
  agents().set_delete_status(absl::NotFoundError("sandbox not found on this agent"));
  EXPECT_TRUE(service().Delete("", "web", std::nullopt).ok());
}

TEST_F(SandboxServiceTest, UpdateAppliesEachFieldAndValidates) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("web")).ok());
  const int64_t future = absl::ToUnixSeconds(clock().Now() + absl::Hours(1));
  SandboxUpdate req;
  req.name = "web";
  req.expire_time_seconds = future;
  req.labels["team"] = "a";
  req.labels["tier"] = "x";
  absl::StatusOr<Sandbox> s = service().Update(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec().expire_time().seconds(), future);
  EXPECT_EQ(s->metadata().generation(), 2);
  EXPECT_THAT(s->metadata().labels(), UnorderedElementsAre(Pair("team", "a"), Pair("tier", "x")));

  req.labels.clear();
  req.remove_labels.push_back("tier");
  req.expire_time_seconds.reset();  // one spec field per update
  req.failure_policy = v1alpha1::SandboxSpec::AutoRecreate;
  s = service().Update(req);
  EXPECT_THAT(s->metadata().labels(), UnorderedElementsAre(Pair("team", "a")));
  EXPECT_EQ(s->spec().failure_policy(), v1alpha1::SandboxSpec::AutoRecreate);
  EXPECT_EQ(s->spec().expire_time().seconds(), future);  // oneof: untouched

  EXPECT_EQ(Update("web", [](SandboxUpdate& r) { r.recovery_timeout_seconds = 0; }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Update("web", [](SandboxUpdate& r) { r.reset_revision = "not a time"; }).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("web", [](SandboxUpdate& r) { r.expire_time_seconds = 5; }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update("web", [](SandboxUpdate& r) { r.labels["bad key!"] = "v"; }).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Update("nope", [](SandboxUpdate& r) { r.recovery_timeout_seconds = 5; }).status().code(),
      absl::StatusCode::kNotFound);
  s = Update("web", [](SandboxUpdate& r) { r.expire_time_seconds = 0; });
  EXPECT_FALSE(s->spec().has_expire_time());
  EXPECT_EQ(Stored("web")->metadata().labels().size(), 1u);
}

TEST_F(SandboxServiceTest, ListFiltersByNamespaceAndSelector) {
  env_.AddAgent("a1", 8);
  for (auto [ns, name, team] :
       {std::tuple{"a", "x", "red"}, {"a", "y", "blue"}, {"b", "z", "red"}}) {
    CreateSpec req = Request(name);
    req.sandbox.mutable_metadata()->set_namespace_(ns);
    (*req.sandbox.mutable_metadata()->mutable_labels())["team"] = team;
    ASSERT_TRUE(service().Create(req).ok());
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

TEST_F(SandboxServiceTest, MetricsRecordCreatesStagesDeletesAndGauges) {
  env_.AddAgent("a1", 4);
  ASSERT_TRUE(service().Create(Request("web")).ok());
  CreateSpec strong = Request("db");
  strong.sandbox.mutable_spec()->set_consistency_mode(v1alpha1::SandboxSpec::strong);
  ASSERT_TRUE(service().Create(strong).ok());
  EXPECT_FALSE(service().Create(Request("Bad_Name")).ok());
  ASSERT_TRUE(service().Delete("", "web", std::nullopt).ok());
  service().ReconcileOnce();
  const std::string text = env_.registry().Serialize();
  EXPECT_THAT(
      text,
      HasSubstr(
          "fastpath_create_sandbox_duration_seconds_count{mode=\"fast\",success=\"true\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "fastpath_create_sandbox_duration_seconds_count{mode=\"strong\",success=\"true\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr(
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
