// Lifecycle reconcilers against real agents on a private containerd: exits become
// Succeeded/Failed with the exit code; a lost agent's sandboxes become Lost, and
// AutoRecreate places them again on another agent after the recovery timeout while
// Manual ones stay Lost; an agent that is gone stays listed (from its stored record)
// until it is deleted.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start(
        {.controller_flags = {"--agent-heartbeat-timeout=3s", "--reconcile-interval=200ms"},
         .agents = 2});
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

  // The index of the stack agent named `id`.
  int AgentIndex(const std::string& id) { return id == stack_->agent_id(0) ? 0 : 1; }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(LifecycleTest, ExitsBecomeSucceededOrFailedWithTheCode) {
  for (auto [name, script] : {std::pair{"ok", "exit 0"}, std::pair{"bad", "exit 3"}}) {
    fastpath::v1::CreateRequest req;
    req.set_name(name);
    req.set_image(PrivateContainerd::kTestImage);
    req.add_command("sh");
    req.add_command("-c");
    req.add_command(std::string("sleep 0.3; ") + script);
    fastpath::v1::CreateResponse resp;
    ASSERT_TRUE(stack_->Create(req, &resp).ok());
  }
  EXPECT_TRUE(WaitFor([&] { return Get("ok").phase() == "Succeeded"; }, absl::Seconds(20)))
      << Get("ok").DebugString();
  EXPECT_TRUE(WaitFor([&] { return Get("bad").phase() == "Failed"; }, absl::Seconds(20)))
      << Get("bad").DebugString();
  EXPECT_EQ(Get("bad").exit_code(), 3);
  EXPECT_EQ(Get("ok").exit_code(), 0);
  // An exited sandbox is deleted like any other: its container goes.
  const std::string id = Get("bad").sandbox_id();
  const int agent = AgentIndex(Get("bad").agent_pod());
  ASSERT_TRUE(stack_->Delete("bad").ok());
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd(agent).GetContainer(id).status()));
}

TEST_F(LifecycleTest, LostAgentAutoRecreateMovesManualStaysLost) {
  auto request = [](const std::string& name, fastpath::v1::FailurePolicy policy) {
    fastpath::v1::CreateRequest req;
    req.set_name(name);
    req.set_image(PrivateContainerd::kTestImage);
    req.add_command("sleep");
    req.add_command("600");
    req.set_failure_policy(policy);
    req.set_recovery_timeout_seconds(2);
    return req;
  };
  fastpath::v1::CreateResponse resp;
  ASSERT_TRUE(stack_->Create(request("auto", fastpath::v1::AUTO_RECREATE), &resp).ok());
  const std::string first_id = resp.sandbox_id();
  const int lost = AgentIndex(resp.agent_pod());
  const int other = 1 - lost;

  stack_->KillAgent(lost);  // heartbeats stop; its containers keep running
  ASSERT_TRUE(WaitFor([&] { return Get("auto").phase() == "Lost"; }, absl::Seconds(20)))
      << Get("auto").DebugString();
  EXPECT_THAT(Get("auto").message(), HasSubstr("lost"));
  ASSERT_TRUE(WaitFor([&] { return Get("auto").phase() == "Running"; }, absl::Seconds(20)))
      << Get("auto").DebugString();
  fastpath::v1::SandboxInfo moved = Get("auto");
  EXPECT_EQ(moved.agent_pod(), stack_->agent_id(other));
  EXPECT_EQ(moved.restart_count(), 1);
  EXPECT_NE(moved.sandbox_id(), first_id);
  auto task = stack_->containerd(other).GetTask(moved.sandbox_id());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);

  // A Manual sandbox on the remaining agent stays Lost past its recovery timeout when
  // that agent goes too.
  ASSERT_TRUE(stack_->Create(request("manual", fastpath::v1::MANUAL), &resp).ok());
  ASSERT_EQ(resp.agent_pod(), stack_->agent_id(other));
  stack_->KillAgent(other);
  ASSERT_TRUE(WaitFor([&] { return Get("manual").phase() == "Lost"; }, absl::Seconds(20)))
      << Get("manual").DebugString();
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(Get("manual").phase(), "Lost");
  EXPECT_EQ(Get("manual").agent_pod(), stack_->agent_id(other));
}

TEST_F(LifecycleTest, AGoneAgentStaysListedAcrossARestartUntilItIsDeleted) {
  std::string out, err;
  auto fsb = [&](const std::vector<std::string>& args) {
    out.clear();
    err.clear();
    return stack_->Fsb(args, &out, &err);
  };
  const std::string gone = stack_->agent_id(1);
  // A live agent cannot be forgotten.
  EXPECT_EQ(fsb({"rm", "agent/" + gone}), 1);
  EXPECT_THAT(err, HasSubstr("FAILED_PRECONDITION: agent " + gone + " is registered"));

  stack_->KillAgent(1);
  stack_->StopController();
  ASSERT_TRUE(stack_->StartController().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30), 0).ok());
  // The restarted controller knows the gone agent from its stored record.
  ASSERT_EQ(fsb({"agents", "-o", "json"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("\"" + gone + "\""));
  EXPECT_THAT(out, HasSubstr("\"NotRegistered\""));
  EXPECT_THAT(out, HasSubstr("\"uid\""));

  ASSERT_EQ(fsb({"rm", "agent/" + gone}), 0) << err;
  EXPECT_EQ(out, "agent/" + gone + " deleted\n");
  ASSERT_EQ(fsb({"agents"}), 0) << err;
  EXPECT_THAT(out, HasSubstr(stack_->agent_id(0)));
  EXPECT_THAT(out, ::testing::Not(HasSubstr(gone)));
  EXPECT_EQ(fsb({"rm", "agent/" + gone}), 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
}

}  // namespace
}  // namespace fsb
