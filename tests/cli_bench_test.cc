// `fsb image import` and `fsb bench` against a real stack (private containerd,
// fsb-controller, one fsb-agent): an archive imported with the CLI runs as sandboxes
// that `fsb bench` creates, times, reads the servers' stage histograms for, and deletes.
// Nothing here asserts a timing. Needs root; skips with a message without it.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/json_value_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::cli::testing::Field;
using fsb::cli::testing::Number;
using fsb::testing::LocalStack;
using fsb::testing::RunCommand;
using fsb::testing::SourcePath;
using fsb::testing::WaitFor;
using google::protobuf::Value;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kImage[] = "docker.io/fsb/cli-bench:1";

class CliBenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = fsb::testing::MissingPrerequisite();
    if (!skip_.empty()) return;
    char tmpl[] = "/tmp/fsb-cli-bench-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) tmp_ = tmpl;
    auto stack = LocalStack::Start({.agent_capacity = 8});
    setup_ = stack.status();
    if (stack.ok()) stack_ = *std::move(stack);
  }
  static void TearDownTestSuite() {
    stack_.reset();
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_);
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << "integration test skipped: " << skip_;
    ASSERT_TRUE(setup_.ok()) << setup_;
  }

  static inline std::string skip_;
  static inline absl::Status setup_;
  static inline std::string tmp_;
  static inline std::unique_ptr<LocalStack> stack_;
};

TEST_F(CliBenchTest, ImportedImageIsBenchmarkedWithTheServersStages) {
  const std::string archive = tmp_ + "/cli-bench.tar";
  std::string out, err;
  ASSERT_EQ(RunCommand({SourcePath("scripts/build-test-image.sh"), "--name", kImage, "--output",
                        archive, "--no-import"},
                       &out, &err),
            0)
      << out << err;

  out.clear();
  err.clear();
  ASSERT_EQ(stack_->Fsb({"image", "import", archive}, &out, &err), 0) << err;
  EXPECT_EQ(out, absl::StrCat(stack_->agent_id(), ": imported ", kImage, "\n"));
  out.clear();
  err.clear();
  EXPECT_EQ(stack_->Fsb({"image", "import", archive, "--agent", "no-such-agent"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));

  // The agent's metrics port, found through ListAgents at the agent's address.
  const std::string agent_metrics = stack_->agent_metrics();
  const std::string agent_port = agent_metrics.substr(agent_metrics.rfind(':') + 1);
  out.clear();
  err.clear();
  const int code = stack_->Fsb({"bench", "--image", kImage, "--requests", "4", "--concurrency", "2",
                                "--cleanup", "--controller-metrics", stack_->controller_metrics(),
                                "--agent-metrics-port", agent_port, "-o", "json"},
                               &out, &err);
  Value report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &report).ok()) << out << err;
  EXPECT_EQ(Number(report, "succeeded"), 4) << out;
  EXPECT_EQ(Number(report, "failed"), 0);
  EXPECT_EQ(Number(Field(report, "latency_ms"), "count"), 4);
  EXPECT_THAT(Field(report, "warnings").list_value().values(), IsEmpty()) << err;

  std::vector<std::string> rows;
  for (const Value& stage : Field(report, "stages").list_value().values()) {
    if (Number(stage, "count") == 4) {
      rows.push_back(absl::StrCat(Field(stage, "source").string_value(), "/",
                                  Field(stage, "stage").string_value()));
    }
  }
  const std::string agent = absl::StrCat("agent ", stack_->agent_id());
  for (const std::string& row :
       {std::string("controller/total"), std::string("controller/allocate"),
        std::string("controller/agent_rpc"), agent + "/task_create", agent + "/task_start",
        agent + "/Tasks.Create"}) {
    EXPECT_THAT(rows, Contains(row)) << out;
  }

  // Every sandbox is deleted. (A delete the agent could not finish at once is retried by
  // the controller; then the cleanup reports it and fsb exits 1.)
  const Value& cleanup = Field(report, "cleanup");
  EXPECT_EQ(Number(cleanup, "deleted") + Number(cleanup, "failed"), 4);
  EXPECT_EQ(code, Number(cleanup, "failed") == 0 ? 0 : 1) << err;
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<std::vector<std::string>> left = stack_->ManagedContainers();
        return left.ok() && left->empty();
      },
      absl::Seconds(30)));
}

TEST_F(CliBenchTest, UnreachableMetricsAreWarningsAndTheCreatesStillCount) {
  std::string out, err;
  const int code =
      stack_->Fsb({"bench", "--image", "fsb/busybox", "--requests", "1", "--cleanup",
                   "--controller-metrics", "127.0.0.1:1", "--agent-metrics", "127.0.0.1:1"},
                  &out, &err);
  EXPECT_THAT(err, HasSubstr("fsb: warning: cannot read the metrics of controller at "
                             "127.0.0.1:1 before the run"));
  EXPECT_THAT(out, HasSubstr("1 succeeded, 0 failed"));
  EXPECT_THAT(out, Not(HasSubstr("server stages")));
  EXPECT_THAT(out, HasSubstr("cleanup: "));
  EXPECT_TRUE(code == 0 || out.find("cleanup: 0 deleted, 1 failed") != std::string::npos)
      << out << err;
}

}  // namespace
}  // namespace fsb
