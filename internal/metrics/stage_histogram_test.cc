#include "internal/metrics/stage_histogram.h"

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"

namespace fsb::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

enum class Step { kFirst, kSecond };
constexpr int kSteps = 2;
using StepTimings = StageTimings<Step, kSteps>;

std::string_view StepName(Step s) { return s == Step::kFirst ? "first" : "second"; }

TEST(StageTimingsTest, IndexedByStage) {
  StepTimings t;
  t[Step::kSecond] = absl::Milliseconds(3);
  EXPECT_EQ(t.stage[1], absl::Milliseconds(3));
  const StepTimings& read = t;
  EXPECT_EQ(read[Step::kFirst], absl::ZeroDuration());
}

TEST(StageHistogramTest, EveryStageIsExposedAndOnlyStagesThatTookTimeAreObserved) {
  Registry registry;
  StageHistogram<Step, kSteps> h(&registry, "x_stage_duration_seconds", "X by stage.", &StepName);
  const std::string empty = registry.Serialize();
  EXPECT_THAT(empty, HasSubstr("# TYPE x_stage_duration_seconds histogram\n"));
  EXPECT_THAT(empty, HasSubstr("x_stage_duration_seconds_count{stage=\"first\"} 0\n"));
  EXPECT_THAT(empty, HasSubstr("x_stage_duration_seconds_count{stage=\"second\"} 0\n"));
  // fsb's latency buckets.
  EXPECT_THAT(empty,
              HasSubstr("x_stage_duration_seconds_bucket{stage=\"first\",le=\"0.00025\"} 0\n"));
  EXPECT_THAT(empty, HasSubstr("x_stage_duration_seconds_bucket{stage=\"first\",le=\"10\"} 0\n"));

  StepTimings t;
  t[Step::kSecond] = absl::Milliseconds(2);
  h.Record(t);
  const std::string after = registry.Serialize();
  EXPECT_THAT(after, HasSubstr("x_stage_duration_seconds_count{stage=\"first\"} 0\n"));
  EXPECT_THAT(after, HasSubstr("x_stage_duration_seconds_count{stage=\"second\"} 1\n"));
  EXPECT_THAT(after, HasSubstr("x_stage_duration_seconds_sum{stage=\"second\"} 0.002\n"));
  EXPECT_THAT(after, Not(HasSubstr("x_stage_duration_seconds_sum{stage=\"first\"} 0.002")));
}

TEST(ResultLabelTest, OkOrTheCodeName) {
  EXPECT_EQ(ResultLabel(absl::OkStatus()), "ok");
  EXPECT_EQ(ResultLabel(absl::NotFoundError("x")), "NOT_FOUND");
}

}  // namespace
}  // namespace fsb::metrics
