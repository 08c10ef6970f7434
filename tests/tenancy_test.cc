// Clients of a real controller over TLS with bearer tokens: a tenant's token reaches only
// its namespaces (and learns nothing of the others' sandboxes), a viewer only reads, an
// unknown, missing or revoked token is UNAUTHENTICATED, the CLI says which, and the
// seed's own generated Python client works with a token and the CA.
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::RunCommand;
using fsb::testing::SourcePath;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlice[] = "alice-token-0123456789";  // user of team-a
constexpr char kBob[] = "bob-token-0123456789";      // user of team-b
constexpr char kVal[] = "val-token-0123456789";      // viewer of team-a

const std::vector<LocalStack::ClientToken>& Tenants() {
  static const auto* tokens = new std::vector<LocalStack::ClientToken>{
      {.subject = "alice", .token = kAlice, .role = "user", .namespaces = {"team-a"}},
      {.subject = "bob", .token = kBob, .role = "user", .namespaces = {"team-b"}},
      {.subject = "val", .token = kVal, .role = "viewer", .namespaces = {"team-a"}},
  };
  return *tokens;
}

void SetDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

// One stack for the suite, with sandbox "web" in team-a and "db" in team-b.
class TenancyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fsb::testing::MissingPrerequisite().empty()) return;
    auto stack = LocalStack::Start({});
    if (!stack.ok()) {
      setup_error_ = new std::string(stack.status().ToString());
      return;
    }
    stack_ = stack->release();
    if (absl::Status s = stack_->WriteTokens(Tenants()); !s.ok()) {
      setup_error_ = new std::string(s.ToString());
      return;
    }
    for (const auto& [ns, name] : {std::pair{"team-a", "web"}, std::pair{"team-b", "db"}}) {
      fastpath::v1::CreateRequest req = fsb::testing::SleeperRequest(name);
      req.set_namespace_(ns);
      (*req.mutable_envs())["SECRET"] = absl::StrCat(ns, "-secret");
      fastpath::v1::CreateResponse resp;
      if (grpc::Status s = stack_->Create(req, &resp); !s.ok()) {
        setup_error_ = new std::string(s.error_message());
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
    // Every token of the suite works (the file is reloaded within a second or so).
    ASSERT_TRUE(WaitUntilListIs(kBob, grpc::StatusCode::OK));
  }

  static std::unique_ptr<fastpath::v1::FastPathService::Stub> As(const std::string& token) {
    return fastpath::v1::FastPathService::NewStub(stack_->ClientChannel(token));
  }
  static grpc::Status List(const std::string& token, const std::string& ns,
                           fastpath::v1::ListResponse* resp) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fastpath::v1::ListRequest req;
    req.set_namespace_(ns);
    return As(token)->ListSandboxes(&ctx, req, resp);
  }
  static grpc::Status Get(const std::string& token, const std::string& ns,
                          const std::string& name) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fastpath::v1::GetRequest req;
    req.set_namespace_(ns);
    req.set_sandbox_name(name);
    fastpath::v1::SandboxInfo info;
    return As(token)->GetSandbox(&ctx, req, &info);
  }
  // Polls (up to 15 s) until listing team-b with `token` answers `code`.
  static bool WaitUntilListIs(const std::string& token, grpc::StatusCode code) {
    return fsb::testing::WaitFor(
        [&] {
          fastpath::v1::ListResponse resp;
          return List(token, "team-b", &resp).error_code() == code;
        },
        absl::Seconds(15));
  }

  static LocalStack* stack_;
  static std::string* setup_error_;
};
LocalStack* TenancyTest::stack_ = nullptr;
std::string* TenancyTest::setup_error_ = nullptr;

TEST_F(TenancyTest, ATenantCannotSeeOrTouchAnotherTenantsSandboxes) {
  // Another tenant's sandbox and a name nobody uses get the very same answer.
  const grpc::Status existing = Get(kAlice, "team-b", "db");
  const grpc::Status missing = Get(kAlice, "team-b", "no-such-sandbox");
  EXPECT_EQ(existing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(existing.error_code(), missing.error_code());
  EXPECT_EQ(existing.error_message(), missing.error_message());
  EXPECT_THAT(existing.error_message(), Not(HasSubstr("db")));
  EXPECT_TRUE(Get(kAlice, "team-a", "web").ok());

  // A list over every namespace has team-a's only; team-b's cannot be asked for.
  fastpath::v1::ListResponse listed;
  ASSERT_TRUE(List(kAlice, "", &listed).ok());
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).namespace_(), "team-a");
  EXPECT_EQ(listed.items(0).envs().at("SECRET"), "team-a-secret");
  listed.Clear();
  EXPECT_EQ(List(kAlice, "team-b", &listed).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(listed.items_size(), 0);

  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fastpath::v1::DeleteRequest req;
    req.set_namespace_("team-b");
    req.set_sandbox_name("db");
    fastpath::v1::DeleteResponse resp;
    EXPECT_EQ(As(kAlice)->DeleteSandbox(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    auto io = fastpath::v1::SandboxIO::NewStub(stack_->ClientChannel(kAlice));
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    fastpath::v1::LogsRequest req;
    req.set_namespace_("team-b");
    req.set_sandbox_name("db");
    auto reader = io->Logs(&ctx, req);
    fsb::agent::v1::LogChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    auto io = fastpath::v1::SandboxIO::NewStub(stack_->ClientChannel(kAlice));
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    auto stream = io->Exec(&ctx);
    fastpath::v1::ExecRequest start;
    start.mutable_start()->set_namespace_("team-b");
    start.mutable_start()->set_sandbox_name("db");
    start.mutable_start()->add_args("true");
    stream->Write(start);
    stream->WritesDone();
    fsb::agent::v1::ExecOutput out;
    EXPECT_FALSE(stream->Read(&out));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // team-b's sandbox is untouched, and its owner sees it.
  EXPECT_TRUE(Get(kBob, "team-b", "db").ok());
  auto managed = stack_->ManagedContainers();
  ASSERT_TRUE(managed.ok()) << managed.status();
  EXPECT_EQ(managed->size(), 2u);

  // Cluster-wide changes are the admin's.
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  fastpath::v1::DeleteAgentRequest drop;
  drop.set_name(LocalStack::kAgentId);
  fastpath::v1::DeleteAgentResponse dropped;
  EXPECT_EQ(As(kAlice)->DeleteAgent(&ctx, drop, &dropped).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(TenancyTest, AViewerReadsButCannotCreate) {
  EXPECT_TRUE(Get(kVal, "team-a", "web").ok());
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  fastpath::v1::CreateRequest req = fsb::testing::SleeperRequest("by-viewer");
  req.set_namespace_("team-a");
  fastpath::v1::CreateResponse resp;
  const grpc::Status s = As(kVal)->CreateSandbox(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("val (role viewer) may not write"));
  EXPECT_EQ(Get(kAlice, "team-a", "by-viewer").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(TenancyTest, UnknownMissingAndRevokedTokensAreUnauthenticated) {
  fastpath::v1::ListResponse listed;
  grpc::Status s = List("not-a-token-of-the-file", "team-a", &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "unknown token");
  s = List("", "team-a", &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("missing authorization metadata"));
  // Plaintext does not even reach the API.
  {
    auto plain = fastpath::v1::FastPathService::NewStub(
        grpc::CreateChannel(stack_->endpoint(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    EXPECT_EQ(plain->ListSandboxes(&ctx, {}, &listed).error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  // Revoked: bob's entry leaves the file; the controller notices without a restart.
  ASSERT_TRUE(stack_->WriteTokens({Tenants()[0], Tenants()[2]}).ok());
  EXPECT_TRUE(WaitUntilListIs(kBob, grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_TRUE(Get(kAlice, "team-a", "web").ok());
  // A broken file keeps the tokens of the last good one.
  { std::ofstream(stack_->tokens_file()) << "tokens: {not: a list}\n"; }
  EXPECT_TRUE(fsb::testing::WaitFor(
      [] {
        std::string metrics;
        RunCommand(
            {"curl", "-s", absl::StrCat("http://", stack_->controller_metrics(), "/metrics")},
            &metrics);
        return metrics.find("fsb_controller_tokens_file_reloads_total{result=\"error\"}") !=
               std::string::npos;
      },
      absl::Seconds(15)));
  EXPECT_TRUE(Get(kAlice, "team-a", "web").ok());
  EXPECT_EQ(Get(kBob, "team-b", "db").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(stack_->WriteTokens(Tenants()).ok());
  EXPECT_TRUE(WaitUntilListIs(kBob, grpc::StatusCode::OK));
}

TEST_F(TenancyTest, TheCliNamesWhatIsWrong) {
  std::string out, err;
  // The stack's admin (FSB_TOKEN) sees both namespaces; alice only hers.
  ASSERT_EQ(stack_->Fsb({"ls", "-A"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("team-a"));
  EXPECT_THAT(out, HasSubstr("team-b"));
  out.clear();
  ASSERT_EQ(stack_->Fsb({"--token", kAlice, "ls", "-A"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("web"));
  EXPECT_THAT(out, Not(HasSubstr("team-b")));

  err.clear();
  EXPECT_EQ(stack_->Fsb({"--token", kAlice, "rm", "-n", "team-b", "db"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(err, HasSubstr("alice (role user) may not write in namespace team-b"));

  err.clear();
  EXPECT_EQ(stack_->Fsb({"--token", "wrong-token", "ls"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(err, HasSubstr("unknown token"));
  EXPECT_THAT(err, HasSubstr("--token"));  // where the rejected token came from

  // Without the stack's CA the controller's certificate is not trusted.
  err.clear();
  EXPECT_EQ(stack_->Fsb({"--ca", SourcePath("tests/seed/fastpath.proto"), "ls"}, &out, &err), 2);
  err.clear();
  EXPECT_EQ(RunCommand({"env", "-u", "FSB_CA", FSB_CLI_BIN, "--endpoint", stack_->endpoint(), "ls"},
                       &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("TLS"));
}

TEST_F(TenancyTest, TheSeedsGeneratedPythonClientWorksWithATokenAndTheCa) {
  const std::string out_dir = stack_->dir() + "/seed-client";
  std::string out, err;
  const int code = RunCommand({"mkdir", "-p", out_dir});
  ASSERT_EQ(code, 0);
  const int rc = RunCommand(
      {"/usr/bin/python3", SourcePath("tests/seed/seed_client.py"), "--endpoint",
       stack_->endpoint(), "--ca", stack_->pki_dir() + "/ca.crt", "--token", stack_->admin_token(),
       "--image", fsb::testing::PrivateContainerd::kTestImage, "--out", out_dir},
      &out, &err);
  EXPECT_EQ(rc, 0) << out << err;
  EXPECT_THAT(out, HasSubstr("without the token: UNAUTHENTICATED"));
  EXPECT_THAT(out, HasSubstr("seed client: ok"));
}

}  // namespace
}  // namespace fsb
