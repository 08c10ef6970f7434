// End to end through real processes: fsb CLI / FastPath gRPC -> fsb-controller ->
// fsb-agent -> a private containerd -> runc. What containerd reports is checked through
// containerd's own API.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/containerd.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/stack.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;
using fsb::testing::ChildProcess;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;

class StackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fsb::testing::MissingPrerequisite().empty()) return;
    auto ctrd = PrivateContainerd::Start();
    if (!ctrd.ok()) {
      setup_error_ = new std::string(ctrd.status().ToString());
      return;
    }
    containerd_ = ctrd->release();
    const std::string dir = containerd_->dir();
    endpoint_ = new std::string(absl::StrCat("127.0.0.1:", fsb::testing::FreePort()));
    const int agent_port = fsb::testing::FreePort();
    agent_state_ = new std::string(dir + "/agent");

    auto controller = ChildProcess::Start(
        {FSB_CONTROLLER_BIN, "--fastpath-bind-address=" + *endpoint_, "--logtostderr"},
        dir + "/controller.log");
    auto agent = ChildProcess::Start(
        {FSB_AGENT_BIN, absl::StrCat("--agent-port=", agent_port), "--controller=" + *endpoint_,
         "--containerd-socket=" + containerd_->socket(), "--containerd-namespace=fsb",
         "--state-dir=" + *agent_state_, "--agent-id=it-agent", "--node-name=it-node",
         "--capacity=4", "--heartbeat_interval_ms=200", "--delete_grace_ms=1000",
         "--logtostderr"},
        dir + "/agent.log");
    if (!controller.ok() || !agent.ok()) {
      setup_error_ = new std::string("cannot start controller or agent");
      return;
    }
    controller_ = controller->release();
    agent_ = agent->release();
    client_ = new fsb::agent::Containerd({.socket = containerd_->socket(), .ns = "fsb"});
    stub_ = fastpath::v1::FastPathService::NewStub(
                grpc::CreateChannel(*endpoint_, grpc::InsecureChannelCredentials()))
                .release();
    // The controller refuses creates (RESOURCE_EXHAUSTED) until the agent registers.
    bool registered = WaitFor(
        [] {
          fastpath::v1::CreateRequest req;
          req.set_name("warmup");
          req.set_image(PrivateContainerd::kTestImage);
          req.add_command("true");
          fastpath::v1::CreateResponse resp;
          grpc::ClientContext ctx;
          auto s = stub_->CreateSandbox(&ctx, req, &resp);
          return s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED &&
                 s.error_code() != grpc::StatusCode::UNAVAILABLE;
        },
        absl::Seconds(20));
    if (!registered) {
      setup_error_ = new std::string("the agent never registered with the controller");
      return;
    }
    fastpath::v1::DeleteRequest del;
    del.set_sandbox_name("warmup");
    fastpath::v1::DeleteResponse resp;
    grpc::ClientContext ctx;
    stub_->DeleteSandbox(&ctx, del, &resp);
  }

  static void TearDownTestSuite() {
    delete stub_;
    delete client_;
    delete agent_;
    delete controller_;
    delete containerd_;  // stops containerd, its shims and removes the folder
  }

  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
  }

  static grpc::Status Create(const fastpath::v1::CreateRequest& req,
                             fastpath::v1::CreateResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->CreateSandbox(&ctx, req, resp);
  }

  static grpc::Status Delete(const std::string& name) {
    fastpath::v1::DeleteRequest req;
    req.set_sandbox_name(name);
    fastpath::v1::DeleteResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->DeleteSandbox(&ctx, req, &resp);
  }

  static std::string ReadLog(const std::string& sandbox_id) {
    std::ifstream f(*agent_state_ + "/logs/" + sandbox_id + ".log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  int Fsb(const std::vector<std::string>& args, std::string* out, std::string* err) {
    std::vector<std::string> argv = {FSB_CLI_BIN, "--endpoint", *endpoint_};
    argv.insert(argv.end(), args.begin(), args.end());
    return fsb::testing::RunCommand(argv, out, err);
  }

  static inline std::string* setup_error_ = nullptr;
  static inline PrivateContainerd* containerd_ = nullptr;
  static inline ChildProcess* controller_ = nullptr;
  static inline ChildProcess* agent_ = nullptr;
  static inline std::string* endpoint_ = nullptr;
  static inline std::string* agent_state_ = nullptr;
  static inline fsb::agent::Containerd* client_ = nullptr;
  static inline fastpath::v1::FastPathService::Stub* stub_ = nullptr;
};

TEST_F(StackTest, CreateRunsARealContainerAndDeleteRemovesIt) {
  fastpath::v1::CreateRequest req;
  req.set_name("hello");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command("echo hello; sleep 60");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  EXPECT_EQ(created.sandbox_name(), "hello");
  EXPECT_EQ(created.agent_pod(), "it-agent");
  const std::string id = created.sandbox_id();
  ASSERT_FALSE(id.empty());

  // containerd itself says the task runs, with a pid.
  auto task = client_->GetTask(id);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  EXPECT_GT(task->pid(), 0u);
  auto container = client_->GetContainer(id);
  ASSERT_TRUE(container.ok()) << container.status();
  EXPECT_EQ(container->labels().at("fsb.io/managed"), "true");
  EXPECT_EQ(container->labels().at("fsb.io/sandbox-name"), "hello");
  EXPECT_TRUE(WaitFor([&] { return ReadLog(id).find("hello") != std::string::npos; },
                      absl::Seconds(10)))
      << "log: " << ReadLog(id);

  fastpath::v1::ListRequest list_req;
  fastpath::v1::ListResponse list;
  grpc::ClientContext list_ctx;
  ASSERT_TRUE(stub_->ListSandboxes(&list_ctx, list_req, &list).ok());
  bool listed = false;
  for (const auto& item : list.items()) {
    if (item.sandbox_name() == "hello") {
      listed = true;
      EXPECT_EQ(item.sandbox_id(), id);
      EXPECT_EQ(item.phase(), "Running");
      EXPECT_EQ(item.image(), PrivateContainerd::kTestImage);
    }
  }
  EXPECT_TRUE(listed);

  ASSERT_TRUE(Delete("hello").ok());
  EXPECT_TRUE(absl::IsNotFound(client_->GetTask(id).status()));
  EXPECT_TRUE(absl::IsNotFound(client_->GetContainer(id).status()));
  EXPECT_TRUE(absl::IsNotFound(client_->StatSnapshot(id).status()));
  EXPECT_FALSE(std::filesystem::exists(*agent_state_ + "/logs/" + id + ".log"));

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("hello");
  fastpath::v1::SandboxInfo info;
  grpc::ClientContext get_ctx;
  EXPECT_EQ(stub_->GetSandbox(&get_ctx, get, &info).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StackTest, UnknownImageIsNotFoundNamingTheImage) {
  fastpath::v1::CreateRequest req;
  req.set_name("noimage");
  req.set_image("docker.io/fsb/does-not-exist:1");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = Create(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("docker.io/fsb/does-not-exist:1"));
  // Nothing was left behind: the name is free again.
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("true");
  ASSERT_TRUE(Create(req, &resp).ok());
  EXPECT_TRUE(Delete("noimage").ok());
}

TEST_F(StackTest, EmptyImageIsInvalidArgument) {
  fastpath::v1::CreateRequest req;
  req.set_name("empty-image");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = Create(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("image"));
}

TEST_F(StackTest, DuplicateNameIsAlreadyExists) {
  fastpath::v1::CreateRequest req;
  req.set_name("dup");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sleep");
  req.add_command("60");
  fastpath::v1::CreateResponse first, second;
  ASSERT_TRUE(Create(req, &first).ok());
  grpc::Status s = Create(req, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr("dup"));
  // The first sandbox is untouched.
  auto task = client_->GetTask(first.sandbox_id());
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  EXPECT_TRUE(Delete("dup").ok());
}

TEST_F(StackTest, DeleteUnknownIsNotFound) {
  EXPECT_EQ(Delete("never-was").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StackTest, CliRunListGetRemove) {
  std::string out, err;
  EXPECT_EQ(Fsb({"run", "--name", "cli1"}, &out, &err), 2) << "missing --image is a usage error";
  EXPECT_THAT(err, HasSubstr("--image"));

  out.clear();
  err.clear();
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "cli1", "--env",
                 "GREETING=hi", "--", "sh", "-c", "echo $GREETING; sleep 60"},
                &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("cli1"));
  EXPECT_THAT(out, HasSubstr("it-agent"));

  out.clear();
  ASSERT_EQ(Fsb({"ls"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("NAME"));
  EXPECT_THAT(out, HasSubstr("cli1"));
  EXPECT_THAT(out, HasSubstr("Running"));

  out.clear();
  ASSERT_EQ(Fsb({"get", "cli1", "-o", "yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("kind: Sandbox"));
  EXPECT_THAT(out, HasSubstr("cli1"));

  out.clear();
  ASSERT_EQ(Fsb({"rm", "cli1"}, &out, &err), 0) << err;
  err.clear();
  EXPECT_EQ(Fsb({"get", "cli1"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
}

}  // namespace
}  // namespace fsb
