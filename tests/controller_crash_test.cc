// The controller killed with SIGKILL and restarted on the same data dir loses nothing:
// every sandbox is still listed with its phase, none is duplicated, none is left
// orphaned on the agent, new creates work, and the capacity the registry reserves
// matches what the agent really runs; a delete is acknowledged only once the agent
// confirmed it. Real processes on a private containerd.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

fastpath::v1::CreateRequest SleepRequest(const std::string& name, bool strong = false) {
  fastpath::v1::CreateRequest req;
  req.set_name(name);
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sleep");
  req.add_command("600");
  if (strong) req.set_consistency_mode(fastpath::v1::STRONG);
  return req;
}

class ControllerCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start({.controller_flags = ControllerFlags(), .agent_capacity = 16});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
  }

  virtual std::vector<std::string> ControllerFlags() const {
    return {"--fastpath-orphan-timeout=2s", "--agent-heartbeat-timeout=6s",
            "--reconcile-interval=200ms"};
  }

  // name -> container id, as the controller lists them; fails the test on duplicates
  // and, when `expect_running`, on any sandbox that is not Running.
  std::map<std::string, std::string> Listed(bool expect_running = true) {
    absl::StatusOr<fastpath::v1::ListResponse> list = stack_->List();
    EXPECT_TRUE(list.ok()) << list.status();
    std::map<std::string, std::string> out;
    if (!list.ok()) return out;
    for (const auto& item : list->items()) {
      EXPECT_TRUE(out.emplace(item.sandbox_name(), item.sandbox_id()).second)
          << "listed twice: " << item.sandbox_name();
      if (expect_running) {
        EXPECT_EQ(item.phase(), "Running") << item.sandbox_name() << ": " << item.message();
      }
    }
    return out;
  }

  // Container ids the controller knows == those containerd runs (eventually, once the
  // orphan reconciler has run), and the agent's reserved capacity matches.
  void ExpectConsistent() {
    std::vector<std::string> known, running;
    bool converged = WaitFor(
        [&] {
          known.clear();
          for (const auto& [name, id] : Listed(/*expect_running=*/false)) known.push_back(id);
          absl::StatusOr<std::vector<std::string>> managed = stack_->ManagedContainers();
          if (!managed.ok()) return false;
          running = *managed;
          std::sort(known.begin(), known.end());
          std::sort(running.begin(), running.end());
          return known == running;
        },
        absl::Seconds(30));
    EXPECT_TRUE(converged) << "store and containerd disagree";
    EXPECT_THAT(running, UnorderedElementsAreArray(known));
    EXPECT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<fastpath::v1::ListResponse> list = stack_->List();
          return list.ok() && std::all_of(list->items().begin(), list->items().end(),
                                          [](const auto& i) { return i.phase() == "Running"; });
        },
        absl::Seconds(10)));
    Listed(/*expect_running=*/true);
    for (const std::string& id : running) {
      auto task = stack_->containerd().GetTask(id);
      ASSERT_TRUE(task.ok()) << id << ": " << task.status();
      EXPECT_EQ(task->status(), containerd::v1::types::RUNNING) << id;
    }
    bool capacity_matches = WaitFor(
        [&] {
          fastpath::v1::ListAgentsRequest req;
          fastpath::v1::ListAgentsResponse resp;
          grpc::ClientContext ctx;
          if (!stack_->fastpath().ListAgents(&ctx, req, &resp).ok() || resp.items_size() != 1) {
            return false;
          }
          return resp.items(0).status().allocated() == static_cast<int>(running.size());
        },
        absl::Seconds(10));
    EXPECT_TRUE(capacity_matches) << "reserved capacity != " << running.size();
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(ControllerCrashTest, SigkillWithSandboxesRunningLosesNothing) {
  fastpath::v1::CreateResponse resp;
  for (const char* name : {"fast-1", "fast-2", "fast-3"}) {
    ASSERT_TRUE(stack_->Create(SleepRequest(name), &resp).ok());
  }
  ASSERT_TRUE(stack_->Create(SleepRequest("strong-1", /*strong=*/true), &resp).ok());
  const std::map<std::string, std::string> before = Listed();
  ASSERT_EQ(before.size(), 4u);
  // Let the fast-mode writes land (they are asynchronous, a few ms).
  absl::SleepFor(absl::Milliseconds(300));

  stack_->KillController();
  ASSERT_TRUE(stack_->StartController().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());

  EXPECT_EQ(Listed(), before);
  ExpectConsistent();
  ASSERT_TRUE(stack_->Create(SleepRequest("after"), &resp).ok());
  EXPECT_EQ(Listed().size(), 5u);
  ExpectConsistent();
}

TEST_F(ControllerCrashTest, SigkillInTheMiddleOfABurstLeavesNoOrphanAndNoDuplicate) {
  std::atomic<int> done{0};
  std::vector<std::thread> burst;
  for (int i = 0; i < 12; ++i) {
    burst.emplace_back([&, i] {
      fastpath::v1::CreateResponse resp;
      stack_->Create(SleepRequest(absl::StrCat("burst-", i), /*strong=*/i % 3 == 0), &resp);
      ++done;
    });
    absl::SleepFor(absl::Milliseconds(40));
    if (i == 5) stack_->KillController();  // creates 6.. fail fast (UNAVAILABLE)
  }
  for (auto& t : burst) t.join();
  ASSERT_TRUE(stack_->StartController().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());

  // Whatever survived is consistent: every running container has exactly one record
  // (unrecorded ones were removed as orphans), every record is running.
  ExpectConsistent();
  fastpath::v1::CreateResponse resp;
  ASSERT_TRUE(stack_->Create(SleepRequest("after"), &resp).ok());
  ExpectConsistent();
}

TEST_F(ControllerCrashTest, SandboxPoolCapHoldsOnARealAgentAndSurvivesACrash) {
  // The agent registers in pool "default" with capacity 16; the pool caps it at 1.
  const std::string manifest = stack_->dir() + "/pool.yaml";
  std::ofstream(manifest) << "apiVersion: fsb.io/v1alpha1\nkind: SandboxPool\n"
                          << "metadata: {name: default}\nspec: {maxSandboxesPerAgent: 1}\n";
  std::string out, err;
  auto fsb = [&](const std::vector<std::string>& args) {
    out.clear();
    err.clear();
    return stack_->Fsb(args, &out, &err);
  };
  ASSERT_EQ(fsb({"apply", "-f", manifest}), 0) << err;
  EXPECT_EQ(out, "pool/default created\n");

  fastpath::v1::CreateResponse resp;
  ASSERT_TRUE(stack_->Create(SleepRequest("first"), &resp).ok());
  grpc::Status full = stack_->Create(SleepRequest("second"), &resp);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  EXPECT_THAT(full.error_message(), ::testing::HasSubstr("are full"));
  ASSERT_EQ(fsb({"pools"}), 0) << err;
  EXPECT_THAT(out, ::testing::ContainsRegex("default +1 +1 +1 "));

  // The cap is durable: after a SIGKILL and restart it still holds.
  stack_->KillController();
  ASSERT_TRUE(stack_->StartController().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());
  full = stack_->Create(SleepRequest("third"), &resp);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();

  // Deleting the pool gives the agent its own capacity back.
  ASSERT_EQ(fsb({"rm", "pool/default"}), 0) << err;
  EXPECT_EQ(out, "pool/default deleted\n");
  EXPECT_EQ(fsb({"rm", "pool/default"}), 1);
  EXPECT_THAT(err, ::testing::HasSubstr("NOT_FOUND: sandbox pool \"default\" not found"));
  ASSERT_TRUE(stack_->Create(SleepRequest("fourth"), &resp).ok());
  ExpectConsistent();
}

// The agent is frozen (SIGSTOP) across a controller restart, so that it has not
// registered again when the delete comes; the heartbeat timeout is long enough that it
// does not count as lost while the test looks.
class ControllerCrashDeleteTest : public ControllerCrashTest {
 protected:
  std::vector<std::string> ControllerFlags() const override {
    return {"--fastpath-orphan-timeout=2s", "--agent-heartbeat-timeout=90s",
            "--reconcile-interval=200ms"};
  }
  void TearDown() override { Thaw(); }

  void Freeze() {
    frozen_ = stack_->agent_pid();
    ASSERT_GT(frozen_, 0);
    ASSERT_EQ(kill(frozen_, SIGSTOP), 0);
  }
  void Thaw() {
    if (frozen_ > 0) kill(frozen_, SIGCONT);
    frozen_ = 0;
  }

  // The listed sandbox `name`, if it is listed.
  std::optional<fastpath::v1::SandboxInfo> Find(const std::string& name) {
    absl::StatusOr<fastpath::v1::ListResponse> list = stack_->List();
    if (!list.ok()) return std::nullopt;
    for (const auto& item : list->items()) {
      if (item.sandbox_name() == name) return item;
    }
    return std::nullopt;
  }
  bool Contains(const std::string& id) {
    absl::StatusOr<std::vector<std::string>> managed = stack_->ManagedContainers();
    EXPECT_TRUE(managed.ok()) << managed.status();
    return managed.ok() && std::find(managed->begin(), managed->end(), id) != managed->end();
  }

  pid_t frozen_ = 0;
};

TEST_F(ControllerCrashDeleteTest, ADeleteBeforeTheAgentIsBackIsAcknowledgedOnlyOnceItConfirmed) {
  fastpath::v1::CreateResponse resp;
  ASSERT_TRUE(stack_->Create(SleepRequest("victim", /*strong=*/true), &resp).ok());
  const std::string id = resp.sandbox_id();
  Freeze();
  stack_->KillController();
  ASSERT_TRUE(stack_->StartController().ok());
  ASSERT_TRUE(WaitFor([&] { return stack_->List().ok(); }, absl::Seconds(30)));

  grpc::Status rm = stack_->Delete("victim");
  EXPECT_EQ(rm.error_code(), grpc::StatusCode::UNAVAILABLE) << rm.error_message();
  EXPECT_THAT(rm.error_message(), HasSubstr("is Terminating"));
  // Listed as Terminating while containerd still runs the container.
  std::optional<fastpath::v1::SandboxInfo> listed = Find("victim");
  ASSERT_TRUE(listed.has_value()) << "the record is gone while the container runs";
  EXPECT_EQ(listed->phase(), "Terminating");
  EXPECT_TRUE(Contains(id));
  absl::StatusOr<containerd::v1::types::Process> task = stack_->containerd().GetTask(id);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  // Asking again is the same request, with the same answer.
  std::string out, err;
  EXPECT_EQ(stack_->Fsb({"rm", "victim"}, &out, &err), 1) << out;
  EXPECT_THAT(err, HasSubstr("is Terminating"));
  EXPECT_TRUE(Find("victim").has_value());

  // Back: the agent registers again, the reconciler's retry is confirmed, the record ends.
  Thaw();
  EXPECT_TRUE(WaitFor([&] { return stack_->List().ok() && !Find("victim").has_value(); },
                      absl::Seconds(60)));
  EXPECT_FALSE(Contains(id)) << "the record ended before the container was removed";
  ASSERT_TRUE(stack_->Create(SleepRequest("after"), &resp).ok());
  ExpectConsistent();
}

}  // namespace
}  // namespace fsb
