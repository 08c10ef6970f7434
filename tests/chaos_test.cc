// Chaos: while a client keeps creating sandboxes (warm and cold, fast and strong), the
// controller, the agent and containerd are each SIGKILLed and restarted, in turn, for
// several rounds. Once things settle, every acknowledged create is Running exactly once
// (in the controller's list and as a running task in containerd), containerd runs
// nothing fsb does not list (besides idle warm instances, at most the pool's size), and
// nothing is there twice. Creates refused with a retryable code while a daemon is down
// are counted, not failures; so are fast creates acknowledged within a second before a
// controller SIGKILL whose record did not survive it (README, Reliability: a fast
// create's record is written behind). The counts are printed. Real processes on a
// private containerd.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "agent/labels.h"
#include "grpcpp/channel.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;

constexpr int kRounds = 2;
// The client's bound: it stops at this many sandboxes or when the chaos ends.
constexpr int kMaxCreates = 90;
constexpr int kWarmPool = 2;
constexpr absl::Duration kFastWindow = absl::Seconds(1);
// Another name of the test image, without a warm pool: its creates are cold.
constexpr char kColdImage[] = "docker.io/fsb/busybox:cold";

// What the client saw. Guarded by the test's mutex.
struct ClientLog {
  std::map<std::string, std::string> acknowledged;    // name -> sandbox id
  std::map<std::string, absl::Time> acknowledged_at;  // fast creates only
  std::vector<absl::Time> controller_kills;
  std::map<std::string, int> refused;           // code name -> attempts
  std::map<std::string, std::string> examples;  // code name -> its first message
  std::vector<std::string> other_errors;        // non-retryable refusals
  int attempts = 0;
  int given_up = 0;  // names not acknowledged when the client stopped
  absl::Time last_ack = absl::InfinitePast();
  bool finished = false;
};

bool Retryable(grpc::StatusCode code) {
  // DEADLINE_EXCEEDED: the outcome is unknown; a retry of the same request is idempotent.
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

// What the controller lists and containerd holds, classified against the client's log.
struct Census {
  int listed = 0;
  int running_ok = 0;             // acknowledged, listed once, Running, its task running
  int idle_warm = 0;              // prepared instances nobody claimed
  int unacknowledged = 0;         // listed and running although the client saw no success
  std::vector<std::string> lost;  // acknowledged, not Running exactly once
  // Fast creates acknowledged less than kFastWindow before a controller SIGKILL whose
  // record is gone: what README's Reliability section documents for fast mode.
  std::vector<std::string> lost_in_fast_window;
  std::vector<std::string> suspects;    // names and ids of the above, to find in the logs
  std::vector<std::string> duplicated;  // a name listed or run more than once
  std::vector<std::string> orphaned;    // run by containerd, not listed by fsb
  std::vector<std::string> phantom;     // listed Running, no running task

  bool Clean() const {
    return lost.empty() && duplicated.empty() && orphaned.empty() && phantom.empty();
  }
  std::string Summary() const {
    return absl::StrCat("listed=", listed, " running-as-acknowledged=", running_ok,
                        " unacknowledged-running=", unacknowledged, " idle-warm=", idle_warm,
                        " lost=", lost.size(), " lost-in-fast-window=", lost_in_fast_window.size(),
                        " duplicated=", duplicated.size(), " orphaned=", orphaned.size(),
                        " phantom=", phantom.size());
  }
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A channel whose calls fail fast (UNAVAILABLE while the controller is down) makes
    // its next connection only when gRPC's backup poller runs, every 5 s by default: a
    // TLS handshake then takes longer than the 20 s connect timeout, and the client
    // stays locked out for a minute after the controller is back. Polled often, it
    // reconnects within a second, as a fresh client (the CLI) does.
    setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 1);
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start(
        // -v=2: every create's line (its id, the container it got, warm or cold), the
        // evidence a failure prints.
        {.controller_flags = {"--fastpath-orphan-timeout=2s", "--reconcile-interval=200ms", "-v=2"},
         .agent_flags = {absl::StrCat("--warm=", PrivateContainerd::kTestImage, "=", kWarmPool),
                         "--janitor-interval-s=2", "--janitor-grace-s=2", "-v=2"},
         .agent_capacity = kMaxCreates + 10});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    ASSERT_TRUE(stack_->TagTestImage(kColdImage).ok());
  }

  // Sandbox i: even ones of the test image (warm while the pool has an instance), odd
  // ones of its untracked name (always cold); every third one in strong mode.
  static fastpath::v1::CreateRequest Request(int i) {
    fastpath::v1::CreateRequest req = fsb::testing::SleeperRequest(absl::StrCat("chaos-", i));
    if (i % 2 == 1) req.set_image(kColdImage);
    if (i % 3 == 0) req.set_consistency_mode(fastpath::v1::STRONG);
    return req;
  }

  // Creates sandboxes one after the other until `stop` or kMaxCreates, retrying each
  // (the same request: idempotent) while it is refused with a retryable code. Its own
  // channel, so that its reconnection backoff is its own.
  void Client(const std::atomic<bool>& stop) {
    auto stub =
        fastpath::v1::FastPathService::NewStub(stack_->ClientChannel(stack_->admin_token()));
    for (int i = 0; i < kMaxCreates && !stop.load(); ++i) {
      const fastpath::v1::CreateRequest req = Request(i);
      bool done = false;
      for (int attempt = 0; !done && !stop.load(); ++attempt) {
        if (attempt > 0) absl::SleepFor(absl::Milliseconds(200));
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
        fastpath::v1::CreateResponse resp;
        const grpc::Status s = stub->CreateSandbox(&ctx, req, &resp);
        absl::MutexLock lock(&mu_);
        ++log_.attempts;
        if (s.ok()) {
          log_.acknowledged[req.name()] = resp.sandbox_id();
          log_.last_ack = absl::Now();
          if (req.consistency_mode() == fastpath::v1::FAST) {
            log_.acknowledged_at[req.name()] = log_.last_ack;
          }
          done = true;
          continue;
        }
        const std::string code = CodeName(s.error_code());
        ++log_.refused[code];
        log_.examples.emplace(code, s.error_message());
        if (!Retryable(s.error_code())) {
          log_.other_errors.push_back(
              absl::StrCat(req.name(), ": ", code, ": ", s.error_message()));
          break;
        }
      }
      if (!done) {
        absl::MutexLock lock(&mu_);
        ++log_.given_up;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    absl::MutexLock lock(&mu_);
    log_.finished = true;
  }

  static std::string Describe(const containerd::services::containers::v1::Container& c) {
    std::vector<std::string> labels;
    for (const auto& [key, value] : c.labels()) labels.push_back(key + "=" + value);
    std::sort(labels.begin(), labels.end());
    return absl::StrCat("container ", c.id(), " {", absl::StrJoin(labels, ", "), "}");
  }

  // One look at the controller and containerd. Returns false when either cannot be read.
  bool Take(Census* census) {
    *census = Census();
    absl::StatusOr<fastpath::v1::ListResponse> list = stack_->List();
    auto containers = stack_->containerd().ListContainers("labels.\"fsb.io/managed\"==true");
    auto tasks = stack_->containerd().ListTasks();
    if (!list.ok() || !containers.ok() || !tasks.ok()) return false;
    std::set<std::string> running_tasks;
    for (const auto& t : *tasks) {
      if (t.status() == containerd::v1::types::RUNNING) running_tasks.insert(t.id());
    }
    std::map<std::string, std::vector<const fastpath::v1::SandboxInfo*>> by_name;
    std::set<std::string> listed_ids;
    for (const auto& item : list->items()) {
      by_name[item.sandbox_name()].push_back(&item);
      listed_ids.insert(item.sandbox_id());
      if (item.phase() == "Running" && !running_tasks.contains(item.sandbox_id())) {
        census->phantom.push_back(absl::StrCat(item.sandbox_name(), " (", item.sandbox_id(), ")"));
      }
    }
    census->listed = list->items_size();
    std::map<std::string, std::string> acknowledged;
    std::map<std::string, absl::Time> acknowledged_at;  // fast creates only
    std::vector<absl::Time> kills;
    {
      absl::MutexLock lock(&mu_);
      acknowledged = log_.acknowledged;
      acknowledged_at = log_.acknowledged_at;
      kills = log_.controller_kills;
    }
    for (const auto& [name, items] : by_name) {
      if (items.size() > 1)
        census->duplicated.push_back(name + " listed " + std::to_string(items.size()) + " times");
      auto acked = acknowledged.find(name);
      if (acked == acknowledged.end()) {
        if (items[0]->phase() == "Running") ++census->unacknowledged;
        continue;
      }
      const fastpath::v1::SandboxInfo& item = *items[0];
      if (items.size() == 1 && item.phase() == "Running" && item.sandbox_id() == acked->second &&
          running_tasks.contains(item.sandbox_id())) {
        ++census->running_ok;
      } else if (items.size() == 1) {
        census->lost.push_back(absl::StrCat(
            name, ": ", item.phase(), " ", item.sandbox_id(), " (acknowledged as ", acked->second,
            "; its task ", running_tasks.contains(acked->second) ? "runs" : "does not run",
            "): ", item.message()));
        census->suspects.push_back(acked->second);
        census->suspects.push_back(name + " ");
      }
    }
    for (const auto& [name, id] : acknowledged) {
      if (by_name.contains(name)) continue;
      if (auto at = acknowledged_at.find(name);
          at != acknowledged_at.end() &&
          std::any_of(kills.begin(), kills.end(), [&](absl::Time kill) {
            return kill >= at->second && kill - at->second < kFastWindow;
          })) {
        census->lost_in_fast_window.push_back(name + " (" + id + ")");
        continue;
      }
      {
        census->lost.push_back(name + ": not listed (" + id + ")");
        census->suspects.push_back(id);
        census->suspects.push_back(name + " ");
      }
    }
    // What containerd holds: listed sandboxes and idle warm instances, nothing else, and
    // no sandbox name twice.
    std::vector<std::string> idle;
    std::map<std::string, int> containers_per_name;
    std::set<std::string> container_ids;
    for (const auto& c : *containers) {
      container_ids.insert(c.id());
      auto name = c.labels().find(agent::kSandboxNameLabel);
      if (name != c.labels().end()) ++containers_per_name[name->second];
      if (listed_ids.contains(c.id())) continue;
      if (name == c.labels().end() && c.labels().contains(agent::kWarmImageLabel)) {
        ++census->idle_warm;
        idle.push_back(Describe(c));
        continue;
      }
      census->orphaned.push_back(Describe(c));
      census->suspects.push_back(c.id());
    }
    if (census->idle_warm > kWarmPool) {
      census->orphaned.push_back(absl::StrCat(
          census->idle_warm - kWarmPool, " idle warm instances beyond the pool of ", kWarmPool));
    }
    for (const auto& [name, n] : containers_per_name) {
      if (n > 1) {
        census->duplicated.push_back(absl::StrCat(name, " has ", n, " containers"));
        census->suspects.push_back(name + " ");
      }
    }
    for (const std::string& id : running_tasks) {
      if (!container_ids.contains(id)) census->orphaned.push_back("task " + id);
    }
    return true;
  }

  // The lines of the daemons' logs that mention `key` (a sandbox's name or id), as
  // evidence for a failure; at most 30 per log.
  std::string Evidence(const std::string& key) const {
    std::string out;
    for (const std::string& log : {std::string("controller.log"), stack_->agent_id() + ".log"}) {
      std::ifstream in(stack_->dir() + "/" + log);
      int n = 0;
      for (std::string line; std::getline(in, line) && n < 30;) {
        if (line.find(key) != std::string::npos) {
          absl::StrAppend(&out, "    ", log, ": ", line, "\n");
          ++n;
        }
      }
    }
    return out;
  }

  std::unique_ptr<LocalStack> stack_;
  absl::Mutex mu_;
  ClientLog log_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ChaosTest, KillsOfEveryDaemonLoseDuplicateAndOrphanNothing) {
  std::atomic<bool> stop{false};
  std::thread client([&] { Client(stop); });
  double warm_hits = 0;  // summed over agent runs (a restarted agent counts from 0)
  auto add_warm_hits = [&] {
    warm_hits += fsb::testing::ScrapeMetric(stack_->agent_metrics(), "fsb_agent_warm_claims_total",
                                            {"result=\"hit\""})
                     .value_or(0);
  };
  std::vector<std::string> recoveries;
  for (int round = 0; round < kRounds; ++round) {
    for (const char* victim : {"controller", "agent", "containerd"}) {
      absl::SleepFor(absl::Milliseconds(1500));  // creates flow
      const std::string what = absl::StrCat("round ", round + 1, ": ", victim);
      if (victim == std::string("controller")) {
        {
          absl::MutexLock lock(&mu_);
          log_.controller_kills.push_back(absl::Now());
        }
        stack_->KillController();
        absl::SleepFor(absl::Milliseconds(500));
        ASSERT_TRUE(stack_->StartController().ok()) << what;
      } else if (victim == std::string("agent")) {
        add_warm_hits();
        stack_->KillAgent();
        absl::SleepFor(absl::Milliseconds(500));
        ASSERT_TRUE(stack_->StartAgent().ok()) << what;
      } else {
        ASSERT_TRUE(stack_->KillContainerd().ok()) << what;
        absl::SleepFor(absl::Milliseconds(500));
        ASSERT_TRUE(stack_->StartContainerd().ok()) << what;
      }
      // Recovered once the client has a create acknowledged again.
      const absl::Time restarted = absl::Now();
      const bool recovered = WaitFor(
          [&] {
            absl::MutexLock lock(&mu_);
            return log_.last_ack > restarted || log_.finished;
          },
          absl::Seconds(60));
      EXPECT_TRUE(recovered) << what << ": no create acknowledged within 60 s of the restart";
      recoveries.push_back(absl::StrCat(what, ": next create acknowledged ",
                                        absl::FormatDuration(absl::Now() - restarted),
                                        " after the restart"));
    }
  }
  absl::SleepFor(absl::Milliseconds(1500));
  stop = true;
  client.join();
  add_warm_hits();

  // Settle: the orphan reconciler, the janitor and the warm pool's housekeeper run.
  Census census;
  const bool clean = WaitFor([&] { return Take(&census) && census.Clean(); }, absl::Seconds(90));
  ASSERT_TRUE(Take(&census)) << "cannot read the controller's list or containerd";

  absl::MutexLock lock(&mu_);
  std::vector<std::string> refused;
  for (const auto& [code, n] : log_.refused) refused.push_back(absl::StrCat(code, "=", n));
  std::cout << "chaos: " << kRounds << " rounds of SIGKILL+restart of controller, agent, "
            << "containerd\n";
  for (const std::string& r : recoveries) std::cout << "chaos:   " << r << "\n";
  std::cout << "chaos: create attempts=" << log_.attempts
            << " acknowledged=" << log_.acknowledged.size() << " (warm hits "
            << static_cast<int>(warm_hits) << ") refused{" << absl::StrJoin(refused, " ")
            << "} given-up=" << log_.given_up << "\n";
  for (const auto& [code, message] : log_.examples) {
    std::cout << "chaos:   e.g. " << code << ": " << message << "\n";
  }
  std::cout << "chaos: after settling: " << census.Summary() << std::endl;

  EXPECT_TRUE(clean) << "not clean after 90 s of settling";
  EXPECT_GT(log_.acknowledged.size(), 0u) << "no create succeeded at all";
  EXPECT_GT(warm_hits, 0) << "no create was warm";
  EXPECT_EQ(census.running_ok,
            static_cast<int>(log_.acknowledged.size() - census.lost_in_fast_window.size()));
  EXPECT_TRUE(census.lost.empty())
      << "acknowledged, then lost:\n  " << absl::StrJoin(census.lost, "\n  ");
  if (!census.lost_in_fast_window.empty()) {
    std::cout << "chaos: fast creates acknowledged less than " << absl::FormatDuration(kFastWindow)
              << " before a controller SIGKILL, their records lost (as documented): "
              << absl::StrJoin(census.lost_in_fast_window, ", ") << std::endl;
  }
  EXPECT_TRUE(census.duplicated.empty())
      << "duplicated:\n  " << absl::StrJoin(census.duplicated, "\n  ");
  EXPECT_TRUE(census.orphaned.empty())
      << "run by containerd, not listed by fsb:\n  " << absl::StrJoin(census.orphaned, "\n  ");
  EXPECT_TRUE(census.phantom.empty())
      << "listed Running without a running task:\n  " << absl::StrJoin(census.phantom, "\n  ");
  if (!census.Clean()) {
    std::string evidence;
    for (const std::string& key : census.suspects) evidence += Evidence(key);
    char kept[] = "/tmp/fsb-chaos-logs-XXXXXX";
    if (mkdtemp(kept) != nullptr) {
      fsb::testing::RunCommand({"sh", "-c",
                                absl::StrCat("cp ", stack_->dir(), "/*.log ", stack_->dir(),
                                             "/containerd/containerd.log ", kept, "/")});
    }
    ADD_FAILURE() << "what the logs say of the failures above (all of them kept in " << kept
                  << "):\n"
                  << evidence;
  }
  EXPECT_TRUE(log_.other_errors.empty())
      << "creates refused with a code that is not retryable while daemons restarted:\n  "
      << absl::StrJoin(log_.other_errors, "\n  ");
}

}  // namespace
}  // namespace fsb
