#include "controller/fastpath_server.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/client_auth_testing.h"
#include "controller/service_test_env.h"
#include "controller/store/resources.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Calls the adapter's methods directly, as the admin of TestTokens unless a test says
// otherwise (ContextWith another token).
class FastPathServerTest : public ::testing::Test {
 protected:
  FastPathServerTest() { env_.AddAgent("agent-1", 2, "default", "10.1.2.3:5758"); }

  grpc::Status Create(const fastpath::v1::CreateRequest& req, fastpath::v1::CreateResponse* resp) {
    return server_.CreateSandbox(admin_.get(), &req, resp);
  }

  ServiceTestEnv env_;
  TestTokens tokens_;
  metrics::Registry registry_;
  ClientAuth auth_{tokens_.store(), &registry_};
  ContextWith admin_{"Bearer ops-token"};
  FastPathServer server_{&env_.service(), &env_.pools(), &auth_};
};

TEST_F(FastPathServerTest, CreateThenGetAndListEncodeEveryField) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_namespace_("team");
  req.set_image("busybox:1.36");
  req.set_pool_ref("default");
  req.add_command("httpd");
  req.add_args("-f");
  (*req.mutable_envs())["MODE"] = "prod";
  req.set_working_dir("/www");
  (*req.mutable_labels())["tier"] = "front";
  req.add_exposed_ports(80);
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  EXPECT_THAT(created.sandbox_id(), ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(created.agent_pod(), "agent-1");
  EXPECT_THAT(created.endpoints(), ElementsAre("10.1.2.3:80"));
  EXPECT_EQ(created.sandbox_name(), "web");

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  get.set_namespace_("team");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());
  EXPECT_EQ(info.sandbox_id(), created.sandbox_id());
  EXPECT_EQ(info.phase(), "Running");
  EXPECT_EQ(info.agent_pod(), "agent-1");
  EXPECT_THAT(info.endpoints(), ElementsAre("10.1.2.3:80"));
  EXPECT_EQ(info.created_at(), absl::ToUnixSeconds(env_.clock().Now()));
  EXPECT_EQ(info.image(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(info.pool_ref(), "default");
  EXPECT_EQ(info.sandbox_name(), "web");
  EXPECT_EQ(info.namespace_(), "team");
  EXPECT_THAT(info.labels(), UnorderedElementsAre(Pair("tier", "front")));
  EXPECT_THAT(info.command(), ElementsAre("httpd"));
  EXPECT_THAT(info.args(), ElementsAre("-f"));
  EXPECT_THAT(info.envs(), UnorderedElementsAre(Pair("MODE", "prod")));
  EXPECT_EQ(info.working_dir(), "/www");
  EXPECT_THAT(info.exposed_ports(), ElementsAre(80));
  EXPECT_EQ(info.node(), "node-agent-1");
  EXPECT_EQ(info.exit_code(), 0);

  fastpath::v1::ListRequest list;
  list.set_namespace_("team");
  fastpath::v1::ListResponse listed;
  ASSERT_TRUE(server_.ListSandboxes(admin_.get(), &list, &listed).ok());
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).sandbox_id(), created.sandbox_id());
  EXPECT_EQ(listed.items(0).phase(), "Running");
}

TEST_F(FastPathServerTest, NetworkPublishAndTheSandboxIpReachSandboxInfo) {
  env_.agents().set_on_answer(
      [](const FakeAgentClient::CreateCall& call, fsb::agent::v1::CreateSandboxResponse& answer) {
        EXPECT_EQ(call.spec.network(), fsb::agent::v1::SANDBOX_NETWORK_NO_EGRESS);
        ASSERT_EQ(call.spec.published_ports_size(), 2);
        EXPECT_EQ(call.spec.published_ports(1).protocol(), "udp");
        answer.mutable_status()->set_ip("10.88.0.7");
      });
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  req.add_exposed_ports(80);
  req.add_exposed_ports(443);
  req.set_network("no-egress");
  req.add_publish("8080:80");
  req.add_publish("5353:53/udp");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  EXPECT_THAT(created.endpoints(),
              ElementsAre("10.88.0.7:80", "10.88.0.7:443", "10.1.2.3:8080", "10.1.2.3:5353"));

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());
  EXPECT_EQ(info.ip(), "10.88.0.7");
  EXPECT_EQ(info.network(), "no-egress");
  EXPECT_THAT(info.publish(), ElementsAre("8080:80/tcp", "5353:53/udp"));
  EXPECT_THAT(info.endpoints(),
              ElementsAre("10.88.0.7:80", "10.88.0.7:443", "10.1.2.3:8080", "10.1.2.3:5353"));

  fsb::v1alpha1::Sandbox resource;
  ASSERT_TRUE(server_.GetSandboxResource(admin_.get(), &get, &resource).ok());
  EXPECT_EQ(resource.status().ip(), "10.88.0.7");
  ASSERT_EQ(resource.spec().publish_size(), 2);
  EXPECT_EQ(resource.spec().publish(0).host_port(), 8080);
}

TEST_F(FastPathServerTest, AnAgentWithoutSandboxIpsGivesItsHostsEndpoints) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  req.add_exposed_ports(80);
  req.add_publish("8080:80");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  EXPECT_THAT(created.endpoints(), ElementsAre("10.1.2.3:80", "10.1.2.3:8080"));
  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());
  EXPECT_EQ(info.ip(), "");
  EXPECT_EQ(info.network(), "egress");
}

TEST_F(FastPathServerTest, MalformedNetworkSettingsAreInvalidArgumentNamingThem) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  req.set_network("bridge");
  fastpath::v1::CreateResponse created;
  grpc::Status status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("network \"bridge\""));

  req.clear_network();
  req.add_publish("8080:http");
  status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("publish \"8080:http\" is invalid"));
  EXPECT_TRUE(env_.agents().creates().empty());
}

TEST_F(FastPathServerTest, DomainErrorsBecomeTheirGrpcCodes) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  fastpath::v1::CreateResponse created;
  grpc::Status status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("image is required"));

  env_.agents().set_create_status(
      absl::NotFoundError("image \"docker.io/library/nope:latest\" not found"));
  req.set_image("nope");
  status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("docker.io/library/nope:latest"));

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  EXPECT_EQ(server_.GetSandbox(admin_.get(), &get, &info).error_code(),
            grpc::StatusCode::NOT_FOUND);
  get.set_sandbox_name(std::string(100, 'w'));
  grpc::Status malformed = server_.GetSandbox(admin_.get(), &get, &info);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(malformed.error_message(), HasSubstr("sandbox_name \"wwww"));
  EXPECT_THAT(malformed.error_message(), HasSubstr("longer than 63 characters"));
  fsb::v1alpha1::Sandbox resource;
  get.set_sandbox_name("web");
  get.set_namespace_("Team");
  EXPECT_EQ(server_.GetSandboxResource(admin_.get(), &get, &resource).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FastPathServerTest, DeleteAnswersSuccess) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());

  fastpath::v1::DeleteRequest del;
  del.set_sandbox_name("web");
  fastpath::v1::DeleteResponse deleted;
  ASSERT_TRUE(server_.DeleteSandbox(admin_.get(), &del, &deleted).ok());
  EXPECT_TRUE(deleted.success());
  EXPECT_EQ(server_.DeleteSandbox(admin_.get(), &del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(FastPathServerTest, DeleteValidatesTheGrace) {
  fastpath::v1::DeleteRequest del;
  del.set_sandbox_name("web");
  del.set_grace_period_seconds(-1);
  fastpath::v1::DeleteResponse deleted;
  grpc::Status status = server_.DeleteSandbox(admin_.get(), &del, &deleted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("grace_period_seconds"));
}

TEST_F(FastPathServerTest, DeleteRefusesAGraceBeyondTheCapAndKeepsTheSandbox) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  fastpath::v1::DeleteRequest del;
  del.set_sandbox_name("web");
  del.set_grace_period_seconds(kMaxDeleteGracePeriodSeconds + 1);
  fastpath::v1::DeleteResponse deleted;
  grpc::Status status = server_.DeleteSandbox(admin_.get(), &del, &deleted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "grace_period_seconds: 601 seconds is above the maximum of 600");
  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());
  EXPECT_EQ(info.phase(), "Running");
}

// A refused create, apply or update places nothing and stores nothing.
TEST_F(FastPathServerTest, BadRequestsChangeNothing) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  req.mutable_resources()->set_memory_bytes(1048576);
  fastpath::v1::CreateResponse created;
  grpc::Status status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "resources.memory_bytes: 1048576 bytes is below the minimum of 6291456");

  fastpath::v1::ApplyRequest apply;
  apply.mutable_sandbox()->mutable_metadata()->set_name("web");
  apply.mutable_sandbox()->mutable_spec()->set_image("busybox");
  apply.mutable_sandbox()->mutable_spec()->add_command(std::string("sh\0", 3));
  fastpath::v1::ApplyResponse applied;
  status = server_.ApplySandbox(admin_.get(), &apply, &applied);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "command[0]: holds a NUL byte at offset 2");
  EXPECT_TRUE(env_.agents().creates().empty());

  fastpath::v1::ListRequest list;
  fastpath::v1::ListResponse listed;
  ASSERT_TRUE(server_.ListSandboxes(admin_.get(), &list, &listed).ok());
  EXPECT_EQ(listed.items_size(), 0);
  ASSERT_TRUE(env_.service().Flush(absl::Seconds(10)).ok());
  store::ResourceClient<v1alpha1::Sandbox> stored(&env_.store(), &env_.clock());
  absl::StatusOr<store::ResourceList<v1alpha1::Sandbox>> records = stored.List({});
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->items.empty());

  // An update refused leaves the sandbox as it was.
  req.mutable_resources()->clear_memory_bytes();
  ASSERT_TRUE(Create(req, &created).ok());
  fastpath::v1::UpdateRequest update;
  update.set_sandbox_name("web");
  update.set_expire_time_seconds(kMaxUnixSeconds + 1);
  (*update.mutable_labels())["team"] = "a";
  fastpath::v1::UpdateResponse updated;
  status = server_.UpdateSandbox(admin_.get(), &update, &updated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("expire_time_seconds: 253402300800 Unix seconds"));
  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());
  EXPECT_TRUE(info.labels().empty());
}

TEST_F(FastPathServerTest, UpdateAnswersTheSandbox) {
  fastpath::v1::CreateRequest create;
  create.set_name("web");
  create.set_image("busybox");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(create, &created).ok());
  fastpath::v1::UpdateRequest req;
  req.set_sandbox_name("web");
  req.set_failure_policy(fastpath::v1::AUTO_RECREATE);
  (*req.mutable_labels())["team"] = "a";
  fastpath::v1::UpdateResponse resp;
  ASSERT_TRUE(server_.UpdateSandbox(admin_.get(), &req, &resp).ok());
  EXPECT_TRUE(resp.success());
  EXPECT_EQ(resp.sandbox().sandbox_name(), "web");
  EXPECT_THAT(resp.sandbox().labels(), UnorderedElementsAre(Pair("team", "a")));

  req.set_sandbox_name("nope");
  EXPECT_EQ(server_.UpdateSandbox(admin_.get(), &req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(FastPathServerTest, ResourceApplyAndAgents) {
  fastpath::v1::ApplyRequest apply;
  apply.mutable_sandbox()->mutable_metadata()->set_name("web");
  apply.mutable_sandbox()->mutable_spec()->set_image("busybox");
  fastpath::v1::ApplyResponse applied;
  ASSERT_TRUE(server_.ApplySandbox(admin_.get(), &apply, &applied).ok());
  EXPECT_TRUE(applied.created());
  EXPECT_EQ(applied.sandbox().kind(), "Sandbox");

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fsb::v1alpha1::Sandbox resource;
  ASSERT_TRUE(server_.GetSandboxResource(admin_.get(), &get, &resource).ok());
  EXPECT_EQ(resource.metadata().uid(), applied.sandbox().metadata().uid());
  EXPECT_EQ(resource.status().agent(), "agent-1");

  fastpath::v1::ListAgentsRequest list;
  fastpath::v1::ListAgentsResponse agents;
  ASSERT_TRUE(server_.ListAgents(admin_.get(), &list, &agents).ok());
  ASSERT_EQ(agents.items_size(), 1);
  EXPECT_EQ(agents.items(0).spec().address(), "10.1.2.3:5758");
  EXPECT_EQ(agents.items(0).status().allocated(), 1);
}

// A sandbox `name` in `ns`, created by the admin.
void CreateAs(FastPathServer& server, grpc::ServerContext* ctx, std::string_view ns,
              std::string_view name) {
  fastpath::v1::CreateRequest req;
  req.set_namespace_(std::string(ns));
  req.set_name(std::string(name));
  req.set_image("busybox:1.36");
  (*req.mutable_envs())["SECRET"] = absl::StrCat(Sv(ns), "-secret");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = server.CreateSandbox(ctx, &req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

TEST_F(FastPathServerTest, ATenantSeesAndTouchesOnlyItsNamespaces) {
  ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team-a", "web"));
  ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team-b", "db"));
  ContextWith alice("Bearer alice-token");

  // A list over every namespace has team-a's sandbox only, env included.
  fastpath::v1::ListRequest all;
  fastpath::v1::ListResponse listed;
  ASSERT_TRUE(server_.ListSandboxes(alice.get(), &all, &listed).ok());
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).sandbox_name(), "web");
  EXPECT_THAT(listed.items(0).envs(), ElementsAre(Pair("SECRET", "team-a-secret")));
  fastpath::v1::ListRequest team_b;
  team_b.set_namespace_("team-b");
  listed.Clear();
  EXPECT_EQ(server_.ListSandboxes(alice.get(), &team_b, &listed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(listed.items_size(), 0);

  // team-b's sandbox and a name that does not exist there get the same answer.
  fastpath::v1::GetRequest get;
  get.set_namespace_("team-b");
  get.set_sandbox_name("db");
  fastpath::v1::SandboxInfo info;
  const grpc::Status existing = server_.GetSandbox(alice.get(), &get, &info);
  get.set_sandbox_name("nothing-here");
  const grpc::Status missing = server_.GetSandbox(alice.get(), &get, &info);
  EXPECT_EQ(existing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(existing.error_code(), missing.error_code());
  EXPECT_EQ(existing.error_message(), missing.error_message());
  EXPECT_EQ(info.sandbox_name(), "");

  fastpath::v1::DeleteRequest del;
  del.set_namespace_("team-b");
  del.set_sandbox_name("db");
  fastpath::v1::DeleteResponse deleted;
  EXPECT_EQ(server_.DeleteSandbox(alice.get(), &del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  get.set_sandbox_name("db");
  EXPECT_TRUE(server_.GetSandbox(admin_.get(), &get, &info).ok());  // still there

  // Cluster-wide writes are the admin's.
  fastpath::v1::DeleteAgentRequest drop;
  drop.set_name("agent-1");
  fastpath::v1::DeleteAgentResponse dropped;
  EXPECT_EQ(server_.DeleteAgent(alice.get(), &drop, &dropped).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  fastpath::v1::ListAgentsRequest agents;
  fastpath::v1::ListAgentsResponse agents_listed;
  EXPECT_TRUE(server_.ListAgents(alice.get(), &agents, &agents_listed).ok());
}

// Every item of ListSandboxes from `req` on, page after page; each page's size is
// appended to `pages`.
grpc::Status ListAll(FastPathServer& server, grpc::ServerContext* ctx,
                     fastpath::v1::ListRequest req, std::vector<std::string>* names,
                     std::vector<int>* pages, const std::function<void()>& between = {}) {
  for (int i = 0; i < 100; ++i) {
    fastpath::v1::ListResponse page;
    if (grpc::Status s = server.ListSandboxes(ctx, &req, &page); !s.ok()) return s;
    pages->push_back(page.items_size());
    for (const auto& item : page.items()) {
      names->push_back(absl::StrCat(item.namespace_(), "/", item.sandbox_name()));
    }
    if (page.continue_token().empty()) return grpc::Status::OK;
    req.set_continue_token(page.continue_token());
    if (between) between();
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "more than 100 pages");
}

TEST_F(FastPathServerTest, ListSandboxesPagesInKeyOrderAcrossNamespaces) {
  env_.AddAgent("agent-2", 20, "default", "10.1.2.4:5758");
  for (std::string_view ns : {"b", "a-b", "a"}) {
    for (std::string_view name : {"y", "x", "z"}) {
      ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), ns, name));
    }
  }
  const std::vector<std::string> everything = {"a/x",   "a/y", "a/z", "a-b/x", "a-b/y",
                                               "a-b/z", "b/x", "b/y", "b/z"};
  // No page size: everything at once, as the seed's clients ask.
  std::vector<std::string> names;
  std::vector<int> pages;
  ASSERT_TRUE(ListAll(server_, admin_.get(), {}, &names, &pages).ok());
  EXPECT_EQ(names, everything);
  EXPECT_THAT(pages, ElementsAre(9));

  fastpath::v1::ListRequest paged;
  paged.set_page_size(4);
  names.clear();
  pages.clear();
  ASSERT_TRUE(ListAll(server_, admin_.get(), paged, &names, &pages).ok());
  EXPECT_EQ(names, everything);
  EXPECT_THAT(pages, ElementsAre(4, 4, 1));

  // One namespace; a page size that divides it exactly ends with an empty token.
  paged.set_namespace_("a-b");
  paged.set_page_size(3);
  names.clear();
  pages.clear();
  ASSERT_TRUE(ListAll(server_, admin_.get(), paged, &names, &pages).ok());
  EXPECT_THAT(names, ElementsAre("a-b/x", "a-b/y", "a-b/z"));
  EXPECT_THAT(pages, ElementsAre(3));
}

TEST_F(FastPathServerTest, ListSandboxesPagingIsStableUnderCreatesAndDeletes) {
  env_.AddAgent("agent-2", 30, "default", "10.1.2.4:5758");
  for (std::string_view name : {"b", "d", "f", "h", "j"}) {
    ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team", name));
  }
  fastpath::v1::ListRequest paged;
  paged.set_namespace_("team");
  paged.set_page_size(2);
  std::vector<std::string> names;
  std::vector<int> pages;
  int round = 0;
  // After the first page (b, d): d (listed) is deleted, a (before) and e (ahead) are
  // created; after the second: h (ahead) is deleted.
  const auto between = [&] {
    fastpath::v1::DeleteRequest del;
    del.set_namespace_("team");
    fastpath::v1::DeleteResponse deleted;
    if (round++ == 0) {
      del.set_sandbox_name("d");
      ASSERT_TRUE(server_.DeleteSandbox(admin_.get(), &del, &deleted).ok());
      ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team", "a"));
      ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team", "e"));
    } else if (round == 2) {
      del.set_sandbox_name("h");
      ASSERT_TRUE(server_.DeleteSandbox(admin_.get(), &del, &deleted).ok());
    }
  };
  ASSERT_TRUE(ListAll(server_, admin_.get(), paged, &names, &pages, between).ok());
  // b, f, j existed throughout: listed once each, nothing twice.
  EXPECT_THAT(names, ElementsAre("team/b", "team/d", "team/e", "team/f", "team/j"));
}

TEST_F(FastPathServerTest, ListSandboxesPagesOnlyWhatTheCallerMayRead) {
  env_.AddAgent("agent-2", 20, "default", "10.1.2.4:5758");
  for (std::string_view ns : {"team-a", "team-b"}) {
    for (std::string_view name : {"p", "q", "r"}) {
      ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), ns, name));
    }
  }
  ContextWith alice("Bearer alice-token");
  fastpath::v1::ListRequest paged;
  paged.set_page_size(2);
  std::vector<std::string> names;
  std::vector<int> pages;
  ASSERT_TRUE(ListAll(server_, alice.get(), paged, &names, &pages).ok());
  EXPECT_THAT(names, ElementsAre("team-a/p", "team-a/q", "team-a/r"));
  EXPECT_THAT(pages, ElementsAre(2, 1));
}

TEST_F(FastPathServerTest, ListPagingRejectsBadPageSizesAndTokens) {
  ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team-a", "web"));
  ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team-a", "db"));
  fastpath::v1::ListRequest req;
  fastpath::v1::ListResponse resp;
  req.set_page_size(-1);
  grpc::Status s = server_.ListSandboxes(admin_.get(), &req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
  req.set_page_size(1001);
  EXPECT_EQ(server_.ListSandboxes(admin_.get(), &req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  req.set_page_size(1);
  req.set_continue_token("bogus");
  s = server_.ListSandboxes(admin_.get(), &req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("continue_token"));

  // A token of team-a's list does not continue another namespace's.
  req.set_namespace_("team-a");
  req.clear_continue_token();
  ASSERT_TRUE(server_.ListSandboxes(admin_.get(), &req, &resp).ok());
  ASSERT_FALSE(resp.continue_token().empty());
  req.set_namespace_("team-b");
  req.set_continue_token(resp.continue_token());
  s = server_.ListSandboxes(admin_.get(), &req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("continue_token"));

  fastpath::v1::ListAgentsRequest agents;
  fastpath::v1::ListAgentsResponse agents_listed;
  agents.set_page_size(-5);
  s = server_.ListAgents(admin_.get(), &agents, &agents_listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
}

TEST_F(FastPathServerTest, ListAgentsPagesByName) {
  env_.AddAgent("agent-3", 2, "default", "10.1.2.5:5758");
  env_.AddAgent("agent-0", 2, "default", "10.1.2.6:5758");
  fastpath::v1::ListAgentsRequest req;
  req.set_page_size(2);
  std::vector<std::string> names;
  std::vector<int> pages;
  for (int i = 0; i < 10; ++i) {
    fastpath::v1::ListAgentsResponse page;
    ASSERT_TRUE(server_.ListAgents(admin_.get(), &req, &page).ok());
    pages.push_back(page.items_size());
    for (const auto& agent : page.items()) names.push_back(agent.metadata().name());
    if (page.continue_token().empty()) break;
    req.set_continue_token(page.continue_token());
  }
  EXPECT_THAT(names, ElementsAre("agent-0", "agent-1", "agent-3"));
  EXPECT_THAT(pages, ElementsAre(2, 1));
}

TEST_F(FastPathServerTest, AViewerReadsButCannotWrite) {
  ASSERT_NO_FATAL_FAILURE(CreateAs(server_, admin_.get(), "team-a", "web"));
  ContextWith val("Bearer val-token");
  fastpath::v1::GetRequest get;
  get.set_namespace_("team-a");
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  EXPECT_TRUE(server_.GetSandbox(val.get(), &get, &info).ok());
  fastpath::v1::CreateRequest create;
  create.set_namespace_("team-a");
  create.set_image("busybox:1.36");
  fastpath::v1::CreateResponse created;
  const grpc::Status s = server_.CreateSandbox(val.get(), &create, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("val (role viewer) may not write"));
}

TEST_F(FastPathServerTest, CallsWithoutAKnownTokenAreUnauthenticated) {
  for (std::string_view authorization : {"", "Bearer stolen-token"}) {
    ContextWith caller(authorization);
    fastpath::v1::ListRequest all;
    fastpath::v1::ListResponse listed;
    EXPECT_EQ(server_.ListSandboxes(caller.get(), &all, &listed).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << authorization;
    fastpath::v1::ListSandboxPoolsRequest pools;
    fastpath::v1::ListSandboxPoolsResponse pools_listed;
    EXPECT_EQ(server_.ListSandboxPools(caller.get(), &pools, &pools_listed).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << authorization;
  }
}

}  // namespace
}  // namespace fsb::controller
