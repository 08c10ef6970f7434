// Lists that outgrow gRPC's default 4 MiB message: an agent whose containerd namespace
// holds more than 4 MiB of fsb-managed container records (large specs) still recovers
// after a restart, becomes Ready and keeps its sandboxes, and containerd's container
// list can still be read.
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/containerd/runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::WaitFor;

namespace cctr = containerd::services::containers::v1;

constexpr int kBallastContainers = 6;
constexpr size_t kBallastSpecBytes = 1 << 20;  // 6 MiB in all, past 4 MiB

// A container record as the agent labels its own (managed, owned by `agent`), whose OCI
// spec carries an annotation of kBallastSpecBytes. It has no task and no sandbox
// extension: the agent lists it but does not adopt it.
cctr::Container Ballast(int i, const std::string& agent) {
  cctr::Container c;
  c.set_id(absl::StrCat("ballast-", i));
  (*c.mutable_labels())[agent::kManagedLabel] = "true";
  (*c.mutable_labels())[agent::kOwnerLabel] = agent;
  c.mutable_runtime()->set_name("io.containerd.runc.v2");
  c.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Spec");
  c.mutable_spec()->set_value(absl::StrCat(R"({"ociVersion":"1.0.2","annotations":{"big":")",
                                           std::string(kBallastSpecBytes, 'x'), R"("}})"));
  return c;
}

class SizesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
  }
};

TEST_F(SizesTest, AgentRecoversWhenItsContainerListExceedsFourMiB) {
  // A long janitor grace: the ballast stays while the agent restarts.
  // A long janitor grace: the ballast stays while the agent restarts. A short heartbeat
  // timeout: the controller soon notices the agent gone.
  auto stack = LocalStack::Start({.controller_flags = {"--agent-heartbeat-timeout=3s"},
                                  .agent_flags = {"--janitor-grace-s=600"}});
  ASSERT_TRUE(stack.ok()) << stack.status();
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE((*stack)->Create(fsb::testing::SleeperRequest("keep"), &created).ok());
  for (int i = 0; i < kBallastContainers; ++i) {
    ASSERT_TRUE((*stack)->containerd().CreateContainer(Ballast(i, (*stack)->agent_id())).ok());
  }

  (*stack)->KillAgent();
  // Not Ready any more, so that Ready below is the restarted agent's own.
  ASSERT_TRUE(WaitFor([&] { return !(*stack)->WaitForAgent(absl::ZeroDuration()).ok(); },
                      absl::Seconds(60)));
  ASSERT_TRUE((*stack)->StartAgent().ok());
  absl::Status ready = (*stack)->WaitForAgent(absl::Seconds(60));
  ASSERT_TRUE(ready.ok()) << ready << " (see " << (*stack)->dir() << "/" << (*stack)->agent_id()
                          << ".log)";

  // Every managed record, ballast included, in one list.
  absl::StatusOr<std::vector<std::string>> managed = (*stack)->ManagedContainers();
  ASSERT_TRUE(managed.ok()) << managed.status();
  EXPECT_THAT(*managed, ::testing::IsSupersetOf({std::string("ballast-0"), created.sandbox_id()}));
  EXPECT_EQ(managed->size(), kBallastContainers + 1u);

  // The sandbox is the controller's again, Running.
  absl::StatusOr<fastpath::v1::ListResponse> list;
  EXPECT_TRUE(WaitFor(
      [&] {
        list = (*stack)->List();
        return list.ok() && list->items_size() == 1 && list->items(0).phase() == "Running";
      },
      absl::Seconds(30)));
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items_size(), 1);
  EXPECT_EQ(list->items(0).sandbox_name(), "keep");
  EXPECT_EQ(list->items(0).phase(), "Running");
}

}  // namespace
}  // namespace fsb
