// Logs and exec end to end: fastpath.v1.SandboxIO on fsb-controller -> fsb-agent ->
// a private containerd and runc, with the sandboxes' output written by fsb-logger under
// the shim. Needs root; skips with a message otherwise.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/logger/log_format.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Small enough that a few hundred lines rotate the log several times.
constexpr int kLogMaxBytes = 4096;

struct Entry {
  std::string stream;
  std::string data;
  int64_t time_unix_nanos = 0;
  bool operator==(const Entry& o) const { return stream == o.stream && data == o.data; }
};

std::ostream& operator<<(std::ostream& os, const Entry& e) {
  return os << e.stream << ":" << e.data;
}

struct ExecResult {
  grpc::Status status;
  std::string out;
  std::string err;
  int exit_code = -1;
};

class SandboxIOTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fsb::testing::MissingPrerequisite().empty()) return;
    auto stack = LocalStack::Start(
        {.agent_flags = {absl::StrCat("--log_max_bytes=", kLogMaxBytes)}, .agent_capacity = 8});
    if (!stack.ok()) {
      setup_error_ = new std::string(stack.status().ToString());
      return;
    }
    stack_ = stack->release();
    io_ = fastpath::v1::SandboxIO::NewStub(stack_->ClientChannel(stack_->admin_token())).release();
  }

  static void TearDownTestSuite() {
    delete io_;
    delete stack_;
  }

  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
  }

  // Creates a sandbox running `sh -c script`; returns its id.
  static std::string Create(const std::string& name, const std::string& script,
                            std::map<std::string, std::string> env = {}) {
    fastpath::v1::CreateRequest req;
    req.set_name(name);
    req.set_image(PrivateContainerd::kTestImage);
    req.add_command("sh");
    req.add_command("-c");
    req.add_command(script);
    req.mutable_envs()->insert(env.begin(), env.end());
    fastpath::v1::CreateResponse resp;
    grpc::Status s = stack_->Create(req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.sandbox_id();
  }

  static void SetDeadline(grpc::ClientContext& ctx, absl::Duration d = absl::Seconds(60)) {
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + d));
  }

  // A whole Logs call; `status` gets its end.
  static std::vector<Entry> Logs(const std::string& name, int64_t tail = -1, int64_t since = 0,
                                 grpc::Status* status = nullptr) {
    fastpath::v1::LogsRequest req;
    req.set_sandbox_name(name);
    req.set_tail_lines(tail);
    req.set_since_unix_seconds(since);
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    auto reader = io_->Logs(&ctx, req);
    std::vector<Entry> entries;
    fsb::agent::v1::LogChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& e : chunk.entries()) {
        entries.push_back({e.stream(), e.data(), e.time_unix_nanos()});
      }
    }
    grpc::Status s = reader->Finish();
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return entries;
  }

  // Runs `args` in sandbox `name`; sends `input` (then closes stdin) when `stdin`.
  static ExecResult Exec(const std::string& name, const std::vector<std::string>& args,
                         bool stdin = false, const std::string& input = "", bool tty = false,
                         std::map<std::string, std::string> env = {},
                         const std::string& workdir = "") {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    auto stream = io_->Exec(&ctx);
    fastpath::v1::ExecRequest start;
    start.mutable_start()->set_sandbox_name(name);
    for (const std::string& a : args) start.mutable_start()->add_args(a);
    start.mutable_start()->set_stdin(stdin);
    start.mutable_start()->set_tty(tty);
    start.mutable_start()->mutable_env()->insert(env.begin(), env.end());
    start.mutable_start()->set_working_dir(workdir);
    ExecResult result;
    if (stream->Write(start) && stdin) {
      fastpath::v1::ExecRequest data, close;
      data.set_stdin(input);
      close.set_close_stdin(true);
      stream->Write(data) && stream->Write(close);
    }
    if (!tty) stream->WritesDone();
    fsb::agent::v1::ExecOutput resp;
    while (stream->Read(&resp)) {
      if (resp.has_stdout()) result.out += resp.stdout();
      if (resp.has_stderr()) result.err += resp.stderr();
      if (resp.has_exit_code()) result.exit_code = resp.exit_code();
    }
    result.status = stream->Finish();
    return result;
  }

  static std::string LogPath(const std::string& id) {
    return stack_->agent_state_dir() + "/logs/" + id + ".log";
  }

  // The entries of a log file as fsb-logger wrote them (complete lines only).
  static std::vector<Entry> FileEntries(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::vector<Entry> entries;
    std::string text = ss.str();
    text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::optional<logger::LogEntry> e =
          logger::ParseEntry(std::string_view(line.data(), line.size()));
      EXPECT_TRUE(e.has_value()) << line;
      if (e) {
        entries.push_back(
            {std::string(logger::StreamName(e->stream)), std::string(e->data), e->time_unix_nanos});
      }
    }
    return entries;
  }

  static std::vector<Entry> Only(const std::vector<Entry>& entries, const std::string& stream) {
    std::vector<Entry> out;
    for (const Entry& e : entries) {
      if (e.stream == stream) out.push_back(e);
    }
    return out;
  }

  static inline std::string* setup_error_ = nullptr;
  static inline LocalStack* stack_ = nullptr;
  static inline fastpath::v1::SandboxIO::Stub* io_ = nullptr;
};

// A sandbox that prints to both streams, then waits on a FIFO an exec writes to, then
// prints a last line and exits.
constexpr char kTalker[] =
    "mkfifo /tmp/go; echo out1; echo err1 >&2; echo out2; echo err2 >&2; "
    "read x < /tmp/go; echo bye; exit 0";

TEST_F(SandboxIOTest, LogsTailSinceAndAFollowThatEndsWithTheSandbox) {
  const std::string id = Create("talker", kTalker);
  ASSERT_TRUE(WaitFor([&] { return Logs("talker").size() >= 4; }, absl::Seconds(30)));

  const std::vector<Entry> all = Logs("talker");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_THAT(Only(all, "stdout"), ElementsAre(Entry{"stdout", "out1"}, Entry{"stdout", "out2"}));
  EXPECT_THAT(Only(all, "stderr"), ElementsAre(Entry{"stderr", "err1"}, Entry{"stderr", "err2"}));
  // What the API gives is what the shim's logger wrote.
  EXPECT_EQ(all, FileEntries(LogPath(id)));

  // Tail: the last N entries of the log.
  EXPECT_THAT(Logs("talker", 2), ElementsAre(all[2], all[3]));
  EXPECT_THAT(Logs("talker", 1), ElementsAre(all[3]));
  // Since: whole seconds; entries logged in that second or later.
  const int64_t last_second = all[3].time_unix_nanos / 1'000'000'000;
  std::vector<Entry> since = Logs("talker", -1, last_second);
  ASSERT_FALSE(since.empty());
  for (const Entry& e : since) EXPECT_GE(e.time_unix_nanos, last_second * 1'000'000'000);
  EXPECT_EQ(since.back(), all[3]);
  EXPECT_THAT(Logs("talker", -1, last_second + 3600), IsEmpty());

  // Follow: everything, then the last line, then the end when the sandbox exits. (With
  // tail 0 the follow could start after the last line: the call is asynchronous.)
  std::vector<Entry> followed;
  grpc::Status follow_status;
  grpc::ClientContext follow_ctx;
  SetDeadline(follow_ctx);
  fastpath::v1::LogsRequest follow_req;
  follow_req.set_sandbox_name("talker");
  follow_req.set_follow(true);
  follow_req.set_tail_lines(-1);
  auto reader = io_->Logs(&follow_ctx, follow_req);
  std::thread follower([&] {
    fsb::agent::v1::LogChunk chunk;
    while (reader->Read(&chunk)) {
      for (const auto& e : chunk.entries()) followed.push_back({e.stream(), e.data()});
    }
    follow_status = reader->Finish();
  });
  ExecResult go = Exec("talker", {"sh", "-c", "echo > /tmp/go"});
  EXPECT_TRUE(go.status.ok()) << go.status.error_message();
  EXPECT_EQ(go.exit_code, 0);
  follower.join();
  EXPECT_TRUE(follow_status.ok()) << follow_status.error_code() << " "
                                  << follow_status.error_message();
  ASSERT_EQ(followed.size(), 5u);
  EXPECT_THAT(
      Only(followed, "stdout"),
      ElementsAre(Entry{"stdout", "out1"}, Entry{"stdout", "out2"}, Entry{"stdout", "bye"}));
  EXPECT_EQ(followed.back(), (Entry{"stdout", "bye"}));
}

TEST_F(SandboxIOTest, LogsReadAcrossRotations) {
  const std::string id =
      Create("chatty", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; sleep 1000");
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Entry> e = FileEntries(LogPath(id));
        return !e.empty() && e.back().data == "line 299";
      },
      absl::Seconds(30)));
  struct stat st {};
  ASSERT_EQ(stat(logger::RotatedLogPath(LogPath(id)).c_str(), &st), 0) << "the log rotated";
  EXPECT_LE(st.st_size, kLogMaxBytes);
  ASSERT_EQ(stat(LogPath(id).c_str(), &st), 0);
  EXPECT_LE(st.st_size, kLogMaxBytes);

  // Both generations, oldest first: a run of consecutive lines ending with the last.
  std::vector<Entry> entries = Logs("chatty");
  ASSERT_GT(entries.size(), FileEntries(LogPath(id)).size());
  const int first = std::stoi(entries.front().data.substr(5));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i], (Entry{"stdout", absl::StrCat("line ", first + i)}));
  }
  EXPECT_EQ(entries.back().data, "line 299");
  EXPECT_THAT(Logs("chatty", 3),
              ElementsAre(Entry{"stdout", "line 297"}, Entry{"stdout", "line 298"},
                          Entry{"stdout", "line 299"}));
  ASSERT_TRUE(stack_->Delete("chatty").ok());
  EXPECT_FALSE(std::filesystem::exists(LogPath(id)));
}

TEST_F(SandboxIOTest, ExecReturnsBothStreamsAndTheExitCode) {
  Create("exec-box", "sleep 1000", {{"GREETING", "hi"}});
  ExecResult r = Exec("exec-box", {"sh", "-c", "echo out; echo err >&2; exit 7"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 7);

  // The sandbox's environment, the exec's own over it, and its working directory.
  r = Exec("exec-box", {"sh", "-c", "echo $GREETING-$EXTRA; pwd"}, false, "", false,
           {{"EXTRA", "x"}}, "/tmp");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.out, "hi-x\n/tmp\n");
  EXPECT_EQ(r.exit_code, 0);

  // A signal's exit code is 128 + the signal.
  r = Exec("exec-box", {"sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.exit_code, 137);
}

TEST_F(SandboxIOTest, ExecForwardsStdin) {
  Create("cat-box", "sleep 1000");
  ExecResult r = Exec("cat-box", {"cat"}, /*stdin=*/true, "hello\nworld\n");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.out, "hello\nworld\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(SandboxIOTest, ExecWithATerminal) {
  Create("tty-box", "sleep 1000");
  ExecResult r = Exec("tty-box", {"tty"}, false, "", /*tty=*/true);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(r.out, HasSubstr("/dev/pts/"));
  EXPECT_EQ(r.exit_code, 0);
  // Without one, tty says so.
  r = Exec("tty-box", {"tty"});
  EXPECT_THAT(r.out, HasSubstr("not a tty"));
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(SandboxIOTest, ExecErrors) {
  const std::string id = Create("done-box", "echo done");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto task = stack_->containerd().GetTask(id);
        return task.ok() && task->status() == containerd::v1::types::STOPPED;
      },
      absl::Seconds(30)));
  ExecResult r = Exec("done-box", {"true"});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << r.status.error_message();
  // Its log is still there, and a follow of an exited sandbox ends at once.
  EXPECT_THAT(Logs("done-box"), ElementsAre(Entry{"stdout", "done"}));

  EXPECT_EQ(Exec("nobody", {"true"}).status.error_code(), grpc::StatusCode::NOT_FOUND);
  Create("idle-box", "sleep 1000");
  EXPECT_EQ(Exec("idle-box", {}).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status logs_status;
  Logs("nobody", -1, 0, &logs_status);
  EXPECT_EQ(logs_status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing is left behind by the execs.
  EXPECT_THAT(
      std::filesystem::exists(stack_->agent_state_dir() + "/exec")
          ? std::vector<std::filesystem::path>(
                std::filesystem::directory_iterator(stack_->agent_state_dir() + "/exec"), {})
          : std::vector<std::filesystem::path>{},
      IsEmpty());
}

TEST_F(SandboxIOTest, TheCliExecsAndPrintsLogs) {
  Create("cli-box", "echo to-stdout; echo to-stderr >&2; sleep 1000");
  std::string out, err;
  EXPECT_EQ(stack_->Fsb({"exec", "cli-box", "--", "sh", "-c", "exit 3"}, &out, &err), 3) << err;
  out.clear();
  err.clear();
  EXPECT_EQ(stack_->Fsb({"exec", "cli-box", "-e", "A=1", "--", "sh", "-c", "echo $A"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "1\n");
  out.clear();
  err.clear();
  EXPECT_EQ(stack_->Fsb({"exec", "-i", "cli-box", "--", "cat"}, &out, &err), 0) << err;
  ASSERT_TRUE(WaitFor([&] { return Logs("cli-box").size() >= 2; }, absl::Seconds(30)));
  out.clear();
  err.clear();
  EXPECT_EQ(stack_->Fsb({"logs", "cli-box"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "to-stdout\n");
  EXPECT_EQ(err, "to-stderr\n");
  out.clear();
  err.clear();
  EXPECT_EQ(stack_->Fsb({"logs", "nobody"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(stack_->Fsb({"exec", "cli-box"}, &out, &err), 2);
}

// Runs last (gtest keeps the order within a file): it kills the agent.
TEST_F(SandboxIOTest, OutputWrittenWhileTheAgentIsDownIsLogged) {
  const std::string id =
      Create("survivor", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done");
  const std::string log = LogPath(id);
  ASSERT_TRUE(WaitFor([&] { return !FileEntries(log).empty(); }, absl::Seconds(30)));

  stack_->KillAgent();  // SIGKILL: no goodbye
  const std::vector<Entry> at_kill = FileEntries(log);
  // The shim's logger keeps writing with no agent at all.
  ASSERT_TRUE(
      WaitFor([&] { return FileEntries(log).size() >= at_kill.size() + 5; }, absl::Seconds(30)))
      << "the log stopped growing when the agent died";
  const Entry written_while_down = FileEntries(log)[at_kill.size() + 2];

  ASSERT_TRUE(stack_->StartAgent().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());
  const size_t at_restart = FileEntries(log).size();
  ASSERT_TRUE(WaitFor([&] { return FileEntries(log).size() > at_restart; }, absl::Seconds(30)));

  // Through the API, once the restarted agent has taken the sandbox back.
  grpc::Status status;
  std::vector<Entry> entries;
  const bool adopted = WaitFor(
      [&] {
        entries = Logs("survivor", -1, 0, &status);
        return status.ok();
      },
      absl::Seconds(30));
  ASSERT_TRUE(adopted) << "the restarted agent does not serve the sandbox's log: "
                       << status.error_code() << " " << status.error_message();
  EXPECT_NE(std::find(entries.begin(), entries.end(), written_while_down), entries.end())
      << written_while_down << " is not in the log the agent serves";
  // Exec works on the re-adopted sandbox too.
  ExecResult r = Exec("survivor", {"echo", "still here"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.out, "still here\n");
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace fsb
