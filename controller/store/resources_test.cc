#include "controller/store/resources.h"

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controller/store/sqlite_store.h"
#include "controller/store/sqlite_store_testing.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"
#include "internal/proto_json.h"

namespace fsb::store {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::Not;
using v1alpha1::Agent;
using v1alpha1::Sandbox;
using v1alpha1::SandboxPool;
using v1alpha1::SandboxSpec;
using v1alpha1::SandboxStatus;

class ResourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "fsb_res_XXXXXX").string();
    CHECK(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    absl::StatusOr<std::unique_ptr<SqliteStore>> s =
        SqliteStore::Open((dir_ / "fsb.db").string(), {});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static Sandbox MakeSandbox(const std::string& name) {
    Sandbox sb;
    sb.mutable_metadata()->set_name(name);
    (*sb.mutable_metadata()->mutable_labels())["app"] = "web";
    SandboxSpec* spec = sb.mutable_spec();
    spec->set_image("docker.io/library/busybox:1.36");
    spec->add_command("/bin/sh");
    spec->add_args("-c");
    spec->add_args("sleep 1000");
    auto* env = spec->add_env();
    env->set_name("FOO");
    env->set_value("bar");
    spec->set_working_dir("/tmp");
    spec->add_exposed_ports(8080);
    spec->mutable_resources()->set_cpu_millicores(500);
    spec->mutable_resources()->set_memory_bytes(64 << 20);
    spec->set_pool_ref("default-pool");
    spec->set_failure_policy(SandboxSpec::AutoRecreate);
    spec->set_recovery_timeout_seconds(30);
    return sb;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  ManualClock clock_;
};

TEST_F(ResourcesTest, SandboxCreateFillsServerFields) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  absl::StatusOr<Sandbox> created = client.Create(MakeSandbox("web-1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->api_version(), "fsb.io/v1alpha1");
  EXPECT_EQ(created->kind(), "Sandbox");
  EXPECT_EQ(created->metadata().namespace_(), "default");
  EXPECT_EQ(created->metadata().uid().size(), 32u);
  EXPECT_EQ(created->metadata().generation(), 1);
  EXPECT_EQ(created->metadata().resource_version(), 1);
  EXPECT_EQ(created->metadata().creation_timestamp().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(created->spec().consistency_mode(), SandboxSpec::fast);        // defaulted
  EXPECT_EQ(created->spec().failure_policy(), SandboxSpec::AutoRecreate);  // kept
  EXPECT_EQ(created->status().phase(), SandboxStatus::Pending);

  absl::StatusOr<Sandbox> got = client.Get("default", "web-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got, *created)) << got->DebugString();

  EXPECT_EQ(client.Create(MakeSandbox("web-1")).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(client.Get("default", "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ResourcesTest, CreateValidates) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  EXPECT_EQ(client.Create(MakeSandbox("Bad_Name")).status().code(),
            absl::StatusCode::kInvalidArgument);
  Sandbox wrong_kind = MakeSandbox("ok");
  wrong_kind.set_kind("Agent");
  EXPECT_EQ(client.Create(wrong_kind).status().code(), absl::StatusCode::kInvalidArgument);
  Sandbox wrong_version = MakeSandbox("ok");
  wrong_version.set_api_version("v1");
  EXPECT_EQ(client.Create(wrong_version).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ResourcesTest, UpdateBumpsGenerationOnlyOnSpecChange) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  Sandbox sb = *client.Create(MakeSandbox("web-1"));
  const std::string uid = sb.metadata().uid();

  sb.mutable_status()->set_phase(SandboxStatus::Running);
  sb.mutable_status()->add_endpoints("10.0.0.5:8080");
  sb.mutable_metadata()->set_uid("forged");
  absl::StatusOr<Sandbox> status_only = client.Update(sb);
  ASSERT_TRUE(status_only.ok()) << status_only.status();
  EXPECT_EQ(status_only->metadata().generation(), 1);
  EXPECT_EQ(status_only->metadata().uid(), uid);
  EXPECT_GT(status_only->metadata().resource_version(), sb.metadata().resource_version());

  Sandbox spec_change = *status_only;
  spec_change.mutable_spec()->set_reset_revision("r2");
  absl::StatusOr<Sandbox> bumped = client.Update(spec_change);
  ASSERT_TRUE(bumped.ok()) << bumped.status();
  EXPECT_EQ(bumped->metadata().generation(), 2);

  // `sb` is stale now.
  absl::StatusOr<Sandbox> stale = client.Update(*status_only);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  sb.mutable_metadata()->clear_resource_version();
  EXPECT_EQ(client.Update(sb).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<Sandbox> deleted = client.Delete("default", "web-1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->spec().reset_revision(), "r2");
  EXPECT_EQ(client.Get("default", "web-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ResourcesTest, ClusterScopedKindsRoundTrip) {
  ResourceClient<SandboxPool> pools(store_.get(), &clock_);
  ResourceClient<Agent> agents(store_.get(), &clock_);

  SandboxPool pool;
  pool.mutable_metadata()->set_name("default-pool");
  pool.mutable_metadata()->set_namespace_("ignored");
  pool.mutable_spec()->set_max_sandboxes_per_agent(20);
  auto* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image("busybox:1.36");
  warm->set_count(3);
  absl::StatusOr<SandboxPool> created_pool = pools.Create(pool);
  ASSERT_TRUE(created_pool.ok()) << created_pool.status();
  EXPECT_EQ(created_pool->metadata().namespace_(), "");
  absl::StatusOr<SandboxPool> got_pool = pools.Get("", "default-pool");
  ASSERT_TRUE(got_pool.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got_pool, *created_pool));

  Agent agent;
  agent.mutable_metadata()->set_name("node-1");
  agent.mutable_spec()->set_address("10.0.0.5:5758");
  agent.mutable_spec()->set_node("node-1");
  agent.mutable_spec()->set_pool("default-pool");
  agent.mutable_spec()->set_capacity(50);
  agent.mutable_status()->add_images("busybox:1.36");
  agent.mutable_status()->mutable_last_heartbeat()->set_seconds(1700000000);
  absl::StatusOr<Agent> created_agent = agents.Create(agent);
  ASSERT_TRUE(created_agent.ok()) << created_agent.status();
  absl::StatusOr<Agent> got_agent = agents.Get("any-namespace", "node-1");
  ASSERT_TRUE(got_agent.ok()) << got_agent.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got_agent, *created_agent));

  // Kinds do not see each other.
  absl::StatusOr<ResourceList<Agent>> agent_list = agents.List({});
  ASSERT_TRUE(agent_list.ok());
  ASSERT_EQ(agent_list->items.size(), 1u);
  EXPECT_EQ(agent_list->items[0].metadata().name(), "node-1");
}

TEST_F(ResourcesTest, ListAndWatchAreTyped) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  absl::Mutex mu;
  std::vector<ResourceEvent<Sandbox>> events;
  auto watch = client.Watch("team-a", 0, [&](const absl::StatusOr<ResourceEvent<Sandbox>>& e) {
    ASSERT_TRUE(e.ok()) << e.status();
    absl::MutexLock lock(&mu);
    events.push_back(*e);
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  int i = 0;
  for (const char* ns : {"team-a", "team-b", "team-a"}) {
    Sandbox sb = MakeSandbox(absl::StrCat("sb-", i++));
    sb.mutable_metadata()->set_namespace_(ns);
    ASSERT_TRUE(client.Create(sb).ok());
  }
  absl::StatusOr<ResourceList<Sandbox>> list =
      client.List({.ns = "team-a", .label_selector = "app=web"});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->resource_version, 3);
  EXPECT_GT(list->items[0].metadata().resource_version(), 0);

  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(
      absl::Condition(
          +[](std::vector<ResourceEvent<Sandbox>>* e) { return e->size() >= 2; }, &events),
      absl::Seconds(10));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kAdded);
  EXPECT_EQ(events[0].object.metadata().namespace_(), "team-a");
  EXPECT_EQ(events[0].object.metadata().resource_version(), 1);
  EXPECT_EQ(events[1].object.metadata().resource_version(), 3);
}

TEST_F(ResourcesTest, DecodeRejectsBytesThatDoNotParseOrNameAnotherObject) {
  Object garbage{{"Sandbox", "default", "a"}, "\xff\xff\xff", {}};
  EXPECT_EQ(DecodeObject<Sandbox>(garbage).status().code(), absl::StatusCode::kDataLoss);
  // Empty bytes parse, as an object without a name.
  Object empty{{"Sandbox", "default", "a"}, "", {}};
  EXPECT_EQ(DecodeObject<Sandbox>(empty).status().code(), absl::StatusCode::kDataLoss);
  Sandbox b = MakeSandbox("b");
  b.mutable_metadata()->set_namespace_("default");
  Object elsewhere = EncodeObject(b);
  elsewhere.key.name = "a";
  absl::StatusOr<Sandbox> decoded = DecodeObject<Sandbox>(elsewhere);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("holds a Sandbox named \"default/b\""));
  EXPECT_TRUE(DecodeObject<Sandbox>(EncodeObject(b)).ok());
}

// One undecodable row (written with raw SQL, as a damaged file could hold it) does not
// fail the list: it is quarantined with its bytes, counted, and the rest is listed.
TEST_F(ResourcesTest, ListQuarantinesRowsThatDoNotDecode) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  ASSERT_TRUE(client.Create(MakeSandbox("good")).ok());
  const std::string path = (dir_ / "fsb.db").string();
  store_.reset();
  ASSERT_TRUE(InsertRawObject(path, {"Sandbox", "default", "bad"}, "\xff\xfegarbage").ok());
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<SqliteStore>> reopened =
      SqliteStore::Open(path, {.registry = &registry});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = *std::move(reopened);
  ResourceClient<Sandbox> again(store_.get(), &clock_);

  absl::StatusOr<ResourceList<Sandbox>> list = again.List({});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].metadata().name(), "good");
  EXPECT_THAT(registry.Serialize(),
              HasSubstr("fsb_controller_store_quarantined_rows_total{kind=\"Sandbox\"} 1"));
  EXPECT_EQ(again.Get("default", "bad").status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(again.List({})->items.size(), 1u);  // nothing left to quarantine

  store_.reset();
  absl::StatusOr<std::vector<QuarantinedRow>> rows = ReadQuarantine(path);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].key, (ObjectKey{"Sandbox", "default", "bad"}));
  EXPECT_EQ((*rows)[0].value, "\xff\xfegarbage");
  EXPECT_THAT((*rows)[0].reason, HasSubstr("does not parse"));
}

TEST_F(ResourcesTest, JsonHasKubernetesFieldNames) {
  ResourceClient<Sandbox> client(store_.get(), &clock_);
  Sandbox sb = MakeSandbox("web-1");
  sb.mutable_spec()->mutable_expire_time()->set_seconds(1700000000);
  absl::StatusOr<Sandbox> created = client.Create(sb);
  ASSERT_TRUE(created.ok());
  absl::StatusOr<std::string> json = ProtoToJson(*created);
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* field :
       {"\"apiVersion\":\"fsb.io/v1alpha1\"", "\"kind\":\"Sandbox\"", "\"creationTimestamp\":\"",
        "\"resourceVersion\":\"1\"", "\"poolRef\":\"default-pool\"", "\"workingDir\":\"/tmp\"",
        "\"exposedPorts\":[8080]", "\"failurePolicy\":\"AutoRecreate\"",
        "\"consistencyMode\":\"fast\"", "\"phase\":\"Pending\"", "\"cpuMillicores\":\"500\"",
        "\"recoveryTimeoutSeconds\":30", "\"expireTime\":\"2023-11-14T22:13:20Z\"",
        "\"labels\":{\"app\":\"web\"}", "\"env\":[{\"name\":\"FOO\",\"value\":\"bar\"}]"}) {
    EXPECT_THAT(*json, HasSubstr(field));
  }
  // No default-valued noise.
  for (const char* absent :
       {"deletionTimestamp", "exitCode", "restartCount", "annotations", "api_version", "\"\""}) {
    EXPECT_THAT(*json, Not(HasSubstr(absent)));
  }

  Sandbox parsed;
  ASSERT_TRUE(ProtoFromJson(*json, &parsed).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, *created));

  absl::StatusOr<std::string> pretty = ProtoToJson(*created, {.pretty = true});
  ASSERT_TRUE(pretty.ok());
  EXPECT_THAT(*pretty, HasSubstr("\n"));
  ASSERT_TRUE(ProtoFromJson(*pretty, &parsed).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, *created));
}

TEST_F(ResourcesTest, JsonRejectsBadInput) {
  Sandbox sb;
  for (const char* bad :
       {"{", "{\"spec\":{\"imagee\":\"x\"}}", "{\"spec\":{\"exposedPorts\":\"x\"}}",
        "{\"spec\":{\"failurePolicy\":\"Sometimes\"}}"}) {
    absl::Status s = ProtoFromJson(bad, &sb);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(s.message().empty()) << bad;
  }
  ASSERT_TRUE(ProtoFromJson(R"({"apiVersion":"fsb.io/v1alpha1","kind":"Sandbox",
                         "metadata":{"name":"a","resourceVersion":"7"},
                         "spec":{"image":"busybox","poolRef":"p"}})",
                            &sb)
                  .ok());
  EXPECT_EQ(sb.metadata().resource_version(), 7);
  EXPECT_EQ(sb.spec().pool_ref(), "p");
}

}  // namespace
}  // namespace fsb::store
