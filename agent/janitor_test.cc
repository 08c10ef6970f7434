#include "agent/janitor.h"

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/fake_runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/clock.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

// A manager on a fake runtime for the janitor to sweep.
class JanitorTest : public ::testing::Test {
 protected:
  JanitorTest()
      : log_dir_(MadeLogDir()),
        manager_(&runtime_, &shim_groups_, &clock_, &metrics_,
                 {.capacity = 2, .log_dir = log_dir_.string()}) {}
  ~JanitorTest() override { std::filesystem::remove_all(log_dir_); }

  // A fresh folder named after the test.
  static std::filesystem::path MadeLogDir() {
    const std::filesystem::path dir =
        std::filesystem::path(::testing::TempDir()) /
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir);
    return dir;
  }

  const std::filesystem::path log_dir_;
  FakeRuntime runtime_;
  ShimGroups shim_groups_{2};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  SandboxManager manager_;
};

TEST_F(JanitorTest, SweepsOnceTheManagerIsReadyAndCountsWhatItRemoved) {
  // A snapshot without its container goes at the first sweep.
  runtime_.snapshots.insert("orphan-snap");

  Janitor janitor(&manager_, &metrics_, absl::Milliseconds(10));
  janitor.Start();
  ASSERT_TRUE(manager_.Recover().ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (janitor.totals().snapshots == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  janitor.Stop();
  EXPECT_EQ(janitor.totals().snapshots, 1);
  EXPECT_FALSE(runtime_.snapshots.contains("orphan-snap"));
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("fsb_agent_janitor_removed_total{kind=\"snapshot\"} 1\n"));
}

TEST_F(JanitorTest, RunsItsSweepsEachPassAndOneFailingDoesNotStopTheOthers) {
  std::atomic<int> failing_runs{0};
  Janitor janitor(&manager_, &metrics_, absl::Milliseconds(10),
                  {{.kind = "broken",
                    .sweep = [&failing_runs]() -> absl::StatusOr<int> {
                      ++failing_runs;
                      return absl::UnavailableError("containerd is away");
                    }},
                   {.kind = "exec", .sweep = [] { return absl::StatusOr<int>(2); }}});
  janitor.Start();
  ASSERT_TRUE(manager_.Recover().ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (janitor.swept("exec") < 4 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  janitor.Stop();
  const int swept = janitor.swept("exec");
  EXPECT_GE(swept, 4);  // two passes at least
  EXPECT_GE(failing_runs, 2);
  EXPECT_EQ(janitor.swept("broken"), 0);
  EXPECT_THAT(
      registry_.Serialize(),
      HasSubstr(absl::StrCat("fsb_agent_janitor_removed_total{kind=\"exec\"} ", swept, "\n")));
}

}  // namespace
}  // namespace fsb::agent
