#include "controller/grpc_agent_client.h"

#include <chrono>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "internal/status.h"

namespace fsb::controller {
namespace {

using ::testing::HasSubstr;

// An in-process AgentService that records what it receives and answers as told.
class ScriptedAgent final : public fsb::agent::v1::AgentService::Service {
 public:
  grpc::Status CreateSandbox(grpc::ServerContext* ctx,
                             const fsb::agent::v1::CreateSandboxRequest* req,
                             fsb::agent::v1::CreateSandboxResponse* resp) override {
    ctx->AddTrailingMetadata(kHandledTrailer, "1");  // as the real agent's handler does
    bool hang = false;
    absl::Status answer;
    {
      absl::MutexLock lock(&mu_);
      last_create_ = *req;
      create_time_left_ = absl::FromChrono(ctx->deadline() - std::chrono::system_clock::now());
      hang = hang_;
      answer = create_status_;
    }
    // A hanging agent answers only once the caller gives up (or after 5s).
    for (int i = 0; hang && i < 500 && !ctx->IsCancelled(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (!answer.ok()) return ToGrpcStatus(answer);
    // Answers as a warm claim does: another container id, and the warm counts after it.
    resp->mutable_status()->set_sandbox_id("warm-" + req->spec().sandbox_id());
    resp->mutable_status()->set_requested_id(req->spec().sandbox_id());
    resp->mutable_status()->set_phase(fsb::agent::v1::SANDBOX_PHASE_RUNNING);
    resp->mutable_status()->set_pid(42);
    resp->set_warm(true);
    fsb::agent::v1::WarmCount* left = resp->add_warm_counts();
    left->set_image(req->spec().image());
    left->set_ready(3);
    left->set_desired(4);
    return grpc::Status::OK;
  }

  grpc::Status DeleteSandbox(grpc::ServerContext* ctx,
                             const fsb::agent::v1::DeleteSandboxRequest* req,
                             fsb::agent::v1::DeleteSandboxResponse*) override {
    absl::MutexLock lock(&mu_);
    last_delete_ = *req;
    delete_time_left_ = absl::FromChrono(ctx->deadline() - std::chrono::system_clock::now());
    return grpc::Status::OK;
  }

  void set_create_status(absl::Status s) {
    absl::MutexLock lock(&mu_);
    create_status_ = std::move(s);
  }
  void set_hang(bool hang) {
    absl::MutexLock lock(&mu_);
    hang_ = hang;
  }
  fsb::agent::v1::CreateSandboxRequest last_create() {
    absl::MutexLock lock(&mu_);
    return last_create_;
  }
  fsb::agent::v1::DeleteSandboxRequest last_delete() {
    absl::MutexLock lock(&mu_);
    return last_delete_;
  }
  absl::Duration create_time_left() {
    absl::MutexLock lock(&mu_);
    return create_time_left_;
  }
  absl::Duration delete_time_left() {
    absl::MutexLock lock(&mu_);
    return delete_time_left_;
  }

 private:
  absl::Mutex mu_;
  absl::Status create_status_ ABSL_GUARDED_BY(mu_);
  bool hang_ ABSL_GUARDED_BY(mu_) = false;
  fsb::agent::v1::CreateSandboxRequest last_create_ ABSL_GUARDED_BY(mu_);
  fsb::agent::v1::DeleteSandboxRequest last_delete_ ABSL_GUARDED_BY(mu_);
  absl::Duration delete_time_left_ ABSL_GUARDED_BY(mu_);
  absl::Duration create_time_left_ ABSL_GUARDED_BY(mu_);
};

class GrpcAgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&agent_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  ScriptedAgent agent_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  GrpcAgentClient client_{{.create_timeout = absl::Milliseconds(300),
                           .pull_timeout = absl::Seconds(2),
                           .delete_timeout_margin = absl::Seconds(15),
                           .default_grace = absl::Seconds(10)}};
};

TEST_F(GrpcAgentClientTest, CreateSendsTheSpecAndReturnsTheAnswer) {
  fsb::agent::v1::SandboxSpec spec;
  spec.set_sandbox_id("0123456789abcdef");
  spec.set_name("web");
  spec.set_image("docker.io/library/busybox:latest");
  spec.add_exposed_ports(80);
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> answer =
      client_.CreateSandbox(address_, spec, /*may_pull=*/false);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status().sandbox_id(), "warm-0123456789abcdef");
  EXPECT_EQ(answer->status().requested_id(), "0123456789abcdef");
  EXPECT_EQ(answer->status().phase(), fsb::agent::v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(answer->status().pid(), 42u);
  EXPECT_TRUE(answer->warm());
  ASSERT_EQ(answer->warm_counts_size(), 1);
  EXPECT_EQ(answer->warm_counts(0).image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(answer->warm_counts(0).ready(), 3);
  EXPECT_EQ(agent_.last_create().spec().SerializeAsString(), spec.SerializeAsString());

  // The cached channel serves the next call too.
  spec.set_sandbox_id("fedcba9876543210");
  EXPECT_TRUE(client_.CreateSandbox(address_, spec, /*may_pull=*/false).ok());
  EXPECT_EQ(agent_.last_create().spec().sandbox_id(), "fedcba9876543210");
}

TEST_F(GrpcAgentClientTest, AgentErrorsKeepTheirCodeAndMessage) {
  agent_.set_create_status(
      absl::NotFoundError("image \"docker.io/library/nope:latest\" not found"));
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> status =
      client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/false);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.status().message(), HasSubstr("docker.io/library/nope:latest"));
  EXPECT_FALSE(IsAgentUnreachable(status.status()));
  // The agent's own UNAVAILABLE (e.g. a registry it cannot reach) is not "unreachable".
  agent_.set_create_status(absl::UnavailableError("registry example.com cannot be reached"));
  status = client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/false);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(IsAgentUnreachable(status.status()));
}

TEST_F(GrpcAgentClientTest, CreateGivesUpAtItsDeadline) {
  agent_.set_hang(true);
  const absl::Time start = absl::Now();
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> status =
      client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/false);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(GrpcAgentClientTest, ACreateThatMayPullGetsThePullDeadline) {
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> status =
      client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/true);
  ASSERT_TRUE(status.ok()) << status.status();
  const absl::Duration pull = agent_.create_time_left();
  ASSERT_TRUE(
      client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/false).ok());
  const absl::Duration plain = agent_.create_time_left();
  // Configured: 2 s and 300 ms; the agent sees them as the time left when the call
  // arrives (the wire carries a timeout, so it may read a little more or less).
  EXPECT_GT(pull, absl::Seconds(1));
  EXPECT_LT(pull, absl::Seconds(3));
  EXPECT_LT(plain, absl::Seconds(1));
}

TEST_F(GrpcAgentClientTest, DeleteSendsTheGraceAndSizesTheDeadlineByIt) {
  ASSERT_TRUE(client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(2)).ok());
  EXPECT_EQ(agent_.last_delete().sandbox_id(), "0123456789abcdef");
  EXPECT_EQ(agent_.last_delete().grace_period_millis(), 2000);
  // gRPC transmits deadlines as coarse timeouts: allow a second either way.
  EXPECT_GT(agent_.delete_time_left(), absl::Seconds(16));
  EXPECT_LT(agent_.delete_time_left(), absl::Seconds(18));

  // No grace: the agent's default applies, and the deadline assumes default_grace.
  ASSERT_TRUE(client_.DeleteSandbox(address_, "0123456789abcdef", std::nullopt).ok());
  EXPECT_FALSE(agent_.last_delete().has_grace_period_millis());
  EXPECT_GT(agent_.delete_time_left(), absl::Seconds(24));
  EXPECT_LT(agent_.delete_time_left(), absl::Seconds(26));

  // Zero grace is sent as zero: SIGKILL at once.
  ASSERT_TRUE(client_.DeleteSandbox(address_, "0123456789abcdef", absl::ZeroDuration()).ok());
  ASSERT_TRUE(agent_.last_delete().has_grace_period_millis());
  EXPECT_EQ(agent_.last_delete().grace_period_millis(), 0);
}

TEST_F(GrpcAgentClientTest, UnreachableAgentIsUnavailable) {
  server_->Shutdown();
  server_.reset();
  absl::Status status = client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> created =
      client_.CreateSandbox(address_, fsb::agent::v1::SandboxSpec(), /*may_pull=*/false);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsAgentUnreachable(created.status())) << created.status();
  EXPECT_THAT(created.status().message(), HasSubstr("not reached"));
}

TEST_F(GrpcAgentClientTest, AnAgentThatIsUpAgainIsReachedAtOnce) {
  ASSERT_TRUE(client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(1)).ok());
  server_->Shutdown();
  server_.reset();
  // Calls while it is down put the channel into its reconnect backoff.
  EXPECT_FALSE(client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(1)).ok());
  EXPECT_FALSE(client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(1)).ok());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
  builder.RegisterService(&agent_);
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  // It registered again: the channel reconnects now instead of after the backoff (about
  // a second), so well within 200 ms the next call gets through.
  client_.AgentUp("agent-1", address_);
  client_.Channel(address_)->WaitForConnected(std::chrono::system_clock::now() +
                                              std::chrono::milliseconds(200));
  absl::Status status = client_.DeleteSandbox(address_, "0123456789abcdef", absl::Seconds(1));
  EXPECT_TRUE(status.ok()) << status;
  client_.AgentUp("agent-2", "127.0.0.1:1");  // never dialed: nothing to reset
}

}  // namespace
}  // namespace fsb::controller
