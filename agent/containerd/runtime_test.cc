#include "agent/containerd/runtime.h"

#include <memory>
#include <string>

#include "agent/containerd/fake_containerd_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TaskCreateErrorTest, RuncRefusingTheProcessIsInvalidArgument) {
  const absl::Status exec = TaskCreateError(absl::UnknownError(
      "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
      "start container process: exec: \"/no/such\": stat /no/such: no such file or directory: "
      "unknown"));
  EXPECT_EQ(exec.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(exec.message(),
            "cannot start the sandbox's process: exec: \"/no/such\": stat /no/such: no such file "
            "or directory");
  EXPECT_EQ(TaskCreateError(
                absl::UnknownError("runc create failed: unable to start container process: error "
                                   "during container init: mkdir /etc/passwd: not a directory: "
                                   "unknown"))
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Other failures keep their code.
  const absl::Status mount = absl::UnknownError(
      "runc create failed: unable to start container process: error during container init: "
      "error mounting \"proc\": permission denied: unknown");
  EXPECT_EQ(TaskCreateError(mount), mount);
  EXPECT_EQ(TaskCreateError(absl::UnavailableError("down")).code(), absl::StatusCode::kUnavailable);
}

// A ContainerdRuntime on a FakeContainerd whose Tasks.Delete refuses a running task with
// `running_delete_error`.
class RemoveTest : public ::testing::Test {
 protected:
  void Use(absl::Status running_delete_error) {
    auto fake = FakeContainerd::Start({.running_delete_error = std::move(running_delete_error)});
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
    containerd_ = std::make_unique<Containerd>(Containerd::Options{.socket = fake_->socket()});
    // A short wait after SIGKILL: the fake's task stops at once, unless the kill fails.
    runtime_ = std::make_unique<ContainerdRuntime>(
        containerd_.get(), ContainerdRuntime::Options{.kill_timeout = absl::Milliseconds(200)});
  }
  void SetUp() override { Use(FakeContainerd::Options().running_delete_error); }

  std::unique_ptr<FakeContainerd> fake_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerdRuntime> runtime_;
};

// Both ways containerd refuses to delete a task that still runs: FAILED_PRECONDITION, and
// the shim's UNKNOWN for a task containerd restored after its restart (Remove used to kill
// only on FAILED_PRECONDITION and returned that UNKNOWN: the container stayed forever).
class RemoveRunningTest : public RemoveTest, public ::testing::WithParamInterface<absl::Status> {
 protected:
  void SetUp() override { Use(GetParam()); }
};

TEST_P(RemoveRunningTest, KillsTheTaskThenDeletesEverything) {
  fake_->AddContainer("c1");
  fake_->AddTask("c1", /*running=*/true);
  fake_->AddSnapshot("c1");
  fake_->AddContainer("other");  // untouched

  EXPECT_EQ(runtime_->Remove("c1"), absl::OkStatus());

  EXPECT_THAT(fake_->Calls(),
              ElementsAre("Tasks.Delete container_id: \"c1\"",
                          "Tasks.Kill container_id: \"c1\" signal: 9 all: true",
                          "Tasks.Wait container_id: \"c1\"", "Tasks.Delete container_id: \"c1\"",
                          "Containers.Delete id: \"c1\"",
                          "Snapshots.Remove snapshotter: \"overlayfs\" key: \"c1\""));
  EXPECT_THAT(fake_->Objects(), ElementsAre("container other"));
}

INSTANTIATE_TEST_SUITE_P(Refusals, RemoveRunningTest,
                         ::testing::Values(absl::FailedPreconditionError("task is running"),
                                           absl::UnknownError("cannot delete a running process")),
                         [](const ::testing::TestParamInfo<absl::Status>& info) {
                           return info.param.code() == absl::StatusCode::kUnknown
                                      ? "Unknown"
                                      : "FailedPrecondition";
                         });

TEST_F(RemoveTest, ATaskThatSurvivesTheKillIsReported) {
  fake_->AddContainer("c1");
  fake_->AddTask("c1", /*running=*/true);
  fake_->FailNext("Tasks.Kill", absl::UnavailableError("shim gone"));

  const absl::Status removed = runtime_->Remove("c1");

  // The wait for the kill ran out; the second delete's refusal is the answer, and the
  // container stays for a later Remove.
  EXPECT_EQ(removed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(fake_->Calls(),
              ElementsAre("Tasks.Delete container_id: \"c1\"",
                          "Tasks.Kill container_id: \"c1\" signal: 9 all: true",
                          "Tasks.Wait container_id: \"c1\"", "Tasks.Delete container_id: \"c1\""));
  EXPECT_THAT(fake_->Objects(), ElementsAre("container c1", "task c1 running"));
}

TEST_F(RemoveTest, TouchesOnlyItsNamespace) {
  fake_->AddContainer("c1");
  fake_->AddTask("c1", /*running=*/true);
  Containerd elsewhere({.socket = fake_->socket(), .ns = "other"});
  ContainerdRuntime runtime(&elsewhere, {});

  EXPECT_EQ(runtime.Remove("c1").code(), absl::StatusCode::kNotFound);

  EXPECT_THAT(fake_->Objects(), ElementsAre("container c1", "task c1 running"));
}

TEST_F(RemoveTest, DeletesAStoppedTaskWithoutKillingIt) {
  fake_->AddContainer("c1");
  fake_->AddTask("c1", /*running=*/false);

  EXPECT_EQ(runtime_->Remove("c1"), absl::OkStatus());

  EXPECT_THAT(fake_->Calls(),
              ElementsAre("Tasks.Delete container_id: \"c1\"", "Containers.Delete id: \"c1\"",
                          "Snapshots.Remove snapshotter: \"overlayfs\" key: \"c1\""));
  EXPECT_THAT(fake_->Objects(), IsEmpty());
}

TEST_F(RemoveTest, ATaskNotFoundIsGone) {
  // A container cut off before its task was made: nothing to kill.
  fake_->AddContainer("c1");
  fake_->AddSnapshot("c1");

  EXPECT_EQ(runtime_->Remove("c1"), absl::OkStatus());

  EXPECT_THAT(fake_->Calls(),
              ElementsAre("Tasks.Delete container_id: \"c1\"", "Containers.Delete id: \"c1\"",
                          "Snapshots.Remove snapshotter: \"overlayfs\" key: \"c1\""));
  EXPECT_THAT(fake_->Objects(), IsEmpty());
}

TEST_F(RemoveTest, NothingToRemoveIsNotFound) {
  const absl::Status removed = runtime_->Remove("c1");
  EXPECT_EQ(removed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(removed.message(), "no container \"c1\"");
}

TEST_F(RemoveTest, StopsAtContainerdsError) {
  fake_->AddContainer("c1");
  fake_->AddSnapshot("c1");
  fake_->FailNext("Containers.Delete", absl::UnavailableError("containerd restarting"));

  const absl::Status removed = runtime_->Remove("c1");

  EXPECT_EQ(removed.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(removed.message(), "containerd restarting");
  // The snapshot stays until a later Remove.
  EXPECT_THAT(fake_->Objects(), ElementsAre("container c1", "snapshot c1"));
}

}  // namespace
}  // namespace fsb::agent
