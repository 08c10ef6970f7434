#include "cli/bench_stats.h"

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(PercentileTest, InterpolatesBetweenTheClosestRanks) {
  const std::vector<double> sorted = {10, 20, 30, 40, 50};
  EXPECT_EQ(Percentile(sorted, 0), 10);
  EXPECT_EQ(Percentile(sorted, 0.5), 30);
  EXPECT_EQ(Percentile(sorted, 1), 50);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.9), 46);     // position 3.6
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.99), 49.6);  // position 3.96
  EXPECT_DOUBLE_EQ(Percentile({1, 2}, 0.5), 1.5);
  EXPECT_EQ(Percentile({7}, 0.99), 7);
}

TEST(SummarizeTest, SortsAndSummarizes) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);  // 100..1, unsorted
  const LatencyStats stats = Summarize(values);
  EXPECT_EQ(stats.count, 100);
  EXPECT_EQ(stats.min, 1);
  EXPECT_EQ(stats.max, 100);
  EXPECT_DOUBLE_EQ(stats.p50, 50.5);
  EXPECT_DOUBLE_EQ(stats.p90, 90.1);
  EXPECT_DOUBLE_EQ(stats.p99, 99.01);
  EXPECT_DOUBLE_EQ(stats.mean, 50.5);
}

TEST(SummarizeTest, NothingGivesZeros) {
  const LatencyStats stats = Summarize({});
  EXPECT_EQ(stats.count, 0);
  EXPECT_EQ(stats.p50, 0);
  EXPECT_EQ(stats.mean, 0);
}

MetricSample Sample(std::string name, std::map<std::string, std::string> labels, double value) {
  return MetricSample{std::move(name), std::move(labels), value};
}

TEST(CollectHistogramsTest, GroupsByTheLabelAndAddsTheOtherSeries) {
  const std::vector<MetricSample> samples = {
      Sample("h_bucket", {{"stage", "a"}, {"le", "0.1"}}, 1),
      Sample("h_bucket", {{"stage", "a"}, {"le", "+Inf"}}, 2),
      Sample("h_sum", {{"stage", "a"}}, 0.3),
      Sample("h_count", {{"stage", "a"}}, 2),
      Sample("h_bucket", {{"stage", "b"}, {"le", "0.1"}}, 5),
      Sample("h_bucket", {{"stage", "b"}, {"le", "+Inf"}}, 5),
      Sample("h_sum", {{"stage", "b"}}, 0.2),
      Sample("h_count", {{"stage", "b"}}, 5),
      Sample("h_total", {{"stage", "a"}}, 99),   // not a histogram sample
      Sample("hx_count", {{"stage", "a"}}, 99),  // another family
      Sample("h_count", {{"other", "a"}}, 99),   // without the label
  };
  const std::map<std::string, Histogram> by_stage = CollectHistograms(samples, "h", "stage");
  ASSERT_EQ(by_stage.size(), 2u);
  const Histogram& a = by_stage.at("a");
  EXPECT_THAT(a.buckets, ElementsAre(Pair(0.1, 1), Pair(kInf, 2)));
  EXPECT_DOUBLE_EQ(a.sum, 0.3);
  EXPECT_EQ(a.count, 2);

  const std::map<std::string, Histogram> all = CollectHistograms(samples, "h", "");
  ASSERT_EQ(all.size(), 1u);
  const Histogram& total = all.at("");
  EXPECT_THAT(total.buckets, ElementsAre(Pair(0.1, 6), Pair(kInf, 7)));
  EXPECT_DOUBLE_EQ(total.sum, 0.5);
  EXPECT_EQ(total.count, 7 + 99);  // the unlabelled _count belongs to the family too

  EXPECT_THAT(CollectHistograms(samples, "missing", "stage"), IsEmpty());
}

Histogram MakeHistogram(std::map<double, double> buckets, double sum) {
  Histogram h;
  h.buckets = std::move(buckets);
  h.sum = sum;
  h.count = h.buckets.empty() ? 0 : h.buckets.rbegin()->second;
  return h;
}

TEST(HistogramDeltaTest, SubtractsBucketByBucket) {
  const Histogram before = MakeHistogram({{0.01, 2}, {0.1, 3}, {kInf, 3}}, 0.1);
  const Histogram after = MakeHistogram({{0.01, 2}, {0.1, 7}, {1, 8}, {kInf, 9}}, 1.1);
  const Histogram delta = HistogramDelta(after, before);
  EXPECT_THAT(delta.buckets, ElementsAre(Pair(0.01, 0), Pair(0.1, 4), Pair(1, 8), Pair(kInf, 6)));
  EXPECT_DOUBLE_EQ(delta.sum, 1.0);
  EXPECT_EQ(delta.count, 6);
}

TEST(HistogramDeltaTest, ARestartBetweenTheScrapesKeepsTheNewCounts) {
  const Histogram before = MakeHistogram({{0.1, 10}, {kInf, 10}}, 1);
  const Histogram after = MakeHistogram({{0.1, 2}, {kInf, 3}}, 0.5);
  const Histogram delta = HistogramDelta(after, before);
  EXPECT_THAT(delta.buckets, ElementsAre(Pair(0.1, 2), Pair(kInf, 3)));
  EXPECT_EQ(delta.count, 3);
}

TEST(HistogramQuantileTest, InterpolatesInsideTheBucketHoldingTheRank) {
  // 10 observations: 4 in (0, 0.01], 4 in (0.01, 0.02], 2 in (0.02, 0.04].
  const Histogram h = MakeHistogram({{0.01, 4}, {0.02, 8}, {0.04, 10}, {kInf, 10}}, 0.15);
  EXPECT_THAT(HistogramQuantile(h, 0.2), Optional(::testing::DoubleEq(0.005)));   // rank 2
  EXPECT_THAT(HistogramQuantile(h, 0.5), Optional(::testing::DoubleEq(0.0125)));  // rank 5
  EXPECT_THAT(HistogramQuantile(h, 0.9), Optional(::testing::DoubleEq(0.03)));    // rank 9
  EXPECT_THAT(HistogramQuantile(h, 1.0), Optional(::testing::DoubleEq(0.04)));
}

TEST(HistogramQuantileTest, SkipsEmptyBucketsAndCapsAtTheLargestFiniteBound) {
  const Histogram gap = MakeHistogram({{0.01, 0}, {0.1, 0}, {1, 4}, {kInf, 4}}, 2);
  EXPECT_THAT(HistogramQuantile(gap, 0.5), Optional(::testing::DoubleEq(0.55)));
  const Histogram overflow = MakeHistogram({{0.01, 1}, {0.1, 1}, {kInf, 10}}, 50);
  EXPECT_THAT(HistogramQuantile(overflow, 0.9), Optional(0.1));
}

TEST(HistogramQuantileTest, NoObservationsOrOnlyInfinityGiveNothing) {
  EXPECT_EQ(HistogramQuantile(Histogram{}, 0.5), std::nullopt);
  EXPECT_EQ(HistogramQuantile(MakeHistogram({{0.1, 0}, {kInf, 0}}, 0), 0.5), std::nullopt);
  EXPECT_EQ(HistogramQuantile(MakeHistogram({{kInf, 3}}, 1), 0.5), std::nullopt);
}

}  // namespace
}  // namespace fsb::cli
