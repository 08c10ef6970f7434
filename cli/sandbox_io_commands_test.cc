// `fsb logs` and `fsb exec` against an in-process fake of the controller's SandboxIO.
#include <csignal>
#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "gmock/gmock.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

namespace fp = fastpath::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Logs: records the request, sends `log_chunks`, ends with `status`. Exec: records the
// start and every input; an error `status` ends it at once; else it sends `exec_output`,
// then with stdin echoes each stdin input as stdout until a stdin close, with tty reads
// one more input (a resize), and without either waits for the client's half-close; then
// exit code `exit_code`. A cancelled exec is recorded.
class FakeSandboxIO final : public fp::SandboxIO::Service {
 public:
  grpc::Status Logs(grpc::ServerContext*, const fp::LogsRequest* request,
                    grpc::ServerWriter<fsb::agent::v1::LogChunk>* writer) override {
    {
      absl::MutexLock lock(&mu);
      logs_requests.push_back(*request);
    }
    for (const fsb::agent::v1::LogChunk& chunk : log_chunks) writer->Write(chunk);
    return status;
  }

  grpc::Status Exec(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<fsb::agent::v1::ExecOutput, fp::ExecRequest>* stream) override {
    fp::ExecRequest in;
    if (!stream->Read(&in)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no start");
    Record(in);
    if (!status.ok()) return status;
    for (const fsb::agent::v1::ExecOutput& out : exec_output) stream->Write(out);
    const fp::ExecStart start = in.start();
    while (stream->Read(&in)) {
      Record(in);
      if (in.has_stdin()) {
        fsb::agent::v1::ExecOutput echo;
        echo.set_stdout(in.stdin());
        stream->Write(echo);
      }
      if (in.has_close_stdin() || (start.tty() && !start.stdin())) break;
    }
    if (ctx->IsCancelled()) {
      absl::MutexLock lock(&mu);
      exec_cancelled = true;
      return grpc::Status::CANCELLED;
    }
    fsb::agent::v1::ExecOutput last;
    last.set_exit_code(exit_code);
    stream->Write(last);
    return grpc::Status::OK;
  }

  void Record(const fp::ExecRequest& in) {
    absl::MutexLock lock(&mu);
    exec_requests.push_back(in);
  }

  std::vector<fsb::agent::v1::LogChunk> log_chunks;
  std::vector<fsb::agent::v1::ExecOutput> exec_output;
  int exit_code = 0;
  grpc::Status status;

  absl::Mutex mu;
  std::vector<fp::LogsRequest> logs_requests ABSL_GUARDED_BY(mu);
  std::vector<fp::ExecRequest> exec_requests ABSL_GUARDED_BY(mu);
  bool exec_cancelled ABSL_GUARDED_BY(mu) = false;
};

// A terminal whose events are scripted: Next() hands them out in order, then blocks
// until Interrupt(). What happened to it is kept in `State`, which outlives it.
class FakeTerminal final : public ExecTerminal {
 public:
  struct State {
    std::optional<TerminalSize> size;
    bool is_terminal = false;
    int raw_entered = 0;
    int raw_restored = 0;
  };

  FakeTerminal(std::shared_ptr<State> state, std::deque<Event> events)
      : state_(std::move(state)), events_(std::move(events)) {}

  std::optional<TerminalSize> Size() override { return state_->size; }

  std::unique_ptr<RawMode> EnterRawMode() override {
    if (!state_->is_terminal) return nullptr;
    ++state_->raw_entered;
    return std::make_unique<Restorer>(state_.get());
  }

  Event Next(bool) override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &FakeTerminal::Ready));
    if (events_.empty()) return Event{};
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

  void Interrupt() override {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
  }

 private:
  class Restorer final : public RawMode {
   public:
    explicit Restorer(State* state) : state_(state) {}
    ~Restorer() override { ++state_->raw_restored; }

   private:
    State* const state_;
  };

  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !events_.empty() || interrupted_; }

  const std::shared_ptr<State> state_;
  absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

ExecTerminal::Event Input(std::string data) {
  ExecTerminal::Event e;
  e.kind = ExecTerminal::Event::Kind::kInput;
  e.data = std::move(data);
  return e;
}
ExecTerminal::Event EndOfInput() {
  ExecTerminal::Event e;
  e.kind = ExecTerminal::Event::Kind::kEndOfInput;
  return e;
}
ExecTerminal::Event Resize(uint32_t rows, uint32_t cols) {
  ExecTerminal::Event e;
  e.kind = ExecTerminal::Event::Kind::kResize;
  e.size = {rows, cols};
  return e;
}
ExecTerminal::Event Signal(int signal) {
  ExecTerminal::Event e;
  e.kind = ExecTerminal::Event::Kind::kSignal;
  e.signal = signal;
  return e;
}

fsb::agent::v1::LogChunk Chunk(std::vector<std::tuple<std::string, std::string, bool>> entries) {
  fsb::agent::v1::LogChunk chunk;
  for (const auto& [stream, data, partial] : entries) {
    fsb::agent::v1::LogEntry* e = chunk.add_entries();
    e->set_stream(stream);
    e->set_data(data);
    e->set_partial(partial);
    e->set_time_unix_nanos(1'700'000'000'123'456'789);
  }
  return chunk;
}

fsb::agent::v1::ExecOutput Stdout(std::string s) {
  fsb::agent::v1::ExecOutput r;
  r.set_stdout(std::move(s));
  return r;
}
fsb::agent::v1::ExecOutput Stderr(std::string s) {
  fsb::agent::v1::ExecOutput r;
  r.set_stderr(std::move(s));
  return r;
}

class SandboxIOCommandsTest : public ::testing::Test {
 protected:
  SandboxIOCommandsTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
  }
  ~SandboxIOCommandsTest() override { server_->Shutdown(); }

  // Runs fsb with `args`; the terminal plays `events`.
  int Fsb(const std::vector<std::string>& args, std::deque<ExecTerminal::Event> events = {}) {
    CliContext context;
    context.env = [](std::string_view) { return std::nullopt; };
    context.connect = [](const Connection&) {
      ADD_FAILURE() << "logs and exec use the SandboxIO stub only";
      return nullptr;
    };
    context.connect_io = [this](const Connection& connection) {
      ++io_connects_;
      EXPECT_EQ(connection.endpoint, "127.0.0.1:9090");
      return fp::SandboxIO::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    };
    context.terminal = [this, events = std::move(events)]() mutable {
      return std::make_unique<FakeTerminal>(terminal_, std::move(events));
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = absl::FromUnixSeconds(1'800'000'000);
    return fsb::cli::Run(args, context);
  }

  std::vector<fp::LogsRequest> LogsRequests() {
    absl::MutexLock lock(&fake_.mu);
    return fake_.logs_requests;
  }
  std::vector<fp::ExecRequest> ExecRequests() {
    absl::MutexLock lock(&fake_.mu);
    return fake_.exec_requests;
  }

  FakeSandboxIO fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<FakeTerminal::State> terminal_ = std::make_shared<FakeTerminal::State>();
  int io_connects_ = 0;
  std::istringstream in_;
  std::ostringstream out_, err_;
};

TEST_F(SandboxIOCommandsTest, LogsSplitsTheStreamsAndJoinsPartialLines) {
  fake_.log_chunks = {Chunk({{"stdout", "one", false}, {"stderr", "oops", false}}),
                      Chunk({{"stdout", "tw", true}, {"stdout", "o", false}})};
  EXPECT_EQ(Fsb({"logs", "box", "-n", "team"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "one\ntwo\n");
  EXPECT_EQ(err_.str(), "oops\n");
  ASSERT_EQ(LogsRequests().size(), 1u);
  const fp::LogsRequest sent = LogsRequests()[0];
  EXPECT_EQ(sent.sandbox_name(), "box");
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_FALSE(sent.follow());
  EXPECT_EQ(sent.tail_lines(), -1);
  EXPECT_EQ(sent.since_unix_seconds(), 0);
}

TEST_F(SandboxIOCommandsTest, LogsFlagsReachTheRequestAndTimestampsPrefixLines) {
  fake_.log_chunks = {Chunk({{"stdout", "a", true}, {"stdout", "b", false}})};
  EXPECT_EQ(Fsb({"logs", "box", "-f", "--tail", "5", "--since", "10m", "--timestamps"}), kExitOk);
  EXPECT_EQ(out_.str(), "2023-11-14T22:13:20.123456789Z ab\n");
  const fp::LogsRequest sent = LogsRequests()[0];
  EXPECT_TRUE(sent.follow());
  EXPECT_EQ(sent.tail_lines(), 5);
  EXPECT_EQ(sent.since_unix_seconds(), 1'800'000'000 - 600);
}

TEST_F(SandboxIOCommandsTest, LogsServerErrorExitsOne) {
  fake_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox default/box not found");
  EXPECT_EQ(Fsb({"logs", "box"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("NOT_FOUND: sandbox default/box not found"));
}

TEST_F(SandboxIOCommandsTest, LogsTailZeroWithoutFollowIsAUsageError) {
  EXPECT_EQ(Fsb({"logs", "box", "--tail", "0"}), kExitUsage);
  EXPECT_EQ(io_connects_, 0);
}

TEST_F(SandboxIOCommandsTest, ExecExitsWithTheCommandsExitCode) {
  fake_.exec_output = {Stdout("out\n"), Stderr("err\n")};
  fake_.exit_code = 3;
  EXPECT_EQ(Fsb({"exec", "box", "-e", "A=1", "-w", "/tmp", "--", "sh", "-c", "exit 3"}), 3);
  EXPECT_EQ(out_.str(), "out\n");
  EXPECT_EQ(err_.str(), "err\n");
  std::vector<fp::ExecRequest> sent = ExecRequests();
  ASSERT_EQ(sent.size(), 1u);
  const fp::ExecStart& start = sent[0].start();
  EXPECT_EQ(start.sandbox_name(), "box");
  EXPECT_EQ(start.namespace_(), "default");
  EXPECT_THAT(start.args(), ElementsAre("sh", "-c", "exit 3"));
  EXPECT_THAT(start.env(), ElementsAre(Pair("A", "1")));
  EXPECT_EQ(start.working_dir(), "/tmp");
  EXPECT_FALSE(start.tty());
  EXPECT_FALSE(start.stdin());
  EXPECT_EQ(terminal_->raw_entered, 0);
}

TEST_F(SandboxIOCommandsTest, ExecForwardsStdinThenClosesIt) {
  EXPECT_EQ(Fsb({"exec", "-i", "box", "--", "cat"}, {Input("hello\n"), EndOfInput()}), 0);
  EXPECT_EQ(out_.str(), "hello\n");
  std::vector<fp::ExecRequest> sent = ExecRequests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[0].start().stdin());
  EXPECT_EQ(sent[1].stdin(), "hello\n");
  EXPECT_TRUE(sent[2].close_stdin());
}

TEST_F(SandboxIOCommandsTest, ExecWithTtyUsesRawModeAndForwardsTheSize) {
  terminal_->is_terminal = true;
  terminal_->size = TerminalSize{24, 80};
  EXPECT_EQ(Fsb({"exec", "-t", "box", "--", "tty"}, {Resize(50, 132)}), 0);
  EXPECT_EQ(terminal_->raw_entered, 1);
  EXPECT_EQ(terminal_->raw_restored, 1);
  std::vector<fp::ExecRequest> sent = ExecRequests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[0].start().tty());
  EXPECT_EQ(sent[0].start().rows(), 24u);
  EXPECT_EQ(sent[0].start().cols(), 80u);
  EXPECT_EQ(sent[1].resize().rows(), 50u);
  EXPECT_EQ(sent[1].resize().cols(), 132u);
}

TEST_F(SandboxIOCommandsTest, ExecServerErrorRestoresTheTerminalAndExitsOne) {
  terminal_->is_terminal = true;
  fake_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "sandbox is not running");
  EXPECT_EQ(Fsb({"exec", "-it", "box", "--", "sh"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("FAILED_PRECONDITION: sandbox is not running"));
  EXPECT_EQ(terminal_->raw_entered, terminal_->raw_restored);
}

TEST_F(SandboxIOCommandsTest, ASignalCancelsTheExec) {
  terminal_->is_terminal = true;
  EXPECT_EQ(Fsb({"exec", "-i", "-t", "box", "--", "sh"}, {Signal(SIGTERM)}), 128 + SIGTERM);
  EXPECT_EQ(terminal_->raw_entered, 1);
  EXPECT_EQ(terminal_->raw_restored, 1);
  server_->Shutdown();  // waits for the handler to see the cancellation
  absl::MutexLock lock(&fake_.mu);
  EXPECT_TRUE(fake_.exec_cancelled);
}

TEST_F(SandboxIOCommandsTest, ExecUsageErrorsComeBeforeAnyCall) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"exec", "box"},
           {"exec", "box", "--"},
           {"exec", "--", "sh"},
           {"exec", "box", "extra", "--", "sh"},
           {"exec", "box", "-w", "rel", "--", "sh"},
       }) {
    err_.str("");
    EXPECT_EQ(Fsb(args), kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(err_.str(), HasSubstr("fsb: error: "));
  }
  EXPECT_EQ(io_connects_, 0);
}

}  // namespace
}  // namespace fsb::cli
