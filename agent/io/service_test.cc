#include "agent/io/service.h"

#include <filesystem>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/fake_runtime.h"
#include "agent/logger/fd_testing.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "internal/clock.h"
#include "internal/grpc_server_poller.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

// SandboxIO served in-process over a fake runtime, with room for one stream. containerd
// is not there: a follow's wait for the task's exit just keeps waiting.
class SandboxIOServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(manager_.Recover().ok());
    v1::SandboxSpec spec;
    spec.set_sandbox_id("s1");
    spec.set_name("sb-s1");
    spec.set_namespace_("default");
    spec.set_image("docker.io/fsb/busybox:latest");
    spec.add_command("sleep");
    absl::StatusOr<SandboxManager::Created> created = manager_.Create(spec);
    ASSERT_TRUE(created.ok()) << created.status();
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    poller_ = std::make_unique<GrpcServerPoller>(builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::SandboxIO::NewStub(server_->InProcessChannel({}));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Waits (bounded) until `n` streams hold a slot.
  bool OpenStreamsReach(int n) {
    for (int i = 0; i < 3000 && limiter_.open() != n; ++i) absl::SleepFor(absl::Milliseconds(10));
    return limiter_.open() == n;
  }

  v1::LogsRequest Follow() {
    v1::LogsRequest request;
    request.set_sandbox_id("s1");
    request.set_follow(true);
    return request;
  }

  const std::string dir_ = ::testing::TempDir() + "/io_service";
  FakeRuntime runtime_;
  ShimGroups shim_groups_{2};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  SandboxManager manager_{
      &runtime_, &shim_groups_, &clock_, &metrics_, {.capacity = 2, .log_dir = dir_}};
  Containerd containerd_{{.socket = dir_ + "/no-containerd.sock"}};
  std::unique_ptr<LogWatcher> watcher_ = *LogWatcher::Create();
  SandboxLogs logs_{&manager_, &containerd_, watcher_.get()};
  SandboxExec exec_{&manager_, &containerd_, {.fifo_dir = dir_ + "/exec"}};
  StreamLimiter limiter_{1, &registry_};
  SandboxIOService service_{&logs_, &exec_, &limiter_};
  std::unique_ptr<GrpcServerPoller> poller_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::SandboxIO::Stub> stub_;
};

TEST_F(SandboxIOServiceTest, StreamsOverTheCapAreRefusedAtOnceNamingItAndAFreedSlotServesAgain) {
  grpc::ClientContext holder_ctx;
  auto holder = stub_->Logs(&holder_ctx, Follow());
  ASSERT_TRUE(OpenStreamsReach(1));

  grpc::ClientContext logs_ctx;
  auto refused_logs = stub_->Logs(&logs_ctx, Follow());
  v1::LogChunk chunk;
  EXPECT_FALSE(refused_logs->Read(&chunk));
  grpc::Status s = refused_logs->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("--max-io-streams"));

  grpc::ClientContext exec_ctx;
  auto refused_exec = stub_->Exec(&exec_ctx);
  v1::ExecOutput output;
  EXPECT_FALSE(refused_exec->Read(&output));
  s = refused_exec->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("1 log and exec streams"));
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("fsb_agent_io_streams_refused_total{kind=\"exec\"} 1"));

  // The holder goes away: its slot is free for the next stream.
  holder_ctx.TryCancel();
  holder->Finish();
  ASSERT_TRUE(OpenStreamsReach(0));
  grpc::ClientContext again_ctx;
  v1::LogsRequest read_once;
  read_once.set_sandbox_id("s1");
  auto again = stub_->Logs(&again_ctx, read_once);
  while (again->Read(&chunk)) {
  }
  s = again->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(SandboxIOServiceTest, AFollowWithoutADescriptorLeftIsRefusedNamingTheCause) {
  logger::EventFd cancelled;
  absl::Status s;
  {
    logger::DescriptorLimit limit;
    s = logs_.Logs(Follow(), cancelled, [](v1::LogChunk) { return true; });
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "no file descriptor left for an eventfd: Too many open files");
}

TEST_F(SandboxIOServiceTest, ALogsStreamWithoutADescriptorLeftIsAnsweredAndTheAgentGoesOn) {
  // Even a read without follow is refused at once, for the stream's cancel latch (rather
  // than failing later to open the log).
  grpc::ClientContext refused_ctx;
  v1::LogChunk chunk;
  grpc::Status s;
  v1::LogsRequest read_once;
  read_once.set_sandbox_id("s1");
  {
    logger::DescriptorLimit limit;
    auto refused = stub_->Logs(&refused_ctx, read_once);
    EXPECT_FALSE(refused->Read(&chunk));
    s = refused->Finish();
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no file descriptor left for an eventfd"));
  ASSERT_TRUE(OpenStreamsReach(0));

  grpc::ClientContext again_ctx;
  auto again = stub_->Logs(&again_ctx, read_once);
  while (again->Read(&chunk)) {
  }
  s = again->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace fsb::agent
