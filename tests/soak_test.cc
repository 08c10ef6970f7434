// Soak: FSB_SOAK_CYCLES (default 40) cycles, each a warm and a cold create/delete
// through one agent. Afterwards, once settled, what the daemons hold is back at its
// baseline: the agent's and the controller's open fds and threads exactly, their RSS
// within a small slack; containerd's containers, snapshots and tasks, the mounts under
// the test's folder, the network slots, their addresses and veths, and the shims,
// exactly. Baseline and after are printed. Real processes on a private containerd.
//
// By hand, full size:
//   FSB_SOAK_CYCLES=1000 ctest --test-dir build -R soak_test --output-on-failure
#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;

constexpr int kDefaultCycles = 40;
constexpr int kWarmupCycles = 2;
constexpr char kColdImage[] = "docker.io/fsb/busybox:cold";
// RSS may grow by this much (allocator caches, a page here and there), no more. Under
// AddressSanitizer freed memory also waits in its quarantine (256 MiB by default) before
// it is reused, so RSS may grow by that much more.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kRssSlackKib = (16 + 256) * 1024;
#else
constexpr int64_t kRssSlackKib = 16 * 1024;
#endif

// What one process holds, from /proc/<pid>/status and /proc/<pid>/fd.
struct ProcessUse {
  int64_t rss_kib = -1;
  int threads = -1;
  int fds = -1;
};

// Entries of a folder (without . and ..) whose name passes `keep`; -1 when it cannot be
// read.
template <typename Keep>
int CountEntries(const std::string& dir, Keep keep) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && keep(e)) ++n;
  }
  closedir(d);
  return n;
}

ProcessUse Sample(pid_t pid) {
  ProcessUse use;
  if (pid <= 0) return use;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    const std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2) continue;
    if (fields[0] == "VmRSS:") absl::SimpleAtoi(fields[1], &use.rss_kib);
    if (fields[0] == "Threads:") absl::SimpleAtoi(fields[1], &use.threads);
  }
  use.fds = CountEntries(absl::StrCat("/proc/", pid, "/fd"), [](const dirent*) { return true; });
  return use;
}

// Everything the soak watches.
struct Usage {
  ProcessUse agent, controller;
  int containers = -1, snapshots = -1, tasks = -1;
  int mounts = -1;     // /proc/self/mountinfo entries under the stack's folder
  int slots = -1;      // network slot folders
  int addresses = -1;  // host-local IPAM reservations
  int veths = -1;      // links on the agent's bridge
  int shims = -1;      // containerd-shim processes of the private containerd

  // Everything but RSS equal, and RSS within the slack (`this` is the baseline).
  bool Holds(const Usage& after) const {
    auto rss_ok = [](const ProcessUse& base, const ProcessUse& now) {
      return now.rss_kib >= 0 && now.rss_kib <= base.rss_kib + kRssSlackKib;
    };
    return rss_ok(agent, after.agent) && rss_ok(controller, after.controller) &&
           agent.threads == after.agent.threads && agent.fds == after.agent.fds &&
           controller.threads == after.controller.threads &&
           controller.fds == after.controller.fds && containers == after.containers &&
           snapshots == after.snapshots && tasks == after.tasks && mounts == after.mounts &&
           slots == after.slots && addresses == after.addresses && veths == after.veths &&
           shims == after.shims;
  }
  std::string Print() const {
    return absl::StrCat("agent rss=", agent.rss_kib, "KiB fds=", agent.fds,
                        " threads=", agent.threads, "; controller rss=", controller.rss_kib,
                        "KiB fds=", controller.fds, " threads=", controller.threads,
                        "; containerd containers=", containers, " snapshots=", snapshots,
                        " tasks=", tasks, " shims=", shims, "; mounts=", mounts,
                        "; network slots=", slots, " addresses=", addresses, " veths=", veths);
  }
};

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start(
        {.controller_flags = {"--reconcile-interval=200ms"},
         .agent_flags = {absl::StrCat("--warm=", PrivateContainerd::kTestImage, "=1")}});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    ASSERT_TRUE(stack_->TagTestImage(kColdImage).ok());
  }

  // The agent's network slot folders (free, assigned, and released but not torn down).
  int Slots() const {
    return CountEntries(stack_->agent_state_dir() + "/network/slots",
                        [](const dirent* e) { return e->d_type == DT_DIR; });
  }

  Usage Measure() {
    Usage u;
    u.agent = Sample(stack_->agent_pid());
    u.controller = Sample(stack_->controller_pid());
    fsb::agent::Containerd& ctr = stack_->containerd();
    if (auto c = ctr.ListContainers(""); c.ok()) u.containers = static_cast<int>(c->size());
    if (auto s = ctr.ListSnapshots(""); s.ok()) u.snapshots = static_cast<int>(s->size());
    if (auto t = ctr.ListTasks(); t.ok()) u.tasks = static_cast<int>(t->size());
    const std::string root = stack_->dir() + "/";
    std::ifstream mountinfo("/proc/self/mountinfo");
    u.mounts = 0;
    for (std::string line; std::getline(mountinfo, line);) {
      const std::vector<std::string> fields = absl::StrSplit(line, ' ');
      if (fields.size() > 4 && fields[4].rfind(root, 0) == 0) ++u.mounts;
    }
    const std::string network = stack_->agent_state_dir() + "/network";
    u.slots = Slots();
    // host-local keeps one file per reserved address (named by it) in a folder per network.
    u.addresses = 0;
    CountEntries(network + "/ipam", [&](const dirent* e) {
      u.addresses += CountEntries(network + "/ipam/" + e->d_name, [](const dirent* f) {
        return std::string(f->d_name).find_first_not_of("0123456789.") == std::string::npos;
      });
      return true;
    });
    std::string links;
    if (fsb::testing::RunCommand({"ip", "-o", "link", "show", "master", stack_->agent_bridge()},
                                 &links) == 0) {
      u.veths = static_cast<int>(std::count(links.begin(), links.end(), '\n'));
    }
    const std::string address = "-address " + stack_->containerd_daemon().socket();
    u.shims = 0;
    CountEntries("/proc", [&](const dirent* e) {
      // Not an ifstream read: a process that exits meanwhile makes libstdc++ throw.
      std::string cmdline = fsb::testing::ReadFile(std::string("/proc/") + e->d_name + "/cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find("containerd-shim") != std::string::npos &&
          (cmdline + " ").find(address + " ") != std::string::npos) {
        ++u.shims;
      }
      return true;
    });
    return u;
  }

  double AgentMetric(const std::string& name, const std::vector<std::string>& labels) {
    return fsb::testing::ScrapeMetric(stack_->agent_metrics(), name, labels).value_or(-1);
  }

  // One sandbox of `image`, created and deleted; false (with a test failure) when either
  // step fails. The process ends on SIGTERM, so the delete needs no grace period.
  bool Cycle(const std::string& name, const std::string& image) {
    fastpath::v1::CreateRequest req = fsb::testing::SleeperRequest(name);
    req.set_image(image);
    req.clear_command();
    for (const char* arg : {"sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"}) {
      req.add_command(arg);
    }
    fastpath::v1::CreateResponse resp;
    grpc::Status s = stack_->Create(req, &resp);
    EXPECT_TRUE(s.ok()) << name << ": create: " << s.error_code() << " " << s.error_message();
    if (!s.ok()) return false;
    s = stack_->Delete(name);
    EXPECT_TRUE(s.ok()) << name << ": delete: " << s.error_code() << " " << s.error_message();
    return s.ok();
  }

  // A warm cycle (once the pool has its instance again) and a cold one, of sandboxes
  // named <tag>-warm and <tag>-cold.
  bool WarmAndCold(const std::string& tag) {
    const bool ready =
        WaitFor([&] { return AgentMetric("fsb_agent_warm_instances", {"state=\"ready\""}) == 1; },
                absl::Seconds(60));
    EXPECT_TRUE(ready) << tag << ": the warm pool did not refill within 60 s";
    return ready && Cycle(tag + "-warm", PrivateContainerd::kTestImage) &&
           Cycle(tag + "-cold", kColdImage);
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(SoakTest, CreateDeleteCyclesReturnEverythingToTheBaseline) {
  int cycles = kDefaultCycles;
  if (const char* env = std::getenv("FSB_SOAK_CYCLES"); env != nullptr) {
    ASSERT_TRUE(absl::SimpleAtoi(env, &cycles) && cycles > 0)
        << "FSB_SOAK_CYCLES=" << env << " is not a positive number";
  }
  // Warm-up: whatever the first creates make once (channels, shim groups, caches) is
  // part of the baseline.
  for (int i = 0; i < kWarmupCycles; ++i) ASSERT_TRUE(WarmAndCold(absl::StrCat("warmup", i)));
  ASSERT_TRUE(
      WaitFor([&] { return AgentMetric("fsb_agent_warm_instances", {"state=\"ready\""}) == 1; },
              absl::Seconds(60)));
  // The baseline, once two looks a second apart agree (slots and instances refill in the
  // background).
  Usage baseline = Measure();
  WaitFor(
      [&] {
        absl::SleepFor(absl::Seconds(1));
        Usage again = Measure();
        const bool same = baseline.Holds(again) && again.Holds(baseline);
        baseline = again;
        return same;
      },
      absl::Seconds(30));
  const double hits_before = AgentMetric("fsb_agent_warm_claims_total", {"result=\"hit\""});
  const double misses_before = AgentMetric("fsb_agent_warm_claims_total", {"result=\"miss\""});

  const absl::Time start = absl::Now();
  int done = 0;
  int peak_slots = 0;  // released slots wait for a teardown at idle priority
  for (; done < cycles; ++done) {
    if (!WarmAndCold(absl::StrCat("cycle", done))) break;
    peak_slots = std::max(peak_slots, Slots());
  }
  const absl::Duration took = absl::Now() - start;
  const double warm = AgentMetric("fsb_agent_warm_claims_total", {"result=\"hit\""}) - hits_before;
  const double cold =
      AgentMetric("fsb_agent_warm_claims_total", {"result=\"miss\""}) - misses_before;

  // Settle: deletes finish in the background (slots are torn down at idle priority, so
  // on a busy machine that lags behind; instances are refilled).
  const absl::Duration settle = absl::Seconds(60) + cycles * absl::Seconds(1);
  const absl::Time settling = absl::Now();
  Usage after = Measure();
  const bool returned = WaitFor(
      [&] {
        after = Measure();
        return baseline.Holds(after);
      },
      settle);
  const absl::Duration settled = absl::Now() - settling;
  std::cout << "soak: " << done << " of " << cycles << " cycles (warm and cold) in "
            << absl::FormatDuration(took) << "; warm creates " << warm << ", cold " << cold
            << "; at most " << peak_slots << " network slots at once; settled "
            << (returned ? "in " : "not in ") << absl::FormatDuration(settled)
            << "\nsoak: baseline: " << baseline.Print() << "\nsoak: after:    " << after.Print()
            << std::endl;
  ASSERT_EQ(done, cycles) << "a cycle failed";
  EXPECT_EQ(warm, cycles) << "not every warm cycle claimed a prepared instance";
  EXPECT_EQ(cold, cycles) << "not every cold cycle was cold";
  EXPECT_TRUE(returned) << "not back at the baseline " << absl::FormatDuration(settle)
                        << " after the last cycle";
  EXPECT_LE(after.agent.rss_kib, baseline.agent.rss_kib + kRssSlackKib) << "agent RSS";
  EXPECT_LE(after.controller.rss_kib, baseline.controller.rss_kib + kRssSlackKib)
      << "controller RSS";
  EXPECT_EQ(after.agent.fds, baseline.agent.fds) << "agent fds";
  EXPECT_EQ(after.agent.threads, baseline.agent.threads) << "agent threads";
  EXPECT_EQ(after.controller.fds, baseline.controller.fds) << "controller fds";
  EXPECT_EQ(after.controller.threads, baseline.controller.threads) << "controller threads";
  EXPECT_EQ(after.containers, baseline.containers) << "containerd containers";
  EXPECT_EQ(after.snapshots, baseline.snapshots) << "containerd snapshots";
  EXPECT_EQ(after.tasks, baseline.tasks) << "containerd tasks";
  EXPECT_EQ(after.shims, baseline.shims) << "containerd shims";
  EXPECT_EQ(after.mounts, baseline.mounts) << "mounts under " << stack_->dir();
  EXPECT_EQ(after.slots, baseline.slots) << "network slots";
  EXPECT_EQ(after.addresses, baseline.addresses) << "sandbox addresses";
  EXPECT_EQ(after.veths, baseline.veths) << "veths on " << stack_->agent_bridge();
}

}  // namespace
}  // namespace fsb
