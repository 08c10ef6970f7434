// Mutual TLS between the controller and its agents, with real certificates
// (scripts/gen-certs.sh): an agent registers and heartbeats only as the agent id its
// certificate names, an agent's API serves only the controller's certificate, and
// running without TLS takes an explicit --insecure.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "internal/tls/tls.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::RunCommand;
using fsb::testing::SourcePath;
using ::testing::HasSubstr;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start({});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    // A certificate of the cluster's CA for another agent id.
    ASSERT_EQ(RunCommand({SourcePath("scripts/gen-certs.sh"), "--dir", stack_->pki_dir(), "--agent",
                          "rogue"}),
              0);
  }
  TlsFiles Identity(const std::string& name) const {
    return {.cert = absl::StrCat(stack_->pki_dir(), "/", name, ".crt"),
            .key = absl::StrCat(stack_->pki_dir(), "/", name, ".key"),
            .ca = stack_->pki_dir() + "/ca.crt"};
  }
  static void SetDeadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  // The address the controller lists for the stack's agent.
  std::string AgentAddress() {
    fastpath::v1::ListAgentsResponse agents;
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    if (!stack_->fastpath().ListAgents(&ctx, {}, &agents).ok() || agents.items_size() != 1) {
      return "";
    }
    return agents.items(0).spec().address();
  }
  std::unique_ptr<fsb::agent::v1::Registration::Stub> Registration(
      std::shared_ptr<grpc::ChannelCredentials> creds) {
    return fsb::agent::v1::Registration::NewStub(grpc::CreateCustomChannel(
        stack_->agent_endpoint(), std::move(creds), TlsChannelArguments(kControllerName)));
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(AuthTest, AnAgentSpeaksOnlyForTheIdItsCertificateNames) {
  const std::string address = AgentAddress();
  ASSERT_FALSE(address.empty());
  // The seed's attack: register with an existing agent's id to re-point its address.
  fsb::agent::v1::RegisterRequest hijack;
  hijack.mutable_agent()->set_agent_id(LocalStack::kAgentId);
  hijack.mutable_agent()->set_address("127.0.0.1:1");
  hijack.mutable_agent()->set_capacity(100);
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fsb::agent::v1::RegisterResponse resp;
    grpc::Status s =
        Registration(TlsChannelCredentials(Identity("agent-rogue")))->Register(&ctx, hijack, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("rogue"));
  }
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fsb::agent::v1::HeartbeatRequest beat;
    beat.set_agent_id(LocalStack::kAgentId);
    fsb::agent::v1::HeartbeatResponse resp;
    EXPECT_EQ(Registration(TlsChannelCredentials(Identity("agent-rogue")))
                  ->Heartbeat(&ctx, beat, &resp)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    // Without a certificate the handshake fails: the port requires one.
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fsb::agent::v1::RegisterResponse resp;
    auto plain = fsb::agent::v1::Registration::NewStub(
        grpc::CreateChannel(stack_->agent_endpoint(), grpc::InsecureChannelCredentials()));
    EXPECT_FALSE(plain->Register(&ctx, hijack, &resp).ok());
  }
  // The agent is still where it was, and serves.
  EXPECT_EQ(AgentAddress(), address);
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(stack_->Create(fsb::testing::SleeperRequest("still-here"), &created).ok());
  EXPECT_TRUE(stack_->Delete("still-here").ok());

  // Its own certificate registers it (what the agent itself does).
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fsb::agent::v1::HeartbeatRequest beat;
    beat.set_agent_id(LocalStack::kAgentId);
    fsb::agent::v1::HeartbeatResponse resp;
    grpc::Status s = Registration(TlsChannelCredentials(Identity("agent-it-agent")))
                         ->Heartbeat(&ctx, beat, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
}

TEST_F(AuthTest, AnAgentServesOnlyTheController) {
  const std::string address = AgentAddress();
  ASSERT_FALSE(address.empty());
  auto call = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub = fsb::agent::v1::AgentService::NewStub(grpc::CreateCustomChannel(
        address, std::move(creds), TlsChannelArguments(LocalStack::kAgentId)));
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fsb::agent::v1::ListSandboxesResponse resp;
    return stub->ListSandboxes(&ctx, {}, &resp);
  };
  grpc::Status s = call(TlsChannelCredentials(Identity("agent-rogue")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("only fsb-controller may call"));
  s = call(grpc::InsecureChannelCredentials());
  EXPECT_FALSE(s.ok());
  s = call(TlsChannelCredentials(Identity("controller")));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AuthTest, PlaintextTakesAnExplicitInsecureFlag) {
  std::string out, err;
  EXPECT_EQ(
      RunCommand({FSB_CONTROLLER_BIN, "--data-dir=" + stack_->dir() + "/c2",
                  "--fastpath-bind-address=127.0.0.1:0", "--agent-bind-address=127.0.0.1:0",
                  "--metrics-bind-address=127.0.0.1:0", "--pprof-bind-address=", "--logtostderr"},
                 &out, &err),
      2);
  EXPECT_THAT(err, HasSubstr("--tls-cert is required"));
  // With certificates, clients need tokens: no file, or a bad one, and it does not start.
  const std::vector<std::string> with_tls = {FSB_CONTROLLER_BIN,
                                             "--data-dir=" + stack_->dir() + "/c2",
                                             "--fastpath-bind-address=127.0.0.1:0",
                                             "--agent-bind-address=127.0.0.1:0",
                                             "--metrics-bind-address=127.0.0.1:0",
                                             "--pprof-bind-address=",
                                             "--logtostderr",
                                             "--tls-cert=" + stack_->pki_dir() + "/controller.crt",
                                             "--tls-key=" + stack_->pki_dir() + "/controller.key",
                                             "--tls-ca=" + stack_->pki_dir() + "/ca.crt"};
  err.clear();
  EXPECT_EQ(RunCommand(with_tls, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("--tokens-file is required"));
  const std::string bad = stack_->dir() + "/bad-tokens.yaml";
  std::ofstream(bad) << "tokens:\n  - subject: x\n    sha256: 00\n    role: root\n";
  std::vector<std::string> bad_tokens = with_tls;
  bad_tokens.push_back("--tokens-file=" + bad);
  err.clear();
  EXPECT_EQ(RunCommand(bad_tokens, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("--tokens-file: tokens file ", bad, ": tokens[0]")));
  err.clear();
  EXPECT_EQ(
      RunCommand({FSB_AGENT_BIN, "--state-dir=" + stack_->dir() + "/a2", "--sandbox-network=host",
                  "--metrics-bind-address=127.0.0.1:0", "--pprof-bind-address=", "--logtostderr"},
                 &out, &err),
      2);
  EXPECT_THAT(err, HasSubstr("--tls-cert is required"));
}

}  // namespace
}  // namespace fsb
