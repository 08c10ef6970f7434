#include "controller/sandbox_io_proxy.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "controller/client_auth_testing.h"
#include "controller/service_test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

namespace fsb::controller {
namespace {

using ::testing::HasSubstr;

namespace agentv1 = fsb::agent::v1;
namespace fp = fastpath::v1;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr absl::Duration kPatience = absl::Seconds(30);  // never reached when all is well

// An agent's SandboxIO that records what it is asked and answers as configured:
// Logs sends `log_chunks`, then ends with `status`, or with `hold_logs` waits for the
// caller to cancel. Exec (after `start`, unless `status` is an error) echoes stdin bytes as
// stdout, records resizes, and on a stdin close or half-close answers exit code 7.
class FakeAgentIO final : public agentv1::SandboxIO::CallbackService {
 public:
  grpc::ServerWriteReactor<agentv1::LogChunk>* Logs(grpc::CallbackServerContext*,
                                                    const agentv1::LogsRequest* request) override {
    absl::MutexLock lock(&mu_);
    logs_requests.push_back(*request);
    return new LogsReactor(this);
  }

  grpc::ServerBidiReactor<agentv1::ExecInput, agentv1::ExecOutput>* Exec(
      grpc::CallbackServerContext*) override {
    return new ExecReactor(this);
  }

  std::vector<agentv1::LogChunk> log_chunks;
  bool hold_logs = false;
  grpc::Status status;
  absl::Notification logs_cancelled;

  absl::Mutex mu_;
  std::vector<agentv1::LogsRequest> logs_requests ABSL_GUARDED_BY(mu_);
  std::vector<agentv1::ExecInput> exec_inputs ABSL_GUARDED_BY(mu_);

 private:
  class LogsReactor final : public grpc::ServerWriteReactor<agentv1::LogChunk> {
   public:
    explicit LogsReactor(FakeAgentIO* fake) : fake_(fake) { Next(); }
    void OnWriteDone(bool ok) override {
      if (ok) Next();
    }
    void OnCancel() override {
      fake_->logs_cancelled.Notify();
      if (fake_->hold_logs) Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      if (next_ < fake_->log_chunks.size()) {
        StartWrite(&fake_->log_chunks[next_++]);
      } else if (!fake_->hold_logs) {
        Finish(fake_->status);
      }
    }
    FakeAgentIO* const fake_;
    size_t next_ = 0;
  };

  class ExecReactor final
      : public grpc::ServerBidiReactor<agentv1::ExecInput, agentv1::ExecOutput> {
   public:
    explicit ExecReactor(FakeAgentIO* fake) : fake_(fake) { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (ok) {
        absl::MutexLock lock(&fake_->mu_);
        fake_->exec_inputs.push_back(in_);
      }
      if (ok && in_.has_start() && !fake_->status.ok()) {
        Finish(fake_->status);
      } else if (ok && in_.has_stdin()) {
        out_.set_stdout(in_.stdin());
        StartWrite(&out_);
      } else if (!ok || in_.has_close_stdin()) {
        out_.set_exit_code(7);
        exiting_ = true;
        StartWrite(&out_);
      } else {
        StartRead(&in_);
      }
    }
    void OnWriteDone(bool ok) override {
      if (exiting_ || !ok) {
        Finish(grpc::Status::OK);
      } else {
        StartRead(&in_);
      }
    }
    void OnDone() override { delete this; }

   private:
    FakeAgentIO* const fake_;
    agentv1::ExecInput in_;
    agentv1::ExecOutput out_;
    bool exiting_ = false;
  };
};

class SandboxIOProxyTest : public ::testing::Test {
 protected:
  SandboxIOProxyTest() {
    int agent_port = 0;
    agent_server_ = Serve(&fake_, &agent_port);
    env_.AddAgent("agent-1", 2, "default", absl::StrCat("127.0.0.1:", agent_port));
    int port = 0;
    server_ = Serve(&proxy_, &port);
    stub_ = fp::SandboxIO::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

    CreateSpec create;
    create.sandbox.mutable_metadata()->set_name("box");
    create.sandbox.mutable_spec()->set_image("busybox");
    absl::StatusOr<v1alpha1::Sandbox> sandbox = env_.service().Create(create);
    CHECK(sandbox.ok()) << sandbox.status();
    container_id_ = sandbox->status().container_id();
  }

  ~SandboxIOProxyTest() override {
    server_->Shutdown();
    agent_server_->Shutdown();
  }

  // A server of `service` on a free loopback port.
  static std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
    builder.RegisterService(service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    CHECK(server != nullptr);
    return server;
  }

  // A deadline, and the bearer token of `token` (TestTokens; the admin's by default).
  static void SetDeadline(grpc::ClientContext& ctx, std::string_view token = "ops-token") {
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", Sv(token)));
  }

  // Runs a Logs call to its end; returns its status and the entries' data.
  grpc::Status Logs(const fp::LogsRequest& request, std::vector<std::string>* data,
                    std::string_view token = "ops-token") {
    grpc::ClientContext ctx;
    SetDeadline(ctx, token);
    auto reader = stub_->Logs(&ctx, request);
    agentv1::LogChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& e : chunk.entries()) data->push_back(e.stream() + ":" + e.data());
    }
    return reader->Finish();
  }

  std::vector<agentv1::LogsRequest> LogsRequests() {
    absl::MutexLock lock(&fake_.mu_);
    return fake_.logs_requests;
  }

  std::vector<agentv1::ExecInput> ExecInputs() {
    absl::MutexLock lock(&fake_.mu_);
    return fake_.exec_inputs;
  }

  FakeAgentIO fake_;
  std::unique_ptr<grpc::Server> agent_server_;
  ServiceTestEnv env_;
  GrpcAgentClient agents_{{}};
  TestTokens tokens_;
  metrics::Registry registry_;
  ClientAuth auth_{tokens_.store(), &registry_};
  SandboxIOProxy proxy_{&env_.service(), &agents_, &auth_, {}};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<fp::SandboxIO::Stub> stub_;
  std::string container_id_;
};

agentv1::LogChunk Chunk(std::vector<std::pair<std::string, std::string>> entries) {
  agentv1::LogChunk chunk;
  for (const auto& [stream, data] : entries) {
    agentv1::LogEntry* e = chunk.add_entries();
    e->set_stream(stream);
    e->set_data(data);
    e->set_time_unix_nanos(1);
  }
  return chunk;
}

TEST_F(SandboxIOProxyTest, LogsReachTheSandboxesAgentAndComeBack) {
  fake_.log_chunks = {Chunk({{"stdout", "a"}, {"stderr", "b"}}), Chunk({{"stdout", "c"}})};
  fp::LogsRequest request;
  request.set_sandbox_name("box");
  request.set_since_unix_seconds(5);
  std::vector<std::string> data;
  grpc::Status s = Logs(request, &data);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(data, ElementsAre("stdout:a", "stderr:b", "stdout:c"));
  ASSERT_EQ(LogsRequests().size(), 1u);
  const agentv1::LogsRequest sent = LogsRequests()[0];
  EXPECT_EQ(sent.sandbox_id(), container_id_);
  EXPECT_EQ(sent.tail_lines(), -1) << "0 without follow means every line";
  EXPECT_EQ(sent.since_unix_nanos(), 5'000'000'000);
  EXPECT_FALSE(sent.follow());
}

TEST_F(SandboxIOProxyTest, LogsSinceTheLastSecondOf9999SaturatesTheNanos) {
  fp::LogsRequest request;
  request.set_sandbox_name("box");
  request.set_since_unix_seconds(kMaxUnixSeconds);
  std::vector<std::string> data;
  ASSERT_TRUE(Logs(request, &data).ok());
  ASSERT_EQ(LogsRequests().size(), 1u);
  EXPECT_EQ(LogsRequests()[0].since_unix_nanos(), INT64_MAX) << "not an overflow";
}

TEST_F(SandboxIOProxyTest, LogsTailAndFollowAreKept) {
  fp::LogsRequest request;
  request.set_sandbox_name("box");
  request.set_follow(true);
  std::vector<std::string> data;
  ASSERT_TRUE(Logs(request, &data).ok());
  request.set_tail_lines(3);
  ASSERT_TRUE(Logs(request, &data).ok());
  request.set_tail_lines(-5);
  ASSERT_TRUE(Logs(request, &data).ok());
  std::vector<agentv1::LogsRequest> sent = LogsRequests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].tail_lines(), 0) << "with follow, 0 means new lines only";
  EXPECT_TRUE(sent[0].follow());
  EXPECT_EQ(sent[1].tail_lines(), 3);
  EXPECT_EQ(sent[2].tail_lines(), -1);
}

TEST_F(SandboxIOProxyTest, LogsErrors) {
  fp::LogsRequest request;
  request.set_sandbox_name("nobody");
  std::vector<std::string> data;
  EXPECT_EQ(Logs(request, &data).error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_sandbox_name("box");
  request.set_since_unix_seconds(-1);
  EXPECT_EQ(Logs(request, &data).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_since_unix_seconds(0);
  request.set_tail_lines(kMaxLogsTailLines + 1);
  grpc::Status tail = Logs(request, &data);
  EXPECT_EQ(tail.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(tail.error_message(), "tail_lines: 1000001 lines is above the maximum of 1000000");
  EXPECT_TRUE(LogsRequests().empty()) << "a refused request never reaches the agent";
  request.clear_tail_lines();
  fake_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "gone from the agent");
  grpc::Status s = Logs(request, &data);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "gone from the agent");
  EXPECT_TRUE(data.empty());
}

TEST_F(SandboxIOProxyTest, ACancelledFollowCancelsTheAgentCall) {
  fake_.log_chunks = {Chunk({{"stdout", "first"}})};
  fake_.hold_logs = true;
  fp::LogsRequest request;
  request.set_sandbox_name("box");
  request.set_follow(true);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  auto reader = stub_->Logs(&ctx, request);
  agentv1::LogChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.entries(0).data(), "first");
  ctx.TryCancel();
  EXPECT_TRUE(fake_.logs_cancelled.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(SandboxIOProxyTest, ExecRelaysBothWaysAndEndsWithTheExitCode) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  auto stream = stub_->Exec(&ctx);
  fp::ExecRequest start;
  start.mutable_start()->set_sandbox_name("box");
  start.mutable_start()->add_args("cat");
  (*start.mutable_start()->mutable_env())["K"] = "v";
  start.mutable_start()->set_working_dir("/w");
  start.mutable_start()->set_tty(true);
  start.mutable_start()->set_stdin(true);
  start.mutable_start()->set_rows(24);
  start.mutable_start()->set_cols(80);
  ASSERT_TRUE(stream->Write(start));
  fp::ExecRequest input;
  input.set_stdin("hello");
  ASSERT_TRUE(stream->Write(input));
  agentv1::ExecOutput response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.stdout(), "hello");
  fp::ExecRequest resize;
  resize.mutable_resize()->set_rows(50);
  resize.mutable_resize()->set_cols(132);
  ASSERT_TRUE(stream->Write(resize));
  fp::ExecRequest close;
  close.set_close_stdin(true);
  ASSERT_TRUE(stream->Write(close));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.exit_code(), 7);
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());

  std::vector<agentv1::ExecInput> inputs = ExecInputs();
  ASSERT_EQ(inputs.size(), 4u);
  const agentv1::ExecStart& sent = inputs[0].start();
  EXPECT_EQ(sent.sandbox_id(), container_id_);
  EXPECT_THAT(sent.args(), ElementsAre("cat"));
  EXPECT_THAT(sent.env(), ElementsAre(Pair("K", "v")));
  EXPECT_EQ(sent.working_dir(), "/w");
  EXPECT_TRUE(sent.tty());
  EXPECT_TRUE(sent.stdin());
  EXPECT_EQ(sent.size().rows(), 24u);
  EXPECT_EQ(sent.size().cols(), 80u);
  EXPECT_EQ(inputs[1].stdin(), "hello");
  EXPECT_EQ(inputs[2].resize().rows(), 50u);
  EXPECT_EQ(inputs[2].resize().cols(), 132u);
  EXPECT_TRUE(inputs[3].close_stdin());
}

TEST_F(SandboxIOProxyTest, ExecHalfCloseReachesTheAgent) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  auto stream = stub_->Exec(&ctx);
  fp::ExecRequest start;
  start.mutable_start()->set_sandbox_name("box");
  start.mutable_start()->add_args("true");
  ASSERT_TRUE(stream->Write(start));
  ASSERT_TRUE(stream->WritesDone());
  agentv1::ExecOutput response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.exit_code(), 7);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_FALSE(ExecInputs()[0].start().has_size()) << "no size without rows and cols";
}

TEST_F(SandboxIOProxyTest, OnlyCallersAllowedInTheNamespaceReachTheAgent) {
  fp::LogsRequest request;
  request.set_sandbox_name("box");  // in "default", which bob (user of team-b) may not read
  std::vector<std::string> data;
  grpc::Status s = Logs(request, &data, "bob-token");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("bob (role user) may not read"));
  EXPECT_EQ(Logs(request, &data, "no-such-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(LogsRequests().empty());

  grpc::ClientContext ctx;
  SetDeadline(ctx, "bob-token");
  auto stream = stub_->Exec(&ctx);
  fp::ExecRequest start;
  start.mutable_start()->set_sandbox_name("box");
  start.mutable_start()->add_args("sh");
  ASSERT_TRUE(stream->Write(start));
  stream->WritesDone();
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("bob (role user) may not write"));
  EXPECT_TRUE(ExecInputs().empty());
}

TEST_F(SandboxIOProxyTest, ExecErrors) {
  auto run = [&](const fp::ExecRequest& first) {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    auto stream = stub_->Exec(&ctx);
    stream->Write(first);
    stream->WritesDone();
    agentv1::ExecOutput response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  };
  fp::ExecRequest not_start;
  not_start.set_stdin("x");
  EXPECT_EQ(run(not_start).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  fp::ExecRequest unknown;
  unknown.mutable_start()->set_sandbox_name("nobody");
  unknown.mutable_start()->add_args("true");
  EXPECT_EQ(run(unknown).error_code(), grpc::StatusCode::NOT_FOUND);
  fp::ExecRequest no_args;
  no_args.mutable_start()->set_sandbox_name("box");
  grpc::Status refused = run(no_args);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(), "args: is empty; an exec needs the program to run");
  fp::ExecRequest huge_tty = no_args;
  huge_tty.mutable_start()->add_args("sh");
  huge_tty.mutable_start()->set_tty(true);
  huge_tty.mutable_start()->set_rows(70000);
  huge_tty.mutable_start()->set_cols(80);
  refused = run(huge_tty);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("rows, cols: 70000x80 is not a terminal size"));
  EXPECT_TRUE(ExecInputs().empty()) << "a refused exec never reaches the agent";
  fake_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not running");
  fp::ExecRequest start;
  start.mutable_start()->set_sandbox_name("box");
  start.mutable_start()->add_args("true");
  grpc::Status s = run(start);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "not running");
}

}  // namespace
}  // namespace fsb::controller
