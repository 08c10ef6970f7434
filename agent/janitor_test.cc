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

TEST(JanitorTest, SweepsOnceTheManagerIsReadyAndCountsWhatItRemoved) {
  const std::filesystem::path log_dir = std::filesystem::path(::testing::TempDir()) / "janitor";
  std::filesystem::create_directories(log_dir);
  FakeRuntime runtime;
  ShimGroups shim_groups{2};
  ManualClock clock{absl::FromUnixSeconds(1000)};
  metrics::Registry registry;
  AgentMetrics metrics{&registry};
  SandboxManager manager(&runtime, &shim_groups, &clock, &metrics,
                         {.capacity = 2, .log_dir = log_dir.string()});
  // A snapshot without its container goes at the first sweep.
  runtime.snapshots.insert("orphan-snap");

  Janitor janitor(&manager, &metrics, absl::Milliseconds(10));
  janitor.Start();
  ASSERT_TRUE(manager.Recover().ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (janitor.totals().snapshots == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  janitor.Stop();
  EXPECT_EQ(janitor.totals().snapshots, 1);
  EXPECT_FALSE(runtime.snapshots.contains("orphan-snap"));
  EXPECT_THAT(registry.Serialize(),
              HasSubstr("fsb_agent_janitor_removed_total{kind=\"snapshot\"} 1\n"));
}

TEST(JanitorTest, RunsItsSweepsEachPassAndOneFailingDoesNotStopTheOthers) {
  const std::filesystem::path log_dir =
      std::filesystem::path(::testing::TempDir()) / "janitor-sweeps";
  std::filesystem::create_directories(log_dir);
  FakeRuntime runtime;
  ShimGroups shim_groups{2};
  ManualClock clock{absl::FromUnixSeconds(1000)};
  metrics::Registry registry;
  AgentMetrics metrics{&registry};
  SandboxManager manager(&runtime, &shim_groups, &clock, &metrics,
                         {.capacity = 2, .log_dir = log_dir.string()});
  std::atomic<int> failing_runs{0};
  Janitor janitor(&manager, &metrics, absl::Milliseconds(10),
                  {{.kind = "broken",
                    .sweep = [&failing_runs]() -> absl::StatusOr<int> {
                      ++failing_runs;
                      return absl::UnavailableError("containerd is away");
                    }},
                   {.kind = "exec", .sweep = [] { return absl::StatusOr<int>(2); }}});
  janitor.Start();
  ASSERT_TRUE(manager.Recover().ok());
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
      registry.Serialize(),
      HasSubstr(absl::StrCat("fsb_agent_janitor_removed_total{kind=\"exec\"} ", swept, "\n")));
}

}  // namespace
}  // namespace fsb::agent
