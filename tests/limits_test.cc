// The default limits on a real containerd: a sandbox whose request sets none gets the
// agent's pids and memory limits, cpu shares, oom_score_adj and NOFILE, cold and warm
// alike; a fork bomb stops at the pids limit and a memory hog is OOM-killed inside its
// own cgroup, while the agent (its own oom_score_adj negative) keeps serving.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kPids = 32;
constexpr int64_t kMemory = 64 << 20;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

// A file of sandbox `id`'s cgroup (the agent's cgroup parent is /fsb): the cgroup v1
// `controller` hierarchy's `v1_file`, else the v2 unified hierarchy's `v2_file`; "" when
// neither exists.
std::string CgroupFile(const std::string& id, const std::string& controller,
                       const std::string& v1_file, const std::string& v2_file) {
  const std::string v1 = absl::StrCat("/sys/fs/cgroup/", controller, "/fsb/", id, "/", v1_file);
  if (std::ifstream(v1).good()) return ReadText(v1);
  const std::string v2 = absl::StrCat("/sys/fs/cgroup/fsb/", id, "/", v2_file);
  if (std::ifstream(v2).good()) return ReadText(v2);
  return "";
}

// The value of `key` in a flat-keyed cgroup file ("key value" lines), or -1.
int64_t KeyedValue(const std::string& text, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, ' ');
    int64_t value = 0;
    if (kv.size() == 2 && kv[0] == key && absl::SimpleAtoi(kv[1], &value)) return value;
  }
  return -1;
}

// Whether this process holds CAP_SYS_RESOURCE (and so the agent it starts).
bool HasCapSysResource() {
  for (absl::string_view line : absl::StrSplit(ReadText("/proc/self/status"), '\n')) {
    uint64_t caps = 0;
    if (absl::ConsumePrefix(&line, "CapEff:\t") && absl::SimpleHexAtoi(line, &caps)) {
      return (caps >> 24) & 1;  // CAP_SYS_RESOURCE
    }
  }
  return false;
}

fastpath::v1::CreateRequest Shell(const std::string& name, const std::string& script) {
  fastpath::v1::CreateRequest req;
  req.set_name(name);
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command(script);
  return req;
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
  }

  void Start(std::vector<std::string> agent_flags) {
    auto stack = LocalStack::Start({.controller_flags = {"--reconcile-interval=200ms"},
                                    .agent_flags = std::move(agent_flags)});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
  }

  fastpath::v1::SandboxInfo Get(const std::string& name) {
    fastpath::v1::GetRequest req;
    req.set_sandbox_name(name);
    fastpath::v1::SandboxInfo info;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stack_->fastpath().GetSandbox(&ctx, req, &info).ok()) << name;
    return info;
  }

  std::string Logs(const std::string& name) {
    std::string out, err;
    stack_->Fsb({"logs", name}, &out, &err);
    return out + err;
  }

  uint32_t Pid(const std::string& container_id) {
    auto task = stack_->containerd().GetTask(container_id);
    return task.ok() && task->status() == containerd::v1::types::RUNNING ? task->pid() : 0;
  }

  // The agent still runs with its low OOM score, answers /healthz and creates sandboxes.
  void ExpectAgentHealthy(const std::string& next) {
    const pid_t agent = stack_->agent_pid();
    ASSERT_GT(agent, 0);
    EXPECT_EQ(kill(agent, 0), 0) << "the agent is gone";
    // Lowering it needs CAP_SYS_RESOURCE, which some test machines (containers) lack; the
    // agent then says so and runs on, its sandboxes still the kernel's first victims.
    if (HasCapSysResource()) {
      EXPECT_EQ(ReadText(absl::StrCat("/proc/", agent, "/oom_score_adj")), "-900");
    } else {
      EXPECT_THAT(ReadText(absl::StrCat(stack_->dir(), "/", stack_->agent_id(), ".log")),
                  HasSubstr("the agent keeps its OOM score adjustment: cannot write -900"));
    }
    EXPECT_EQ(fsb::testing::RunCommand({"curl", "-sf", "-o", "/dev/null",
                                        "http://" + stack_->agent_metrics() + "/healthz"}),
              0);
    fastpath::v1::CreateResponse resp;
    grpc::Status s = stack_->Create(fsb::testing::SleeperRequest(next), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(Get(next).phase(), "Running");
  }

  // The sum of the agent's samples of metric `name` whose labels contain `labels`.
  double AgentMetric(const std::string& name, const std::string& labels) {
    std::string text;
    fsb::testing::RunCommand({"curl", "-sf", "http://" + stack_->agent_metrics() + "/metrics"},
                             &text);
    double sum = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      double value = 0;
      if (absl::StartsWith(line, absl::StrCat(name, "{")) && absl::StrContains(line, labels) &&
          absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
        sum += value;
      }
    }
    return sum;
  }

  // What sandbox `id` (running) must show of the agent's defaults besides its memory.
  struct Defaults {
    std::string pids;
    int shares = 1024;
    std::string oom;
    std::string nofile;
  };
  void ExpectDefaults(const std::string& id, const Defaults& want) {
    EXPECT_EQ(CgroupFile(id, "pids", "pids.max", "pids.max"), want.pids) << id;
    // runc maps cpu.shares to cpu.weight on cgroup v2: 1 + (shares - 2) * 9999 / 262142.
    const std::string shares = CgroupFile(id, "cpu", "cpu.shares", "cpu.weight");
    EXPECT_TRUE(shares == absl::StrCat(want.shares) ||
                shares == absl::StrCat(1 + (want.shares - 2) * 9999 / 262142))
        << id << ": " << shares;
    const uint32_t pid = Pid(id);
    ASSERT_GT(pid, 0u) << id;
    EXPECT_EQ(ReadText(absl::StrCat("/proc/", pid, "/oom_score_adj")), want.oom) << id;
    EXPECT_THAT(ReadText(absl::StrCat("/proc/", pid, "/limits")),
                ::testing::ContainsRegex(
                    absl::StrCat("Max open files +", want.nofile, " +", want.nofile, " ")))
        << id;
  }

  std::unique_ptr<LocalStack> stack_;
};

// A shell that starts sleeps in the background until fork fails; the sandbox's first
// process outlives it (exec, no fork) so the cgroup stays full.
TEST_F(LimitsTest, AForkBombStopsAtTheDefaultPidsLimit) {
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--default-pids=", kPids)}));
  fastpath::v1::CreateResponse bomb;
  grpc::Status s = stack_->Create(
      Shell("bomb",
            "sh -c 'i=0; while [ $i -lt 500 ]; do sleep 600 & i=$((i+1)); done; echo all-forked'; "
            "echo \"bomb-exit $?\"; exec sleep 600"),
      &bomb);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(Logs("bomb"), "bomb-exit"); }, absl::Seconds(30)))
      << Logs("bomb");
  const std::string logs = Logs("bomb");
  EXPECT_THAT(logs, HasSubstr("can't fork"));
  EXPECT_THAT(logs, Not(HasSubstr("all-forked")));
  EXPECT_THAT(logs, Not(HasSubstr("bomb-exit 0")));
  int64_t current = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      CgroupFile(bomb.sandbox_id(), "pids", "pids.current", "pids.current"), &current));
  EXPECT_LE(current, kPids);
  EXPECT_GT(current, kPids / 2) << "the sleeps did not fill the cgroup";
  EXPECT_GE(KeyedValue(CgroupFile(bomb.sandbox_id(), "pids", "pids.events", "pids.events"), "max"),
            1)
      << "no fork was refused at the limit";
  // The other defaults, as the flags' defaults set them.
  ASSERT_NO_FATAL_FAILURE(ExpectDefaults(
      bomb.sandbox_id(), {.pids = absl::StrCat(kPids), .oom = "500", .nofile = "1024"}));
  EXPECT_EQ(CgroupFile(bomb.sandbox_id(), "memory", "memory.limit_in_bytes", "memory.max"),
            "1073741824");
  ASSERT_NO_FATAL_FAILURE(ExpectAgentHealthy("after-bomb"));
  // The delete ends every process of it.
  ASSERT_TRUE(stack_->Delete("bomb").ok());
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(bomb.sandbox_id()).status()));
}

TEST_F(LimitsTest, AMemoryHogIsOomKilledInsideItsSandbox) {
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--default-memory-bytes=", kMemory)}));
  fastpath::v1::CreateResponse hog;
  // 200 MB in a shell variable, three times the limit.
  grpc::Status s = stack_->Create(
      Shell("hog", "x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo \"survived ${#x}\""),
      &hog);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitFor([&] { return Get("hog").phase() == "Failed"; }, absl::Seconds(60)))
      << Get("hog").DebugString();
  EXPECT_EQ(Get("hog").exit_code(), 137) << "not killed by SIGKILL";
  EXPECT_THAT(Logs("hog"), Not(HasSubstr("survived")));
  EXPECT_EQ(CgroupFile(hog.sandbox_id(), "memory", "memory.limit_in_bytes", "memory.max"),
            absl::StrCat(kMemory));
  // The kernel's OOM killer acted in the sandbox's cgroup.
  EXPECT_GE(
      KeyedValue(CgroupFile(hog.sandbox_id(), "memory", "memory.oom_control", "memory.events"),
                 "oom_kill"),
      1);
  ASSERT_NO_FATAL_FAILURE(ExpectAgentHealthy("after-hog"));
}

// A prepared instance is made with the defaults: a claim without limits keeps them all,
// and a request's own limit replaces only its field.
TEST_F(LimitsTest, AWarmSandboxGetsTheDefaultsAndARequestsOwnLimit) {
  ASSERT_NO_FATAL_FAILURE(
      Start({"--warm=" + std::string(PrivateContainerd::kTestImage) + "=2", "--default-pids=48",
             "--default-memory-bytes=100663296", "--default-cpu-shares=512",
             "--sandbox-oom-score-adj=321", "--sandbox-nofile=2048"}));
  ASSERT_TRUE(
      WaitFor([&] { return AgentMetric("fsb_agent_warm_instances", "state=\"ready\"") == 2; },
              absl::Seconds(60)));
  fastpath::v1::CreateResponse warm, limited;
  ASSERT_TRUE(stack_->Create(fsb::testing::SleeperRequest("warm"), &warm).ok());
  fastpath::v1::CreateRequest with_memory = fsb::testing::SleeperRequest("limited");
  with_memory.mutable_resources()->set_memory_bytes(32 << 20);
  ASSERT_TRUE(stack_->Create(with_memory, &limited).ok());
  EXPECT_EQ(AgentMetric("fsb_agent_warm_claims_total", "result=\"hit\""), 2)
      << "not both were made from prepared instances";
  EXPECT_EQ(CgroupFile(warm.sandbox_id(), "memory", "memory.limit_in_bytes", "memory.max"),
            "100663296");
  EXPECT_EQ(CgroupFile(limited.sandbox_id(), "memory", "memory.limit_in_bytes", "memory.max"),
            "33554432");
  for (const std::string& id : {warm.sandbox_id(), limited.sandbox_id()}) {
    ASSERT_NO_FATAL_FAILURE(
        ExpectDefaults(id, {.pids = "48", .shares = 512, .oom = "321", .nofile = "2048"}));
  }
}

}  // namespace
}  // namespace fsb
