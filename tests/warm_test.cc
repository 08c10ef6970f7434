// The warm path on a real containerd: prepared instances (fsb-init waiting in a started
// container) become sandboxes that look exactly like cold ones from inside and outside;
// a process the image cannot run fails the create before it answers; an agent killed
// with claimed and idle instances re-adopts each as what it was; creates that hit a warm
// instance go on while containerd restarts; pools grow and shrink with `fsb apply`.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// Everything a sandbox's process can see of itself that a cold and a warm create must
// agree on, one fact per line, then "probe-done" (and it stays running).
constexpr char kProbe[] =
    "echo \"id: $(id)\"; echo \"pwd: $(pwd)\"; echo \"hostname: $(hostname)\"; "
    "env | sort | sed 's/^/env: /'; "
    "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status | sed 's/^/status: /'; "
    // The seccomp profile: no new namespaces; umount of a missing path fails with EPERM
    // before the kernel looks the path up (so a warm instance's init has denied it again).
    "echo \"unshare -U: $(unshare -U true 2>&1 && echo allowed)\"; "
    "echo \"unshare -n: $(unshare -n true 2>&1 && echo allowed)\"; "
    "echo \"umount: $(umount /no-such-dir 2>&1 && echo allowed)\"; "
    "echo \"child: $(sh -c 'echo ok')\"; "
    "cut -d' ' -f5,6 /proc/self/mountinfo | sort | sed 's/^/mount: /'; "
    "ls -a /dev | sed 's/^/dev: /'; ls -a / | sed 's/^/root: /'; "
    "echo \"memory: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max "
    "2>/dev/null)\"; "
    "echo \"pids: $(cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null)\"; "
    "echo \"cpu: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
    "/sys/fs/cgroup/cpu.max 2>/dev/null)\"; "
    "echo \"cpu-shares: $(cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu.weight "
    "2>/dev/null)\"; echo \"oom: $(cat /proc/self/oom_score_adj)\"; "
    "echo \"nofile: $(ulimit -n) $(ulimit -Hn)\"; echo \"umask: $(umask)\"; "
    "echo \"cwd-owner: $(ls -ld . | cut -c1-10)\"; "
    "touch /rootfs-probe 2>/dev/null && echo rootfs: writable || echo rootfs: read-only; "
    "echo \"ppid: $PPID pid: $$\"; echo stderr-line >&2; echo probe-done; sleep 600";

fastpath::v1::CreateRequest Probe(const std::string& ns) {
  fastpath::v1::CreateRequest req;
  req.set_name("probe");
  req.set_namespace_(ns);
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command(kProbe);
  (*req.mutable_envs())["GREETING"] = "hello world";
  (*req.mutable_envs())["PATH"] = "/bin:/usr/bin";
  req.set_working_dir("/work/dir");
  req.mutable_resources()->set_cpu_millicores(500);
  req.mutable_resources()->set_memory_bytes(64 << 20);
  req.mutable_resources()->set_pids(64);
  req.set_read_only_root_filesystem(true);
  return req;
}

constexpr auto& Sleeper = fsb::testing::SleeperRequest;

class WarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
  }

  void Start(std::vector<std::string> agent_flags, std::vector<std::string> controller_flags = {}) {
    controller_flags.push_back("--reconcile-interval=200ms");
    auto stack = LocalStack::Start(
        {.controller_flags = std::move(controller_flags), .agent_flags = std::move(agent_flags)});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
  }

  // The agent's ready warm instances of the test image, as the controller sees them.
  int WarmReady() {
    fastpath::v1::ListAgentsRequest req;
    fastpath::v1::ListAgentsResponse resp;
    grpc::ClientContext ctx;
    if (!stack_->fastpath().ListAgents(&ctx, req, &resp).ok() || resp.items_size() != 1) return -1;
    for (const auto& w : resp.items(0).status().warm()) {
      if (w.image() == PrivateContainerd::kTestImage) return w.ready();
    }
    return 0;
  }
  void AwaitWarm(int ready) {
    ASSERT_TRUE(WaitFor([&] { return WarmReady() == ready; }, absl::Seconds(60)))
        << "warm instances ready: " << WarmReady() << ", want " << ready;
  }

  // The sandbox's log as `fsb logs` prints it (stdout and stderr), once `until` is in it.
  std::string Logs(const std::string& ns, const std::string& name, const std::string& until) {
    std::string out, err;
    WaitFor(
        [&] {
          out.clear();
          err.clear();
          return stack_->Fsb({"logs", name, "-n", ns}, &out, &err) == 0 &&
                 out.find(until) != std::string::npos;
        },
        absl::Seconds(30));
    return out + err;
  }

  uint32_t Pid(const std::string& container_id) {
    auto task = stack_->containerd().GetTask(container_id);
    return task.ok() && task->status() == containerd::v1::types::RUNNING ? task->pid() : 0;
  }

  // Creates the agent served from a prepared instance (its warm-claim counter).
  int WarmHits() {
    std::string metrics;
    fsb::testing::RunCommand({"curl", "-sf", "http://" + stack_->agent_metrics() + "/metrics"},
                             &metrics);
    for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
      if (absl::StartsWith(line, "fsb_agent_warm_claims_total{") &&
          absl::StrContains(line, "result=\"hit\"")) {
        int hits = 0;
        if (absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &hits)) return hits;
      }
    }
    return 0;
  }

  void ApplyPool(int count) {
    const std::string path = stack_->dir() + "/pool.yaml";
    std::string out, err;
    ASSERT_EQ(
        fsb::testing::RunCommand(
            {"sh", "-c",
             absl::StrCat("printf 'apiVersion: fsb.io/v1alpha1\\nkind: SandboxPool\\n"
                          "metadata: {name: default}\\nspec:\\n  warmImages: [{image: ",
                          PrivateContainerd::kTestImage, ", count: ", count, "}]\\n' > ", path)}),
        0);
    ASSERT_EQ(stack_->Fsb({"apply", "-f", path}, &out, &err), 0) << err;
  }

  std::unique_ptr<LocalStack> stack_;
};

// The same request, once cold (no pool yet) and once warm (after `fsb apply` of a pool),
// in two namespaces so that even the hostname is the same: every line the probe prints,
// what exec sees, the exit code and the delete agree.
TEST_F(WarmTest, AWarmSandboxIsIndistinguishableFromACold) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  fastpath::v1::CreateResponse cold, warm;
  ASSERT_TRUE(stack_->Create(Probe("cold"), &cold).ok());
  EXPECT_EQ(WarmHits(), 0);
  ASSERT_NO_FATAL_FAILURE(ApplyPool(2));
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(2));
  grpc::Status s = stack_->Create(Probe("warm"), &warm);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(WarmHits(), 1) << "the second create did not claim a prepared instance";
  EXPECT_NE(warm.sandbox_id(), cold.sandbox_id());
  ASSERT_GT(Pid(cold.sandbox_id()), 0u);
  ASSERT_GT(Pid(warm.sandbox_id()), 0u) << "the warm sandbox's container does not run";

  const std::vector<std::string> cold_lines =
      absl::StrSplit(Logs("cold", "probe", "probe-done"), '\n');
  const std::vector<std::string> warm_lines =
      absl::StrSplit(Logs("warm", "probe", "probe-done"), '\n');
  ASSERT_THAT(cold_lines, ::testing::Contains("probe-done"));
  ASSERT_THAT(cold_lines, ::testing::Contains("stderr-line"));
  EXPECT_THAT(cold_lines, ::testing::Contains("hostname: probe"));
  EXPECT_THAT(cold_lines, ::testing::Contains("memory: 67108864"));
  EXPECT_THAT(cold_lines, ::testing::Contains("oom: 500"));  // the agent's default
  EXPECT_THAT(cold_lines, ::testing::Contains("rootfs: read-only"));
  EXPECT_THAT(cold_lines, ::testing::Contains("env: GREETING=hello world"));
  EXPECT_THAT(cold_lines, ::testing::Contains("status: Seccomp:\t2"));  // filter mode
  for (const char* denied : {"unshare -U: ", "unshare -n: ", "umount: "}) {
    EXPECT_THAT(cold_lines,
                ::testing::Contains(::testing::AllOf(::testing::StartsWith(denied),
                                                     HasSubstr("Operation not permitted"))));
  }
  EXPECT_THAT(cold_lines, ::testing::Contains("child: ok"));
  for (size_t i = 0; i < std::max(cold_lines.size(), warm_lines.size()); ++i) {
    EXPECT_EQ(i < cold_lines.size() ? cold_lines[i] : "<missing>",
              i < warm_lines.size() ? warm_lines[i] : "<missing>")
        << "line " << i;
  }

  // The one difference: the warm process runs under two filters (the instance's profile
  // and the one init stacked over it), whose verdicts combine to the cold profile's.
  for (const auto& [id, filters] : {std::pair{cold.sandbox_id(), "1"}, {warm.sandbox_id(), "2"}}) {
    std::string status;
    fsb::testing::RunCommand({"cat", absl::StrCat("/proc/", Pid(id), "/status")}, &status);
    std::vector<std::string> seccomp;
    for (absl::string_view line : absl::StrSplit(status, '\n')) {
      if (absl::StartsWith(line, "Seccomp")) seccomp.emplace_back(line);
    }
    EXPECT_THAT(seccomp, ::testing::Contains("Seccomp:\t2"));
    if (seccomp.size() > 1) {  // kernels >= 5.9 count the filters
      EXPECT_THAT(seccomp, ::testing::Contains(absl::StrCat("Seccomp_filters:\t", filters)));
    }
  }

  // Exec joins each with the sandbox's own process spec, under the container's seccomp
  // filter. A warm sandbox's is the instance's, which still allows init's own syscalls:
  // they fail there for want of CAP_SYS_ADMIN, but after the kernel's argument checks
  // (`umount /no-such-dir` says ENOENT, not EPERM), so the probe leaves them out.
  const std::string exec_probe =
      "id; grep -E '^(Cap(Prm|Eff|Bnd)|Seccomp)' /proc/self/status; echo $GREETING $HOME; pwd; "
      "unshare -U true || echo unshare -U denied; unshare -n true || echo unshare -n denied; "
      "sh -c 'echo ok'";
  std::string cold_exec, warm_exec, err;
  ASSERT_EQ(
      stack_->Fsb({"exec", "probe", "-n", "cold", "--", "sh", "-c", exec_probe}, &cold_exec, &err),
      0)
      << err;
  ASSERT_EQ(
      stack_->Fsb({"exec", "probe", "-n", "warm", "--", "sh", "-c", exec_probe}, &warm_exec, &err),
      0)
      << err;
  EXPECT_EQ(cold_exec, warm_exec);
  EXPECT_THAT(warm_exec, Not(HasSubstr("00000000a82425fb")));  // no CAP_SYS_ADMIN
  // Docker's default set less CAP_NET_RAW (bit 13), in every set, cold and warm alike.
  for (const char* set : {"CapPrm", "CapEff", "CapBnd"}) {
    EXPECT_THAT(cold_exec, HasSubstr(absl::StrCat(set, ":\t00000000a80405fb"))) << cold_exec;
  }
  for (const char* line : {"Seccomp:\t2\n", "unshare -U denied\n", "unshare -n denied\n", "ok\n"}) {
    EXPECT_THAT(cold_exec, HasSubstr(line));
  }

  // The host sees the request's limits in the warm sandbox's cgroup.
  std::string limit;
  fsb::testing::RunCommand(
      {"cat", "/sys/fs/cgroup/memory/fsb/" + warm.sandbox_id() + "/memory.limit_in_bytes"}, &limit);
  if (!limit.empty()) EXPECT_EQ(limit, "67108864\n");

  // A delete of a process that ignores SIGTERM (sh as PID 1) ends with SIGKILL in both,
  // and the containers go.
  for (const auto& [ns, id] : {std::pair{"cold", cold.sandbox_id()}, {"warm", warm.sandbox_id()}}) {
    std::string out;
    ASSERT_EQ(stack_->Fsb({"rm", "probe", "-n", ns, "--grace", "1s"}, &out, &err), 0) << err;
    EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(id).status())) << ns;
  }

  // An exit code is reported the same way.
  for (const char* ns : {"cold", "warm"}) {
    fastpath::v1::CreateRequest req = Probe(ns);
    req.set_name("exit3");
    req.set_command(2, "exit 3");
    fastpath::v1::CreateResponse resp;
    ASSERT_TRUE(stack_->Create(req, &resp).ok()) << ns;
  }
  for (const char* ns : {"cold", "warm"}) {
    std::string out;
    ASSERT_TRUE(WaitFor(
        [&] {
          out.clear();
          return stack_->Fsb({"get", "exit3", "-n", ns, "-o", "yaml"}, &out, &err) == 0 &&
                 out.find("phase: Failed") != std::string::npos;
        },
        absl::Seconds(20)))
        << ns << ": " << out;
    EXPECT_THAT(out, HasSubstr("exitCode: 3")) << ns;
  }

  // `fsb logs -f` follows a warm sandbox's output to its exit like a cold one's.
  for (const char* ns : {"cold", "warm"}) {
    fastpath::v1::CreateRequest req = Probe(ns);
    req.set_name("follow");
    req.set_command(2, "echo early; sleep 1; echo late >&2; exit 0");
    fastpath::v1::CreateResponse resp;
    ASSERT_TRUE(stack_->Create(req, &resp).ok()) << ns;
    std::string out, followed_err;
    ASSERT_EQ(stack_->Fsb({"logs", "follow", "-n", ns, "-f"}, &out, &followed_err), 0) << ns;
    EXPECT_EQ(out, "early\n") << ns;
    EXPECT_EQ(followed_err, "late\n") << ns;
  }

  // Shrinking the pool removes idle instances; growing it makes them again.
  ASSERT_NO_FATAL_FAILURE(ApplyPool(0));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto managed = stack_->ManagedContainers();
        // the exit3 and follow sandboxes
        return managed.ok() && managed->size() == 4;
      },
      absl::Seconds(30)));
  ASSERT_NO_FATAL_FAILURE(ApplyPool(3));
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(3));
}

TEST_F(WarmTest, AProcessTheImageCannotRunFailsTheCreateBeforeItAnswers) {
  ASSERT_NO_FATAL_FAILURE(Start({"--warm=" + std::string(PrivateContainerd::kTestImage) + "=1"}));
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(1));
  fastpath::v1::CreateRequest bad = Sleeper("bad");
  bad.set_command(0, "/no/such/program");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = stack_->Create(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("/no/such/program"));
  fastpath::v1::CreateRequest missing = Sleeper("missing");
  missing.set_command(0, "no-such-program");
  ASSERT_TRUE(WaitFor([&] { return WarmReady() == 1; }, absl::Seconds(30)));
  s = stack_->Create(missing, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not found in $PATH"));
  auto listed = stack_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->items_size(), 0) << "a failed create left a sandbox";
  // The used-up instances are replaced; none is left behind.
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(1));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto managed = stack_->ManagedContainers();
        return managed.ok() && managed->size() == 1;
      },
      absl::Seconds(30)));
  // The same request cold (the pool is empty while the next one is made, or not): the
  // same code either way.
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(1));
  fastpath::v1::CreateResponse ok;
  ASSERT_TRUE(stack_->Create(Sleeper("good"), &ok).ok());
  s = stack_->Create(bad, &resp);  // the pool is empty now: cold
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(WarmTest, AKilledAgentReadoptsClaimedAndIdleInstances) {
  ASSERT_NO_FATAL_FAILURE(Start({"--warm=" + std::string(PrivateContainerd::kTestImage) + "=2"},
                                {"--fastpath-orphan-timeout=2s"}));
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(2));
  fastpath::v1::CreateResponse claimed;
  ASSERT_TRUE(stack_->Create(Sleeper("claimed"), &claimed).ok());
  EXPECT_EQ(WarmHits(), 1);
  const uint32_t pid = Pid(claimed.sandbox_id());
  ASSERT_GT(pid, 0u);
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(2));
  auto before = stack_->ManagedContainers();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 3u);  // one sandbox, two idle instances

  // Killed right after a claim (its binding may not be recorded yet) and with a burst
  // of claims in flight.
  fastpath::v1::CreateResponse quick;
  ASSERT_TRUE(stack_->Create(Sleeper("quick"), &quick).ok());
  std::vector<std::thread> burst;
  for (int i = 0; i < 2; ++i) {
    burst.emplace_back([this, i] {
      fastpath::v1::CreateResponse r;
      stack_->Create(Sleeper(absl::StrCat("burst", i)), &r);
    });
  }
  stack_->KillAgent();
  for (std::thread& t : burst) t.join();
  ASSERT_TRUE(stack_->StartAgent().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());

  // The claimed sandboxes are the same processes, still Running.
  EXPECT_EQ(Pid(claimed.sandbox_id()), pid);
  EXPECT_GT(Pid(quick.sandbox_id()), 0u);
  // Eventually: every container is a listed Running sandbox or an idle instance, the
  // pool is full again, and nothing is there twice.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto managed = stack_->ManagedContainers();
        auto listed = stack_->List();
        if (!managed.ok() || !listed.ok() || WarmReady() != 2) return false;
        for (const auto& item : listed->items()) {
          if (item.phase() != "Running" || Pid(item.sandbox_id()) == 0) return false;
        }
        return static_cast<int>(managed->size()) == listed->items_size() + 2;
      },
      absl::Seconds(60)));
  grpc::Status deleted = stack_->Delete("claimed");
  ASSERT_TRUE(deleted.ok()) << deleted.error_code() << ": " << deleted.error_message();
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(claimed.sandbox_id()).status()));
}

TEST_F(WarmTest, WarmCreatesGoOnWhileContainerdRestarts) {
  ASSERT_NO_FATAL_FAILURE(Start({"--warm=" + std::string(PrivateContainerd::kTestImage) + "=3"}));
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(3));
  ASSERT_TRUE(stack_->containerd_daemon().KillDaemon().ok());
  // The controller learns it from the next heartbeat; creates go on meanwhile.
  std::string out, err;
  ASSERT_TRUE(WaitFor(
      [&] {
        out.clear();
        return stack_->Fsb({"agents", "-o", "wide"}, &out, &err) == 0 &&
               out.find("Down") != std::string::npos;
      },
      absl::Seconds(20)))
      << out;
  for (int i = 0; i < 3; ++i) {
    fastpath::v1::CreateResponse resp;
    grpc::Status s = stack_->Create(Sleeper(absl::StrCat("during", i)), &resp);
    EXPECT_TRUE(s.ok()) << i << ": " << s.error_message();
  }
  EXPECT_EQ(WarmHits(), 3);
  // No instance left: a cold create is refused while containerd is down.
  fastpath::v1::CreateResponse refused;
  grpc::Status s = stack_->Create(Sleeper("cold"), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();

  ASSERT_TRUE(stack_->containerd_daemon().StartDaemon().ok());
  // The sandboxes made while it was down are real containers, and the pool refills.
  for (int i = 0; i < 3; ++i) {
    fastpath::v1::GetRequest get;
    get.set_sandbox_name(absl::StrCat("during", i));
    fastpath::v1::SandboxInfo info;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stack_->fastpath().GetSandbox(&ctx, get, &info).ok());
    EXPECT_TRUE(WaitFor([&] { return Pid(info.sandbox_id()) > 0; }, absl::Seconds(30)));
  }
  ASSERT_NO_FATAL_FAILURE(AwaitWarm(3));
  fastpath::v1::CreateResponse after;
  EXPECT_TRUE(stack_->Create(Sleeper("after"), &after).ok());
}

}  // namespace
}  // namespace fsb
