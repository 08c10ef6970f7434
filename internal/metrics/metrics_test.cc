#include "internal/metrics/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterAndGaugeExposition) {
  Registry r;
  auto& creates = r.AddCounter("fsb_creates_total", "Creates by result.");
  creates.Add({{"result", "ok"}}).Increment();
  creates.Add({{"result", "ok"}}).Increment(2);
  creates.Add({{"result", "error"}});
  auto& agents = r.AddGauge("fsb_agents", "Registered agents.");
  agents.Add({}).Set(3);
  agents.Add({}).Decrement();
  EXPECT_EQ(r.Serialize(),
            "# HELP fsb_agents Registered agents.\n"
            "# TYPE fsb_agents gauge\n"
            "fsb_agents 2\n"
            "# HELP fsb_creates_total Creates by result.\n"
            "# TYPE fsb_creates_total counter\n"
            "fsb_creates_total{result=\"error\"} 0\n"
            "fsb_creates_total{result=\"ok\"} 3\n");
}

TEST(MetricsTest, HistogramIsCumulativeWithSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("x_seconds", "X.", {0.001, 0.01, 0.1});
  Histogram& child = h.Add({{"stage", "a"}});
  child.Observe(0.0005);
  child.Observe(0.001);  // le is inclusive
  child.Observe(0.05);
  child.Observe(7);
  EXPECT_EQ(r.Serialize(),
            "# HELP x_seconds X.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{stage=\"a\",le=\"0.001\"} 2\n"
            "x_seconds_bucket{stage=\"a\",le=\"0.01\"} 2\n"
            "x_seconds_bucket{stage=\"a\",le=\"0.1\"} 3\n"
            "x_seconds_bucket{stage=\"a\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{stage=\"a\"} 7.0515\n"
            "x_seconds_count{stage=\"a\"} 4\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("c_total", "line1\nback\\slash \"q\"").Add({{"v", "a\"b\\c\nd"}}).Increment();
  std::string text = r.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP c_total line1\\nback\\\\slash \"q\"\n"));
  EXPECT_THAT(text, HasSubstr("c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.AddCounter("c_total", "c").Add({});
  Histogram& h = r.AddHistogram("h", "h", LatencyBuckets()).Add({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment();
        h.Observe(0.002);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000);
  Histogram::Snapshot s = h.Collect();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_NEAR(s.sum, 80.0, 1e-6);
}

TEST(MetricsDeathTest, RejectsProgrammerErrors) {
  Registry r;
  r.AddCounter("dup_total", "d");
  EXPECT_DEATH(r.AddCounter("dup_total", "d"), "registered twice");
  EXPECT_DEATH(r.AddGauge("bad-name", "b"), "invalid metric name");
  EXPECT_DEATH(r.AddGauge("g", "g").Add({{"bad-label", "x"}}), "invalid label name");
  EXPECT_DEATH(r.AddCounter("c_total", "c").Add({}).Increment(-1), "only increase");
}

}  // namespace
}  // namespace fsb::metrics
