#include "cli/prometheus_text.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::vector<MetricSample> ParseOk(std::string_view text) {
  absl::StatusOr<std::vector<MetricSample>> samples = ParsePrometheusText(text);
  EXPECT_TRUE(samples.ok()) << samples.status();
  return samples.ok() ? *samples : std::vector<MetricSample>{};
}

TEST(ParsePrometheusTextTest, ReadsAHistogramAsOurServersWriteIt) {
  const std::vector<MetricSample> samples = ParseOk(
      "# HELP fsb_create_stage_duration_seconds Duration of each stage.\n"
      "# TYPE fsb_create_stage_duration_seconds histogram\n"
      "fsb_create_stage_duration_seconds_bucket{stage=\"allocate\",le=\"0.00025\"} 3\n"
      "fsb_create_stage_duration_seconds_bucket{stage=\"allocate\",le=\"+Inf\"} 4\n"
      "fsb_create_stage_duration_seconds_sum{stage=\"allocate\"} 0.0012\n"
      "fsb_create_stage_duration_seconds_count{stage=\"allocate\"} 4\n"
      "fsb_agents 1\n");
  ASSERT_EQ(samples.size(), 5u);
  EXPECT_EQ(samples[0].name, "fsb_create_stage_duration_seconds_bucket");
  EXPECT_THAT(samples[0].labels, ElementsAre(Pair("le", "0.00025"), Pair("stage", "allocate")));
  EXPECT_EQ(samples[0].value, 3);
  EXPECT_THAT(samples[1].labels, ElementsAre(Pair("le", "+Inf"), Pair("stage", "allocate")));
  EXPECT_EQ(samples[2].name, "fsb_create_stage_duration_seconds_sum");
  EXPECT_DOUBLE_EQ(samples[2].value, 0.0012);
  EXPECT_EQ(samples[3].value, 4);
  EXPECT_EQ(samples[4].name, "fsb_agents");
  EXPECT_THAT(samples[4].labels, IsEmpty());
  EXPECT_EQ(samples[4].value, 1);
}

TEST(ParsePrometheusTextTest, UnescapesLabelValuesAndAllowsBlanksAndATrailingComma) {
  const std::vector<MetricSample> samples =
      ParseOk("m{a=\"x\\\"y\\\\z\\nw\" , b = \"{},=\" ,}   7\n");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_THAT(samples[0].labels, ElementsAre(Pair("a", "x\"y\\z\nw"), Pair("b", "{},=")));
  EXPECT_EQ(samples[0].value, 7);
}

TEST(ParsePrometheusTextTest, ReadsSpecialValuesExponentsAndDropsTimestamps) {
  const std::vector<MetricSample> samples = ParseOk(
      "a +Inf\n"
      "b -Inf\n"
      "c NaN\n"
      "d 1.5e-3 1700000000000\n"
      "e{} -2\n"
      "ns:rule_total 1\n");
  ASSERT_EQ(samples.size(), 6u);
  EXPECT_TRUE(std::isinf(samples[0].value) && samples[0].value > 0);
  EXPECT_TRUE(std::isinf(samples[1].value) && samples[1].value < 0);
  EXPECT_TRUE(std::isnan(samples[2].value));
  EXPECT_DOUBLE_EQ(samples[3].value, 0.0015);
  EXPECT_EQ(samples[4].value, -2);
  EXPECT_EQ(samples[5].name, "ns:rule_total");
}

TEST(ParsePrometheusTextTest, SkipsCommentsBlankLinesAndCarriageReturns) {
  EXPECT_THAT(ParseOk(""), IsEmpty());
  EXPECT_THAT(ParseOk("\n\n# just a comment\n   \n#TYPE x counter\n"), IsEmpty());
  const std::vector<MetricSample> samples = ParseOk("x 1\r\n\r\ny 2\r\n");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[1].name, "y");
  EXPECT_EQ(samples[1].value, 2);
}

TEST(ParsePrometheusTextTest, RejectsMalformedLinesNamingTheLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"ok 1\n9bad 1\n", "metrics line 2: expected a metric name"},
           {"m\n", "expected a value"},
           {"m one\n", "malformed value \"one\""},
           {"m 1 2.5\n", "malformed timestamp \"2.5\""},
           {"m 1 2 3\n", "unexpected \"3\""},
           {"m{a=\"x} 1\n", "unterminated label value"},
           {"m{a=x} 1\n", "expected '\"' opening label a"},
           {"m{a} 1\n", "expected '=' after label a"},
           {"m{a=\"1\" b=\"2\"} 1\n", "expected ',' or '}'"},
           {"m{a=\"1\",a=\"2\"} 1\n", "label a is repeated"},
           {"m{a=\"\\t\"} 1\n", "unknown escape \\t"},
           {"m{1a=\"x\"} 1\n", "expected a label name or '}'"},
       }) {
    absl::StatusOr<std::vector<MetricSample>> parsed = ParsePrometheusText(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace fsb::cli
