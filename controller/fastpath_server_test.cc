#include "controller/fastpath_server.h"

#include "controller/fake_agent_client.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Calls the adapter's methods directly: it ignores the ServerContext.
class FastPathServerTest : public ::testing::Test {
 protected:
  FastPathServerTest() {
    fsb::agent::v1::RegisterRequest req;
    req.mutable_agent()->set_agent_id("agent-1");
    req.mutable_agent()->set_node_name("node-1");
    req.mutable_agent()->set_address("10.1.2.3:5758");
    req.mutable_agent()->set_capacity(2);
    CHECK(sandboxes_.RegisterAgent(req).ok());
  }

  grpc::Status Create(const fastpath::v1::CreateRequest& req, fastpath::v1::CreateResponse* resp) {
    return server_.CreateSandbox(nullptr, &req, resp);
  }

  ManualClock clock_;
  Registry registry_{&clock_, {}};
  FakeAgentClient agents_;
  SandboxService sandboxes_{&registry_, &agents_, &clock_};
  FastPathServer server_{&sandboxes_};
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
  ASSERT_TRUE(server_.GetSandbox(nullptr, &get, &info).ok());
  EXPECT_EQ(info.sandbox_id(), created.sandbox_id());
  EXPECT_EQ(info.phase(), "Running");
  EXPECT_EQ(info.agent_pod(), "agent-1");
  EXPECT_THAT(info.endpoints(), ElementsAre("10.1.2.3:80"));
  EXPECT_EQ(info.created_at(), absl::ToUnixSeconds(clock_.Now()));
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
  EXPECT_EQ(info.node(), "node-1");
  EXPECT_EQ(info.exit_code(), 0);

  fastpath::v1::ListRequest list;
  list.set_namespace_("team");
  fastpath::v1::ListResponse listed;
  ASSERT_TRUE(server_.ListSandboxes(nullptr, &list, &listed).ok());
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).sandbox_id(), created.sandbox_id());
  EXPECT_EQ(listed.items(0).phase(), "Running");
}

TEST_F(FastPathServerTest, DomainErrorsBecomeTheirGrpcCodes) {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  fastpath::v1::CreateResponse created;
  grpc::Status status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("image is required"));

  agents_.set_create_status(
      absl::NotFoundError("image \"docker.io/library/nope:latest\" not found"));
  req.set_image("nope");
  status = Create(req, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("docker.io/library/nope:latest"));

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("web");
  fastpath::v1::SandboxInfo info;
  EXPECT_EQ(server_.GetSandbox(nullptr, &get, &info).error_code(), grpc::StatusCode::NOT_FOUND);
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
  ASSERT_TRUE(server_.DeleteSandbox(nullptr, &del, &deleted).ok());
  EXPECT_TRUE(deleted.success());
  EXPECT_EQ(server_.DeleteSandbox(nullptr, &del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(FastPathServerTest, UpdateIsUnimplemented) {
  fastpath::v1::UpdateRequest req;
  req.set_sandbox_name("web");
  fastpath::v1::UpdateResponse resp;
  grpc::Status status = server_.UpdateSandbox(nullptr, &req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("not implemented yet"));
}

}  // namespace
}  // namespace fsb::controller
